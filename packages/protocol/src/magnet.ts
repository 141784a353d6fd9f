// Magnet links for BitTorrent (BEP 9): `magnet:?xt=urn:btih:<infohash>&dn=..&tr=..`.
// Parsing validates and caps every parameter; formatting writes the canonical form
// (lowercase hex infohash, percent-encoded values) that parsing reads back unchanged.
import { Buffer } from 'node:buffer';
import { MagnetError, MagnetErrorCode } from './errors.ts';
import type { Metainfo } from './metainfo.ts';

/** Longest magnet URI accepted. */
export const MAX_MAGNET_LENGTH = 8 * 1024;
/** Most `&`-separated parameters accepted. */
export const MAX_MAGNET_PARAMS = 256;
/** Most `tr` (tracker) parameters accepted. */
export const MAX_MAGNET_TRACKERS = 64;
/** Most `x.pe` (peer address) parameters accepted. */
export const MAX_MAGNET_PEERS = 64;

const INFO_HASH_LENGTH = 20;

export interface MagnetLink {
  /** 20-byte v1 infohash. */
  readonly infoHash: Uint8Array;
  /** `infoHash` as 40 lowercase hex characters. */
  readonly infoHashHex: string;
  /** `dn`. */
  readonly displayName?: string;
  /** `tr`, deduplicated, in order of first appearance. */
  readonly trackers: readonly string[];
  /** `xl`: content length in bytes. */
  readonly exactLength?: number;
  /** `x.pe`: peers as `host:port` (IPv6 as `[addr]:port`), deduplicated. */
  readonly peers: readonly string[];
}

/**
 * Parses a magnet URI. Parameter names may carry a `.N` suffix (`tr.1`, `xt.2`); unknown
 * parameters are ignored. Of the exact topics, `urn:btih:` (40 hex or 32 base32 characters,
 * either case) is required; several btih must agree; `urn:btmh:` alone (a v2-only magnet)
 * is refused with 'v2-only'. `+` in `dn` means a space (form encoding).
 */
export function parseMagnet(uri: string): MagnetLink {
  if (uri.length > MAX_MAGNET_LENGTH) {
    throw new MagnetError(
      MagnetErrorCode.LimitExceeded,
      'uri',
      `magnet URI of ${uri.length} characters exceeds ${MAX_MAGNET_LENGTH}`,
    );
  }
  if (!/^magnet:\?/i.test(uri)) {
    throw new MagnetError(MagnetErrorCode.Malformed, 'uri', 'not a magnet:? URI');
  }
  const segments = uri
    .slice('magnet:?'.length)
    .split('&')
    .filter((s) => s !== '');
  if (segments.length > MAX_MAGNET_PARAMS) {
    throw new MagnetError(
      MagnetErrorCode.LimitExceeded,
      'uri',
      `${segments.length} parameters, cap ${MAX_MAGNET_PARAMS}`,
    );
  }
  let infoHash: Uint8Array | undefined;
  let sawV2 = false;
  let displayName: string | undefined;
  let exactLength: number | undefined;
  const trackers = new Set<string>();
  const peers = new Set<string>();
  for (const segment of segments) {
    const equals = segment.indexOf('=');
    if (equals <= 0) {
      throw new MagnetError(MagnetErrorCode.Malformed, 'uri', `parameter without name=value`);
    }
    const param = segment
      .slice(0, equals)
      .toLowerCase()
      .replace(/\.\d+$/, '');
    const raw = segment.slice(equals + 1);
    switch (param) {
      case 'xt': {
        const topic = percentDecode(raw, param);
        const btih = /^urn:btih:(.*)$/i.exec(topic);
        if (btih) {
          const hash = decodeInfoHash(btih[1]!);
          if (infoHash !== undefined && !equalBytes(infoHash, hash)) {
            throw new MagnetError(
              MagnetErrorCode.InvalidInfoHash,
              param,
              'two btih exact topics disagree',
            );
          }
          infoHash = hash;
        } else if (/^urn:btmh:/i.test(topic)) {
          sawV2 = true;
        }
        break;
      }
      case 'dn':
        displayName = percentDecode(raw.replaceAll('+', ' '), param);
        break;
      case 'tr': {
        const tracker = percentDecode(raw, param);
        if (!isTrackerUrl(tracker)) {
          throw new MagnetError(
            MagnetErrorCode.InvalidTracker,
            param,
            `not an http, https or udp URL: ${tracker}`,
          );
        }
        trackers.add(tracker);
        if (trackers.size > MAX_MAGNET_TRACKERS) {
          throw new MagnetError(
            MagnetErrorCode.LimitExceeded,
            param,
            `over ${MAX_MAGNET_TRACKERS} trackers`,
          );
        }
        break;
      }
      case 'xl': {
        const text = percentDecode(raw, param);
        const length = Number(text);
        if (!/^\d+$/.test(text) || !Number.isSafeInteger(length)) {
          throw new MagnetError(MagnetErrorCode.InvalidLength, param, `bad length ${text}`);
        }
        exactLength = length;
        break;
      }
      case 'x.pe': {
        peers.add(parsePeer(percentDecode(raw, param)));
        if (peers.size > MAX_MAGNET_PEERS) {
          throw new MagnetError(
            MagnetErrorCode.LimitExceeded,
            param,
            `over ${MAX_MAGNET_PEERS} peers`,
          );
        }
        break;
      }
    }
  }
  if (infoHash === undefined) {
    if (sawV2) {
      throw new MagnetError(
        MagnetErrorCode.V2Only,
        'xt',
        'v2-only magnets unsupported (urn:btmh without urn:btih)',
      );
    }
    throw new MagnetError(MagnetErrorCode.MissingInfoHash, 'xt', 'no xt=urn:btih: parameter');
  }
  return {
    infoHash,
    infoHashHex: infoHashToHex(infoHash),
    ...(displayName === undefined ? {} : { displayName }),
    trackers: [...trackers],
    ...(exactLength === undefined ? {} : { exactLength }),
    peers: [...peers],
  };
}

