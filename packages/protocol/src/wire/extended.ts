// BEP 10 extension protocol: message id 20, then one byte of extended message id, then
// the extension's payload. Extended id 0 is the extended handshake, a bencoded dict that
// names the extensions the sender understands and the ids it wants them sent under.
import { type BDict, BencodeError, type BValue, bdecode, bencode } from '../bencode.ts';
import { WireError, WireErrorCode } from './errors.ts';
import { allocFrame, assertByte, LENGTH_PREFIX_BYTES } from './frame.ts';
import {
  decodeMetadataPayload,
  encodeMetadataPayload,
  MAX_METADATA_SIZE,
  type MetadataMessage,
} from './metadata.ts';

export const EXTENDED_MESSAGE_ID = 20;
export const EXTENDED_HANDSHAKE_ID = 0;

/** The extended handshake's known keys, typed. A key that is absent or malformed is undefined. */
export interface ExtendedHandshake {
  /**
   * `m`: extension name → the extended id the sender wants it sent under; 0 disables it.
   * Names are bencode keys: the raw bytes read as latin1.
   */
  readonly extensions?: ReadonlyMap<string, number>;
  /** `p`: the sender's TCP listen port. */
  readonly listenPort?: number;
  /** `v`: client name and version, UTF-8. */
  readonly client?: string;
  /** `yourip`: the receiver's address as the sender sees it (4 or 16 bytes). */
  readonly yourIp?: Uint8Array;
  /** `ipv4` / `ipv6`: the sender's own addresses. */
  readonly ipv4?: Uint8Array;
  readonly ipv6?: Uint8Array;
  /** `reqq`: how many outstanding requests the sender queues without dropping. */
  readonly requestQueueLength?: number;
  /** `metadata_size` (BEP 9): size of the info dict in bytes. */
  readonly metadataSize?: number;
  /** `upload_only` (BEP 21): the sender is a seed or a partial seed that wants nothing. */
  readonly uploadOnly?: boolean;
  /**
   * The whole dictionary as received. When encoding, these keys are sent too (the typed
   * fields above win), which is how to send a key this type does not name.
   */
  readonly raw?: BDict;
}

export interface ExtendedHandshakeMessage {
  readonly type: 'extended-handshake';
  readonly handshake: ExtendedHandshake;
}

/** An extended message this codec does not decode (ut_pex, lt_donthave, ...). */
export interface ExtendedMessage {
  readonly type: 'extended';
  readonly extendedId: number;
  readonly payload: Uint8Array;
}

export type AnyExtendedMessage = ExtendedHandshakeMessage | ExtendedMessage | MetadataMessage;

export function encodeExtendedMessage(message: AnyExtendedMessage): Uint8Array {
  switch (message.type) {
    case 'extended-handshake':
      return extendedFrame(EXTENDED_HANDSHAKE_ID, encodeHandshakeDict(message.handshake));
    case 'extended':
      return extendedFrame(message.extendedId, message.payload);
    default:
      return extendedFrame(message.extendedId, encodeMetadataPayload(message));
  }
}

/**
 * Decodes the payload of a message with id 20 (`payload` excludes that id).
 * `utMetadataId` is the id we gave ut_metadata in our handshake (0: not offered).
 */
export function decodeExtendedMessage(
  payload: Uint8Array,
  utMetadataId: number,
): AnyExtendedMessage {
  if (payload.length === 0) {
    throw new WireError(WireErrorCode.BadExtendedMessage, 'extended message without an id');
  }
  const extendedId = payload[0]!;
  const body = payload.subarray(1);
  if (extendedId === EXTENDED_HANDSHAKE_ID) {
    return { type: 'extended-handshake', handshake: parseHandshakeDict(body) };
  }
  if (extendedId === utMetadataId) {
    const metadata = decodeMetadataPayload(extendedId, body);
    if (metadata) return metadata;
  }
  return { type: 'extended', extendedId, payload: body };
}

