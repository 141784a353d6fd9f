// Golden byte vectors: hand-written from the BEP texts (3, 5, 6, 9, 10), and streams
// captured from real clients. Captures were recorded by a TCP listener on 127.0.0.1 that
// aria2c 1.36.0 (told about it by a stub HTTP tracker) and python3-libtorrent 2.0.8
// (via connect_peer) connected to; the listener answered with a handshake, an extended
// handshake, have-none/have-all and, for the aria2 seed, a request for the 19-byte file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  hasReservedBit,
  parseHandshake,
  ReservedBit,
  reservedBytes,
  type WireEvent,
  type WireMessage,
} from '../src/wire/index.ts';
import { concat, decodeChunks, hex, latin1, UT_METADATA_ID } from './wire-helpers.ts';

/** [name, message, frame as hex] — frames written by hand from the BEP message layouts. */
const vectors: [string, WireMessage, string][] = [
  ['keep-alive', { type: 'keep-alive' }, '00000000'],
  ['choke', { type: 'choke' }, '00000001 00'],
  ['unchoke', { type: 'unchoke' }, '00000001 01'],
  ['interested', { type: 'interested' }, '00000001 02'],
  ['not interested', { type: 'not-interested' }, '00000001 03'],
  ['have', { type: 'have', index: 0x01020304 }, '00000005 04 01020304'],
  ['bitfield', { type: 'bitfield', bitfield: hex('ff80') }, '00000003 05 ff80'],
  [
    'request',
    { type: 'request', index: 1, begin: 0x4000, length: 0x4000 },
    '0000000d 06 00000001 00004000 00004000',
  ],
  [
    'piece',
    { type: 'piece', index: 1, begin: 0x4000, block: latin1('abc') },
    '0000000c 07 00000001 00004000 616263',
  ],
  [
    'cancel',
    { type: 'cancel', index: 0xffffffff, begin: 0, length: 0x4000 },
    '0000000d 08 ffffffff 00000000 00004000',
  ],
  ['port (BEP 5)', { type: 'port', port: 6881 }, '00000003 09 1ae1'],
  ['suggest piece (BEP 6)', { type: 'suggest-piece', index: 5 }, '00000005 0d 00000005'],
  ['have all (BEP 6)', { type: 'have-all' }, '00000001 0e'],
  ['have none (BEP 6)', { type: 'have-none' }, '00000001 0f'],
  [
    'reject request (BEP 6)',
    { type: 'reject-request', index: 1, begin: 2, length: 3 },
    '0000000d 10 00000001 00000002 00000003',
  ],
  ['allowed fast (BEP 6)', { type: 'allowed-fast', index: 7 }, '00000005 11 00000007'],
  [
    'extended, raw (BEP 10)',
    { type: 'extended', extendedId: 1, payload: latin1('de') },
    '00000004 14 01 6465',
  ],
  [
    'ut_metadata request (BEP 9)',
    { type: 'metadata-request', extendedId: UT_METADATA_ID, piece: 0 },
    `0000001b 14 03 ${Buffer.from('d8:msg_typei0e5:piecei0ee').toString('hex')}`,
  ],
  [
    'ut_metadata reject (BEP 9)',
    { type: 'metadata-reject', extendedId: UT_METADATA_ID, piece: 2 },
    `0000001b 14 03 ${Buffer.from('d8:msg_typei2e5:piecei2ee').toString('hex')}`,
  ],
  [
    'ut_metadata data (BEP 9), raw bytes after the dict',
    {
      type: 'metadata-data',
      extendedId: UT_METADATA_ID,
      piece: 0,
      totalSize: 3,
      data: latin1('xyz'),
    },
    `0000002e 14 03 ${Buffer.from('d8:msg_typei1e5:piecei0e10:total_sizei3eexyz').toString('hex')}`,
  ],
];

