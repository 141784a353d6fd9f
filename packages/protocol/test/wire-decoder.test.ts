// WireDecoder behaviour: handshake framing, length caps, clean vs truncated end, failure
// is final, zero-copy payloads, unknown ids, ut_metadata and extended handshake validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BencodeError } from '../src/bencode.ts';
import {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  ReservedBit,
  reservedBytes,
  WireDecoder,
  WireError,
  type WireEvent,
  type WireMessage,
} from '../src/wire/index.ts';
import {
  concat,
  decodeChunks,
  encodeAll,
  hex,
  latin1,
  splitAt,
  UT_METADATA_ID,
} from './wire-helpers.ts';

const HANDSHAKE = {
  reserved: reservedBytes([ReservedBit.ExtensionProtocol, ReservedBit.Fast]),
  infoHash: hex('0102030405060708090a0b0c0d0e0f1011121314'),
  peerId: latin1('-SH0001-012345678901'),
};
const HANDSHAKE_BYTES = encodeHandshake(HANDSHAKE);
const MESSAGES_ONLY = { expectHandshake: false } as const;

function block(length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff);
}

/** Runs `action` and returns the WireError it throws, failing if it throws anything else. */
function wireError(action: () => unknown): WireError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof WireError, `expected a WireError, got ${String(error)}`);
    assert.equal(error.name, 'WireError');
    return error;
  }
  assert.fail('expected a WireError');
}

describe('handshake', () => {
  const stream = concat([HANDSHAKE_BYTES, encodeMessage({ type: 'interested' })]);
  const expected: WireEvent[] = [
    { type: 'handshake', handshake: HANDSHAKE },
    { type: 'interested' },
  ];

  it('is decoded when split at every position', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(decodeChunks(splitAt(stream, [cut])), expected, `cut at ${cut}`);
    }
  });

  it('is decoded when fed one byte at a time', () => {
    const decoder = new WireDecoder();
    const events = [...stream].flatMap((byte, i) => {
      const out = decoder.push(Uint8Array.of(byte));
      // Nothing comes out before the last handshake byte.
      if (i < HANDSHAKE_BYTES.length - 1) assert.equal(out.length, 0);
      return out;
    });
    assert.deepEqual(events, expected);
  });

  it('is refused at the first wrong byte', () => {
    const decoder = new WireDecoder();
    assert.equal(wireError(() => decoder.push(hex('12'))).code, 'bad-handshake');
    const wrongName = concat([hex('13'), latin1('BitTorrent protocoX')]);
    const second = new WireDecoder();
    assert.deepEqual(second.push(wrongName.subarray(0, 19)), []);
    assert.equal(wireError(() => second.push(wrongName.subarray(19))).code, 'bad-handshake');
  });

  it('is not expected with expectHandshake: false', () => {
    assert.deepEqual(decodeChunks([encodeMessage({ type: 'choke' })], MESSAGES_ONLY), [
      { type: 'choke' },
    ]);
    // The same bytes as a handshake would be refused.
    assert.equal(
      wireError(() => new WireDecoder().push(encodeMessage({ type: 'choke' }))).code,
      'bad-handshake',
    );
  });
});

