import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import type { DecodedMessage } from '@shoal/protocol';
import {
  Bitfield,
  BlobStorage,
  FileLayoutStorage,
  inlineHashFunction,
  type SwarmNode,
  verifyStoredPieces,
} from '../src/index.ts';
import {
  makeContent,
  sharedHashWorkers,
  startNode,
  type TestContent,
  tempDir,
  waitForEvent,
} from './helpers.ts';
import { RawPeer, rawServer } from './raw-peer.ts';

async function seedNode(
  t: TestContext,
  content: TestContent,
  options: Parameters<typeof startNode>[1] = {},
) {
  const node = await startNode(t, options);
  const storage = await BlobStorage.open(content.blobPath, content.metainfo, { readOnly: true });
  t.after(() => storage.close());
  const handle = node.addTorrent({
    metainfo: content.metainfo,
    storage,
    have: Bitfield.full(content.metainfo.pieceCount),
  });
  return { node, handle };
}

/** A leecher that downloads everything from `seed` and checks the bytes. */
async function downloadsFrom(t: TestContext, content: TestContent, seed: SwarmNode, dir: string) {
  const leecher = await startNode(t, { hashWorkers: sharedHashWorkers(t) });
  const storage = await FileLayoutStorage.open(dir, content.metainfo);
  t.after(() => storage.close());
  const handle = leecher.addTorrent({ metainfo: content.metainfo, storage });
  const complete = waitForEvent(handle, 'complete', 20_000);
  handle.addPeers([{ host: '127.0.0.1', port: seed.port }]);
  await complete;
  const bytes = await readFile(join(dir, content.metainfo.name));
  assert.ok(Buffer.from(content.data).equals(bytes), 'downloaded bytes differ');
}

test('a peer sending corrupt blocks is dropped, then banned; the download completes from the good seed', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 32 * 1024, length: 2 * 1024 * 1024 + 999 });
  const { metainfo } = content;
  const hashWorkers = sharedHashWorkers(t);
  const { node: seed } = await seedNode(t, content, { hashWorkers });

  // The liar listens on 127.0.0.2 so that banning its host does not ban the good seed.
  let corruptBlocks = 0;
  const liar = await rawServer('127.0.0.2', (peer) => {
    void (async () => {
      if (!(await peer.handshakeWithin(5_000))) return;
      peer.sendHandshake(metainfo.infoHash);
      peer.send({ type: 'have-all' });
      peer.send({ type: 'unchoke' });
      await serveGarbage(peer);
    })();
  });
  t.after(() => new Promise((resolve) => liar.server.close(resolve)));
  async function serveGarbage(peer: RawPeer): Promise<void> {
    for (let i = 0; i < 10_000 && !peer.isClosed; i++) {
      let request: DecodedMessage;
      try {
        request = await peer.next((m) => m.type === 'request', 10_000);
      } catch {
        return;
      }
      if (request.type !== 'request') return;
      corruptBlocks++;
      peer.send({
        type: 'piece',
        index: request.index,
        begin: request.begin,
        block: randomBytes(request.length),
      });
    }
  }

  const leecher = await startNode(t, { hashWorkers, reconnectBaseMs: 50 });
  const leechDir = join(dir, 'leech');
  const storage = await FileLayoutStorage.open(leechDir, metainfo);
  t.after(() => storage.close());
  const handle = leecher.addTorrent({ metainfo, storage });
  const banned = waitForEvent<{ host: string; reason: string }>(handle, 'peer-banned', 15_000);
  const complete = waitForEvent(handle, 'complete', 20_000);
  handle.addPeers([
    { host: '127.0.0.2', port: liar.port },
    { host: '127.0.0.1', port: seed.port, origin: true },
  ]);
  const ban = await banned;
  assert.equal(ban.host, '127.0.0.2');
  await complete;
  assert.ok(corruptBlocks > 0, 'the liar was asked for blocks');
  const stats = handle.stats();
  assert.ok(stats.hashFailures >= 2);
  assert.equal(stats.bannedHosts, 1);
  const bytes = await readFile(join(leechDir, metainfo.name));
  assert.ok(Buffer.from(content.data).equals(bytes), 'bad bytes reached the disk');
});

