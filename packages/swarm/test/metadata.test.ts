import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Bitfield, BlobStorage, fetchMetadata, SwarmError, SwarmErrorCode } from '../src/index.ts';
import { makeContent, startNode, tempDir } from './helpers.ts';

test('fetchMetadata gets the info dict from a seed by infohash alone (BEP 9)', async (t) => {
  const dir = await tempDir(t);
  // Many small pieces: an info dict over 16 KiB, so it travels as several metadata pieces.
  const content = await makeContent(dir, { pieceLength: 16 * 1024, length: 20 * 1024 * 1024 + 5 });
  const { metainfo } = content;
  assert.ok(metainfo.infoBytes.length > 16 * 1024);
  const seed = await startNode(t);
  const storage = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => storage.close());
  seed.addTorrent({ metainfo, storage, have: Bitfield.full(metainfo.pieceCount) });

  const fetched = await fetchMetadata(metainfo.infoHashHex, [
    { host: '127.0.0.1', port: 1 }, // nobody listens there: the next peer is tried
    { host: '127.0.0.1', port: seed.port },
  ]);
  assert.equal(fetched.infoHashHex, metainfo.infoHashHex);
  assert.ok(Buffer.from(fetched.infoBytes).equals(metainfo.infoBytes));
  assert.equal(fetched.pieceCount, metainfo.pieceCount);
  assert.equal(fetched.totalLength, metainfo.totalLength);

  // An infohash the seed does not have: it hangs up, and nobody else has it.
  await assert.rejects(
    fetchMetadata('ab'.repeat(20), [{ host: '127.0.0.1', port: seed.port }]),
    (error: unknown) =>
      error instanceof SwarmError && error.code === SwarmErrorCode.MetadataUnavailable,
  );
  await assert.rejects(fetchMetadata('xyz', []), SwarmError);
});