describe('length caps', () => {
  it('a piece above 9 + maxBlockLength fails after its first 5 bytes, before buffering', () => {
    const decoder = new WireDecoder(MESSAGES_ONLY);
    const header = encodePieceHeader(0, 0, 16 * 1024 + 1);
    assert.deepEqual(decoder.push(header.subarray(0, 4)), []);
    const error = wireError(() => decoder.push(header.subarray(4, 5)));
    assert.equal(error.code, 'message-too-large');
    assert.equal(decoder.bufferedBytes, 5);
  });

  it('a piece of exactly 16 KiB passes; maxBlockLength raises the cap', () => {
    const full = encodeMessage({ type: 'piece', index: 0, begin: 0, block: block(16 * 1024) });
    assert.equal(decodeChunks([full], MESSAGES_ONLY).length, 1);
    const big = encodeMessage({ type: 'piece', index: 0, begin: 0, block: block(32 * 1024) });
    assert.equal(wireError(() => decodeChunks([big], MESSAGES_ONLY)).code, 'message-too-large');
    assert.equal(decodeChunks([big], { ...MESSAGES_ONLY, maxBlockLength: 32 * 1024 }).length, 1);
  });

  it('a bitfield is capped at 1 + ceil(maxPieces / 8)', () => {
    const options = { ...MESSAGES_ONLY, maxPieces: 17 };
    const fits = encodeMessage({ type: 'bitfield', bitfield: new Uint8Array(3) });
    assert.equal(decodeChunks([fits], options).length, 1);
    const over = encodeMessage({ type: 'bitfield', bitfield: new Uint8Array(4) });
    assert.equal(wireError(() => decodeChunks([over], options)).code, 'message-too-large');
    // Default: 2^20 pieces, a 128 KiB bitfield, far above the piece cap.
    const large = encodeMessage({ type: 'bitfield', bitfield: new Uint8Array(128 * 1024) });
    assert.equal(decodeChunks([large], MESSAGES_ONLY).length, 1);
  });

  it('an extended message is capped at maxExtendedLength (default 1 MiB)', () => {
    const message = (n: number): WireMessage => ({
      type: 'extended',
      extendedId: 9,
      payload: new Uint8Array(n),
    });
    assert.equal(decodeChunks([encodeMessage(message(1024 * 1024 - 2))], MESSAGES_ONLY).length, 1);
    const tooLarge = encodeMessage(message(1024 * 1024 - 1));
    assert.equal(
      wireError(() => decodeChunks([tooLarge], MESSAGES_ONLY)).code,
      'message-too-large',
    );
    assert.equal(
      wireError(() =>
        decodeChunks([encodeMessage(message(200))], { ...MESSAGES_ONLY, maxExtendedLength: 100 }),
      ).code,
      'message-too-large',
    );
  });

  it('an unknown id is capped like a piece', () => {
    assert.equal(
      wireError(() => decodeChunks([hex('00004100 63')], MESSAGES_ONLY)).code,
      'message-too-large',
    );
    // A length prefix near 2^32 is refused, not allocated.
    assert.equal(
      wireError(() => decodeChunks([hex('ffffffff 07')], MESSAGES_ONLY)).code,
      'message-too-large',
    );
  });

  it('fixed-size messages must have their exact length', () => {
    for (const frame of [
      '00000006 04 0000000100',
      '00000002 00 00',
      '00000001 04',
      '0000000c 06 000000000000000000000000',
      '00000002 0e 00',
      '00000004 09 000000',
    ]) {
      assert.equal(
        wireError(() => decodeChunks([hex(frame)], MESSAGES_ONLY)).code,
        'bad-message-length',
        frame,
      );
    }
    assert.equal(
      wireError(() => decodeChunks([hex('00000008 07 0000000000000000')], MESSAGES_ONLY)).code,
      'bad-message-length',
    );
    assert.equal(
      wireError(() => decodeChunks([hex('00000001 14')], MESSAGES_ONLY)).code,
      'bad-message-length',
    );
  });

  it('options out of range are refused by name', () => {
    for (const options of [
      { maxBlockLength: 0 },
      { maxPieces: 1.5 },
      { maxExtendedLength: 1 },
      { utMetadataId: 256 },
    ]) {
      const error = wireError(() => new WireDecoder(options));
      assert.equal(error.code, 'invalid-option');
      assert.match(error.message, new RegExp(Object.keys(options)[0]!));
    }
  });
});

describe('end of stream', () => {
  it('is clean at a frame boundary, also with no bytes at all', () => {
    assert.deepEqual(decodeChunks([]), []);
    assert.deepEqual(decodeChunks([HANDSHAKE_BYTES]).length, 1);
    assert.deepEqual(decodeChunks([encodeMessage({ type: 'keep-alive' })], MESSAGES_ONLY), [
      { type: 'keep-alive' },
    ]);
  });

  it('is truncated inside the handshake, a length prefix or a frame', () => {
    const piece = encodeMessage({ type: 'piece', index: 1, begin: 0, block: block(100) });
    for (const chunks of [
      [HANDSHAKE_BYTES.subarray(0, 67)],
      [HANDSHAKE_BYTES, piece.subarray(0, 3)],
      [HANDSHAKE_BYTES, piece.subarray(0, 5)],
      [HANDSHAKE_BYTES, piece.subarray(0, piece.length - 1)],
    ]) {
      const decoder = new WireDecoder();
      for (const chunk of chunks) decoder.push(chunk);
      const error = wireError(() => decoder.end());
      assert.equal(error.code, 'truncated');
    }
  });

  it('push after end is refused', () => {
    const decoder = new WireDecoder();
    decoder.end();
    assert.equal(wireError(() => decoder.push(HANDSHAKE_BYTES)).code, 'ended');
  });
});

