import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { PieceBufferPool } from '../src/buffer-pool.ts';
import {
  ADVERTISE_TIE_WINDOW,
  advertiseWindow,
  Bitfield,
  BlobStorage,
  FileLayoutStorage,
  nextAdvertisement,
  PieceHashWorkers,
  pickOptimistic,
  regularUnchoke,
  SwarmError,
  SwarmErrorCode,
  TokenBucket,
} from '../src/index.ts';
import { SharedReadBuffer } from '../src/shared-read.ts';
import { tempDir } from './helpers.ts';

test('bitfield round-trips the wire layout and refuses bad lengths and spare bits', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(299)), (length, sets) => {
      const bitfield = new Bitfield(length);
      const expected = new Set(sets.filter((i) => i < length));
      for (const i of expected) bitfield.set(i);
      const back = Bitfield.fromBytes(bitfield.toBytes(), length);
      return back.count === expected.size && [...back.indexes()].every((i) => expected.has(i));
    }),
  );
  const ten = new Bitfield(10);
  ten.set(0);
  ten.set(9);
  assert.deepEqual([...ten.toBytes()], [0x80, 0x40]);
  assert.throws(() => Bitfield.fromBytes(new Uint8Array([0xff, 0xff]), 10), SwarmError);
  assert.throws(() => Bitfield.fromBytes(new Uint8Array(3), 10), SwarmError);
  assert.equal(ten.has(10), false);
  assert.throws(() => ten.set(10), SwarmError);
  assert.ok(Bitfield.full(10).complete);
});

test('choker: the best interested peers by rate, and an optimistic one outside them', () => {
  const peers = [
    { id: 'a', interested: true, rate: 10 },
    { id: 'b', interested: false, rate: 99 },
    { id: 'c', interested: true, rate: 30 },
    { id: 'd', interested: true, rate: 20 },
    { id: 'e', interested: true, rate: 0 },
  ];
  const regular = regularUnchoke(peers, 2);
  assert.deepEqual([...regular].sort(), ['c', 'd']);
  const optimistic = pickOptimistic(peers, regular, () => 0.99);
  assert.equal(optimistic, 'e');
  assert.equal(pickOptimistic(peers, new Set(['a', 'c', 'd', 'e']), Math.random), undefined);
});

test('token bucket: a burst is allowed, then the caller waits at the configured rate', () => {
  let now = 0;
  const bucket = new TokenBucket(1000, { burst: 1000, now: () => now });
  assert.equal(bucket.take(1000), 0);
  assert.equal(bucket.take(500), 500);
  now += 1500;
  assert.equal(bucket.take(500), 0);
  assert.equal(new TokenBucket(0).take(1e12), 0);
});

test('super-seeding advertises the least spread pieces and a window of k', () => {
  const pick = nextAdvertisement({
    pieceCount: 5,
    advertised: [1, 0, 0, 2, 0],
    availability: [0, 1, 0, 0, 0],
    skip: (i) => i === 4,
    random: () => 0.5,
  });
  assert.equal(pick, 2);
  // Ties: only the lowest-indexed ADVERTISE_TIE_WINDOW least-spread pieces are drawn, all of them.
  const pieceCount = 3 * ADVERTISE_TIE_WINDOW;
  const drawn = new Set<number>();
  let state = 1;
  const random = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
  for (let i = 0; i < 50 * ADVERTISE_TIE_WINDOW; i++) {
    const index = nextAdvertisement({
      pieceCount,
      advertised: new Array<number>(pieceCount).fill(0),
      availability: new Array<number>(pieceCount).fill(0),
      skip: () => false,
      random,
    });
    drawn.add(index!);
  }
  assert.deepEqual(
    [...drawn].sort((a, b) => a - b),
    Array.from({ length: ADVERTISE_TIE_WINDOW }, (_, i) => i),
  );
  assert.equal(
    nextAdvertisement({
      pieceCount: 2,
      advertised: [0, 0],
      availability: [0, 0],
      skip: () => true,
      random: Math.random,
    }),
    undefined,
  );
  assert.equal(
    advertiseWindow({ k: 4, pieceCount: 100, peerIsOrigin: false, aloneForAWhile: false }),
    4,
  );
  assert.equal(
    advertiseWindow({ k: 4, pieceCount: 100, peerIsOrigin: true, aloneForAWhile: false }),
    100,
  );
  assert.equal(
    advertiseWindow({ k: 4, pieceCount: 100, peerIsOrigin: false, aloneForAWhile: true }),
    100,
  );
});