function extendedFrame(extendedId: number, payload: Uint8Array): Uint8Array {
  assertByte('extendedId', extendedId);
  const frame = allocFrame(EXTENDED_MESSAGE_ID, 1 + payload.length);
  frame[LENGTH_PREFIX_BYTES + 1] = extendedId;
  frame.set(payload, LENGTH_PREFIX_BYTES + 2);
  return frame;
}

function encodeHandshakeDict(handshake: ExtendedHandshake): Uint8Array {
  try {
    return bencode(handshakeDict(handshake));
  } catch (error) {
    if (!(error instanceof BencodeError)) throw error;
    throw new WireError(
      WireErrorCode.InvalidMessage,
      `extended handshake cannot be encoded: ${error.message}`,
      { cause: error },
    );
  }
}

function handshakeDict(handshake: ExtendedHandshake): BDict {
  const dict: BDict = new Map(handshake.raw);
  const set = (key: string, value: BValue | undefined) => {
    if (value !== undefined) dict.set(key, value);
  };
  if (handshake.extensions) {
    const m: BDict = new Map();
    for (const [name, id] of handshake.extensions) {
      assertByte(`extension id of ${name}`, id);
      m.set(name, id);
    }
    dict.set('m', m);
  }
  set('p', handshake.listenPort);
  set('v', handshake.client === undefined ? undefined : utf8.encode(handshake.client));
  set('yourip', handshake.yourIp);
  set('ipv4', handshake.ipv4);
  set('ipv6', handshake.ipv6);
  set('reqq', handshake.requestQueueLength);
  set('metadata_size', handshake.metadataSize);
  set('upload_only', handshake.uploadOnly === undefined ? undefined : handshake.uploadOnly ? 1 : 0);
  return dict;
}

const utf8 = new TextEncoder();
const utf8Lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Peers disagree on details, so a malformed optional key is dropped rather than failing the
 * connection; only a payload that is not a bencoded dict is an error.
 */
function parseHandshakeDict(body: Uint8Array): ExtendedHandshake {
  let raw: BValue;
  try {
    raw = bdecode(body, { strict: false, maxDepth: 8 });
  } catch (error) {
    if (error instanceof BencodeError) {
      throw new WireError(
        WireErrorCode.BadExtendedMessage,
        `extended handshake: bad bencode: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!(raw instanceof Map)) {
    throw new WireError(WireErrorCode.BadExtendedMessage, 'extended handshake is not a dictionary');
  }
  const m = raw.get('m');
  const client = raw.get('v');
  const uploadOnly = integer(raw.get('upload_only'), 0, 1);
  const fields: Mutable<ExtendedHandshake> = {
    extensions: m instanceof Map ? extensionIds(m) : undefined,
    listenPort: integer(raw.get('p'), 1, 0xffff),
    client: client instanceof Uint8Array ? utf8Lenient.decode(client) : undefined,
    yourIp: address(raw.get('yourip'), [4, 16]),
    ipv4: address(raw.get('ipv4'), [4]),
    ipv6: address(raw.get('ipv6'), [16]),
    requestQueueLength: integer(raw.get('reqq'), 1, 0xffff_ffff),
    metadataSize: integer(raw.get('metadata_size'), 1, MAX_METADATA_SIZE),
    uploadOnly: uploadOnly === undefined ? undefined : uploadOnly === 1,
    raw,
  };
  // Absent keys are left out rather than set to undefined, so the result compares equal to
  // a handshake written by hand.
  for (const key of Object.keys(fields) as (keyof ExtendedHandshake)[]) {
    if (fields[key] === undefined) delete fields[key];
  }
  return fields;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function extensionIds(m: BDict): Map<string, number> {
  const ids = new Map<string, number>();
  for (const [name, id] of m) {
    const valid = integer(id, 0, 0xff);
    if (valid !== undefined) ids.set(name, valid);
  }
  return ids;
}

function integer(value: BValue | undefined, min: number, max: number): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
    ? value
    : undefined;
}

function address(value: BValue | undefined, lengths: readonly number[]): Uint8Array | undefined {
  return value instanceof Uint8Array && lengths.includes(value.length) ? value : undefined;
}
