// BEP 3 announce, BEP 23 compact peers, BEP 7 IPv6 peers, BEP 48 scrape: query parsing and
// bencoded replies. Pure: strings and bytes in, requests and bytes out.
import {
  type AnnounceEvent,
  type AnnounceRequest,
  type AnnounceResponse,
  bytesToHex,
  DEFAULT_NUMWANT,
  hexToBytes,
  MAX_NUMWANT_ACCEPTED,
  MAX_SCRAPE_INFOHASHES,
  type SwarmCounts,
} from '@shoal/bus';
import { type BDict, type BValue, bencode, bkey, bstr } from '@shoal/protocol';
import { badRequest } from './errors.ts';
import { ipv4Bytes, ipv6Bytes } from './ip.ts';
import { validateAnnounce } from './validate.ts';

/** Most parameters read from one query string; real clients send about 15. */
const MAX_QUERY_PARAMS = 2 * MAX_SCRAPE_INFOHASHES + 32;
const ID_BYTES = 20;

/**
 * Splits a raw query string into parameters with percent-decoded byte values, keeping every
 * repeat. Binary-safe, unlike URLSearchParams (which decodes to UTF-8 text and mangles
 * infohash bytes); `+` stays a literal `+`, as BitTorrent clients escape everything else.
 */
export function parseRawQuery(rawQuery: string): Map<string, Uint8Array[]> {
  const params = new Map<string, Uint8Array[]>();
  if (rawQuery === '') return params;
  const parts = rawQuery.split('&', MAX_QUERY_PARAMS + 1);
  if (parts.length > MAX_QUERY_PARAMS) throw badRequest(`more than ${MAX_QUERY_PARAMS} parameters`);
  for (const part of parts) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const name = rawName.includes('%') ? utf8.decode(percentDecode(rawName)) : rawName;
    const value = percentDecode(eq === -1 ? '' : part.slice(eq + 1));
    const list = params.get(name);
    if (list === undefined) params.set(name, [value]);
    else list.push(value);
  }
  return params;
}

const utf8 = new TextDecoder();
// Value of each ASCII hex digit, -1 for anything else.
const HEX_VALUE = Int8Array.from({ length: 128 }, (_, c) =>
  c >= 0x30 && c <= 0x39
    ? c - 0x30
    : c >= 0x41 && c <= 0x46
      ? c - 55
      : c >= 0x61 && c <= 0x66
        ? c - 87
        : -1,
);

/** Bytes of a percent-encoded string; a `%` not followed by two hex digits is a bad request. */
export function percentDecode(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 0x25) {
      const high = HEX_VALUE[text.charCodeAt(i + 1)] ?? -1;
      const low = HEX_VALUE[text.charCodeAt(i + 2)] ?? -1;
      if (high < 0 || low < 0) throw badRequest('malformed percent-encoding in query');
      out[n++] = (high << 4) | low;
      i += 2;
    } else if (code > 0x7e || code < 0x21) {
      throw badRequest('query has characters that must be percent-encoded');
    } else {
      out[n++] = code;
    }
  }
  return out.subarray(0, n);
}

const latin1 = new TextDecoder('latin1');

function single(params: Map<string, Uint8Array[]>, name: string): Uint8Array | undefined {
  const values = params.get(name);
  if (values === undefined) return undefined;
  if (values.length > 1) throw badRequest(`${name} is given more than once`);
  return values[0];
}

function id(params: Map<string, Uint8Array[]>, name: string): string {
  const value = single(params, name);
  if (value === undefined) throw badRequest(`missing ${name}`);
  if (value.length !== ID_BYTES) {
    throw badRequest(`${name} must be ${ID_BYTES} bytes, got ${value.length}`);
  }
  return bytesToHex(value);
}

