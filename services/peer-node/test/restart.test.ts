// kill -9 in the middle of a download, then start again on the same data directory: the node
// picks the fetch up by itself, keeps the pieces it had verified, and downloads only the rest.
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseTorrent } from '@shoal/protocol';
import {
  fetchAll,
  randomFile,
  sha256OfFile,
  startCluster,
  startPeerNode,
  startPieceStore,
  tempDir,
} from './helpers.ts';

const MiB = 1024 * 1024;

test('a peer-node killed mid-download resumes without fetching verified pieces again', {
  timeout: 90_000,
}, async (t) => {
  const cluster = await startCluster(t);
  // 4 MiB/s from the origin: the 24 MiB download takes about six seconds, time to kill it.
  const store = await startPieceStore(t, cluster, {
    SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(4 * MiB),
  });
  const work = await tempDir(t);
  const file = await randomFile(join(work, 'epsilon.bin'), 24 * MiB);
  const artifact = await store.client.ingestFile(file.path, { name: 'epsilon.bin' });
  const { pieceLength } = parseTorrent(new Uint8Array(artifact.torrent));
  const destination = join(work, 'out');

  const dataDir = await tempDir(t, 'shoal-restart-');
  const first = await startPeerNode(t, { name: 'restart', cluster, dataDir });
  let doneBeforeKill = 0;
  const killed = fetchAll(
    first.client,
    { infoHash: artifact.infoHash, destination },
    60_000,
    (event) => {
      if (event.state !== 'downloading') return;
      doneBeforeKill = event.bytesDone;
      if (event.bytesDone >= 0.35 * file.size) first.proc.kill('SIGKILL');
    },
  );
  await assert.rejects(killed, 'the stream breaks when the process dies');
  const exit = await first.proc.exited;
  assert.equal(exit.signal, 'SIGKILL');
  assert.ok(doneBeforeKill >= 0.35 * file.size && doneBeforeKill < file.size, `${doneBeforeKill}`);
  // No half file under the final name: only the partial folder exists.
  assert.deepEqual(await readdir(destination), [`.shoal-partial-${artifact.infoHash}`]);

  const second = await startPeerNode(t, { name: 'restart', cluster, dataDir });
  // The restarted node resumes on its own; Fetch then joins the running download.
  await second.proc.waitForLine(/"msg":"resuming"/, 15_000);
  const events = await fetchAll(
    second.client,
    { infoHash: artifact.infoHash, destination },
    60_000,
  );
  const last = events.at(-1)!;
  assert.equal(last.state, 'complete');
  assert.equal(await sha256OfFile(join(destination, 'epsilon.bin')), file.sha256);
  await assert.rejects(access(join(destination, `.shoal-partial-${artifact.infoHash}`)));

  const resumed = second.proc
    .logs()
    .split('\n')
    .filter((line) => line.includes('"msg":"resuming"'))
    .map((line) => JSON.parse(line) as { piecesHave: number });
  assert.equal(resumed.length, 1);
  assert.ok(
    resumed[0]!.piecesHave * pieceLength >= doneBeforeKill,
    'every piece verified before the kill was kept',
  );
  // What the second run downloaded: the rest, plus at most a few pieces in flight.
  const downloadedAfter = last.bytesFromOrigin + last.bytesFromPeers;
  const rest = file.size - doneBeforeKill;
  t.diagnostic(
    `verified before kill ${doneBeforeKill}, kept ${resumed[0]!.piecesHave} pieces, downloaded after restart ${downloadedAfter} of ${file.size}`,
  );
  assert.ok(
    downloadedAfter <= rest + 2 * pieceLength,
    `downloaded ${downloadedAfter} after the restart; ${rest} were missing`,
  );
  assert.ok(downloadedAfter > 0);
});
