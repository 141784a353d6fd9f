import { isIPv4, isIPv6 } from 'node:net';

/**
 * The canonical text of a peer address: an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
 * dual-stack socket reports for an IPv4 client) becomes plain IPv4; IPv6 is lowercased.
 * Returns `undefined` for anything that is not an address a peer can be reached at
 * (unspecified, multicast, zone ids, garbage).
 */
export function canonicalPeerIp(text: string): string | undefined {
  if (isIPv4(text)) {
    const first = Number(text.slice(0, text.indexOf('.')));
    if (text === '0.0.0.0' || first >= 224) return undefined;
    return text;
  }
  if (!isIPv6(text) || text.includes('%')) return undefined;
  const lower = text.toLowerCase();
  const bytes = ipv6Bytes(lower);
  const v4Mapped =
    bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  if (v4Mapped) return canonicalPeerIp(bytes.subarray(12).join('.'));
  if (bytes.every((b) => b === 0) || bytes[0] === 0xff) return undefined;
  return lower;
}

/** The 4 bytes of dotted IPv4 text (validated by the caller). */
export function ipv4Bytes(text: string): Uint8Array {
  const out = new Uint8Array(4);
  let octet = 0;
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x2e) {
      out[octet++] = value;
      value = 0;
    } else value = value * 10 + code - 0x30;
  }
  out[octet] = value;
  return out;
}

/** The 16 bytes of IPv6 text (validated by the caller), including `::` and a dotted IPv4 tail. */
export function ipv6Bytes(text: string): Uint8Array {
  let head = text;
  const groups: number[] = [];
  const tailV4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(head);
  let tail: number[] = [];
  if (tailV4 !== null) {
    const [a, b, c, d] = ipv4Bytes(tailV4[1]!);
    tail = [(a! << 8) | b!, (c! << 8) | d!];
    head = head.slice(0, head.length - tailV4[1]!.length);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16));
  const gap = head.indexOf('::');
  if (gap === -1) {
    groups.push(...parse(head), ...tail);
  } else {
    const before = parse(head.slice(0, gap));
    const after = [...parse(head.slice(gap + 2)), ...tail];
    groups.push(
      ...before,
      ...new Array<number>(8 - before.length - after.length).fill(0),
      ...after,
    );
  }
  const out = new Uint8Array(16);
  groups.forEach((group, i) => {
    out[i * 2] = group >> 8;
    out[i * 2 + 1] = group & 0xff;
  });
  return out;
}
