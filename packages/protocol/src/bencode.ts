// Bencode (BEP 3), written here rather than taken from the npm `bencode` package because we
// need what it does not give: strict validation with a typed error and byte offset for every
// malformed input (peers and .torrent files are hostile input), caps on depth and size, a
// prefix decoder that reports bytes consumed (BEP 9 puts raw data after a dict), and the raw
// byte span of each dict (the infohash is SHA-1 over the original bytes of `info`).
import { Buffer } from 'node:buffer';
import { BencodeError, BencodeErrorCode } from './errors.ts';

export { BencodeError, BencodeErrorCode } from './errors.ts';

/** A decoded bencode value. Integers are safe-integer numbers; strings stay raw bytes. */
export type BValue = number | Uint8Array | BValue[] | BDict;
/**
 * A dictionary. Keys are the raw key bytes read as latin1 (one char per byte), so any key
 * round-trips byte for byte, and JS string order equals raw byte order.
 */
export type BDict = Map<string, BValue>;

export interface DecodeOptions {
  /**
   * Refuse dictionaries whose keys are not strictly ascending by raw bytes (BEP 3 requires
   * it). Default true. Use false for what other clients send: unsorted keys are accepted,
   * and of duplicate keys the FIRST wins and later ones are dropped (as libtorrent does).
   */
  strict?: boolean;
  /** Most lists/dicts nested inside each other; default 64, at most 1000. */
  maxDepth?: number;
  /** Largest input accepted, in bytes (the whole input, also for bdecodePrefix); default 16 MiB. */
  maxBytes?: number;
}

/** Byte range [start, end) of a value within the decoded input. */
export interface Span {
  readonly start: number;
  readonly end: number;
}

export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
/** Recursion bound for the decoder's stack, whatever the options say. */
const MAX_DEPTH_LIMIT = 1000;
/** More digits than this cannot be a safe integer (2^53 has 16), nor a length within maxBytes. */
const MAX_DIGITS = 16;

const CHAR_0 = 0x30;
const CHAR_9 = 0x39;
const CHAR_COLON = 0x3a;
const CHAR_MINUS = 0x2d;
const CHAR_D = 0x64;
const CHAR_E = 0x65;
const CHAR_I = 0x69;
const CHAR_L = 0x6c;

/** Decodes exactly one value; bytes after it are an error ('trailing-bytes'). */
export function bdecode(bytes: Uint8Array, options?: DecodeOptions): BValue {
  const decoder = createDecoder(bytes, options, undefined);
  const value = decodeValue(decoder, 0);
  if (decoder.pos !== decoder.bytes.length) {
    throw new BencodeError(
      BencodeErrorCode.TrailingBytes,
      decoder.pos,
      `${decoder.bytes.length - decoder.pos} bytes after the value`,
    );
  }
  return value;
}

/** Decodes one value at the start of `bytes` and reports how many bytes it took. */
export function bdecodePrefix(
  bytes: Uint8Array,
  options?: DecodeOptions,
): { value: BValue; length: number } {
  const decoder = createDecoder(bytes, options, undefined);
  const value = decodeValue(decoder, 0);
  return { value, length: decoder.pos };
}

/**
 * Like `bdecode`, and also returns the byte span of every decoded dictionary, keyed by the
 * dictionary object, e.g. `spans.get(top.get('info'))` for the infohash.
 */
export function bdecodeWithSpans(
  bytes: Uint8Array,
  options?: DecodeOptions,
): { value: BValue; spans: Map<BDict, Span> } {
  const spans = new Map<BDict, Span>();
  const decoder = createDecoder(bytes, options, spans);
  const value = decodeValue(decoder, 0);
  if (decoder.pos !== decoder.bytes.length) {
    throw new BencodeError(
      BencodeErrorCode.TrailingBytes,
      decoder.pos,
      `${decoder.bytes.length - decoder.pos} bytes after the value`,
    );
  }
  return { value, spans };
}

interface Decoder {
  readonly bytes: Uint8Array;
  readonly strict: boolean;
  readonly maxDepth: number;
  readonly spans: Map<BDict, Span> | undefined;
  pos: number;
}

function createDecoder(
  input: Uint8Array,
  options: DecodeOptions | undefined,
  spans: Map<BDict, Span> | undefined,
): Decoder {
  const maxDepth = options?.maxDepth ?? DEFAULT_MAX_DEPTH;
  const maxBytes = options?.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new RangeError(`maxDepth must be an integer in 0..${MAX_DEPTH_LIMIT}, got ${maxDepth}`);
  }
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new RangeError(`maxBytes must be a non-negative integer, got ${maxBytes}`);
  }
  if (input.length > maxBytes) {
    throw new BencodeError(
      BencodeErrorCode.TooLarge,
      maxBytes,
      `input of ${input.length} bytes exceeds maxBytes ${maxBytes}`,
    );
  }
  // A plain Uint8Array view, so slices are Uint8Array even when the caller passed a Buffer.
  const bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return { bytes, strict: options?.strict ?? true, maxDepth, spans, pos: 0 };
}

