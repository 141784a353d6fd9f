// Metainfo (.torrent) files, BEP 3, v1 only: parsing with full validation of everything a
// hostile file could put in them, and creation byte-compatible with mktorrent.
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import {
  type BDict,
  BencodeError,
  type BValue,
  bdecode,
  bdecodeWithSpans,
  bencode,
  bstr,
  type DecodeOptions,
  isBDict,
} from './bencode.ts';
import { MetainfoError, MetainfoErrorCode } from './errors.ts';
import { infoHashToHex, isTrackerUrl } from './magnet.ts';

/** Smallest piece length accepted (BEP 3 block size; also the usual minimum of other clients). */
export const MIN_PIECE_LENGTH = 16 * 1024;
/** Largest piece length accepted: a piece is held in memory while it is verified. */
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;
/** Default cap on a .torrent's size; 32 MiB holds 1.6 million piece hashes. */
export const DEFAULT_MAX_TORRENT_BYTES = 32 * 1024 * 1024;
/** Default cap on the number of files in a torrent. */
export const DEFAULT_MAX_FILES = 100_000;
/** Most components in one file's path (below the torrent's name). */
export const MAX_PATH_COMPONENTS = 64;
/** Longest name or path component, in UTF-8 bytes (the limit of common filesystems). */
export const MAX_COMPONENT_BYTES = 255;
/** Longest full path (name and components joined by '/'), in UTF-8 bytes (Linux PATH_MAX). */
export const MAX_PATH_BYTES = 4096;
/** Longest tracker URL, comment or `created by`, in bytes. */
export const MAX_TEXT_BYTES = 4096;
/** Most tracker URLs over all announce-list tiers. */
export const MAX_TRACKERS = 200;
/**
 * Key inside the info dict holding the SHA-256 of the whole content (all files concatenated
 * in torrent order), 32 raw bytes. Not part of any BEP; other clients ignore unknown info
 * keys, but since it is inside `info` it is covered by the infohash.
 */
export const SHA256_KEY = 'sha256';

const SHA1_LENGTH = 20;
const CHAR_P = 0x70;
const SHA256_LENGTH = 32;

export interface TorrentFile {
  /**
   * Where the file goes, relative to the download directory, starting with the torrent's
   * name: `[name]` for a single-file torrent, `[name, ...path]` for a multi-file one.
   */
  readonly path: readonly string[];
  readonly length: number;
  /** Offset of the file's first byte in the torrent's content (all files concatenated). */
  readonly offset: number;
  /**
   * BEP 47 padding file (`attr` contains `p`, e.g. `.pad/1234` in hybrid torrents): its
   * bytes are zeros that only align the next file to a piece; it is never written to disk,
   * and is exempt from the collision check (pads of equal size share a name).
   */
  readonly padding: boolean;
}

/** What the info dict says: everything that is covered by the infohash. */
export interface TorrentInfo {
  /** SHA-1 of the info dict's original bytes (20 bytes). */
  readonly infoHash: Uint8Array;
  /** `infoHash` as 40 lowercase hex characters. */
  readonly infoHashHex: string;
  /** The info dict's original bytes, as served to peers over BEP 9 ut_metadata. */
  readonly infoBytes: Uint8Array;
  readonly name: string;
  readonly pieceLength: number;
  /** Concatenated 20-byte SHA-1 hashes, one per piece. */
  readonly pieces: Uint8Array;
  readonly pieceCount: number;
  /** True if the info dict has `length` (one file) instead of `files`. */
  readonly singleFile: boolean;
  readonly files: readonly TorrentFile[];
  readonly totalLength: number;
  /** BEP 27 `private`: only the listed trackers may be used. */
  readonly private: boolean;
  /** SHA-256 of the whole content, if the creator recorded it (see SHA256_KEY). */
  readonly sha256?: Uint8Array;
}

export interface Metainfo extends TorrentInfo {
  readonly announce?: string;
  /** BEP 12 tiers; empty tiers are dropped. */
  readonly announceList: readonly (readonly string[])[];
  readonly comment?: string;
  readonly createdBy?: string;
  /** Seconds since the Unix epoch. */
  readonly creationDate?: number;
}