function count(
  params: Map<string, Uint8Array[]>,
  name: string,
  options: { max: number; fallback?: number },
): number {
  const value = single(params, name);
  if (value === undefined) {
    if (options.fallback !== undefined) return options.fallback;
    throw badRequest(`missing ${name}`);
  }
  const text = latin1.decode(value);
  // Length check first: a 400-digit number must not reach Number().
  if (!/^\d{1,16}$/.test(text) || Number(text) > options.max) {
    throw badRequest(
      `${name} must be an integer from 0 to ${options.max}, got ${JSON.stringify(text.slice(0, 32))}`,
    );
  }
  return Number(text);
}

export interface HttpAnnounce {
  request: AnnounceRequest;
  /** BEP 23: answer with packed `peers`/`peers6` strings (the default). */
  compact: boolean;
  /** Leave `peer id` out of non-compact peer dictionaries. */
  noPeerId: boolean;
}

/**
 * Reads a BEP 3 announce query. `sourceIp` is the canonical address the request came from; it is
 * the peer's address unless `trustedIp` (the `ip` parameter, when the operator trusts it) is set.
 * Throws `TrackerError(BadRequest)` naming the first bad parameter.
 */
export function parseAnnounceQuery(
  params: Map<string, Uint8Array[]>,
  sourceIp: string,
): HttpAnnounce {
  const infoHash = id(params, 'info_hash');
  const peerId = id(params, 'peer_id');
  const port = count(params, 'port', { max: 65535 });
  if (port === 0) throw badRequest('port must be from 1 to 65535, got 0');
  const uploaded = count(params, 'uploaded', { max: Number.MAX_SAFE_INTEGER, fallback: 0 });
  const downloaded = count(params, 'downloaded', { max: Number.MAX_SAFE_INTEGER, fallback: 0 });
  const left = count(params, 'left', { max: Number.MAX_SAFE_INTEGER });
  const numWant = count(params, 'numwant', {
    max: MAX_NUMWANT_ACCEPTED,
    fallback: DEFAULT_NUMWANT,
  });
  const eventBytes = single(params, 'event');
  const eventText = eventBytes === undefined ? '' : latin1.decode(eventBytes);
  let event: AnnounceEvent | undefined;
  switch (eventText) {
    case '':
    case 'paused': // BEP 21: a partial seed pausing is a regular announce for the swarm
      event = undefined;
      break;
    case 'started':
    case 'completed':
    case 'stopped':
      event = eventText;
      break;
    default:
      throw badRequest(`unknown event ${JSON.stringify(eventText.slice(0, 32))}`);
  }
  const candidate = { infoHash, peerId, ip: sourceIp, port, uploaded, downloaded, left, numWant };
  const request = validateAnnounce(event === undefined ? candidate : { ...candidate, event });
  const compactBytes = single(params, 'compact');
  const noPeerIdBytes = single(params, 'no_peer_id');
  return {
    request,
    compact: compactBytes === undefined || latin1.decode(compactBytes) !== '0',
    noPeerId: noPeerIdBytes !== undefined && latin1.decode(noPeerIdBytes) === '1',
  };
}

/** The `ip` parameter as text, when present. */
export function ipParam(params: Map<string, Uint8Array[]>): string | undefined {
  const value = single(params, 'ip');
  return value === undefined ? undefined : latin1.decode(value);
}

/** Infohashes (hex) of a BEP 48 scrape; at least one, at most `MAX_SCRAPE_INFOHASHES`. */
export function parseScrapeQuery(params: Map<string, Uint8Array[]>): string[] {
  const values = params.get('info_hash') ?? [];
  if (values.length === 0) {
    throw badRequest('scrape needs at least one info_hash (full scrapes are disabled)');
  }
  if (values.length > MAX_SCRAPE_INFOHASHES) {
    throw badRequest(`at most ${MAX_SCRAPE_INFOHASHES} info_hash per scrape, got ${values.length}`);
  }
  const hashes = new Set<string>();
  for (const value of values) {
    if (value.length !== ID_BYTES) {
      throw badRequest(`info_hash must be ${ID_BYTES} bytes, got ${value.length}`);
    }
    hashes.add(bytesToHex(value));
  }
  return [...hashes];
}

