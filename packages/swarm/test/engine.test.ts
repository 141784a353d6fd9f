import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DecodedMessage } from '@shoal/protocol';
import {
  type AnnounceEvent,
  type Announcer,
  Bitfield,
  BlobStorage,
  FileLayoutStorage,
  type PeerAddress,
} from '../src/index.ts';
import { makeContent, startNode, tempDir, waitForEvent, waitUntil } from './helpers.ts';
import { type RawPeer, rawServer } from './raw-peer.ts';

/** An in-process tracker: records announces, answers with the other registered peers. */
class RecordingTracker {
  readonly events: { port: number; event: AnnounceEvent; left: number }[] = [];
  readonly #peers = new Map<number, PeerAddress>();

  announcerFor(): Announcer {
    return {
      announce: async (request) => {
        this.events.push({ port: request.port, event: request.event, left: request.left });
        if (request.event === 'stopped') this.#peers.delete(request.port);
        else
          this.#peers.set(request.port, {
            host: '127.0.0.1',
            port: request.port,
            seeder: request.left === 0,
          });
        return {
          peers: [...this.#peers.values()].filter((p) => p.port !== request.port),
          intervalSeconds: 60,
        };
      },
    };
  }
}

test('announcer: a seed dials out to the leechers its tracker lists; started, completed once, stopped', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 32 * 1024, length: 700 * 1024 });
  const { metainfo } = content;
  const tracker = new RecordingTracker();

  // The leecher announces first and learns of nobody; the seed then hears of it and dials it.
  const leecherNode = await startNode(t);
  const storage = await FileLayoutStorage.open(join(dir, 'leech'), metainfo);
  t.after(() => storage.close());
  const leecher = leecherNode.addTorrent({ metainfo, storage, announcer: tracker.announcerFor() });
  await waitUntil(() => tracker.events.length === 1, 5_000, 'the leecher announce');
  const complete = waitForEvent(leecher, 'complete', 15_000);

  const seedNode = await startNode(t);
  const blob = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => blob.close());
  seedNode.addTorrent({
    metainfo,
    storage: blob,
    have: Bitfield.full(metainfo.pieceCount),
    announcer: tracker.announcerFor(),
  });
  await complete;
  assert.ok(Buffer.from(content.data).equals(await readFile(join(dir, 'leech', metainfo.name))));
  await waitUntil(
    () => tracker.events.some((e) => e.port === leecherNode.port && e.event === 'completed'),
    5_000,
    'the completed announce',
  );
  await leecher.stop();
  const mine = tracker.events.filter((e) => e.port === leecherNode.port).map((e) => e.event);
  assert.deepEqual(mine, ['started', 'completed', 'stopped']);
  const seedEvents = tracker.events.filter((e) => e.port === seedNode.port).map((e) => e.event);
  assert.deepEqual(seedEvents, ['started'], 'a torrent added complete never announces completed');
});

test('late BITFIELD is an update, allowed-fast pieces are requested while choked, REJECT re-queues', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 8 * 16 * 1024 });
  const { metainfo } = content;
  let peer: RawPeer | undefined;
  const server = await rawServer('127.0.0.1', (accepted) => {
    peer = accepted;
    void (async () => {
      if (!(await accepted.handshakeWithin(5_000))) return;
      accepted.sendHandshake(metainfo.infoHash);
      const first = new Bitfield(metainfo.pieceCount);
      first.set(0);
      first.set(3);
      accepted.send({ type: 'bitfield', bitfield: first.toBytes() });
      accepted.send({ type: 'allowed-fast', index: 3 });
    })();
  });
  t.after(() => new Promise((resolve) => server.server.close(resolve)));

  const node = await startNode(t);
  const storage = await FileLayoutStorage.open(join(dir, 'leech'), metainfo);
  t.after(() => storage.close());
  const handle = node.addTorrent({ metainfo, storage });
  handle.addPeers([{ host: '127.0.0.1', port: server.port }]);
  await waitUntil(() => peer?.handshake !== undefined, 5_000, 'the connection');
  const raw = peer!;
  const isRequest = (m: DecodedMessage) => m.type === 'request';

  // Choked, it may only ask for the allowed-fast piece 3.
  const fastRequest = await raw.next(isRequest);
  assert.ok(fastRequest.type === 'request' && fastRequest.index === 3);
  raw.send({ type: 'reject-request', index: 3, begin: 0, length: 16 * 1024 });
  // Rejected: it is asked for again (it was re-queued), still as the only choice.
  const again = await raw.next(isRequest);
  assert.ok(again.type === 'request' && again.index === 3);
  raw.send({
    type: 'piece',
    index: 3,
    begin: 0,
    block: content.data.subarray(3 * 16384, 4 * 16384),
  });
  await waitUntil(() => handle.have().has(3), 5_000, 'piece 3');

  // A second, fuller BITFIELD mid-connection (as aria2 sends) adds pieces; unchoked, it asks for them.
  raw.send({ type: 'bitfield', bitfield: Bitfield.full(metainfo.pieceCount).toBytes() });
  raw.send({ type: 'unchoke' });
  const asked = new Set<number>();
  for (let i = 0; i < 200 && asked.size < metainfo.pieceCount - 1; i++) {
    const request = await raw.next(isRequest);
    if (request.type !== 'request') continue;
    asked.add(request.index);
    const start = request.index * metainfo.pieceLength + request.begin;
    raw.send({
      type: 'piece',
      index: request.index,
      begin: request.begin,
      block: content.data.subarray(start, start + request.length),
    });
  }
  assert.ok(
    [...asked].some((index) => index !== 0 && index !== 3),
    'pieces from the late bitfield',
  );
  await waitUntil(() => handle.have().complete, 5_000, 'completion');
  // Both sides complete: nothing left to trade, so the node hangs up.
  assert.ok(await raw.closesWithin(2_000));
});