describe('failure is final', () => {
  it('every later call throws the same error', () => {
    const decoder = new WireDecoder(MESSAGES_ONLY);
    const first = wireError(() => decoder.push(hex('00000006 04 0000000100')));
    assert.equal(
      wireError(() => decoder.push(encodeMessage({ type: 'choke' }))),
      first,
    );
    assert.equal(
      wireError(() => decoder.end()),
      first,
    );
  });
});

describe('payloads', () => {
  it('a frame within one chunk is a view into it (no copy)', () => {
    const chunk = encodeAll([
      { type: 'have', index: 1 },
      { type: 'piece', index: 2, begin: 16384, block: block(1000) },
    ]);
    const [, piece] = new WireDecoder(MESSAGES_ONLY).push(chunk);
    assert.ok(piece?.type === 'piece');
    assert.equal(piece.block.buffer, chunk.buffer);
    assert.equal(piece.block.byteOffset, chunk.byteOffset + 9 + 13);
    assert.deepEqual(piece.block, block(1000));
  });

  it('a frame across chunks is assembled into one new buffer holding just the frame', () => {
    const stream = encodeMessage({ type: 'piece', index: 2, begin: 0, block: block(1000) });
    const chunks = splitAt(stream, [100, 600]);
    const events = decodeChunks(chunks, MESSAGES_ONLY);
    assert.ok(events[0]?.type === 'piece');
    const { block: assembled } = events[0];
    assert.deepEqual(assembled, block(1000));
    for (const chunk of chunks) assert.notEqual(assembled.buffer, chunk.buffer);
    assert.equal(assembled.buffer.byteLength, 1009);
  });

  it('many one-byte chunks, then a chunk that ends one frame and starts the next', () => {
    const first = encodeMessage({ type: 'piece', index: 3, begin: 0, block: block(3000) });
    const second = encodeMessage({ type: 'have', index: 9 });
    const decoder = new WireDecoder(MESSAGES_ONLY);
    const events: WireEvent[] = [];
    for (let i = 0; i < first.length - 1; i++)
      events.push(...decoder.push(first.subarray(i, i + 1)));
    assert.equal(events.length, 0);
    events.push(...decoder.push(concat([first.subarray(-1), second.subarray(0, 2)])));
    events.push(...decoder.push(second.subarray(2)));
    decoder.end();
    assert.deepEqual(events, [
      { type: 'piece', index: 3, begin: 0, block: block(3000) },
      { type: 'have', index: 9 },
    ]);
  });

  it('an unknown id is handed out and decoding goes on', () => {
    const stream = concat([hex('00000004 63 010203'), encodeMessage({ type: 'unchoke' })]);
    assert.deepEqual(decodeChunks([stream], MESSAGES_ONLY), [
      { type: 'unknown', id: 0x63, payload: hex('010203') },
      { type: 'unchoke' },
    ]);
  });

  it('a late bitfield (as aria2 sends) is decoded like any message', () => {
    const messages: WireMessage[] = [
      { type: 'bitfield', bitfield: hex('00') },
      { type: 'have', index: 1 },
      { type: 'piece', index: 1, begin: 0, block: block(10) },
      { type: 'bitfield', bitfield: hex('e0') },
    ];
    assert.deepEqual(decodeChunks([encodeAll(messages)], MESSAGES_ONLY), messages);
  });
});