export interface ParseTorrentOptions {
  /** Largest input accepted, in bytes; default DEFAULT_MAX_TORRENT_BYTES. */
  maxBytes?: number;
  /** Most files accepted; default DEFAULT_MAX_FILES. */
  maxFiles?: number;
  /**
   * Require canonical bencode (sorted, unique keys). Default false: other clients write
   * torrents, and the infohash is taken over the original bytes either way.
   */
  strict?: boolean;
}

/**
 * Parses and validates a .torrent file.
 *
 * Names: `name.utf-8` / `path.utf-8` (written by some old clients beside a legacy-encoded
 * `name` / `path`) are preferred when present, as libtorrent does; whichever is used must be
 * valid UTF-8 and pass the path checks (see `checkPathComponent`). Unknown keys are ignored
 * (they stay in `infoBytes`, so the infohash still covers them).
 */
export function parseTorrent(bytes: Uint8Array, options?: ParseTorrentOptions): Metainfo {
  const { value, spans } = decodeOrThrow('torrent', () =>
    bdecodeWithSpans(bytes, decodeOptions(options)),
  );
  if (!isBDict(value)) throw wrongType('torrent', 'a dictionary');
  const info = value.get('info');
  if (info === undefined) throw missing('info');
  if (!isBDict(info)) throw wrongType('info', 'a dictionary');
  const span = spans.get(info)!;
  // Copied into a plain Uint8Array (a Buffer's slice would be a view, and a Buffer).
  const infoBytes = new Uint8Array(bytes.subarray(span.start, span.end));
  return {
    ...readInfo(info, infoBytes, options),
    ...readTrackers(value),
    ...optionalText(value, 'comment', 'comment'),
    ...optionalText(value, 'created by', 'createdBy'),
    ...optionalCreationDate(value),
  };
}

/**
 * Parses and validates a bare info dict, e.g. one fetched over BEP 9 from a magnet link;
 * compare the returned `infoHash` with the one asked for.
 */
export function parseInfo(infoBytes: Uint8Array, options?: ParseTorrentOptions): TorrentInfo {
  const info = decodeOrThrow('info', () => bdecode(infoBytes, decodeOptions(options)));
  if (!isBDict(info)) throw wrongType('info', 'a dictionary');
  return readInfo(info, new Uint8Array(infoBytes), options);
}

function decodeOptions(options: ParseTorrentOptions | undefined): DecodeOptions {
  return {
    strict: options?.strict ?? false,
    maxBytes: options?.maxBytes ?? DEFAULT_MAX_TORRENT_BYTES,
    // v1 needs 5 levels (files[].path), but hybrid v1+v2 torrents also carry a v2
    // `file tree` with one dict per path component, which must not make us refuse them.
    maxDepth: MAX_PATH_COMPONENTS + 8,
  };
}

function decodeOrThrow<T>(field: string, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof BencodeError) {
      throw new MetainfoError(MetainfoErrorCode.BadBencode, field, error.message, {
        cause: error,
      });
    }
    throw error;
  }
}

