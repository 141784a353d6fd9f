// BEP 3 peer messages (and BEP 5's PORT), the union of every message this codec speaks,
// and the per-id length rules the decoder enforces before it buffers a frame.
// Frame: <uint32 length><uint8 id><payload>; length counts the id and payload; 0 = keep-alive.
import { WireError, WireErrorCode } from './errors.ts';
import {
  type AnyExtendedMessage,
  decodeExtendedMessage,
  EXTENDED_MESSAGE_ID,
  encodeExtendedMessage,
} from './extended.ts';
import {
  decodeFastMessage,
  encodeFastMessage,
  FAST_MESSAGE_LENGTHS,
  type FastMessage,
} from './fast.ts';
import {
  allocFrame,
  assertUint32,
  LENGTH_PREFIX_BYTES,
  readUint32,
  uint32Frame,
  writeUint32,
} from './frame.ts';

export const MessageId = {
  Choke: 0,
  Unchoke: 1,
  Interested: 2,
  NotInterested: 3,
  Have: 4,
  Bitfield: 5,
  Request: 6,
  Piece: 7,
  Cancel: 8,
  /** BEP 5: the sender's DHT UDP port. */
  Port: 9,
} as const;

/** Bytes in front of a piece's block: length prefix, id, index, begin. */
export const PIECE_HEADER_LENGTH = 13;

export interface KeepAliveMessage {
  readonly type: 'keep-alive';
}
export interface ChokeMessage {
  readonly type: 'choke';
}
export interface UnchokeMessage {
  readonly type: 'unchoke';
}
export interface InterestedMessage {
  readonly type: 'interested';
}
export interface NotInterestedMessage {
  readonly type: 'not-interested';
}
export interface HaveMessage {
  readonly type: 'have';
  readonly index: number;
}
/**
 * Which pieces the sender has, high bit of byte 0 = piece 0. BEP 3 allows it only as the
 * first message, but aria2 also sends it mid-connection in place of HAVEs; the codec decodes
 * it wherever it comes, and the connection treats a late one as an update. Its length
 * against the torrent's piece count is also the connection's to check.
 */
export interface BitfieldMessage {
  readonly type: 'bitfield';
  readonly bitfield: Uint8Array;
}
export interface RequestMessage {
  readonly type: 'request';
  readonly index: number;
  readonly begin: number;
  readonly length: number;
}
export interface PieceMessage {
  readonly type: 'piece';
  readonly index: number;
  readonly begin: number;
  readonly block: Uint8Array;
}
export interface CancelMessage {
  readonly type: 'cancel';
  readonly index: number;
  readonly begin: number;
  readonly length: number;
}
export interface PortMessage {
  readonly type: 'port';
  readonly port: number;
}

export type Bep3Message =
  | KeepAliveMessage
  | ChokeMessage
  | UnchokeMessage
  | InterestedMessage
  | NotInterestedMessage
  | HaveMessage
  | BitfieldMessage
  | RequestMessage
  | PieceMessage
  | CancelMessage
  | PortMessage;

/** Every message the codec encodes and decodes. */
export type WireMessage = Bep3Message | FastMessage | AnyExtendedMessage;

/** A message id this codec does not know. BEP 3: ignore it; the decoder hands it out as this. */
export interface UnknownMessage {
  readonly type: 'unknown';
  readonly id: number;
  readonly payload: Uint8Array;
}

export type DecodedMessage = WireMessage | UnknownMessage;

/** Caps on a frame's length prefix (id + payload), checked before the frame is buffered. */
export interface MessageLimits {
  /** Largest piece block; a piece frame's cap is 9 + this. Also caps unknown messages. */
  readonly maxBlockLength: number;
  /** Largest bitfield in bytes; a bitfield frame's cap is 1 + this. */
  readonly maxBitfieldLength: number;
  /** Largest extended (id 20) frame, including its id bytes. */
  readonly maxExtendedLength: number;
}

const BEP3_LENGTHS: ReadonlyMap<number, number> = new Map([
  [MessageId.Choke, 1],
  [MessageId.Unchoke, 1],
  [MessageId.Interested, 1],
  [MessageId.NotInterested, 1],
  [MessageId.Have, 5],
  [MessageId.Request, 13],
  [MessageId.Cancel, 13],
  [MessageId.Port, 3],
]);

/**
 * Throws WireError unless `length` (a frame's length prefix, at least 1) is valid for
 * message `id`: exact for fixed-size messages, capped for the others.
 */
