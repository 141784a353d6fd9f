// The BitTorrent handshake (BEP 3): <pstrlen=19><"BitTorrent protocol"><8 reserved bytes>
// <20-byte infohash><20-byte peer id>, 68 bytes, sent once by each side before any message.
import { WireError, WireErrorCode } from './errors.ts';

export const PROTOCOL_NAME = 'BitTorrent protocol';
export const HANDSHAKE_LENGTH = 68;
export const INFO_HASH_LENGTH = 20;
export const PEER_ID_LENGTH = 20;
export const RESERVED_LENGTH = 8;

const PROTOCOL_BYTES = new TextEncoder().encode(PROTOCOL_NAME);
const RESERVED_OFFSET = 1 + PROTOCOL_BYTES.length;
const INFO_HASH_OFFSET = RESERVED_OFFSET + RESERVED_LENGTH;
const PEER_ID_OFFSET = INFO_HASH_OFFSET + INFO_HASH_LENGTH;

/** Feature bits in the 8 reserved handshake bytes, as `reserved[byte] & mask`. */
export const ReservedBit = {
  /** BEP 10 extension protocol (extended messages, id 20): reserved[5] & 0x10. */
  ExtensionProtocol: { byte: 5, mask: 0x10 },
  /** BEP 6 fast extension (have all/none, reject, suggest, allowed fast): reserved[7] & 0x04. */
  Fast: { byte: 7, mask: 0x04 },
  /** BEP 5 DHT (the peer accepts PORT messages): reserved[7] & 0x01. Documented, not used. */
  Dht: { byte: 7, mask: 0x01 },
} as const;
export type ReservedBit = (typeof ReservedBit)[keyof typeof ReservedBit];

export interface Handshake {
  /** 8 bytes; see ReservedBit. */
  readonly reserved: Uint8Array;
  readonly infoHash: Uint8Array;
  readonly peerId: Uint8Array;
}

/** Reserved bytes with the given feature bits set. */
export function reservedBytes(bits: readonly ReservedBit[]): Uint8Array {
  const reserved = new Uint8Array(RESERVED_LENGTH);
  for (const bit of bits) reserved[bit.byte]! |= bit.mask;
  return reserved;
}

export function hasReservedBit(reserved: Uint8Array, bit: ReservedBit): boolean {
  return ((reserved[bit.byte] ?? 0) & bit.mask) !== 0;
}

export function encodeHandshake(handshake: Handshake): Uint8Array {
  expectLength('reserved', handshake.reserved, RESERVED_LENGTH);
  expectLength('infoHash', handshake.infoHash, INFO_HASH_LENGTH);
  expectLength('peerId', handshake.peerId, PEER_ID_LENGTH);
  const bytes = new Uint8Array(HANDSHAKE_LENGTH);
  bytes[0] = PROTOCOL_BYTES.length;
  bytes.set(PROTOCOL_BYTES, 1);
  bytes.set(handshake.reserved, RESERVED_OFFSET);
  bytes.set(handshake.infoHash, INFO_HASH_OFFSET);
  bytes.set(handshake.peerId, PEER_ID_OFFSET);
  return bytes;
}

/**
 * Checks the bytes received so far against the fixed handshake prefix, so a peer that
 * speaks something else is refused at its first wrong byte instead of after 68 bytes.
 */
export function checkHandshakePrefix(bytes: Uint8Array): void {
  const end = Math.min(bytes.length, RESERVED_OFFSET);
  for (let i = 0; i < end; i++) {
    const expected = i === 0 ? PROTOCOL_BYTES.length : PROTOCOL_BYTES[i - 1];
    if (bytes[i] !== expected) {
      throw new WireError(
        WireErrorCode.BadHandshake,
        `not a BitTorrent handshake: byte ${i} is ${bytes[i]}, expected ${expected}`,
      );
    }
  }
}

/** Parses exactly 68 handshake bytes. The fields are copies, safe to keep. */
export function parseHandshake(bytes: Uint8Array): Handshake {
  if (bytes.length !== HANDSHAKE_LENGTH) {
    throw new WireError(
      WireErrorCode.BadHandshake,
      `handshake is ${HANDSHAKE_LENGTH} bytes, got ${bytes.length}`,
    );
  }
  checkHandshakePrefix(bytes);
  return {
    reserved: bytes.slice(RESERVED_OFFSET, INFO_HASH_OFFSET),
    infoHash: bytes.slice(INFO_HASH_OFFSET, PEER_ID_OFFSET),
    peerId: bytes.slice(PEER_ID_OFFSET, HANDSHAKE_LENGTH),
  };
}

function expectLength(field: string, value: Uint8Array, length: number): void {
  if (value.length !== length) {
    throw new WireError(
      WireErrorCode.InvalidMessage,
      `handshake ${field} must be ${length} bytes, got ${value.length}`,
    );
  }
}