function readInfo(
  info: BDict,
  infoBytes: Uint8Array,
  options: ParseTorrentOptions | undefined,
): TorrentInfo {
  const nameField = info.has('name.utf-8') ? 'info.name.utf-8' : 'info.name';
  const name = requireText(info, nameField.slice('info.'.length), nameField);
  checkPathComponent(name, nameField);

  const pieceLength = requireInteger(info, 'piece length', 'info.piece length');
  if (
    pieceLength < MIN_PIECE_LENGTH ||
    pieceLength > MAX_PIECE_LENGTH ||
    (pieceLength & (pieceLength - 1)) !== 0
  ) {
    throw invalid(
      'info.piece length',
      `${pieceLength} is not a power of two in ${MIN_PIECE_LENGTH}..${MAX_PIECE_LENGTH}`,
    );
  }

  const hasLength = info.has('length');
  const hasFiles = info.has('files');
  if (hasLength && hasFiles) throw invalid('info', 'has both length and files');
  if (!hasLength && !hasFiles) throw missing('info.length');
  const files = hasLength
    ? [
        {
          path: [name],
          length: requireLength(info, 'length', 'info.length'),
          offset: 0,
          padding: false,
        },
      ]
    : readFiles(info, name, options?.maxFiles ?? DEFAULT_MAX_FILES);
  const last = files.at(-1)!;
  const totalLength = last.offset + last.length;
  if (!Number.isSafeInteger(totalLength)) throw limit('info', 'total length beyond 2^53');
  if (totalLength === 0) throw invalid('info', 'torrent has no data (total length 0)');

  const pieces = requireBytes(info, 'pieces', 'info.pieces');
  const pieceCount = Math.ceil(totalLength / pieceLength);
  if (pieces.length !== pieceCount * SHA1_LENGTH) {
    throw invalid(
      'info.pieces',
      `${pieces.length} bytes, expected ${pieceCount * SHA1_LENGTH} (${pieceCount} pieces of 20)`,
    );
  }

  const privateFlag = optionalInteger(info, 'private', 'info.private');
  if (privateFlag !== undefined && privateFlag !== 0 && privateFlag !== 1) {
    throw invalid('info.private', `must be 0 or 1, got ${privateFlag}`);
  }
  const sha256 = optionalBytes(info, SHA256_KEY, `info.${SHA256_KEY}`);
  if (sha256 !== undefined && sha256.length !== SHA256_LENGTH) {
    throw invalid(`info.${SHA256_KEY}`, `${sha256.length} bytes, expected ${SHA256_LENGTH}`);
  }

  const infoHash = new Uint8Array(createHash('sha1').update(infoBytes).digest());
  return {
    infoHash,
    infoHashHex: infoHashToHex(infoHash),
    infoBytes,
    name,
    pieceLength,
    pieces,
    pieceCount,
    singleFile: hasLength,
    files,
    totalLength,
    private: privateFlag === 1,
    ...(sha256 === undefined ? {} : { sha256 }),
  };
}

function readFiles(info: BDict, name: string, maxFiles: number): TorrentFile[] {
  const list = info.get('files');
  if (!Array.isArray(list)) throw wrongType('info.files', 'a list');
  if (list.length === 0) throw invalid('info.files', 'empty list');
  if (list.length > maxFiles) throw limit('info.files', `${list.length} files, cap ${maxFiles}`);
  const files: TorrentFile[] = [];
  const collisions = new PathCollisionChecker();
  let offset = 0;
  list.forEach((entry, index) => {
    const field = `info.files[${index}]`;
    if (!isBDict(entry)) throw wrongType(field, 'a dictionary');
    const length = requireLength(entry, 'length', `${field}.length`);
    const pathKey = entry.has('path.utf-8') ? 'path.utf-8' : 'path';
    const pathField = `${field}.${pathKey}`;
    const rawPath = entry.get(pathKey);
    if (rawPath === undefined) throw missing(pathField);
    if (!Array.isArray(rawPath)) throw wrongType(pathField, 'a list');
    if (rawPath.length === 0) throw unsafe(pathField, 'empty path');
    if (rawPath.length > MAX_PATH_COMPONENTS) {
      throw limit(pathField, `${rawPath.length} components, cap ${MAX_PATH_COMPONENTS}`);
    }
    const path = rawPath.map((component, i) => {
      const componentField = `${pathField}[${i}]`;
      if (!(component instanceof Uint8Array)) throw wrongType(componentField, 'a string');
      const text = decodeUtf8(component, componentField);
      checkPathComponent(text, componentField);
      return text;
    });
    const fullPath = [name, ...path];
    if (utf8Length(fullPath.join('/')) > MAX_PATH_BYTES) {
      throw limit(pathField, `path longer than ${MAX_PATH_BYTES} bytes`);
    }
    const attr = optionalBytes(entry, 'attr', `${field}.attr`);
    const padding = attr?.includes(CHAR_P) ?? false;
    if (!padding) collisions.add(path, pathField);
    files.push({ path: fullPath, length, offset, padding });
    offset += length;
  });
  return files;
}

