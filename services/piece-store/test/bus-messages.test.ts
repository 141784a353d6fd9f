// The piece-store's NATS messages (packages/bus/src/piece-store.ts): subjects, caps, and
// validation of everything a hostile or buggy peer could send.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BusError,
  BusErrorCode,
  createPieceStoreSubjects,
  decodeMessage,
  decodePieceStoreHeartbeat,
  decodeTorrentBase64,
  encodePieceStoreHeartbeat,
  encodeTorrentBase64,
  MAX_BUS_TORRENT_BYTES,
  MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES,
  type PieceStoreHeartbeat,
  ReplicateRequest,
} from '@shoal/bus';

const heartbeat: PieceStoreHeartbeat = {
  replicaId: 'ps-a',
  incarnation: '0123456789abcdef',
  wireIp: '10.0.0.7',
  wirePort: 6881,
  grpcAddress: '10.0.0.7:7070',
  artifacts: 3,
  usedBytes: 12345,
  limitBytes: 0,
  ready: true,
  at: 1_700_000_000_000,
};

test('subjects live under the prefix; replica ids must be one safe token', () => {
  const subjects = createPieceStoreSubjects('shoal.prod');
  assert.equal(subjects.heartbeat, 'shoal.prod.piecestore.heartbeat');
  assert.equal(subjects.metainfo, 'shoal.prod.piecestore.metainfo');
  assert.equal(subjects.replica('ps-a').replicate, 'shoal.prod.piecestore.replica.ps-a.replicate');
  for (const bad of ['a.b', '*', '>', 'a b', '']) {
    assert.throws(
      () => subjects.replica(bad),
      (e) => e instanceof BusError && e.code === BusErrorCode.InvalidSubject,
    );
  }
  assert.throws(() => createPieceStoreSubjects('bad.*'), BusError);
});

test('heartbeats round-trip and hostile ones are refused', () => {
  assert.deepEqual(decodePieceStoreHeartbeat(encodePieceStoreHeartbeat(heartbeat)), heartbeat);
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  for (const bad of [
    { ...heartbeat, replicaId: 'a.b' },
    { ...heartbeat, wireIp: 'example.org' },
    { ...heartbeat, wirePort: 0 },
    { ...heartbeat, usedBytes: -1 },
    { ...heartbeat, incarnation: 'XYZ' },
    { ...heartbeat, ready: 'yes' },
  ]) {
    assert.throws(
      () => decodePieceStoreHeartbeat(encode(bad)),
      (e) => e instanceof BusError && e.code === BusErrorCode.InvalidMessage,
    );
  }
  assert.throws(
    () => decodePieceStoreHeartbeat(new Uint8Array(5000)),
    (e) => e instanceof BusError && e.code === BusErrorCode.MessageTooLarge,
  );
});

test('torrents travel as base64 up to MAX_BUS_TORRENT_BYTES', () => {
  const torrent = new Uint8Array([100, 52, 58, 105, 110, 102, 111, 100, 101, 101]);
  assert.deepEqual(decodeTorrentBase64(encodeTorrentBase64(torrent)), torrent);
  assert.throws(() => encodeTorrentBase64(new Uint8Array(MAX_BUS_TORRENT_BYTES + 1)), BusError);
  const largest = encodeTorrentBase64(new Uint8Array(MAX_BUS_TORRENT_BYTES));
  const request = {
    infoHash: 'ab'.repeat(20),
    torrent: largest,
    createdUnixMs: 1,
    from: 'ps-a',
    sources: [{ ip: '10.0.0.7', port: 6881 }],
  };
  const bytes = new TextEncoder().encode(JSON.stringify(request));
  assert.ok(bytes.length <= MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES);
  assert.ok(bytes.length < 1024 * 1024, 'fits nats-server default max_payload');
  assert.equal(
    decodeMessage(ReplicateRequest, bytes, MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES).from,
    'ps-a',
  );
  const tooMany = {
    ...request,
    torrent: 'AAAA',
    sources: Array(17).fill({ ip: '10.0.0.7', port: 1 }),
  };
  assert.throws(
    () =>
      decodeMessage(
        ReplicateRequest,
        new TextEncoder().encode(JSON.stringify(tooMany)),
        MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES,
      ),
    BusError,
  );
  const notBase64 = { ...request, torrent: 'not base64!' };
  assert.throws(
    () =>
      decodeMessage(
        ReplicateRequest,
        new TextEncoder().encode(JSON.stringify(notBase64)),
        MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES,
      ),
    BusError,
  );
});