describe('ut_metadata (BEP 9)', () => {
  const options = { ...MESSAGES_ONLY, utMetadataId: UT_METADATA_ID };
  const frame = (extendedId: number, payload: Uint8Array) =>
    encodeMessage({ type: 'extended', extendedId, payload });

  it('is decoded only under the id we offered', () => {
    const payload = latin1('d8:msg_typei0e5:piecei1ee');
    assert.deepEqual(decodeChunks([frame(UT_METADATA_ID, payload)], options), [
      { type: 'metadata-request', extendedId: UT_METADATA_ID, piece: 1 },
    ]);
    assert.deepEqual(decodeChunks([frame(UT_METADATA_ID, payload)], MESSAGES_ONLY), [
      { type: 'extended', extendedId: UT_METADATA_ID, payload },
    ]);
  });

  it('an unknown msg_type is handed out as a plain extended message', () => {
    const payload = latin1('d8:msg_typei7e5:piecei0ee');
    assert.deepEqual(decodeChunks([frame(UT_METADATA_ID, payload)], options), [
      { type: 'extended', extendedId: UT_METADATA_ID, payload },
    ]);
  });

  it('a data piece is a view of the bytes after the dict, of the length total_size implies', () => {
    const payload = concat([
      latin1('d8:msg_typei1e5:piecei1e10:total_sizei16390ee'),
      latin1('abcdef'),
    ]);
    const [event] = decodeChunks([frame(UT_METADATA_ID, payload)], options);
    assert.deepEqual(event, {
      type: 'metadata-data',
      extendedId: UT_METADATA_ID,
      piece: 1,
      totalSize: 16390,
      data: latin1('abcdef'),
    });
  });

  it('malformed messages are refused', () => {
    const bad = [
      'd8:msg_typei0ee', // no piece
      'd8:msg_type1:05:piecei0ee', // msg_type not an integer
      'd8:msg_typei0e5:piecei-1ee', // negative piece
      'd8:msg_typei0e5:piecei0eeXX', // bytes after a request
      'd8:msg_typei1e5:piecei0e10:total_sizei3eexy', // data shorter than total_size implies
      'd8:msg_typei1e5:piecei1e10:total_sizei3eexyz', // piece beyond total_size
      'd8:msg_typei1e5:piecei0e10:total_sizei99999999999eexyz', // total_size above the cap
      'd8:msg_typei1e5:piecei0ee', // data without total_size
      'l8:msg_typee', // not a dict
      'd8:msg_typei0e5:piecei0e', // bad bencode
    ];
    for (const text of bad) {
      const error = wireError(() => decodeChunks([frame(UT_METADATA_ID, latin1(text))], options));
      assert.equal(error.code, 'bad-metadata-message', text);
    }
  });
});

describe('extended handshake (BEP 10)', () => {
  const handshakeFrame = (text: string) =>
    concat([encodeMessage({ type: 'extended', extendedId: 0, payload: latin1(text) })]);

  it('must be a bencoded dict', () => {
    for (const text of ['i1e', 'le', 'd1:m', '']) {
      const error = wireError(() => decodeChunks([handshakeFrame(text)], MESSAGES_ONLY));
      assert.equal(error.code, 'bad-extended-message', text);
    }
    const error = wireError(() => decodeChunks([handshakeFrame('d1:m')], MESSAGES_ONLY));
    assert.ok(error.cause instanceof BencodeError);
  });

  it('drops malformed optional keys and keeps the rest', () => {
    const [event] = decodeChunks(
      [handshakeFrame('d1:md1:ai1e1:bi256e1:ci-1e1:d1:xe1:pi0e4:reqqi0e1:v2:ok6:yourip3:abce')],
      MESSAGES_ONLY,
    );
    assert.ok(event?.type === 'extended-handshake');
    const { raw, ...typed } = event.handshake;
    assert.deepEqual(typed, { extensions: new Map([['a', 1]]), client: 'ok' });
    assert.equal(raw?.size, 5);
  });

  it('accepts unsorted keys (peers are not all canonical)', () => {
    const [event] = decodeChunks([handshakeFrame('d1:pi1e1:mdee')], MESSAGES_ONLY);
    assert.ok(event?.type === 'extended-handshake');
    assert.equal(event.handshake.listenPort, 1);
  });

  it('sends the raw keys it was given, typed fields winning', () => {
    const raw = new Map<string, number | Uint8Array>([
      ['complete_ago', -1],
      ['p', 5],
    ]);
    const bytes = encodeMessage({
      type: 'extended-handshake',
      handshake: { listenPort: 6881, raw },
    });
    assert.deepEqual(bytes.subarray(6), latin1('d12:complete_agoi-1e1:pi6881ee'));
  });
});