/**
 * Refuses a name or path component that could escape the target directory or mean
 * something else on some filesystem: empty, `.`, `..`, containing `/`, `\` or any control
 * character (NUL included), a Windows drive prefix like `C:`, or over MAX_COMPONENT_BYTES.
 * Throws MetainfoError 'unsafe-path' (or 'limit-exceeded' for length) naming `field`.
 */
export function checkPathComponent(component: string, field: string): void {
  if (component === '') throw unsafe(field, 'empty name');
  if (component === '.' || component === '..') throw unsafe(field, `"${component}" is refused`);
  if (component.startsWith('/') || component.startsWith('\\')) {
    throw unsafe(field, 'absolute path');
  }
  if (/[/\\]/.test(component)) throw unsafe(field, 'contains a path separator');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
  if (/[\u0000-\u001f\u007f]/.test(component)) throw unsafe(field, 'contains a control character');
  if (/^[A-Za-z]:/.test(component)) throw unsafe(field, 'starts with a Windows drive letter');
  if (utf8Length(component) > MAX_COMPONENT_BYTES) {
    throw limit(field, `longer than ${MAX_COMPONENT_BYTES} bytes`);
  }
}

/**
 * Detects two files that would land on the same place on a case-insensitive or
 * normalizing filesystem (macOS, Windows), or a file that is also another file's directory.
 * Comparison key: each component NFC-normalized, then case-folded by upper- then lower-
 * casing (an approximation of Unicode full case folding: it folds ß/SS and ſ/s too).
 */
class PathCollisionChecker {
  readonly #files = new Set<string>();
  readonly #directories = new Set<string>();

  add(path: readonly string[], field: string): void {
    const folded = path.map((c) => c.normalize('NFC').toUpperCase().toLowerCase().normalize('NFC'));
    const key = folded.join('/');
    if (this.#files.has(key)) throw collision(field, 'same path as an earlier file');
    if (this.#directories.has(key)) throw collision(field, 'is a directory of an earlier file');
    for (let i = 1; i < folded.length; i++) {
      const directory = folded.slice(0, i).join('/');
      if (this.#files.has(directory)) {
        throw collision(field, `directory "${path.slice(0, i).join('/')}" is an earlier file`);
      }
      this.#directories.add(directory);
    }
    this.#files.add(key);
  }
}

function readTrackers(torrent: BDict): Pick<Metainfo, 'announce' | 'announceList'> {
  const announce = optionalText(torrent, 'announce', 'announce').announce;
  if (announce !== undefined) checkTracker(announce, 'announce');
  const raw = torrent.get('announce-list');
  const announceList: string[][] = [];
  if (raw !== undefined) {
    if (!Array.isArray(raw)) throw wrongType('announce-list', 'a list');
    if (raw.length > MAX_TRACKERS) throw limit('announce-list', `over ${MAX_TRACKERS} tiers`);
    let count = 0;
    raw.forEach((tier, t) => {
      if (!Array.isArray(tier)) throw wrongType(`announce-list[${t}]`, 'a list');
      const urls = tier.map((url, u) => {
        const field = `announce-list[${t}][${u}]`;
        if (++count > MAX_TRACKERS) throw limit('announce-list', `over ${MAX_TRACKERS} URLs`);
        if (!(url instanceof Uint8Array)) throw wrongType(field, 'a string');
        const text = decodeUtf8(url, field);
        checkTracker(text, field);
        return text;
      });
      if (urls.length > 0) announceList.push(urls);
    });
  }
  return { ...(announce === undefined ? {} : { announce }), announceList };
}

function checkTracker(url: string, field: string): void {
  if (utf8Length(url) > MAX_TEXT_BYTES) throw limit(field, `longer than ${MAX_TEXT_BYTES} bytes`);
  if (!isTrackerUrl(url)) throw invalid(field, `not an http, https or udp URL: ${url}`);
}

function optionalText<K extends string>(
  dict: BDict,
  key: string,
  property: K,
): { [P in K]?: string } {
  const bytes = optionalBytes(dict, key, key);
  if (bytes === undefined) return {};
  if (bytes.length > MAX_TEXT_BYTES) throw limit(key, `longer than ${MAX_TEXT_BYTES} bytes`);
  return { [property]: decodeUtf8(bytes, key) } as { [P in K]?: string };
}

function optionalCreationDate(torrent: BDict): Pick<Metainfo, 'creationDate'> {
  const date = optionalInteger(torrent, 'creation date', 'creation date');
  return date === undefined ? {} : { creationDate: date };
}

function requireText(dict: BDict, key: string, field: string): string {
  return decodeUtf8(requireBytes(dict, key, field), field);
}

function requireBytes(dict: BDict, key: string, field: string): Uint8Array {
  const value = optionalBytes(dict, key, field);
  if (value === undefined) throw missing(field);
  return value;
}

function optionalBytes(dict: BDict, key: string, field: string): Uint8Array | undefined {
  const value = dict.get(key);
  if (value === undefined || value instanceof Uint8Array) return value;
  throw wrongType(field, 'a string');
}

function requireInteger(dict: BDict, key: string, field: string): number {
  const value = optionalInteger(dict, key, field);
  if (value === undefined) throw missing(field);
  return value;
}

function optionalInteger(dict: BDict, key: string, field: string): number | undefined {
  const value: BValue | undefined = dict.get(key);
  if (value === undefined || typeof value === 'number') return value;
  throw wrongType(field, 'an integer');
}

function requireLength(dict: BDict, key: string, field: string): number {
  const length = requireInteger(dict, key, field);
  if (length < 0) throw invalid(field, `negative length ${length}`);
  return length;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array, field: string): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    throw invalid(field, 'not valid UTF-8');
  }
}