test('hostile input closes that connection only; the node keeps serving others', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 32 * 1024, length: 1024 * 1024 + 77 });
  const { metainfo } = content;
  const { node: seed } = await seedNode(t, content, { handshakeTimeoutMs: 300 });

  // A partial seed (even pieces only) for requests of pieces it lacks.
  const partialNode = await startNode(t);
  const partialStorage = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => partialStorage.close());
  const even = new Bitfield(metainfo.pieceCount);
  for (let i = 0; i < metainfo.pieceCount; i += 2) even.set(i);
  partialNode.addTorrent({ metainfo, storage: partialStorage, have: even });

  async function opened(port: number, options: { fast?: boolean } = {}): Promise<RawPeer> {
    const peer = await RawPeer.connect(port);
    t.after(() => peer.destroy());
    peer.sendHandshake(metainfo.infoHash, options);
    await peer.next(
      (m) => m.type === 'have-all' || m.type === 'bitfield' || m.type === 'have-none',
    );
    return peer;
  }
  async function unchoked(port: number): Promise<RawPeer> {
    const peer = await opened(port);
    peer.send({ type: 'interested' });
    await peer.next((m) => m.type === 'unchoke');
    return peer;
  }
  const cases: [string, () => Promise<RawPeer>][] = [
    [
      'an oversized message',
      async () => {
        const peer = await opened(seed.port);
        peer.sendRaw(new Uint8Array([0x00, 0x10, 0x00, 0x00, 7]));
        return peer;
      },
    ],
    [
      'a bitfield of the wrong length',
      async () => {
        const peer = await opened(seed.port);
        peer.send({ type: 'bitfield', bitfield: new Uint8Array(3) });
        return peer;
      },
    ],
    [
      'a HAVE beyond the last piece',
      async () => {
        const peer = await opened(seed.port);
        peer.send({ type: 'have', index: metainfo.pieceCount });
        return peer;
      },
    ],
    [
      'HAVE_ALL without the fast extension',
      async () => {
        const peer = await RawPeer.connect(seed.port);
        t.after(() => peer.destroy());
        peer.sendHandshake(metainfo.infoHash, { fast: false });
        peer.send({ type: 'have-all' });
        return peer;
      },
    ],
    [
      'a request running past the end of its piece',
      async () => {
        const peer = await unchoked(seed.port);
        peer.send({
          type: 'request',
          index: 0,
          begin: metainfo.pieceLength - 100,
          length: 16 * 1024,
        });
        return peer;
      },
    ],
    [
      'a request larger than 16 KiB',
      async () => {
        const peer = await unchoked(seed.port);
        peer.send({ type: 'request', index: 0, begin: 0, length: 32 * 1024 });
        return peer;
      },
    ],
    [
      'a request for a piece the node lacks, without the fast extension',
      async () => {
        const peer = await RawPeer.connect(partialNode.port);
        t.after(() => peer.destroy());
        peer.sendHandshake(metainfo.infoHash, { fast: false });
        await peer.next((m) => m.type === 'bitfield');
        peer.send({ type: 'interested' });
        await peer.next((m) => m.type === 'unchoke');
        peer.send({ type: 'request', index: 1, begin: 0, length: 16 * 1024 });
        return peer;
      },
    ],
    [
      'a flood of requests',
      async () => {
        const peer = await unchoked(seed.port);
        const burst: Uint8Array[] = [];
        const encode = (index: number) =>
          new Uint8Array([0, 0, 0, 13, 6, 0, 0, 0, index, 0, 0, 0, 0, 0, 0, 0x40, 0]);
        for (let i = 0; i < 2_000; i++) burst.push(encode(i % metainfo.pieceCount));
        peer.socket.pause(); // never read what it asked for
        peer.sendRaw(Buffer.concat(burst));
        return peer;
      },
    ],
    [
      'a handshake for an unknown torrent',
      async () => {
        const peer = await RawPeer.connect(seed.port);
        t.after(() => peer.destroy());
        peer.sendHandshake(new Uint8Array(20).fill(7));
        return peer;
      },
    ],
    [
      'garbage instead of a handshake',
      async () => {
        const peer = await RawPeer.connect(seed.port);
        t.after(() => peer.destroy());
        peer.sendRaw(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'));
        return peer;
      },
    ],
    ['silence (no handshake)', async () => RawPeer.connect(seed.port)],
  ];
  for (const [name, attack] of cases) {
    const peer = await attack();
    assert.ok(await peer.closesWithin(3_000), `${name}: the connection stays open`);
  }

  // With the fast extension, a request for a missing piece is answered with REJECT.
  const fastPeer = await RawPeer.connect(partialNode.port);
  t.after(() => fastPeer.destroy());
  fastPeer.sendHandshake(metainfo.infoHash);
  await fastPeer.next((m) => m.type === 'bitfield');
  fastPeer.send({ type: 'interested' });
  await fastPeer.next((m) => m.type === 'unchoke');
  fastPeer.send({ type: 'request', index: 1, begin: 0, length: 16 * 1024 });
  const reject = await fastPeer.next((m) => m.type === 'reject-request');
  assert.deepEqual(reject, { type: 'reject-request', index: 1, begin: 0, length: 16 * 1024 });
  fastPeer.send({ type: 'request', index: 0, begin: 0, length: 16 * 1024 });
  const block = await fastPeer.next((m) => m.type === 'piece');
  assert.ok(
    block.type === 'piece' && Buffer.from(block.block).equals(content.data.subarray(0, 16 * 1024)),
  );
  assert.equal(fastPeer.isClosed, false);

  await downloadsFrom(t, content, seed, join(dir, 'after'));
});

