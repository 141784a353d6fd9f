// BEP 6 fast extension messages. Only valid when both handshakes set ReservedBit.Fast;
// enforcing that is the connection's job (the codec sees one side only).
import { readUint32, uint32Frame } from './frame.ts';

export const FastMessageId = {
  SuggestPiece: 0x0d,
  HaveAll: 0x0e,
  HaveNone: 0x0f,
  RejectRequest: 0x10,
  AllowedFast: 0x11,
} as const;

/** "You may want this piece" (a hint, e.g. what is in the sender's cache). */
export interface SuggestPieceMessage {
  readonly type: 'suggest-piece';
  readonly index: number;
}
/** Replaces a bitfield: the sender has every piece. */
export interface HaveAllMessage {
  readonly type: 'have-all';
}
/** Replaces a bitfield: the sender has no piece. */
export interface HaveNoneMessage {
  readonly type: 'have-none';
}
/** The sender will not serve this request (also sent for each pending request on choke). */
export interface RejectRequestMessage {
  readonly type: 'reject-request';
  readonly index: number;
  readonly begin: number;
  readonly length: number;
}
/** The receiver may request this piece even while choked. */
export interface AllowedFastMessage {
  readonly type: 'allowed-fast';
  readonly index: number;
}

export type FastMessage =
  | SuggestPieceMessage
  | HaveAllMessage
  | HaveNoneMessage
  | RejectRequestMessage
  | AllowedFastMessage;

/** Length prefix (id + payload) of each fast message; all are fixed-size. */
export const FAST_MESSAGE_LENGTHS: ReadonlyMap<number, number> = new Map([
  [FastMessageId.SuggestPiece, 5],
  [FastMessageId.HaveAll, 1],
  [FastMessageId.HaveNone, 1],
  [FastMessageId.RejectRequest, 13],
  [FastMessageId.AllowedFast, 5],
]);

export function encodeFastMessage(message: FastMessage): Uint8Array {
  switch (message.type) {
    case 'suggest-piece':
      return uint32Frame(FastMessageId.SuggestPiece, [['index', message.index]]);
    case 'have-all':
      return uint32Frame(FastMessageId.HaveAll, []);
    case 'have-none':
      return uint32Frame(FastMessageId.HaveNone, []);
    case 'reject-request':
      return uint32Frame(FastMessageId.RejectRequest, [
        ['index', message.index],
        ['begin', message.begin],
        ['length', message.length],
      ]);
    case 'allowed-fast':
      return uint32Frame(FastMessageId.AllowedFast, [['index', message.index]]);
  }
}

/** Decodes a fast message; `bytes` is <id><payload> with its length already checked. */
export function decodeFastMessage(bytes: Uint8Array): FastMessage | undefined {
  switch (bytes[0]) {
    case FastMessageId.SuggestPiece:
      return { type: 'suggest-piece', index: readUint32(bytes, 1) };
    case FastMessageId.HaveAll:
      return { type: 'have-all' };
    case FastMessageId.HaveNone:
      return { type: 'have-none' };
    case FastMessageId.RejectRequest:
      return {
        type: 'reject-request',
        index: readUint32(bytes, 1),
        begin: readUint32(bytes, 5),
        length: readUint32(bytes, 9),
      };
    case FastMessageId.AllowedFast:
      return { type: 'allowed-fast', index: readUint32(bytes, 1) };
    default:
      return undefined;
  }
}
