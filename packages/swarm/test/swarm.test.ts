import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Bitfield, BlobStorage, FileLayoutStorage, type TorrentHandle } from '../src/index.ts';
import { makeContent, sharedHashWorkers, startNode, tempDir, waitForEvent } from './helpers.ts';

test('one origin and four leechers: all complete byte-exact, the origin sends about one copy', async (t) => {
  const dir = await tempDir(t);
  const pieceLength = 64 * 1024;
  const files = [5 * 1024 * 1024 + 123, 0, 3 * 1024 * 1024 - 7, 4 * 1024 * 1024 + 5000];
  const content = await makeContent(dir, { pieceLength, files });
  const { metainfo } = content;
  const hashWorkers = sharedHashWorkers(t);

  const origin = await startNode(t, { hashWorkers });
  const blob = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => blob.close());
  const seed = origin.addTorrent({
    metainfo,
    storage: blob,
    have: Bitfield.full(metainfo.pieceCount),
    role: 'origin',
  });

  const leechers: { handle: TorrentHandle; dir: string }[] = [];
  const nodes = [];
  for (let i = 0; i < 4; i++) {
    const node = await startNode(t, { hashWorkers });
    const leechDir = join(dir, `leech${i}`);
    const storage = await FileLayoutStorage.open(leechDir, metainfo);
    t.after(() => storage.close());
    leechers.push({
      handle: node.addTorrent({ metainfo, storage, streamSha256: true }),
      dir: leechDir,
    });
    nodes.push(node);
  }
  const done = leechers.map(({ handle }) => waitForEvent(handle, 'complete', 30_000));
  for (const [i, { handle }] of leechers.entries()) {
    handle.addPeers([
      { host: '127.0.0.1', port: origin.port, origin: true },
      ...nodes.filter((_, j) => j !== i).map((node) => ({ host: '127.0.0.1', port: node.port })),
    ]);
  }
  await Promise.all(done);

  const wholeSha256 = createHash('sha256').update(content.data).digest();
  for (const { handle, dir: leechDir } of leechers) {
    assert.deepEqual(Buffer.from(await handle.sha256()), wholeSha256, 'streamed SHA-256');
    const stats = handle.stats();
    assert.equal(stats.piecesDone, metainfo.pieceCount);
    assert.equal(stats.bytesDone, metainfo.totalLength);
    assert.equal(stats.downloadedFromOrigin + stats.downloadedFromPeers, stats.downloaded);
    let offset = 0;
    for (const file of metainfo.files) {
      const bytes = await readFile(join(leechDir, ...file.path));
      assert.equal(bytes.length, file.length);
      assert.ok(
        Buffer.from(content.data.subarray(offset, offset + file.length)).equals(bytes),
        `${file.path.join('/')} differs`,
      );
      offset += file.length;
    }
  }
  t.diagnostic(
    `from origin per leecher: ${leechers.map(({ handle }) => handle.stats().downloadedFromOrigin).join(', ')}`,
  );
  const uploaded = seed.stats().uploaded;
  const ratio = uploaded / metainfo.totalLength;
  t.diagnostic(
    `origin uploaded ${uploaded} bytes = ${ratio.toFixed(3)} copies of ${metainfo.totalLength}`,
  );
  assert.ok(ratio <= 1.5, `origin sent ${ratio.toFixed(3)} copies`);
});
