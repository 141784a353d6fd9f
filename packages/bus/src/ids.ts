import { z } from 'zod';

/**
 * Binary ids (infohash, peer id: 20 bytes each) travel in JSON as 40 lowercase hex characters.
 * Lowercase only, so one id has one spelling and can be used as a map or KV key as is.
 */
export const HEX_ID_LENGTH = 40;
const HEX_ID = /^[0-9a-f]{40}$/;

export const HexId = z.string().regex(HEX_ID, 'must be 40 lowercase hex characters (a 20-byte id)');

export function isHexId(value: string): boolean {
  return HEX_ID.test(value);
}

const HEX_DIGITS = '0123456789abcdef';

/** Lowercase hex of any bytes. */
export function bytesToHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += HEX_DIGITS[byte >> 4]! + HEX_DIGITS[byte & 15]!;
  return out;
}

/** Bytes of an even-length hex string (either case); throws `RangeError` on anything else. */
export function hexToBytes(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new RangeError(`not an even-length hex string: ${JSON.stringify(hex.slice(0, 80))}`);
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}