test('resume: a leecher given the pieces already on disk fetches only the rest', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 600 * 1024 + 3 });
  const { metainfo } = content;
  const { node: seed } = await seedNode(t, content);

  const leechDir = join(dir, 'resume');
  const first = await FileLayoutStorage.open(leechDir, metainfo);
  const expected = new Bitfield(metainfo.pieceCount);
  for (let i = 0; i < metainfo.pieceCount; i += 3) {
    const start = i * metainfo.pieceLength;
    await first.write(i, 0, content.data.subarray(start, start + metainfo.pieceLength));
    expected.set(i);
  }
  // A piece that is on disk but damaged (a crash mid-write) must not be trusted.
  await first.write(1, 0, new Uint8Array(metainfo.pieceLength).fill(0xee));
  // No resume record: what is on disk is re-verified.
  const have = await verifyStoredPieces(first, metainfo, inlineHashFunction);
  assert.deepEqual([...have.indexes()], [...expected.indexes()]);
  await first.close();

  const leecher = await startNode(t);
  const storage = await FileLayoutStorage.open(leechDir, metainfo);
  t.after(() => storage.close());
  const handle = leecher.addTorrent({ metainfo, storage, have });
  const fetched: number[] = [];
  handle.on('piece', (index: number) => fetched.push(index));
  const complete = waitForEvent(handle, 'complete', 20_000);
  handle.addPeers([{ host: '127.0.0.1', port: seed.port }]);
  await complete;

  const missing = [];
  let missingBytes = 0;
  for (let i = 0; i < metainfo.pieceCount; i++) {
    if (have.has(i)) continue;
    missing.push(i);
    missingBytes += Math.min(metainfo.pieceLength, metainfo.totalLength - i * metainfo.pieceLength);
  }
  assert.deepEqual(
    fetched.sort((a, b) => a - b),
    missing,
  );
  assert.equal(handle.stats().downloaded, missingBytes);
  const bytes = await readFile(join(leechDir, metainfo.name));
  assert.ok(Buffer.from(content.data).equals(bytes));
});
