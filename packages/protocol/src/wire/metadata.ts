// BEP 9 ut_metadata: fetching the info dictionary from peers (magnet links). Carried in
// extended messages under the id each side chose for "ut_metadata" in its extended
// handshake. Payload: a bencoded dict {msg_type, piece[, total_size]}; a data message is
// followed by the raw piece bytes.
import { type BDict, BencodeError, bdecodePrefix, bencode } from '../bencode.ts';
import { WireError, WireErrorCode } from './errors.ts';

export const UT_METADATA = 'ut_metadata';
/** Metadata is exchanged in 16 KiB pieces; only the last one may be shorter. */
export const METADATA_PIECE_LENGTH = 16 * 1024;
/**
 * Largest metadata_size / total_size accepted: 32 MiB of info dict is over 1.6 million
 * piece hashes, far beyond any torrent this system makes, and bounds what a peer can make
 * a downloader allocate.
 */
export const MAX_METADATA_SIZE = 32 * 1024 * 1024;
const MAX_METADATA_PIECES = MAX_METADATA_SIZE / METADATA_PIECE_LENGTH;

export const MetadataMessageType = { Request: 0, Data: 1, Reject: 2 } as const;

/**
 * `extendedId` is the extended message id: when encoding, the id the remote peer gave
 * ut_metadata in its handshake; when decoded, the id we gave it in ours.
 */
export interface MetadataRequestMessage {
  readonly type: 'metadata-request';
  readonly extendedId: number;
  readonly piece: number;
}
export interface MetadataDataMessage {
  readonly type: 'metadata-data';
  readonly extendedId: number;
  readonly piece: number;
  readonly totalSize: number;
  /** The piece's bytes (a view into the received frame when decoded). */
  readonly data: Uint8Array;
}
export interface MetadataRejectMessage {
  readonly type: 'metadata-reject';
  readonly extendedId: number;
  readonly piece: number;
}
export type MetadataMessage = MetadataRequestMessage | MetadataDataMessage | MetadataRejectMessage;

/** Number of metadata pieces for an info dict of `totalSize` bytes. */
export function metadataPieceCount(totalSize: number): number {
  return Math.ceil(totalSize / METADATA_PIECE_LENGTH);
}

/** Length of metadata piece `piece` of an info dict of `totalSize` bytes. */
export function metadataPieceLength(totalSize: number, piece: number): number {
  return Math.min(METADATA_PIECE_LENGTH, totalSize - piece * METADATA_PIECE_LENGTH);
}

/** The extended payload (after the extended id byte) of a ut_metadata message. */
export function encodeMetadataPayload(message: MetadataMessage): Uint8Array {
  checkPiece(message.piece, WireErrorCode.InvalidMessage);
  const dict: BDict = new Map();
  switch (message.type) {
    case 'metadata-request':
      dict.set('msg_type', MetadataMessageType.Request);
      dict.set('piece', message.piece);
      return bencode(dict);
    case 'metadata-reject':
      dict.set('msg_type', MetadataMessageType.Reject);
      dict.set('piece', message.piece);
      return bencode(dict);
    case 'metadata-data': {
      checkData(message.piece, message.totalSize, message.data, WireErrorCode.InvalidMessage);
      dict.set('msg_type', MetadataMessageType.Data);
      dict.set('piece', message.piece);
      dict.set('total_size', message.totalSize);
      const head = bencode(dict);
      const payload = new Uint8Array(head.length + message.data.length);
      payload.set(head);
      payload.set(message.data, head.length);
      return payload;
    }
  }
}

/**
 * Decodes a ut_metadata payload. Returns undefined for a msg_type this codec does not know,
 * which BEP 9 says to ignore. Throws WireError 'bad-metadata-message' on malformed input.
 */
export function decodeMetadataPayload(
  extendedId: number,
  payload: Uint8Array,
): MetadataMessage | undefined {
  let dict: BDict;
  let dictLength: number;
  try {
    const { value, length } = bdecodePrefix(payload, { strict: false, maxDepth: 4 });
    if (!(value instanceof Map)) throw bad('payload is not a dictionary');
    dict = value;
    dictLength = length;
  } catch (error) {
    if (error instanceof BencodeError) throw bad(`bad bencode: ${error.message}`, error);
    throw error;
  }
  const msgType = dict.get('msg_type');
  const piece = dict.get('piece');
  if (typeof msgType !== 'number') throw bad('msg_type is not an integer');
  if (typeof piece !== 'number') throw bad('piece is not an integer');
  const rest = payload.subarray(dictLength);
  switch (msgType) {
    case MetadataMessageType.Request:
    case MetadataMessageType.Reject:
      checkPiece(piece, WireErrorCode.BadMetadataMessage);
      if (rest.length !== 0) throw bad(`${rest.length} bytes after the dictionary`);
      return msgType === MetadataMessageType.Request
        ? { type: 'metadata-request', extendedId, piece }
        : { type: 'metadata-reject', extendedId, piece };
    case MetadataMessageType.Data: {
      const totalSize = dict.get('total_size');
      if (typeof totalSize !== 'number') throw bad('total_size is not an integer');
      checkData(piece, totalSize, rest, WireErrorCode.BadMetadataMessage);
      return { type: 'metadata-data', extendedId, piece, totalSize, data: rest };
    }
    default:
      return undefined;
  }
}

function checkPiece(piece: number, code: WireErrorCode): void {
  if (!Number.isInteger(piece) || piece < 0 || piece >= MAX_METADATA_PIECES) {
    throw new WireError(code, `ut_metadata piece ${piece} out of range`);
  }
}

function checkData(piece: number, totalSize: number, data: Uint8Array, code: WireErrorCode): void {
  if (!Number.isInteger(totalSize) || totalSize <= 0 || totalSize > MAX_METADATA_SIZE) {
    throw new WireError(code, `ut_metadata total_size ${totalSize} out of range`);
  }
  checkPiece(piece, code);
  if (piece >= metadataPieceCount(totalSize)) {
    throw new WireError(code, `ut_metadata piece ${piece} beyond total_size ${totalSize}`);
  }
  const expected = metadataPieceLength(totalSize, piece);
  if (data.length !== expected) {
    throw new WireError(
      code,
      `ut_metadata piece ${piece} has ${data.length} bytes, expected ${expected}`,
    );
  }
}

function bad(message: string, cause?: unknown): WireError {
  return new WireError(WireErrorCode.BadMetadataMessage, message, { cause });
}
