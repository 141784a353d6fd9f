// The Ingestor on a real store and real hash workers, for the one path the process tests
// cannot reach cheaply: an upload of unknown size whose final size calls for another piece
// length than the one guessed (with the default policy that happens only above 500 MiB).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { createHashPool } from '@shoal/hashing';
import { parseTorrent } from '@shoal/protocol';
import { Ingestor } from '../src/ingest.ts';
import { Retention } from '../src/retention.ts';
import { ArtifactStore } from '../src/store.ts';
import { chunked, randomContent, tempDir } from './helpers.ts';

test('an upload of unknown size is re-hashed with the piece length its final size calls for', async (t) => {
  const { store } = await ArtifactStore.open(await tempDir(t));
  const pool = createHashPool({ workers: 1 });
  t.after(() => pool.close());
  const budget = new Retention({
    store,
    limitBytes: 0,
    canEvict: async () => false,
    evict: async () => {},
  });
  const ingestor = new Ingestor({
    store,
    pool,
    budget,
    pieceLengthFor: (size) => (size < 100_000 ? 16 * 1024 : 64 * 1024),
  });
  const content = randomContent(300_000);
  const result = await ingestor.ingestStream({ name: 'grown.bin' }, chunked(content, 50_000));
  const metainfo = parseTorrent(result.torrent);
  assert.equal(metainfo.pieceLength, 64 * 1024, 'the final size decides the piece length');
  assert.equal(metainfo.pieceCount, Math.ceil(content.length / (64 * 1024)));
  for (let i = 0; i < metainfo.pieceCount; i++) {
    const piece = content.subarray(i * 64 * 1024, (i + 1) * 64 * 1024);
    const expected = createHash('sha1').update(piece).digest();
    assert.ok(expected.equals(metainfo.pieces.subarray(i * 20, i * 20 + 20)), `piece ${i}`);
  }
  assert.equal(
    Buffer.from(metainfo.sha256!).toString('hex'),
    createHash('sha256').update(content).digest('hex'),
  );
  assert.equal(result.record.pieceLength, 64 * 1024);
});