test('FileLayoutStorage: pieces span files, files are sized up front, names never escape', async (t) => {
  const dir = await tempDir(t);
  const layout = {
    pieceLength: 16,
    totalLength: 40,
    files: [
      { path: ['t', 'a'], length: 10, offset: 0 },
      { path: ['t', 'empty'], length: 0, offset: 10 },
      { path: ['t', 'sub', 'b'], length: 30, offset: 10 },
    ],
  };
  const storage = await FileLayoutStorage.open(join(dir, 'out'), layout);
  const data = new Uint8Array(40).map((_, i) => i + 1);
  await storage.write(0, 0, data.subarray(0, 16));
  await storage.write(1, 0, data.subarray(16, 32));
  await storage.write(2, 0, data.subarray(32, 40));
  const back = new Uint8Array(12);
  await storage.read(0, 6, back.subarray(0, 10));
  assert.deepEqual([...back.subarray(0, 10)], [...data.subarray(6, 16)]);
  await storage.flush();
  await storage.close();
  assert.deepEqual([...(await readFile(join(dir, 'out', 't', 'a')))], [...data.subarray(0, 10)]);
  assert.equal((await readFile(join(dir, 'out', 't', 'empty'))).length, 0);
  assert.deepEqual(
    [...(await readFile(join(dir, 'out', 't', 'sub', 'b')))],
    [...data.subarray(10)],
  );

  for (const path of [['..', 'x'], ['t', '..', '..', 'x'], ['/etc', 'passwd'], ['a\\b'], []]) {
    await assert.rejects(
      FileLayoutStorage.open(join(dir, 'bad'), {
        pieceLength: 16,
        totalLength: 1,
        files: [{ path, length: 1, offset: 0 }],
      }),
      (error: unknown) => error instanceof SwarmError && error.code === SwarmErrorCode.UnsafePath,
      JSON.stringify(path),
    );
  }
  // A symlinked directory inside the target that points outside is refused too.
  const inside = join(dir, 'linked');
  await mkdir(join(dir, 'elsewhere'), { recursive: true });
  await mkdir(inside, { recursive: true });
  await symlink(join(dir, 'elsewhere'), join(inside, 't'));
  await assert.rejects(
    FileLayoutStorage.open(inside, {
      pieceLength: 16,
      totalLength: 1,
      files: [{ path: ['t', 'x'], length: 1, offset: 0 }],
    }),
    (error: unknown) => error instanceof SwarmError && error.code === SwarmErrorCode.UnsafePath,
  );
});

test('BlobStorage: positional I/O inside the torrent only; read-only needs the exact size', async (t) => {
  const dir = await tempDir(t);
  const layout = { pieceLength: 16, totalLength: 20 };
  const blob = await BlobStorage.open(join(dir, 'blob'), layout);
  await blob.write(1, 0, new Uint8Array([1, 2, 3, 4]));
  const out = new Uint8Array(2);
  await blob.read(1, 2, out);
  assert.deepEqual([...out], [3, 4]);
  await assert.rejects(blob.write(1, 0, new Uint8Array(5)), SwarmError);
  await assert.rejects(blob.read(0, 10, new Uint8Array(7)), SwarmError);
  await blob.close();
  const readOnly = await BlobStorage.open(join(dir, 'blob'), layout, { readOnly: true });
  await readOnly.close();
  await assert.rejects(
    BlobStorage.open(join(dir, 'blob'), { pieceLength: 16, totalLength: 21 }, { readOnly: true }),
    SwarmError,
  );
});