describe('golden vectors from the BEP texts', () => {
  for (const [name, message, frame] of vectors) {
    it(`${name}: encodes and decodes`, () => {
      const bytes = hex(frame);
      assert.deepEqual(encodeMessage(message), bytes);
      assert.deepEqual(
        decodeChunks([bytes], { expectHandshake: false, utMetadataId: UT_METADATA_ID }),
        [message],
      );
    });
  }

  it('piece header is the first 13 bytes of the piece frame', () => {
    assert.deepEqual(encodePieceHeader(1, 0x4000, 3), hex('0000000c 07 00000001 00004000'));
    assert.deepEqual(encodePieceHeader(2, 0, 16384), hex('00004009 07 00000002 00000000'));
  });

  it('handshake: 19, "BitTorrent protocol", reserved, infohash, peer id', () => {
    const infoHash = hex('a429c1b9a555e58acf0a82fec813b83b5ea1bff0');
    const peerId = latin1('-SH0001-abcdefghijkl');
    const reserved = reservedBytes([ReservedBit.ExtensionProtocol, ReservedBit.Fast]);
    assert.deepEqual(reserved, hex('0000000000100004'));
    const bytes = encodeHandshake({ reserved, infoHash, peerId });
    assert.deepEqual(
      bytes,
      concat([hex('13'), latin1('BitTorrent protocol'), hex('0000000000100004'), infoHash, peerId]),
    );
    assert.deepEqual(parseHandshake(bytes), { reserved, infoHash, peerId });
  });

  it('reserved bits: BEP 10 = [5] & 0x10, BEP 6 = [7] & 0x04, DHT = [7] & 0x01', () => {
    assert.deepEqual(reservedBytes([ReservedBit.ExtensionProtocol]), hex('0000000000100000'));
    assert.deepEqual(reservedBytes([ReservedBit.Fast]), hex('0000000000000004'));
    assert.deepEqual(reservedBytes([ReservedBit.Dht]), hex('0000000000000001'));
    const all = hex('0000000000100005');
    for (const bit of Object.values(ReservedBit)) assert.ok(hasReservedBit(all, bit));
    for (const bit of Object.values(ReservedBit))
      assert.ok(!hasReservedBit(hex('ffffffffffef fffa'), bit));
  });

  it("extended handshake: BEP 10's example dict", () => {
    // m: {LT_metadata: 1, ut_pex: 2}, p: 6881, v: "µTorrent 1.2" (13 bytes of UTF-8); dict 63 bytes.
    const dict = concat([
      latin1('d1:md11:LT_metadatai1e6:ut_pexi2ee1:pi6881e1:v13:'),
      Buffer.from('µTorrent 1.2', 'utf8'),
      latin1('e'),
    ]);
    const frame = concat([hex('00000041 14 00'), dict]);
    const [event, ...rest] = decodeChunks([frame], { expectHandshake: false });
    assert.equal(rest.length, 0);
    assert.equal(event?.type, 'extended-handshake');
    if (event?.type !== 'extended-handshake') return;
    const { raw, ...typed } = event.handshake;
    assert.deepEqual(typed, {
      extensions: new Map([
        ['LT_metadata', 1],
        ['ut_pex', 2],
      ]),
      listenPort: 6881,
      client: 'µTorrent 1.2',
    });
    assert.equal(raw?.size, 3);
    assert.deepEqual(encodeMessage({ type: 'extended-handshake', handshake: typed }), frame);
  });

  it("extended handshake: BEP 9's metadata_size example", () => {
    const frame = concat([
      hex('00000031 14 00'),
      latin1('d1:md11:ut_metadatai3ee13:metadata_sizei31235ee'),
    ]);
    const [event] = decodeChunks([frame], { expectHandshake: false });
    assert.equal(event?.type, 'extended-handshake');
    if (event?.type !== 'extended-handshake') return;
    assert.equal(event.handshake.metadataSize, 31235);
    assert.equal(event.handshake.extensions?.get('ut_metadata'), 3);
  });
});

// aria2c as a leecher: handshake (extension + fast bits), extended handshake, have none,
// allowed fast 0, unchoke.
const ARIA2_LEECH =
  '13426974546f7272656e742070726f746f636f6c0000000000100004a429c1b9a555e58acf0a82fec813b83b5ea1bff041322d312d33362d302d4353e74d209e7562eff30000004a140064313a6d6431313a75745f6d657461646174616939656531333a6d657461646174615f73697a6569383465313a7069333839333265313a7631323a61726961322f312e33362e3065000000010f0000000511000000000000000101';
// aria2c as a seed: the same, then have all in place of have none, and the piece we asked for.
const ARIA2_SEED =
  '13426974546f7272656e742070726f746f636f6c0000000000100004a429c1b9a555e58acf0a82fec813b83b5ea1bff041322d312d33362d302d4ab2e6fdd07ff152e3ed0000004a140064313a6d6431313a75745f6d657461646174616939656531333a6d657461646174615f73697a6569383465313a7069333830333265313a7631323a61726961322f312e33362e3065000000010e00000005110000000000000001010000001c07000000000000000073686f616c207769726520636170747572650a';