function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

const missing = (field: string) =>
  new MetainfoError(MetainfoErrorCode.MissingField, field, 'required');
const wrongType = (field: string, expected: string) =>
  new MetainfoError(MetainfoErrorCode.WrongType, field, `must be ${expected}`);
const invalid = (field: string, message: string) =>
  new MetainfoError(MetainfoErrorCode.InvalidValue, field, message);
const limit = (field: string, message: string) =>
  new MetainfoError(MetainfoErrorCode.LimitExceeded, field, message);
const unsafe = (field: string, message: string) =>
  new MetainfoError(MetainfoErrorCode.UnsafePath, field, message);
const collision = (field: string, message: string) =>
  new MetainfoError(MetainfoErrorCode.PathCollision, field, message);

/** One file of a multi-file torrent to create; `path` is below the torrent's name. */
export interface CreateTorrentFile {
  readonly path: readonly string[];
  readonly length: number;
}

export interface CreateTorrentInput {
  readonly name: string;
  /**
   * Multi-file: the files in the order their bytes were hashed into `pieces`. To match
   * mktorrent, sort them with `compareTorrentPaths` before hashing.
   */
  readonly files?: readonly CreateTorrentFile[];
  /** Single-file: the file's length. Exactly one of `files` and `length`. */
  readonly length?: number;
  readonly pieceLength: number;
  /** Concatenated 20-byte SHA-1 hashes of the pieces, computed by the caller. */
  readonly pieces: Uint8Array;
  /** SHA-256 of the whole content (written under SHA256_KEY in the info dict). */
  readonly sha256?: Uint8Array;
  /** BEP 27; `private: 1` is written only when true (as mktorrent does without -p: nothing). */
  readonly private?: boolean;
  readonly announce?: string;
  readonly announceList?: readonly (readonly string[])[];
  readonly comment?: string;
  readonly createdBy?: string;
  /** Seconds since the Unix epoch. */
  readonly creationDate?: number;
}

/**
 * Builds a .torrent from precomputed piece hashes (pure: the caller streams the files).
 * Without `sha256` and `private` the info dict is byte-identical to mktorrent's for the same
 * name, files (in mktorrent's order) and piece length. The result is validated by
 * `parseTorrent` (strict), so errors are MetainfoErrors whose `field` names the torrent key
 * (`info.files[2].path[0]` is `input.files[2].path[0]`).
 */