export function checkMessageLength(id: number, length: number, limits: MessageLimits): void {
  const fixed = BEP3_LENGTHS.get(id) ?? FAST_MESSAGE_LENGTHS.get(id);
  if (fixed !== undefined) {
    if (length !== fixed) {
      throw new WireError(
        WireErrorCode.BadMessageLength,
        `message id ${id} must have length ${fixed}, got ${length}`,
      );
    }
    return;
  }
  let min = 1;
  let max: number;
  if (id === MessageId.Piece) {
    min = 9;
    max = 9 + limits.maxBlockLength;
  } else if (id === MessageId.Bitfield) {
    max = 1 + limits.maxBitfieldLength;
  } else if (id === EXTENDED_MESSAGE_ID) {
    min = 2;
    max = limits.maxExtendedLength;
  } else {
    max = 9 + limits.maxBlockLength;
  }
  if (length > max) {
    throw new WireError(
      WireErrorCode.MessageTooLarge,
      `message id ${id} with length ${length} exceeds the cap of ${max}`,
    );
  }
  if (length < min) {
    throw new WireError(
      WireErrorCode.BadMessageLength,
      `message id ${id} must have length at least ${min}, got ${length}`,
    );
  }
}

/**
 * Decodes <id><payload> whose length passed checkMessageLength. Byte payloads (block,
 * bitfield, extended data) are views into `bytes`, not copies.
 * `utMetadataId` is the extended id we offered for ut_metadata (0: not offered).
 */
export function decodeMessage(bytes: Uint8Array, utMetadataId: number): DecodedMessage {
  const id = bytes[0]!;
  switch (id) {
    case MessageId.Choke:
      return { type: 'choke' };
    case MessageId.Unchoke:
      return { type: 'unchoke' };
    case MessageId.Interested:
      return { type: 'interested' };
    case MessageId.NotInterested:
      return { type: 'not-interested' };
    case MessageId.Have:
      return { type: 'have', index: readUint32(bytes, 1) };
    case MessageId.Bitfield:
      return { type: 'bitfield', bitfield: bytes.subarray(1) };
    case MessageId.Request:
    case MessageId.Cancel:
      return {
        type: id === MessageId.Request ? 'request' : 'cancel',
        index: readUint32(bytes, 1),
        begin: readUint32(bytes, 5),
        length: readUint32(bytes, 9),
      };
    case MessageId.Piece:
      return {
        type: 'piece',
        index: readUint32(bytes, 1),
        begin: readUint32(bytes, 5),
        block: bytes.subarray(9),
      };
    case MessageId.Port:
      return { type: 'port', port: (bytes[1]! << 8) | bytes[2]! };
    case EXTENDED_MESSAGE_ID:
      return decodeExtendedMessage(bytes.subarray(1), utMetadataId);
    default:
      return decodeFastMessage(bytes) ?? { type: 'unknown', id, payload: bytes.subarray(1) };
  }
}

/** The complete frame for `message`, length prefix included. */
export function encodeMessage(message: WireMessage): Uint8Array {
  switch (message.type) {
    case 'keep-alive':
      return new Uint8Array(LENGTH_PREFIX_BYTES);
    case 'choke':
      return allocFrame(MessageId.Choke, 0);
    case 'unchoke':
      return allocFrame(MessageId.Unchoke, 0);
    case 'interested':
      return allocFrame(MessageId.Interested, 0);
    case 'not-interested':
      return allocFrame(MessageId.NotInterested, 0);
    case 'have':
      return uint32Frame(MessageId.Have, [['index', message.index]]);
    case 'bitfield': {
      const frame = allocFrame(MessageId.Bitfield, message.bitfield.length);
      frame.set(message.bitfield, LENGTH_PREFIX_BYTES + 1);
      return frame;
    }
    case 'request':
    case 'cancel':
      return uint32Frame(message.type === 'request' ? MessageId.Request : MessageId.Cancel, [
        ['index', message.index],
        ['begin', message.begin],
        ['length', message.length],
      ]);
    case 'piece': {
      const frame = new Uint8Array(PIECE_HEADER_LENGTH + message.block.length);
      frame.set(encodePieceHeader(message.index, message.begin, message.block.length));
      frame.set(message.block, PIECE_HEADER_LENGTH);
      return frame;
    }
    case 'port': {
      if (!Number.isInteger(message.port) || message.port < 0 || message.port > 0xffff) {
        throw new WireError(
          WireErrorCode.InvalidMessage,
          `port must be a uint16, got ${message.port}`,
        );
      }
      const frame = allocFrame(MessageId.Port, 2);
      frame[5] = message.port >>> 8;
      frame[6] = message.port;
      return frame;
    }
    case 'suggest-piece':
    case 'have-all':
    case 'have-none':
    case 'reject-request':
    case 'allowed-fast':
      return encodeFastMessage(message);
    default:
      return encodeExtendedMessage(message);
  }
}

/**
 * The 13-byte header of a piece message carrying `blockLength` bytes, so a sender can write
 * the header and then the block it already holds, without copying the block into a frame.
 */
export function encodePieceHeader(index: number, begin: number, blockLength: number): Uint8Array {
  assertUint32('index', index);
  assertUint32('begin', begin);
  assertUint32('piece message length', 9 + blockLength);
  const header = new Uint8Array(PIECE_HEADER_LENGTH);
  writeUint32(header, 0, 9 + blockLength);
  header[LENGTH_PREFIX_BYTES] = MessageId.Piece;
  writeUint32(header, 5, index);
  writeUint32(header, 9, begin);
  return header;
}