function isIpv6(ip: string): boolean {
  return ip.includes(':');
}

/** A peer's BEP 23 / BEP 7 compact form: address bytes then the port, big-endian (6 or 18 bytes). */
export function compactPeer(ip: string, port: number): Uint8Array {
  const address = isIpv6(ip) ? ipv6Bytes(ip) : ipv4Bytes(ip);
  const out = new Uint8Array(address.length + 2);
  out.set(address);
  out[address.length] = port >> 8;
  out[address.length + 1] = port & 0xff;
  return out;
}

/** A peer as the reply encoder reads it; `compact` may be precomputed (the cache does). */
export interface EncodablePeer {
  peerId: string;
  ip: string;
  port: number;
  compact?: Uint8Array;
}

/**
 * Bencoded announce reply: compact `peers` (6 bytes per IPv4 peer) and `peers6` (18 bytes per
 * IPv6 peer), or a list of dictionaries. The compact form (what clients ask for by default) is
 * written directly, byte for byte what `bencode` writes for the same dictionary.
 */
export function encodeAnnounceReply(
  reply: Omit<AnnounceResponse, 'peers'> & { peers: readonly EncodablePeer[] },
  options: { compact: boolean; noPeerId: boolean },
): Uint8Array {
  if (options.compact) {
    let v4 = 0;
    let v6 = 0;
    const packed: Uint8Array[] = [];
    for (const peer of reply.peers) {
      const bytes = peer.compact ?? compactPeer(peer.ip, peer.port);
      packed.push(bytes);
      if (bytes.length === 6) v4 += 6;
      else v6 += bytes.length;
    }
    // Keys in ascending byte order, as bencode requires.
    const head = `d8:completei${reply.complete}e10:downloadedi${reply.downloaded}e10:incompletei${reply.incomplete}e8:intervali${reply.interval}e12:min intervali${reply.minInterval}e5:peers${v4}:`;
    const middle = `6:peers6${v6}:`;
    const out = Buffer.allocUnsafe(head.length + v4 + middle.length + v6 + 1);
    let at = out.write(head, 0, 'latin1');
    let at6 = at + v4 + out.write(middle, at + v4, 'latin1');
    for (const bytes of packed) {
      if (bytes.length === 6) {
        out.set(bytes, at);
        at += 6;
      } else {
        out.set(bytes, at6);
        at6 += bytes.length;
      }
    }
    out[at6] = 0x65; // e
    return out;
  }
  const dict: BDict = new Map<string, BValue>([
    ['interval', reply.interval],
    ['min interval', reply.minInterval],
    ['complete', reply.complete],
    ['incomplete', reply.incomplete],
    ['downloaded', reply.downloaded],
  ]);
  dict.set(
    'peers',
    reply.peers.map((peer) => {
      const entry: BDict = new Map<string, BValue>([
        ['ip', bstr(peer.ip)],
        ['port', peer.port],
      ]);
      if (!options.noPeerId) entry.set('peer id', hexToBytes(peer.peerId));
      return entry;
    }),
  );
  return bencode(dict);
}

/** Bencoded BEP 48 scrape reply: `files` keyed by raw 20-byte infohash. */
export function encodeScrapeReply(swarms: readonly SwarmCounts[]): Uint8Array {
  const files: BDict = new Map();
  for (const swarm of swarms) {
    files.set(
      bkey(hexToBytes(swarm.infoHash)),
      new Map<string, BValue>([
        ['complete', swarm.complete],
        ['downloaded', swarm.downloaded],
        ['incomplete', swarm.incomplete],
      ]),
    );
  }
  return bencode(new Map([['files', files]]));
}

/** BEP 3 `failure reason`, with BEP 31 `retry in` (minutes) when the client should back off. */
export function encodeFailure(reason: string, retryInMinutes?: number): Uint8Array {
  const dict: BDict = new Map<string, BValue>([['failure reason', bstr(reason)]]);
  if (retryInMinutes !== undefined) dict.set('retry in', retryInMinutes);
  return bencode(dict);
}
