// Properties of the wire codec: every message round-trips, decoding does not depend on how
// the stream is split into chunks, and hostile bytes give events or a WireError, nothing else.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  encodeHandshake,
  encodeMessage,
  type Handshake,
  WireDecoder,
  WireError,
  type WireEvent,
  type WireMessage,
} from '../src/wire/index.ts';
import {
  concat,
  decodeChunks,
  encodeAll,
  splitAt,
  UT_METADATA_ID,
  wireMessageArb,
  withoutRaw,
} from './wire-helpers.ts';

const OPTIONS = { utMetadataId: UT_METADATA_ID } as const;
const MESSAGES_ONLY = { ...OPTIONS, expectHandshake: false } as const;

interface Stream {
  readonly handshake: Handshake;
  readonly messages: readonly WireMessage[];
}

const handshakeArb: fc.Arbitrary<Handshake> = fc.record(
  {
    reserved: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
    peerId: fc.uint8Array({ minLength: 20, maxLength: 20 }),
  },
  { noNullPrototype: true },
);

const streamArb: fc.Arbitrary<Stream> = fc.record(
  { handshake: handshakeArb, messages: fc.array(wireMessageArb, { maxLength: 12 }) },
  { noNullPrototype: true },
);

function streamBytes(stream: Stream): Uint8Array {
  return concat([encodeHandshake(stream.handshake), encodeAll(stream.messages)]);
}

describe('round trip', () => {
  it('decode(encode(message)) is the message', () => {
    fc.assert(
      fc.property(wireMessageArb, (message) => {
        const events = decodeChunks([encodeMessage(message)], MESSAGES_ONLY);
        assert.deepEqual(events.map(withoutRaw), [message]);
      }),
      { numRuns: 500 },
    );
  });

  it('a handshake and messages round-trip as one stream', () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const events = decodeChunks([streamBytes(stream)], OPTIONS);
        const expected: WireEvent[] = [
          { type: 'handshake', handshake: stream.handshake },
          ...stream.messages,
        ];
        assert.deepEqual(events.map(withoutRaw), expected);
      }),
      { numRuns: 200 },
    );
  });
});

describe('chunking does not matter', () => {
  it('every split of a stream decodes to the same events', () => {
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (stream, cuts) => {
        const bytes = streamBytes(stream);
        const whole = decodeChunks([bytes], OPTIONS);
        assert.deepEqual(decodeChunks(splitAt(bytes, cuts), OPTIONS), whole);
      }),
      { numRuns: 300 },
    );
  });

  it('one byte at a time decodes to the same events', () => {
    fc.assert(
      fc.property(streamArb, (stream) => {
        const bytes = streamBytes(stream);
        const oneByOne = [...bytes].map((byte) => Uint8Array.of(byte));
        assert.deepEqual(decodeChunks(oneByOne, OPTIONS), decodeChunks([bytes], OPTIONS));
      }),
      { numRuns: 30 },
    );
  });

  it('pushTransient from one reused, poisoned read buffer decodes to the same events', () => {
    fc.assert(
      fc.property(
        streamArb,
        fc.array(fc.nat(), { maxLength: 40 }),
        fc.boolean(),
        (stream, cuts, expectHandshake) => {
          const bytes = expectHandshake ? streamBytes(stream) : encodeAll(stream.messages);
          const options = { ...OPTIONS, expectHandshake };
          const expected = decodeChunks([bytes], options);
          assert.deepEqual(decodeTransient(splitAt(bytes, cuts), options), expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('pushTransient fails with the same error code as push', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          assert.equal(
            outcome(splitAt(bytes, cuts), MESSAGES_ONLY, true),
            outcome([bytes], MESSAGES_ONLY),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a failing stream fails with the same error code however it is split', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          assert.equal(
            outcome(splitAt(bytes, cuts), MESSAGES_ONLY),
            outcome([bytes], MESSAGES_ONLY),
          );
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * Feeds `chunks` and ends the stream; returns 'ok' or the WireError code. Any other
 * exception fails the test.
 */
function outcome(
  chunks: readonly Uint8Array[],
  options: ConstructorParameters<typeof WireDecoder>[0],
  transient = false,
): string {
  const decoder = new WireDecoder(options);
  try {
    if (transient) decodeTransientWith(decoder, chunks);
    else for (const chunk of chunks) decoder.push(chunk);
    decoder.end();
    return 'ok';
  } catch (error) {
    if (error instanceof WireError) return error.code;
    throw error;
  }
}

describe('hostile input', () => {
  it('random bytes give events or a WireError', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.boolean(),
        (bytes, cuts, expectHandshake) => {
          outcome(splitAt(bytes, cuts), { ...OPTIONS, expectHandshake });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mutated valid streams give events or a WireError', () => {
    const mutation = fc.oneof(
      fc.record({
        kind: fc.constant('flip' as const),
        at: fc.nat(),
        value: fc.integer({ min: 0, max: 255 }),
      }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({
        kind: fc.constant('insert' as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
      }),
    );
    fc.assert(
      fc.property(
        streamArb,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (stream, mutations, cuts) => {
          let bytes = streamBytes(stream);
          for (const change of mutations) {
            const at = change.at % (bytes.length + 1);
            if (change.kind === 'flip' && at < bytes.length) {
              bytes = Uint8Array.from(bytes);
              bytes[at] = change.value;
            } else if (change.kind === 'cut') {
              bytes = bytes.subarray(0, at);
            } else if (change.kind === 'insert') {
              bytes = concat([bytes.subarray(0, at), change.bytes, bytes.subarray(at)]);
            }
          }
          outcome(splitAt(bytes, cuts), OPTIONS);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('mutated extended and ut_metadata payloads give events or a WireError', () => {
    const extendedArb = wireMessageArb.filter(
      (message) => message.type.startsWith('extended') || message.type.startsWith('metadata'),
    );
    fc.assert(
      fc.property(extendedArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (message, at, value) => {
        const bytes = Uint8Array.from(encodeMessage(message));
        // Keep the frame header so the damage lands in the payload.
        bytes[6 + (at % Math.max(1, bytes.length - 6))] = value;
        outcome([bytes], MESSAGES_ONLY);
      }),
      { numRuns: 500 },
    );
  });
});

/**
 * Feeds every chunk through one scratch buffer, as a socket's reused read buffer would be,
 * poisoning it after each call; piece blocks are copied out while they are valid.
 */
function decodeTransientWith(decoder: WireDecoder, chunks: readonly Uint8Array[]): WireEvent[] {
  const size = Math.max(1, ...chunks.map((chunk) => chunk.length));
  const scratch = new Uint8Array(size);
  const events: WireEvent[] = [];
  for (const chunk of chunks) {
    scratch.set(chunk);
    for (const event of decoder.pushTransient(scratch.subarray(0, chunk.length))) {
      events.push(event.type === 'piece' ? { ...event, block: event.block.slice() } : event);
    }
    scratch.fill(0xee);
  }
  return events;
}

function decodeTransient(
  chunks: readonly Uint8Array[],
  options: ConstructorParameters<typeof WireDecoder>[0],
): WireEvent[] {
  const decoder = new WireDecoder(options);
  const events = decodeTransientWith(decoder, chunks);
  decoder.end();
  return events;
}
