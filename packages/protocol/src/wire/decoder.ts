// Incremental, sans-IO decoder for one direction of a peer connection: feed it the bytes
// as they arrive, in chunks of any size, and it hands back the handshake and the messages.
import { WireError, WireErrorCode } from './errors.ts';
import { LENGTH_PREFIX_BYTES, readUint32 } from './frame.ts';
import {
  checkHandshakePrefix,
  HANDSHAKE_LENGTH,
  type Handshake,
  parseHandshake,
} from './handshake.ts';
import {
  checkMessageLength,
  type DecodedMessage,
  decodeMessage,
  MessageId,
  type MessageLimits,
} from './messages.ts';

export interface HandshakeEvent {
  readonly type: 'handshake';
  readonly handshake: Handshake;
}

export type WireEvent = HandshakeEvent | DecodedMessage;

export interface WireDecoderOptions {
  /**
   * Expect the 68-byte handshake before the first message. Default true; false when the
   * caller has read the handshake itself.
   */
  readonly expectHandshake?: boolean;
  /**
   * Largest piece block accepted. Default 16 KiB, the block size every client requests
   * (BEP 3 lets a peer drop larger requests). Caps piece frames at 9 + this and frames of
   * unknown ids at the same length.
   */
  readonly maxBlockLength?: number;
  /**
   * Most pieces a torrent may have. Default 1,048,576 (1 TiB in 1 MiB pieces). Caps bitfield
   * frames at 1 + ceil(maxPieces / 8) bytes: 131,073 by default.
   */
  readonly maxPieces?: number;
  /**
   * Largest extended (BEP 10) frame. Default 1 MiB: room for a ut_metadata piece (16 KiB)
   * or a large PEX message many times over, while bounding what a peer makes us buffer.
   */
  readonly maxExtendedLength?: number;
  /**
   * The extended id we gave ut_metadata (BEP 9) in our extended handshake; messages under
   * it are decoded as metadata-request/-data/-reject. Default 0: not offered, so such
   * messages come out as plain 'extended'.
   */
  readonly utMetadataId?: number;
}

export const WIRE_DECODER_DEFAULTS = {
  expectHandshake: true,
  maxBlockLength: 16 * 1024,
  maxPieces: 1 << 20,
  maxExtendedLength: 1024 * 1024,
  utMetadataId: 0,
} as const satisfies Required<WireDecoderOptions>;

/** Fills in the defaults and rejects options out of range. */
export function wireDecoderOptions(options: WireDecoderOptions = {}): Required<WireDecoderOptions> {
  const filled = { ...WIRE_DECODER_DEFAULTS, ...definedOnly(options) };
  // Frame lengths are uint32 and the largest cap is 9 + maxBlockLength.
  checkInteger('maxBlockLength', filled.maxBlockLength, 1, 0xffff_ffff - 9);
  checkInteger('maxPieces', filled.maxPieces, 1, 0xffff_fff0 * 8);
  checkInteger('maxExtendedLength', filled.maxExtendedLength, 2, 0xffff_ffff);
  checkInteger('utMetadataId', filled.utMetadataId, 0, 0xff);
  return filled;
}

/**
 * Decodes a byte stream into WireEvents.
 *
 * - `push(chunk)` returns the events completed by that chunk, in order.
 * - Every frame's length prefix is checked against its id before the frame is buffered:
 *   fixed-size messages must have their exact length, others are capped (see the options).
 * - A message with an unknown id is handed out as `{ type: 'unknown' }` (BEP 3: ignore it).
 * - On bad input `push` throws a WireError and the decoder is dead: every later call throws
 *   the same error. Events decoded earlier in that same chunk are not returned; the
 *   connection is to be closed anyway.
 * - `end()` at a frame boundary is a clean end; inside the handshake or a frame it throws
 *   WireError 'truncated'.
 * - Byte payloads (piece blocks, bitfields, extended payloads) are views into the pushed
 *   chunk when the frame lies within one chunk, else one new buffer per frame: do not
 *   reuse a chunk's memory after pushing it. `pushTransient` is for chunks whose memory is
 *   reused (a socket's read buffer).
 */