export function createTorrent(input: CreateTorrentInput): {
  torrent: Uint8Array;
  infoHash: Uint8Array;
  infoHashHex: string;
  metainfo: Metainfo;
} {
  checkInteger(input.pieceLength, 'info.piece length');
  const info: BDict = new Map();
  info.set('name', bstr(input.name));
  info.set('piece length', input.pieceLength);
  info.set('pieces', input.pieces);
  if (input.files !== undefined) {
    info.set(
      'files',
      input.files.map((file, index) => {
        checkInteger(file.length, `info.files[${index}].length`);
        return new Map<string, BValue>([
          ['length', file.length],
          ['path', file.path.map(bstr)],
        ]);
      }),
    );
  }
  if (input.length !== undefined) {
    checkInteger(input.length, 'info.length');
    info.set('length', input.length);
  }
  if (input.private === true) info.set('private', 1);
  if (input.sha256 !== undefined) info.set(SHA256_KEY, input.sha256);

  const torrent: BDict = new Map([['info', info]]);
  if (input.announce !== undefined) torrent.set('announce', bstr(input.announce));
  if (input.announceList !== undefined) {
    torrent.set(
      'announce-list',
      input.announceList.map((tier) => tier.map(bstr)),
    );
  }
  if (input.comment !== undefined) torrent.set('comment', bstr(input.comment));
  if (input.createdBy !== undefined) torrent.set('created by', bstr(input.createdBy));
  if (input.creationDate !== undefined) {
    checkInteger(input.creationDate, 'creation date');
    torrent.set('creation date', input.creationDate);
  }
  const bytes = bencode(torrent);
  const metainfo = parseTorrent(bytes, { strict: true });
  return {
    torrent: bytes,
    infoHash: metainfo.infoHash,
    infoHashHex: metainfo.infoHashHex,
    metainfo,
  };
}

function checkInteger(value: number, field: string): void {
  if (!Number.isSafeInteger(value)) throw invalid(field, `${value} is not a safe integer`);
}

/**
 * Orders multi-file paths as mktorrent does: by the full path joined with '/', compared as
 * UTF-8 bytes (C strcmp). Note this is not component-wise: `a-c` < `a.d` < `a/b`.
 */
export function compareTorrentPaths(a: readonly string[], b: readonly string[]): number {
  return Buffer.compare(Buffer.from(a.join('/'), 'utf8'), Buffer.from(b.join('/'), 'utf8'));
}

/** Smallest piece length `choosePieceLength` picks (mktorrent's default). */
export const MIN_CHOSEN_PIECE_LENGTH = 256 * 1024;
/** Largest piece length `choosePieceLength` picks. */
export const MAX_CHOSEN_PIECE_LENGTH = 16 * 1024 * 1024;
const TARGET_MAX_PIECES = 2000;

/**
 * Piece length for content of `totalBytes`: the smallest power of two that gives at most
 * 2000 pieces, clamped to 256 KiB..16 MiB. In range this yields 1000..2000 pieces (4 GiB ->
 * 4 MiB, 1024 pieces): few enough that bitfields and piece hashes stay small, many enough
 * that a swarm can spread different pieces to different peers. Up to 500 MiB pieces are
 * 256 KiB (fewer pieces); above 31.25 GiB they are 16 MiB (more pieces).
 */
export function choosePieceLength(totalBytes: number): number {
  if (!Number.isSafeInteger(totalBytes) || totalBytes < 0) {
    throw new RangeError(`totalBytes must be a non-negative safe integer, got ${totalBytes}`);
  }
  let pieceLength = MIN_CHOSEN_PIECE_LENGTH;
  while (pieceLength < MAX_CHOSEN_PIECE_LENGTH && totalBytes / pieceLength > TARGET_MAX_PIECES) {
    pieceLength *= 2;
  }
  return pieceLength;
}
