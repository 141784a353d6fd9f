// Byte-level helpers shared by the message codecs: big-endian integers and the
// <length prefix><id> frame header that every message after the handshake carries.
import { WireError, WireErrorCode } from './errors.ts';

/** Bytes of the length prefix in front of every message. */
export const LENGTH_PREFIX_BYTES = 4;

export function readUint32(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) |
      (bytes[offset + 1]! << 16) |
      (bytes[offset + 2]! << 8) |
      bytes[offset + 3]!) >>>
    0
  );
}

export function writeUint32(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value >>> 24;
  bytes[offset + 1] = value >>> 16;
  bytes[offset + 2] = value >>> 8;
  bytes[offset + 3] = value;
}

export function assertUint32(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    throw new WireError(WireErrorCode.InvalidMessage, `${field} must be a uint32, got ${value}`);
  }
}

export function assertByte(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new WireError(WireErrorCode.InvalidMessage, `${field} must be a byte, got ${value}`);
  }
}

/**
 * A new frame for message `id` with room for `payloadLength` bytes after the id:
 * the length prefix and the id are written, the payload starts at offset 5.
 */
export function allocFrame(id: number, payloadLength: number): Uint8Array {
  const length = 1 + payloadLength;
  assertUint32('message length', length);
  const frame = new Uint8Array(LENGTH_PREFIX_BYTES + length);
  writeUint32(frame, 0, length);
  frame[LENGTH_PREFIX_BYTES] = id;
  return frame;
}

/** A frame whose payload is a sequence of uint32 fields (have, request, cancel, ...). */
export function uint32Frame(id: number, fields: readonly [string, number][]): Uint8Array {
  const frame = allocFrame(id, fields.length * 4);
  let offset = LENGTH_PREFIX_BYTES + 1;
  for (const [name, value] of fields) {
    assertUint32(name, value);
    writeUint32(frame, offset, value);
    offset += 4;
  }
  return frame;
}