// libtorrent 2.0.8 as a leecher: handshake (extension + fast + DHT bits), a larger extended
// handshake (complete_ago, reqq, yourip, ...), have none, interested.
const LIBTORRENT_LEECH =
  '13426974546f7272656e742070726f746f636f6c0000000000100005a429c1b9a555e58acf0a82fec813b83b5ea1bff02d4c54323038302d427e3163696c515238314d4c000000cc14006431323a636f6d706c6574655f61676f692d3165313a6d6431313a6c745f646f6e746861766569376531303a73686172655f6d6f646569386531313a75706c6f61645f6f6e6c7969336531323a75745f686f6c6570756e636869346531313a75745f6d65746164617461693265363a75745f7065786931656531333a6d657461646174615f73697a6569383465313a7069343036333965343a72657171693230303065313a7631383a6c6962746f7272656e742f322e302e382e30363a796f75726970343a7f00000165000000010f0000000102';

const INFO_HASH = hex('a429c1b9a555e58acf0a82fec813b83b5ea1bff0');

/** Re-encodes decoded events; equal to the capture when nothing was lost or reordered. */
function reencode(events: readonly WireEvent[]): Uint8Array {
  return concat(
    events.map((event) => {
      if (event.type === 'handshake') return encodeHandshake(event.handshake);
      assert.notEqual(event.type, 'unknown');
      return encodeMessage(event as WireMessage);
    }),
  );
}

describe('streams captured from real clients', () => {
  it('aria2c 1.36 leecher', () => {
    const bytes = hex(ARIA2_LEECH);
    const events = decodeChunks([bytes]);
    assert.deepEqual(
      events.map((event) => event.type),
      ['handshake', 'extended-handshake', 'have-none', 'allowed-fast', 'unchoke'],
    );
    const [handshake, extended, , allowedFast] = events;
    assert.ok(handshake?.type === 'handshake');
    assert.deepEqual(handshake.handshake.infoHash, INFO_HASH);
    assert.equal(
      Buffer.from(handshake.handshake.peerId.subarray(0, 10)).toString('latin1'),
      'A2-1-36-0-',
    );
    assert.ok(hasReservedBit(handshake.handshake.reserved, ReservedBit.ExtensionProtocol));
    assert.ok(hasReservedBit(handshake.handshake.reserved, ReservedBit.Fast));
    assert.ok(!hasReservedBit(handshake.handshake.reserved, ReservedBit.Dht));
    assert.ok(extended?.type === 'extended-handshake');
    const { raw: _raw, ...typed } = extended.handshake;
    assert.deepEqual(typed, {
      extensions: new Map([['ut_metadata', 9]]),
      metadataSize: 84,
      listenPort: 38932,
      client: 'aria2/1.36.0',
    });
    assert.deepEqual(allowedFast, { type: 'allowed-fast', index: 0 });
    assert.deepEqual(reencode(events), bytes);
  });

  it('aria2c 1.36 seed, serving a piece', () => {
    const bytes = hex(ARIA2_SEED);
    const events = decodeChunks([bytes]);
    assert.deepEqual(
      events.map((event) => event.type),
      ['handshake', 'extended-handshake', 'have-all', 'allowed-fast', 'unchoke', 'piece'],
    );
    assert.deepEqual(events[5], {
      type: 'piece',
      index: 0,
      begin: 0,
      block: latin1('shoal wire capture\n'),
    });
    assert.deepEqual(reencode(events), bytes);
  });

  it('libtorrent 2.0.8 leecher', () => {
    const bytes = hex(LIBTORRENT_LEECH);
    const events = decodeChunks([bytes]);
    assert.deepEqual(
      events.map((event) => event.type),
      ['handshake', 'extended-handshake', 'have-none', 'interested'],
    );
    const [handshake, extended] = events;
    assert.ok(handshake?.type === 'handshake');
    assert.equal(
      Buffer.from(handshake.handshake.peerId.subarray(0, 8)).toString('latin1'),
      '-LT2080-',
    );
    assert.ok(hasReservedBit(handshake.handshake.reserved, ReservedBit.Dht));
    assert.ok(extended?.type === 'extended-handshake');
    const { raw, ...typed } = extended.handshake;
    assert.deepEqual(typed, {
      extensions: new Map([
        ['lt_donthave', 7],
        ['share_mode', 8],
        ['upload_only', 3],
        ['ut_holepunch', 4],
        ['ut_metadata', 2],
        ['ut_pex', 1],
      ]),
      metadataSize: 84,
      listenPort: 40639,
      requestQueueLength: 2000,
      client: 'libtorrent/2.0.8.0',
      yourIp: hex('7f000001'),
    });
    // A key the typed fields do not name stays in the raw dict.
    assert.equal(raw?.get('complete_ago'), -1);
    assert.deepEqual(reencode(events), bytes);
  });
});