test('upload rate limit holds a seed to its budget', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 768 * 1024 });
  const { metainfo } = content;
  const rate = 512 * 1024;
  const seedNode = await startNode(t, { uploadRateLimit: rate });
  const blob = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => blob.close());
  seedNode.addTorrent({ metainfo, storage: blob, have: Bitfield.full(metainfo.pieceCount) });
  const node = await startNode(t);
  const storage = await FileLayoutStorage.open(join(dir, 'leech'), metainfo);
  t.after(() => storage.close());
  const handle = node.addTorrent({ metainfo, storage });
  const started = performance.now();
  const complete = waitForEvent(handle, 'complete', 15_000);
  handle.addPeers([{ host: '127.0.0.1', port: seedNode.port }]);
  await complete;
  const seconds = (performance.now() - started) / 1000;
  // 768 KiB at 512 KiB/s after a 128 KiB burst: at least (768 - 128) / 512 = 1.25 s.
  t.diagnostic(`768 KiB at a 512 KiB/s limit took ${seconds.toFixed(2)} s`);
  assert.ok(seconds >= 1.2, `finished in ${seconds} s, faster than the limit allows`);
});

test('endgame: blocks stuck at a silent peer are fetched from another, then CANCELled at the first', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 96 * 16 * 1024 });
  const { metainfo } = content;
  let silentRequests = 0;
  let cancels = 0;
  const seedLike = (answer: boolean) =>
    rawServer('127.0.0.1', (peer) => {
      void (async () => {
        if (!(await peer.handshakeWithin(5_000))) return;
        peer.sendHandshake(metainfo.infoHash);
        peer.send({ type: 'have-all' });
        peer.send({ type: 'unchoke' });
        for (let i = 0; i < 10_000 && !peer.isClosed; i++) {
          let message: DecodedMessage;
          try {
            message = await peer.next((m) => m.type === 'request' || m.type === 'cancel', 10_000);
          } catch {
            return;
          }
          if (message.type === 'cancel' && !answer) cancels++;
          if (message.type !== 'request') continue;
          if (!answer) {
            silentRequests++;
            continue;
          }
          const start = message.index * metainfo.pieceLength + message.begin;
          peer.send({
            type: 'piece',
            index: message.index,
            begin: message.begin,
            block: content.data.subarray(start, start + message.length),
          });
        }
      })();
    });
  const answering = await seedLike(true);
  const silent = await seedLike(false);
  t.after(() => new Promise((resolve) => answering.server.close(resolve)));
  t.after(() => new Promise((resolve) => silent.server.close(resolve)));

  const node = await startNode(t);
  const storage = await FileLayoutStorage.open(join(dir, 'leech'), metainfo);
  t.after(() => storage.close());
  const handle = node.addTorrent({ metainfo, storage });
  const complete = waitForEvent(handle, 'complete', 8_000);
  handle.addPeers([
    { host: '127.0.0.1', port: silent.port },
    { host: '127.0.0.1', port: answering.port },
  ]);
  // Well within the 20 s after which a silent peer's requests would be taken back anyway.
  await complete;
  assert.ok(silentRequests > 0, 'the silent peer was asked for blocks');
  await waitUntil(() => cancels > 0, 2_000, 'CANCELs to the silent peer');
  assert.ok(Buffer.from(content.data).equals(await readFile(join(dir, 'leech', metainfo.name))));
});
