import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bitfield, BlobStorage } from '../src/index.ts';
import { makeContent, startNode, tempDir } from './helpers.ts';
import { RawPeer } from './raw-peer.ts';

/** The HAVE indexes a raw peer receives until `ms` pass without one. */
async function havesUntilQuiet(peer: RawPeer, ms: number): Promise<number[]> {
  const indexes: number[] = [];
  for (let i = 0; i < 10_000; i++) {
    try {
      const message = await peer.next((m) => m.type === 'have', ms);
      if (message.type === 'have') indexes.push(message.index);
    } catch {
      return indexes;
    }
  }
  return indexes;
}

test('origin super-seeding: k pieces per peer, different pieces to different peers, topped up on HAVE', async (t) => {
  const dir = await tempDir(t);
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 64 * 16 * 1024 });
  const { metainfo } = content;
  const node = await startNode(t, {
    superSeedPieces: 4,
    superSeedGraceMs: 60_000,
    superSeedStarveMs: 60_000,
  });
  const storage = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => storage.close());
  node.addTorrent({ metainfo, storage, have: Bitfield.full(metainfo.pieceCount), role: 'origin' });

  const first = await RawPeer.connect(node.port);
  t.after(() => first.destroy());
  first.sendHandshake(metainfo.infoHash);
  first.send({ type: 'have-none' });
  // No bitfield and no HAVE_ALL: the origin starts from "nothing" and names pieces one by one.
  assert.equal((await first.next(() => true)).type, 'have-none');
  const firstWindow = await havesUntilQuiet(first, 300);
  assert.equal(new Set(firstWindow).size, 4, `first window ${firstWindow}`);

  const second = await RawPeer.connect(node.port);
  t.after(() => second.destroy());
  second.sendHandshake(metainfo.infoHash);
  second.send({ type: 'have-none' });
  const secondWindow = await havesUntilQuiet(second, 300);
  assert.equal(new Set(secondWindow).size, 4);
  assert.deepEqual(
    secondWindow.filter((index) => firstWindow.includes(index)),
    [],
    'the same first copies were offered to two peers',
  );

  // The first peer reports one of its pieces: its window gets one new piece, not yet offered.
  first.send({ type: 'have', index: firstWindow[0]! });
  const topUp = await havesUntilQuiet(first, 300);
  assert.equal(topUp.length, 1, `top-up ${topUp}`);
  assert.ok(![...firstWindow, ...secondWindow].includes(topUp[0]!));
});