test('hash workers: digests match node:crypto, the bytes come back intact, memory does not pile up', async (t) => {
  const workers = new PieceHashWorkers({ workers: 2 });
  t.after(() => workers.close());
  let piece: Uint8Array = new Uint8Array(256 * 1024).map((_, i) => i * 7);
  const expected = createHash('sha1').update(piece).digest();
  const copy = piece.slice();
  const rssBefore = process.memoryUsage().rss;
  // 1024 pieces of 256 KiB: 256 MiB through the workers.
  for (let i = 0; i < 1024; i++) {
    const result = await workers.hash(piece);
    assert.ok(Buffer.from(result.digest).equals(expected));
    piece = result.piece;
  }
  assert.ok(Buffer.from(piece).equals(copy), 'the piece came back changed');
  const grown = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
  assert.ok(grown < 64, `RSS grew by ${grown.toFixed(0)} MiB`);
  // A view into a larger buffer comes back as the same window of it.
  const whole = new Uint8Array(100).fill(1);
  whole.fill(2, 10, 30);
  const { digest, piece: back } = await workers.hash(whole.subarray(10, 30));
  assert.deepEqual([...back], new Array(20).fill(2));
  assert.ok(
    Buffer.from(digest).equals(createHash('sha1').update(new Uint8Array(20).fill(2)).digest()),
  );
  // Shared memory is read in place: the same view comes back, still usable.
  const shared = new Uint8Array(new SharedArrayBuffer(64)).fill(3);
  const sharedResult = await workers.hash(shared);
  assert.equal(sharedResult.piece, shared);
  assert.ok(Buffer.from(sharedResult.digest).equals(createHash('sha1').update(shared).digest()));
  await workers.close();
  await assert.rejects(workers.hash(new Uint8Array(1)), SwarmError);
});

test('piece buffer pool: reuses whole buffers up to its idle cap, never a lent or partial one', async (t) => {
  const pool = new PieceBufferPool(3 * 1024);
  const first = pool.acquire(1024);
  pool.release(first);
  pool.release(first); // a second release must not hand the buffer out twice
  assert.equal(pool.idleBytes, 1024);
  assert.equal(pool.acquire(1024), first);
  assert.notEqual(pool.acquire(1024), first);
  assert.equal(pool.acquire(512).length, 512, 'sizes are kept apart');
  pool.release(first.subarray(0, 512));
  assert.equal(pool.idleBytes, 0, 'a view of part of a buffer is not pooled');
  const buffers = [1, 2, 3, 4].map(() => pool.acquire(1024));
  for (const buffer of buffers) pool.release(buffer);
  assert.equal(pool.idleBytes, 3 * 1024, 'the idle cap holds');
  // A buffer lent to a hash worker is detached until it comes back: not pooled meanwhile.
  const workers = new PieceHashWorkers({ workers: 1 });
  t.after(() => workers.close());
  const lent = pool.acquire(2048);
  const hashing = workers.hash(lent);
  pool.release(lent);
  assert.equal(pool.idleBytes, 3 * 1024);
  const { piece } = await hashing;
  assert.equal(piece.length, 2048);
});

test('shared read buffer: accepted and dialled sockets read through it, both ways, and the server still closes', async () => {
  const shared = new SharedReadBuffer();
  const payload = randomBytes(3 * 1024 * 1024);
  const collect = () => {
    const parts: Buffer[] = [];
    let received = 0;
    // The bytes are only valid during the call: keep a copy, as the decoder does.
    const sink = {
      onRead(bytes: Uint8Array) {
        parts.push(Buffer.from(bytes));
        received += bytes.length;
        return true;
      },
    };
    return { sink, bytes: () => Buffer.concat(parts), received: () => received };
  };
  const inbound = collect();
  const outbound = collect();
  let adopted: Socket | undefined;
  const server = createServer({ pauseOnConnect: true }, (socket) => {
    adopted = shared.adopt(socket, () => inbound.sink);
    assert.ok(adopted, 'this Node exposes the socket internals adopt relies on');
    adopted.write(payload);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  const client = connect({
    host: '127.0.0.1',
    port: address.port,
    onread: shared.onread(() => outbound.sink),
  });
  await once(client, 'connect');
  client.write(payload);
  const deadline = Date.now() + 10_000;
  while (
    (inbound.received() < payload.length || outbound.received() < payload.length) &&
    Date.now() < deadline
  ) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.ok(inbound.bytes().equals(payload), 'the accepted side read every byte intact');
  assert.ok(outbound.bytes().equals(payload), 'the dialling side read every byte intact');
  client.destroy();
  adopted?.destroy();
  // server.close() waits for its connections: the re-wrapped socket must not hold it open.
  await new Promise<void>((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  );
});