export interface FormatMagnetInput {
  readonly infoHash: Uint8Array;
  readonly displayName?: string;
  readonly trackers?: readonly string[];
  readonly exactLength?: number;
  readonly peers?: readonly string[];
}

/** Writes a magnet URI: `xt` as lowercase hex, then `dn`, `xl`, each `tr`, each `x.pe`. */
export function formatMagnet(link: FormatMagnetInput): string {
  if (link.infoHash.length !== INFO_HASH_LENGTH) {
    throw new MagnetError(
      MagnetErrorCode.InvalidInfoHash,
      'xt',
      `infoHash has ${link.infoHash.length} bytes, expected ${INFO_HASH_LENGTH}`,
    );
  }
  const params = [`xt=urn:btih:${infoHashToHex(link.infoHash)}`];
  if (link.displayName !== undefined) params.push(`dn=${encodeURIComponent(link.displayName)}`);
  if (link.exactLength !== undefined) {
    if (!Number.isSafeInteger(link.exactLength) || link.exactLength < 0) {
      throw new MagnetError(MagnetErrorCode.InvalidLength, 'xl', `bad length ${link.exactLength}`);
    }
    params.push(`xl=${link.exactLength}`);
  }
  for (const tracker of link.trackers ?? []) {
    if (!isTrackerUrl(tracker)) {
      throw new MagnetError(MagnetErrorCode.InvalidTracker, 'tr', `bad tracker URL ${tracker}`);
    }
    params.push(`tr=${encodeURIComponent(tracker)}`);
  }
  for (const peer of link.peers ?? []) params.push(`x.pe=${encodeURIComponent(parsePeer(peer))}`);
  const uri = `magnet:?${params.join('&')}`;
  if (uri.length > MAX_MAGNET_LENGTH) {
    throw new MagnetError(MagnetErrorCode.LimitExceeded, 'uri', 'magnet URI too long');
  }
  return uri;
}

/** The magnet link of a parsed torrent: its name, length and every tracker (deduplicated). */
export function magnetFromMetainfo(metainfo: Metainfo): string {
  const trackers = new Set<string>();
  if (metainfo.announce !== undefined) trackers.add(metainfo.announce);
  for (const tier of metainfo.announceList) for (const url of tier) trackers.add(url);
  return formatMagnet({
    infoHash: metainfo.infoHash,
    displayName: metainfo.name,
    exactLength: metainfo.totalLength,
    trackers: [...trackers].slice(0, MAX_MAGNET_TRACKERS),
  });
}

/** True for an absolute http, https or udp URL with a host (what a tracker can be). */
export function isTrackerUrl(text: string): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return ['http:', 'https:', 'udp:'].includes(url.protocol) && url.hostname !== '';
}

export function infoHashToHex(infoHash: Uint8Array): string {
  return Buffer.from(infoHash.buffer, infoHash.byteOffset, infoHash.byteLength).toString('hex');
}

/** 40 hex or 32 base32 (RFC 4648) characters, either case, to the 20-byte infohash. */
function decodeInfoHash(text: string): Uint8Array {
  if (/^[0-9a-f]{40}$/i.test(text)) return new Uint8Array(Buffer.from(text, 'hex'));
  if (/^[a-z2-7]{32}$/i.test(text)) return decodeBase32(text.toUpperCase());
  throw new MagnetError(
    MagnetErrorCode.InvalidInfoHash,
    'xt',
    `btih must be 40 hex or 32 base32 characters, got ${text.length}`,
  );
}

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function decodeBase32(text: string): Uint8Array {
  const out = new Uint8Array(INFO_HASH_LENGTH);
  let buffer = 0;
  let bits = 0;
  let index = 0;
  for (const char of text) {
    buffer = ((buffer << 5) | BASE32_ALPHABET.indexOf(char)) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out[index++] = (buffer >> bits) & 0xff;
    }
  }
  return out;
}

/** `host:port` with an IPv4 address, a DNS name or a bracketed IPv6 address; port 1..65535. */
function parsePeer(text: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[0-9A-Za-z.-]+):(\d{1,5})$/.exec(text);
  const port = Number(match?.[2]);
  if (
    match === null ||
    !URL.canParse(`http://${match[1]}`) ||
    !Number.isInteger(port) ||
    port < 1 ||
    port > 65535
  ) {
    throw new MagnetError(MagnetErrorCode.InvalidPeer, 'x.pe', `not host:port: ${text}`);
  }
  return text;
}

function percentDecode(text: string, param: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new MagnetError(MagnetErrorCode.Malformed, param, `bad percent-encoding in ${param}`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