export class WireDecoder {
  readonly #queue = new ByteQueue();
  readonly #limits: MessageLimits;
  readonly #utMetadataId: number;
  #awaitingHandshake: boolean;
  /** Length prefix of the frame being received, once its header is checked; 0 between frames. */
  #pendingLength = 0;
  #failure: WireError | undefined;
  #ended = false;
  /**
   * pushTransient's own buffers for a frame that spans chunks: one is filled while the
   * other may still hold the piece block handed out by the previous call.
   */
  readonly #carries: Uint8Array[] = [EMPTY, EMPTY];
  #carry = 0;
  #carryLength = 0;

  constructor(options?: WireDecoderOptions) {
    const filled = wireDecoderOptions(options);
    this.#awaitingHandshake = filled.expectHandshake;
    this.#utMetadataId = filled.utMetadataId;
    this.#limits = {
      maxBlockLength: filled.maxBlockLength,
      maxBitfieldLength: Math.ceil(filled.maxPieces / 8),
      maxExtendedLength: filled.maxExtendedLength,
    };
  }

  /** Bytes received but not yet decoded (part of a handshake or frame). */
  get bufferedBytes(): number {
    return this.#queue.length + this.#carryLength;
  }

  push(chunk: Uint8Array): WireEvent[] {
    this.#checkUsable();
    const events: WireEvent[] = [];
    if (chunk.length === 0) return events;
    this.#queue.push(chunk);
    try {
      this.#decode(events);
    } catch (error) {
      if (error instanceof WireError) this.#failure = error;
      throw error;
    }
    return events;
  }

  /**
   * Like push, for a chunk whose memory the caller reuses as soon as this returns, such as a
   * socket read buffer shared by every connection. Piece blocks in the returned events are
   * views that stay valid only until the next call (copy them out while handling the
   * events); every other payload is copied. An incomplete frame is kept in two buffers of
   * the decoder's own, reused, so a steady stream of pieces allocates nothing per chunk.
   * Why: a fresh buffer per socket read was enough garbage to keep V8 running full
   * collections; see the swarm engine's notes.
   */
  pushTransient(chunk: Uint8Array): WireEvent[] {
    this.#checkUsable();
    if (this.#awaitingHandshake || this.#queue.length > 0) {
      // The handshake (once per connection) takes the general path, on a copy.
      const events = this.push(chunk.slice());
      if (!this.#awaitingHandshake && this.#queue.length > 0) {
        this.#pendingLength = 0;
        this.#stash(this.#queue.take(this.#queue.length), 0);
      }
      return events;
    }
    const events: WireEvent[] = [];
    try {
      const offset = this.#carryLength > 0 ? this.#completeCarried(chunk, events) : 0;
      this.#stash(chunk, this.#decodeWhole(chunk, offset, events));
    } catch (error) {
      if (error instanceof WireError) this.#failure = error;
      throw error;
    }
    return events;
  }

  /** Frames that lie wholly in `chunk` from `offset`; returns where the first partial one starts. */
  #decodeWhole(chunk: Uint8Array, offset: number, events: WireEvent[]): number {
    while (chunk.length - offset >= LENGTH_PREFIX_BYTES) {
      const length = readUint32(chunk, offset);
      if (length === 0) {
        events.push({ type: 'keep-alive' });
        offset += LENGTH_PREFIX_BYTES;
        continue;
      }
      if (chunk.length - offset <= LENGTH_PREFIX_BYTES) break;
      checkMessageLength(chunk[offset + LENGTH_PREFIX_BYTES]!, length, this.#limits);
      const end = offset + LENGTH_PREFIX_BYTES + length;
      if (end > chunk.length) break;
      events.push(this.#transientFrame(chunk.subarray(offset + LENGTH_PREFIX_BYTES, end)));
      offset = end;
    }
    return offset;
  }

  /** Adds bytes from `chunk` to the carried partial frame; returns how many it used. */
  #completeCarried(chunk: Uint8Array, events: WireEvent[]): number {
    let used = this.#appendCarry(chunk, 0, LENGTH_PREFIX_BYTES);
    if (this.#carryLength < LENGTH_PREFIX_BYTES) return used;
    const length = readUint32(this.#carryBuffer, 0);
    if (length === 0) {
      events.push({ type: 'keep-alive' });
      this.#carryLength = 0;
      return used;
    }
    used = this.#appendCarry(chunk, used, LENGTH_PREFIX_BYTES + 1);
    if (this.#carryLength <= LENGTH_PREFIX_BYTES) return used;
    checkMessageLength(this.#carryBuffer[LENGTH_PREFIX_BYTES]!, length, this.#limits);
    used = this.#appendCarry(chunk, used, LENGTH_PREFIX_BYTES + length);
    if (this.#carryLength < LENGTH_PREFIX_BYTES + length) return used;
    events.push(
      this.#transientFrame(this.#carryBuffer.subarray(LENGTH_PREFIX_BYTES, this.#carryLength)),
    );
    // The block just handed out stays intact: the next partial frame goes to the other buffer.
    this.#carry ^= 1;
    this.#carryLength = 0;
    return used;
  }

  /** Copies bytes from `chunk[from..]` until the carry holds `target` bytes; returns the new offset. */
  #appendCarry(chunk: Uint8Array, from: number, target: number): number {
    const count = Math.min(target - this.#carryLength, chunk.length - from);
    if (count <= 0) return from;
    this.#reserveCarry(target);
    this.#carries[this.#carry]!.set(chunk.subarray(from, from + count), this.#carryLength);
    this.#carryLength += count;
    return from + count;
  }

  /** Keeps `chunk[offset..]`, the start of a frame, in the carry buffer. */
  #stash(chunk: Uint8Array, offset: number): void {
    const rest = chunk.length - offset;
    if (rest === 0) return;
    // Room for the whole frame once its length is known and checked (rest > 4: checked).
    const frame =
      rest > LENGTH_PREFIX_BYTES ? LENGTH_PREFIX_BYTES + readUint32(chunk, offset) : rest;
    this.#carryLength = 0;
    this.#reserveCarry(frame);
    this.#carries[this.#carry]!.set(chunk.subarray(offset), 0);
    this.#carryLength = rest;
  }

  /** The buffer being filled (#appendCarry may replace it with a larger one). */
  get #carryBuffer(): Uint8Array {
    return this.#carries[this.#carry]!;
  }

  #reserveCarry(bytes: number): void {
    const current = this.#carries[this.#carry]!;
    if (current.length >= bytes) return;
    const grown = new Uint8Array(bytes);
    grown.set(current.subarray(0, this.#carryLength));
    this.#carries[this.#carry] = grown;
  }

  /** A piece block stays a view (the caller copies it at once); anything else is copied. */
  #transientFrame(frame: Uint8Array): DecodedMessage {
    return decodeMessage(frame[0] === MessageId.Piece ? frame : frame.slice(), this.#utMetadataId);
  }

  /** The stream has ended; throws WireError 'truncated' unless it ended between frames. */
  end(): void {
    this.#checkUsable();
    this.#ended = true;
    const buffered = this.bufferedBytes;
    if (buffered > 0) {
      this.#failure = new WireError(
        WireErrorCode.Truncated,
        `stream ended inside ${this.#awaitingHandshake ? 'the handshake' : 'a frame'} (${buffered} bytes buffered)`,
      );
      throw this.#failure;
    }
  }

  #checkUsable(): void {
    if (this.#failure) throw this.#failure;
    if (this.#ended) throw new WireError(WireErrorCode.Ended, 'the stream has already ended');
  }

  #decode(events: WireEvent[]): void {
    const queue = this.#queue;
    if (this.#awaitingHandshake) {
      checkHandshakePrefix(queue.peek(Math.min(queue.length, HANDSHAKE_LENGTH)));
      if (queue.length < HANDSHAKE_LENGTH) return;
      events.push({ type: 'handshake', handshake: parseHandshake(queue.take(HANDSHAKE_LENGTH)) });
      this.#awaitingHandshake = false;
    }
    while (queue.length >= LENGTH_PREFIX_BYTES) {
      // A frame whose header was already checked on an earlier push is not checked again:
      // with small chunks most pushes only add to a frame still incomplete.
      let length = this.#pendingLength;
      if (length === 0) {
        length = queue.uint32At(0);
        if (length === 0) {
          queue.skip(LENGTH_PREFIX_BYTES);
          events.push({ type: 'keep-alive' });
          continue;
        }
        if (queue.length <= LENGTH_PREFIX_BYTES) return;
        checkMessageLength(queue.byteAt(LENGTH_PREFIX_BYTES), length, this.#limits);
      }
      if (queue.length < LENGTH_PREFIX_BYTES + length) {
        this.#pendingLength = length;
        return;
      }
      this.#pendingLength = 0;
      queue.skip(LENGTH_PREFIX_BYTES);
      events.push(decodeMessage(queue.take(length), this.#utMetadataId));
    }
  }
}

const EMPTY = new Uint8Array(0);

/**
 * The received, not yet decoded bytes: a list of chunks and a read position, so appending
 * is O(1) and a frame is copied at most once, when it spans chunks.
 */
class ByteQueue {
  #chunks: Uint8Array[] = [];
  /** Index of the first chunk with unread bytes; consumed chunks before it are EMPTY. */
  #first = 0;
  /** Read position in chunk #first. */
  #offset = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk);
    this.#length += chunk.length;
  }

  /** Byte `index` past the read position; index < length. */
  byteAt(index: number): number {
    let chunk = this.#first;
    let position = this.#offset + index;
    for (;;) {
      const bytes = this.#chunks[chunk]!;
      if (position < bytes.length) return bytes[position]!;
      position -= bytes.length;
      chunk++;
    }
  }

  /** Big-endian uint32 at `index` past the read position; index + 4 <= length. */
  uint32At(index: number): number {
    const head = this.#chunks[this.#first]!;
    const position = this.#offset + index;
    if (position + 4 <= head.length) return readUint32(head, position);
    return (
      ((this.byteAt(index) << 24) |
        (this.byteAt(index + 1) << 16) |
        (this.byteAt(index + 2) << 8) |
        this.byteAt(index + 3)) >>>
      0
    );
  }

  /** The next `count` bytes, without consuming them: a view if they lie in one chunk, else a copy. */
  peek(count: number): Uint8Array {
    if (count === 0) return EMPTY;
    const head = this.#chunks[this.#first]!;
    if (this.#offset + count <= head.length) {
      return head.subarray(this.#offset, this.#offset + count);
    }
    const copy = new Uint8Array(count);
    let filled = 0;
    let offset = this.#offset;
    for (let chunk = this.#first; filled < count; chunk++) {
      const bytes = this.#chunks[chunk]!;
      const part = Math.min(bytes.length - offset, count - filled);
      copy.set(bytes.subarray(offset, offset + part), filled);
      filled += part;
      offset = 0;
    }
    return copy;
  }

  /** The next `count` bytes, consumed: a view if they lie in one chunk, else one copy. */
  take(count: number): Uint8Array {
    const bytes = this.peek(count);
    this.skip(count);
    return bytes;
  }

  skip(count: number): void {
    this.#length -= count;
    while (count > 0) {
      const head = this.#chunks[this.#first]!;
      const available = head.length - this.#offset;
      if (count < available) {
        this.#offset += count;
        return;
      }
      count -= available;
      this.#chunks[this.#first] = EMPTY; // let the chunk be collected
      this.#first++;
      this.#offset = 0;
    }
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first >= 1024) {
      this.#chunks.splice(0, this.#first);
      this.#first = 0;
    }
  }
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new WireError(
      WireErrorCode.InvalidOption,
      `${name} must be an integer in [${min}, ${max}], got ${value}`,
    );
  }
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}