function decodeValue(decoder: Decoder, depth: number): BValue {
  const byte = decoder.bytes[decoder.pos];
  if (byte === undefined) throw truncated(decoder);
  if (byte === CHAR_I) return decodeInteger(decoder);
  if (byte >= CHAR_0 && byte <= CHAR_9) return decodeString(decoder);
  if (byte === CHAR_L || byte === CHAR_D) {
    if (depth >= decoder.maxDepth) {
      throw new BencodeError(
        BencodeErrorCode.TooDeep,
        decoder.pos,
        `nesting deeper than maxDepth ${decoder.maxDepth}`,
      );
    }
    return byte === CHAR_L ? decodeList(decoder, depth + 1) : decodeDict(decoder, depth + 1);
  }
  throw new BencodeError(
    BencodeErrorCode.UnexpectedByte,
    decoder.pos,
    `byte 0x${byte.toString(16).padStart(2, '0')} cannot start a value`,
  );
}

function decodeInteger(decoder: Decoder): number {
  const { bytes } = decoder;
  const start = decoder.pos;
  let pos = start + 1;
  const negative = bytes[pos] === CHAR_MINUS;
  if (negative) pos++;
  const digitsStart = pos;
  let value = 0;
  for (;;) {
    const byte = bytes[pos];
    if (byte === undefined) {
      decoder.pos = pos;
      throw truncated(decoder);
    }
    if (byte === CHAR_E) break;
    if (byte < CHAR_0 || byte > CHAR_9) {
      throw new BencodeError(BencodeErrorCode.UnexpectedByte, pos, 'non-digit in integer');
    }
    if (pos - digitsStart === 1 && bytes[digitsStart] === CHAR_0) {
      throw new BencodeError(
        BencodeErrorCode.LeadingZero,
        digitsStart,
        'integer with leading zero',
      );
    }
    if (pos - digitsStart >= MAX_DIGITS) {
      throw new BencodeError(BencodeErrorCode.IntegerRange, start, 'integer beyond safe range');
    }
    value = value * 10 + (byte - CHAR_0);
    pos++;
  }
  const digits = pos - digitsStart;
  if (digits === 0) throw new BencodeError(BencodeErrorCode.EmptyInteger, start, 'empty integer');
  if (negative && value === 0) {
    throw new BencodeError(BencodeErrorCode.NegativeZero, start, 'negative zero');
  }
  // Rounding is monotonic, so anything above 2^53 - 1 still computes as unsafe here.
  if (!Number.isSafeInteger(value)) {
    throw new BencodeError(BencodeErrorCode.IntegerRange, start, 'integer beyond safe range');
  }
  decoder.pos = pos + 1;
  return negative ? -value : value;
}

/** Reads `<length>:<bytes>` and returns the [start, end) of the bytes. */
function readStringSpan(decoder: Decoder): Span {
  const { bytes } = decoder;
  const start = decoder.pos;
  let pos = start;
  let length = 0;
  for (;;) {
    const byte = bytes[pos];
    if (byte === undefined) {
      decoder.pos = pos;
      throw truncated(decoder);
    }
    if (byte === CHAR_COLON) break;
    if (byte < CHAR_0 || byte > CHAR_9) {
      throw new BencodeError(BencodeErrorCode.UnexpectedByte, pos, 'non-digit in string length');
    }
    if (pos - start === 1 && bytes[start] === CHAR_0) {
      throw new BencodeError(
        BencodeErrorCode.LeadingZero,
        start,
        'string length with leading zero',
      );
    }
    if (pos - start >= MAX_DIGITS) {
      throw new BencodeError(BencodeErrorCode.StringOverflow, start, 'string length too large');
    }
    length = length * 10 + (byte - CHAR_0);
    pos++;
  }
  if (pos === start) {
    // Only reachable for a dict key (values start with a digit); a key must have a length.
    throw new BencodeError(BencodeErrorCode.UnexpectedByte, pos, 'string without length');
  }
  const dataStart = pos + 1;
  if (length > bytes.length - dataStart) {
    throw new BencodeError(
      BencodeErrorCode.StringOverflow,
      start,
      `string of ${length} bytes runs past the end of the input`,
    );
  }
  decoder.pos = dataStart + length;
  return { start: dataStart, end: dataStart + length };
}

function decodeString(decoder: Decoder): Uint8Array {
  const span = readStringSpan(decoder);
  return decoder.bytes.slice(span.start, span.end);
}

