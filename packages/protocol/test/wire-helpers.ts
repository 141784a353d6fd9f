// Shared by the wire codec tests: byte helpers, a one-shot decode, and fast-check
// arbitraries for every message type.
import fc from 'fast-check';
import {
  type ExtendedHandshake,
  encodeMessage,
  MAX_METADATA_SIZE,
  METADATA_PIECE_LENGTH,
  metadataPieceCount,
  metadataPieceLength,
  WireDecoder,
  type WireDecoderOptions,
  type WireEvent,
  type WireMessage,
} from '../src/wire/index.ts';

export const hex = (text: string): Uint8Array =>
  Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
export const latin1 = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text, 'latin1'));

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Decodes `chunks` with a fresh decoder, ends the stream, returns every event. */
export function decodeChunks(
  chunks: readonly Uint8Array[],
  options?: WireDecoderOptions,
): WireEvent[] {
  const decoder = new WireDecoder(options);
  const events = chunks.flatMap((chunk) => decoder.push(chunk));
  decoder.end();
  return events;
}

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
export function splitAt(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let start = 0;
  for (const point of [...points, bytes.length]) {
    if (point > start) chunks.push(bytes.subarray(start, point));
    start = point;
  }
  return chunks;
}

/** The extended id the tests give ut_metadata on both sides. */
export const UT_METADATA_ID = 3;

const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
const blockLength = fc.integer({ min: 0, max: 16 * 1024 });

const metadataData = fc.integer({ min: 1, max: 3 * METADATA_PIECE_LENGTH }).chain((totalSize) =>
  fc.integer({ min: 0, max: metadataPieceCount(totalSize) - 1 }).map((piece) => ({
    type: 'metadata-data' as const,
    extendedId: UT_METADATA_ID,
    piece,
    totalSize,
    data: Uint8Array.from(
      { length: metadataPieceLength(totalSize, piece) },
      (_, i) => (i * 7 + piece) & 0xff,
    ),
  })),
);

const metadataPiece = fc.integer({ min: 0, max: MAX_METADATA_SIZE / METADATA_PIECE_LENGTH - 1 });

export const extendedHandshakeArb: fc.Arbitrary<ExtendedHandshake> = fc.record(
  {
    extensions: fc
      .array(
        fc.tuple(
          fc.constantFrom('ut_metadata', 'ut_pex', 'lt_donthave', 'upload_only', 'x'),
          fc.integer({ min: 0, max: 255 }),
        ),
      )
      .map((entries) => new Map(entries)),
    listenPort: fc.integer({ min: 1, max: 0xffff }),
    client: fc.string({ unit: 'grapheme', maxLength: 20 }),
    yourIp: fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
    ),
    ipv4: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    ipv6: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    requestQueueLength: fc.integer({ min: 1, max: 0xffff_ffff }),
    metadataSize: fc.integer({ min: 1, max: MAX_METADATA_SIZE }),
    uploadOnly: fc.boolean(),
  },
  { requiredKeys: [], noNullPrototype: true },
);

export const wireMessageArb: fc.Arbitrary<WireMessage> = fc.oneof(
  fc.constantFrom<WireMessage>(
    { type: 'keep-alive' },
    { type: 'choke' },
    { type: 'unchoke' },
    { type: 'interested' },
    { type: 'not-interested' },
    { type: 'have-all' },
    { type: 'have-none' },
  ),
  uint32.map((index) => ({ type: 'have' as const, index })),
  fc
    .uint8Array({ minLength: 1, maxLength: 300 })
    .map((bitfield) => ({ type: 'bitfield' as const, bitfield })),
  fc.record(
    {
      type: fc.constantFrom('request' as const, 'cancel' as const, 'reject-request' as const),
      index: uint32,
      begin: uint32,
      length: uint32,
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constant('piece' as const),
      index: uint32,
      begin: uint32,
      block: blockLength.map((n) => Uint8Array.from({ length: n }, (_, i) => i & 0xff)),
    },
    { noNullPrototype: true },
  ),
  fc.integer({ min: 0, max: 0xffff }).map((port) => ({ type: 'port' as const, port })),
  fc.record(
    { type: fc.constantFrom('suggest-piece' as const, 'allowed-fast' as const), index: uint32 },
    { noNullPrototype: true },
  ),
  extendedHandshakeArb.map((handshake) => ({ type: 'extended-handshake' as const, handshake })),
  fc.record(
    {
      type: fc.constant('extended' as const),
      extendedId: fc.integer({ min: 1, max: 255 }).filter((id) => id !== UT_METADATA_ID),
      payload: fc.uint8Array({ maxLength: 200 }),
    },
    { noNullPrototype: true },
  ),
  fc.record(
    {
      type: fc.constantFrom('metadata-request' as const, 'metadata-reject' as const),
      extendedId: fc.constant(UT_METADATA_ID),
      piece: metadataPiece,
    },
    { noNullPrototype: true },
  ),
  metadataData,
);

/** What decoding an encoded message yields: the message, with the extended handshake's raw dict dropped. */
export function withoutRaw(event: WireEvent): WireEvent {
  if (event.type !== 'extended-handshake') return event;
  const { raw: _raw, ...typed } = event.handshake;
  return { type: 'extended-handshake', handshake: typed };
}

export function encodeAll(messages: readonly WireMessage[]): Uint8Array {
  return concat(messages.map(encodeMessage));
}
