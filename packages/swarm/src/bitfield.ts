// Which pieces someone has, one bit per piece, high bit of byte 0 = piece 0 (BEP 3 layout).
import { SwarmError, SwarmErrorCode } from './errors.ts';

export class Bitfield {
  readonly length: number;
  readonly #bytes: Uint8Array;
  #count = 0;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new SwarmError(SwarmErrorCode.InvalidOptions, `bitfield length ${length} is invalid`);
    }
    this.length = length;
    this.#bytes = new Uint8Array(Math.ceil(length / 8));
  }

  /** A bitfield with every piece set. */
  static full(length: number): Bitfield {
    const bitfield = new Bitfield(length);
    for (let i = 0; i < length; i++) bitfield.set(i);
    return bitfield;
  }

  /**
   * Parses wire bytes for `length` pieces. Refuses a wrong byte count or spare bits set
   * past the last piece (BEP 3: "clients should drop the connection").
   */
  static fromBytes(bytes: Uint8Array, length: number): Bitfield {
    const bitfield = new Bitfield(length);
    if (bytes.length !== bitfield.#bytes.length) {
      throw new SwarmError(
        SwarmErrorCode.ProtocolViolation,
        `bitfield has ${bytes.length} bytes, expected ${bitfield.#bytes.length} for ${length} pieces`,
      );
    }
    const spare = bitfield.#bytes.length * 8 - length;
    if (spare > 0 && (bytes[bytes.length - 1]! & ((1 << spare) - 1)) !== 0) {
      throw new SwarmError(SwarmErrorCode.ProtocolViolation, 'bitfield has spare bits set');
    }
    bitfield.#bytes.set(bytes);
    let count = 0;
    for (const byte of bytes) count += popcount(byte);
    bitfield.#count = count;
    return bitfield;
  }

  /** Pieces set. */
  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.length;
  }

  get empty(): boolean {
    return this.#count === 0;
  }

  has(index: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) return false;
    return (this.#bytes[index >>> 3]! & (0x80 >>> (index & 7))) !== 0;
  }

  /** Sets piece `index`; returns false if it was already set. */
  set(index: number): boolean {
    this.#check(index);
    const mask = 0x80 >>> (index & 7);
    const byte = this.#bytes[index >>> 3]!;
    if ((byte & mask) !== 0) return false;
    this.#bytes[index >>> 3] = byte | mask;
    this.#count++;
    return true;
  }

  /** Clears piece `index`; returns false if it was not set. */
  clear(index: number): boolean {
    this.#check(index);
    const mask = 0x80 >>> (index & 7);
    const byte = this.#bytes[index >>> 3]!;
    if ((byte & mask) === 0) return false;
    this.#bytes[index >>> 3] = byte & ~mask;
    this.#count--;
    return true;
  }

  /** A copy of the wire bytes. */
  toBytes(): Uint8Array {
    return this.#bytes.slice();
  }

  clone(): Bitfield {
    return Bitfield.fromBytes(this.#bytes, this.length);
  }

  /** Indexes of the set pieces, ascending. */
  *indexes(): Generator<number> {
    for (let byteIndex = 0; byteIndex < this.#bytes.length; byteIndex++) {
      const byte = this.#bytes[byteIndex]!;
      if (byte === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        if ((byte & (0x80 >>> bit)) !== 0) yield byteIndex * 8 + bit;
      }
    }
  }

  #check(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw new SwarmError(
        SwarmErrorCode.OutOfRange,
        `piece ${index} outside a bitfield of ${this.length}`,
      );
    }
  }
}

function popcount(byte: number): number {
  let count = 0;
  for (let b = byte; b !== 0; b &= b - 1) count++;
  return count;
}