function decodeList(decoder: Decoder, depth: number): BValue[] {
  const list: BValue[] = [];
  decoder.pos++;
  for (;;) {
    const byte = decoder.bytes[decoder.pos];
    if (byte === undefined) throw truncated(decoder);
    if (byte === CHAR_E) break;
    list.push(decodeValue(decoder, depth));
  }
  decoder.pos++;
  return list;
}

function decodeDict(decoder: Decoder, depth: number): BDict {
  const { bytes } = decoder;
  const dict: BDict = new Map();
  const start = decoder.pos;
  decoder.pos++;
  let previousKey: string | undefined;
  for (;;) {
    const keyOffset = decoder.pos;
    const byte = bytes[keyOffset];
    if (byte === undefined) throw truncated(decoder);
    if (byte === CHAR_E) break;
    if (byte < CHAR_0 || byte > CHAR_9) {
      throw new BencodeError(
        BencodeErrorCode.NonStringKey,
        keyOffset,
        'dictionary key is not a string',
      );
    }
    const keySpan = readStringSpan(decoder);
    const key = latin1(bytes, keySpan.start, keySpan.end);
    if (decoder.strict && previousKey !== undefined) {
      if (key === previousKey) {
        throw new BencodeError(BencodeErrorCode.DuplicateKey, keyOffset, 'duplicate key');
      }
      if (key < previousKey) {
        throw new BencodeError(BencodeErrorCode.UnsortedKeys, keyOffset, 'keys out of order');
      }
    }
    previousKey = key;
    const value = decodeValue(decoder, depth);
    if (!dict.has(key)) dict.set(key, value);
  }
  decoder.pos++;
  decoder.spans?.set(dict, { start, end: decoder.pos });
  return dict;
}

function truncated(decoder: Decoder): BencodeError {
  return new BencodeError(BencodeErrorCode.Truncated, decoder.pos, 'input ends inside a value');
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

/** Encodes a value; dictionary keys are written in ascending raw-byte order. */
export function bencode(value: BValue): Uint8Array {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const push = (chunk: Uint8Array): void => {
    chunks.push(chunk);
    size += chunk.length;
  };
  const fail = (message: string): never => {
    throw new BencodeError(BencodeErrorCode.Unencodable, size, message);
  };
  const encode = (item: BValue, depth: number): void => {
    if (typeof item === 'number') {
      if (!Number.isSafeInteger(item)) fail(`${item} is not a safe integer`);
      push(ascii(`i${item}e`));
    } else if (item instanceof Uint8Array) {
      push(ascii(`${item.length}:`));
      push(item);
    } else if (Array.isArray(item) || item instanceof Map) {
      // Same cap as the decoder's default, so whatever we encode we can decode (and a cycle
      // fails here instead of overflowing the stack).
      if (depth >= DEFAULT_MAX_DEPTH) fail(`nesting deeper than ${DEFAULT_MAX_DEPTH}`);
      if (Array.isArray(item)) {
        push(ascii('l'));
        for (const element of item) encode(element, depth + 1);
      } else {
        push(ascii('d'));
        for (const key of [...item.keys()].sort()) {
          if (typeof key !== 'string') fail('dictionary key is not a string');
          if (NON_LATIN1.test(key))
            fail(`dictionary key ${JSON.stringify(key)} has a char above 0xff`);
          const keyBytes = bkeyBytes(key);
          push(ascii(`${keyBytes.length}:`));
          push(keyBytes);
          encode(item.get(key)!, depth + 1);
        }
      }
      push(ascii('e'));
    } else {
      fail(`cannot encode ${typeof item}`);
    }
  };
  encode(value, 0);
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

const NON_LATIN1 = /[\u0100-\uffff]/;

function ascii(text: string): Uint8Array {
  return bkeyBytes(text);
}

const utf8Encoder = new TextEncoder();

/** UTF-8 bytes of `text`, for bencode string values. */
export function bstr(text: string): Uint8Array {
  return utf8Encoder.encode(text);
}

/** The BDict key for raw key bytes (latin1: one char per byte). */
export function bkey(bytes: Uint8Array): string {
  return latin1(bytes, 0, bytes.length);
}

/** The raw bytes of a BDict key; BencodeError 'unencodable' if a char is above 0xff. */
export function bkeyBytes(key: string): Uint8Array {
  const bytes = new Uint8Array(key.length);
  for (let i = 0; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code > 0xff) {
      throw new BencodeError(BencodeErrorCode.Unencodable, 0, 'dictionary key char above 0xff');
    }
    bytes[i] = code;
  }
  return bytes;
}

export function isBDict(value: BValue | undefined): value is BDict {
  return value instanceof Map;
}

export function isBList(value: BValue | undefined): value is BValue[] {
  return Array.isArray(value);
}

export function isBBytes(value: BValue | undefined): value is Uint8Array {
  return value instanceof Uint8Array;
}
