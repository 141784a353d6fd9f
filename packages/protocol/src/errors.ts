// Typed errors for the bencode, metainfo and magnet codecs. Each carries a stable `code`
// (callers branch on it; messages are for people) and where the problem is: a byte offset
// for bencode, a field path for metainfo, the URI parameter for magnets.

/** Why `bdecode` refused its input, or `bencode` its value. */
export const BencodeErrorCode = {
  /** Input ended inside a value. */
  Truncated: 'truncated',
  /** Bytes left after the one value `bdecode` expects. */
  TrailingBytes: 'trailing-bytes',
  /** A byte that cannot start a value, or a non-digit inside an integer or string length. */
  UnexpectedByte: 'unexpected-byte',
  /** `i03e` or `03:abc`: a number with a superfluous leading zero. */
  LeadingZero: 'leading-zero',
  /** `i-0e`: BEP 3 forbids negative zero. */
  NegativeZero: 'negative-zero',
  /** `ie` or `i-e`: an integer without digits. */
  EmptyInteger: 'empty-integer',
  /** An integer outside Number.isSafeInteger. */
  IntegerRange: 'integer-range',
  /** A string whose declared length runs past the end of the input. */
  StringOverflow: 'string-overflow',
  /** Lists and dictionaries nested deeper than `maxDepth`. */
  TooDeep: 'too-deep',
  /** Input longer than `maxBytes`. */
  TooLarge: 'too-large',
  /** A dictionary key that is not a byte string. */
  NonStringKey: 'non-string-key',
  /** Strict mode: dictionary keys not in ascending raw-byte order. */
  UnsortedKeys: 'unsorted-keys',
  /** Strict mode: the same dictionary key twice. */
  DuplicateKey: 'duplicate-key',
  /** `bencode()` was given something bencode cannot represent (a bug in the caller). */
  Unencodable: 'unencodable',
} as const;
export type BencodeErrorCode = (typeof BencodeErrorCode)[keyof typeof BencodeErrorCode];

export class BencodeError extends Error {
  override readonly name = 'BencodeError';
  readonly code: BencodeErrorCode;
  /** Byte offset in the input where decoding failed (for `bencode()`: bytes written so far). */
  readonly offset: number;

  constructor(code: BencodeErrorCode, offset: number, message: string) {
    super(`${message} (at byte ${offset})`);
    this.code = code;
    this.offset = offset;
  }
}

/** Why a .torrent (or the input to `createTorrent`) was refused. */
export const MetainfoErrorCode = {
  /** Not valid bencode; `cause` is the BencodeError. */
  BadBencode: 'bad-bencode',
  /** A required key is absent. */
  MissingField: 'missing-field',
  /** A key holds the wrong bencode type (e.g. a string where an integer belongs). */
  WrongType: 'wrong-type',
  /** A value of the right type outside its allowed range or shape. */
  InvalidValue: 'invalid-value',
  /** A count or size above the caps this codec enforces. */
  LimitExceeded: 'limit-exceeded',
  /** A name or path component that could escape or confuse the target directory. */
  UnsafePath: 'unsafe-path',
  /** Two files whose paths are the same after normalization (or one is a file inside the other). */
  PathCollision: 'path-collision',
} as const;
export type MetainfoErrorCode = (typeof MetainfoErrorCode)[keyof typeof MetainfoErrorCode];

export class MetainfoError extends Error {
  override readonly name = 'MetainfoError';
  readonly code: MetainfoErrorCode;
  /** The offending field, e.g. `info.files[3].path[1]` or `info.piece length`. */
  readonly field: string;

  constructor(code: MetainfoErrorCode, field: string, message: string, options?: ErrorOptions) {
    super(`${field}: ${message}`, options);
    this.code = code;
    this.field = field;
  }
}

/** Why a magnet URI was refused. */
export const MagnetErrorCode = {
  /** Not a `magnet:?` URI, bad percent-encoding, or a parameter without `=`. */
  Malformed: 'malformed',
  /** Longer than the URI cap, or more parameters / trackers / peers than their caps. */
  LimitExceeded: 'limit-exceeded',
  /** No `xt=urn:btih:` parameter. */
  MissingInfoHash: 'missing-info-hash',
  /** Only `urn:btmh:` (BitTorrent v2) exact topics, which this codec does not support. */
  V2Only: 'v2-only',
  /** A btih that is neither 40 hex nor 32 base32 characters, or two btih that disagree. */
  InvalidInfoHash: 'invalid-info-hash',
  /** `xl` that is not a non-negative safe integer. */
  InvalidLength: 'invalid-length',
  /** `x.pe` that is not host:port. */
  InvalidPeer: 'invalid-peer',
  /** `tr` that is not an http(s)/udp URL. */
  InvalidTracker: 'invalid-tracker',
} as const;
export type MagnetErrorCode = (typeof MagnetErrorCode)[keyof typeof MagnetErrorCode];

export class MagnetError extends Error {
  override readonly name = 'MagnetError';
  readonly code: MagnetErrorCode;
  /** The URI parameter at fault (`xt`, `tr`, ...), or `uri` for the whole. */
  readonly param: string;

  constructor(code: MagnetErrorCode, param: string, message: string) {
    super(message);
    this.code = code;
    this.param = param;
  }
}
