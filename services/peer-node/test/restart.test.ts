// Interrupting a download, then starting again on the same data directory: the node picks the
// fetch up by itself and downloads only what it had not verified. After a clean stop it trusts
// its resume record; after kill -9 the record no longer matches the files, so it re-verifies
// the partial data and keeps every intact piece.
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PeerNodeClient } from '@shoal/proto';
import { parseTorrent } from '@shoal/protocol';
import {
  fetchAll,
  type PeerNodeProcess,
  randomFile,
  sha256OfFile,
  startCluster,
  startPeerNode,
  startPieceStore,
  tempDir,
} from './helpers.ts';

const MiB = 1024 * 1024;

/** Fetches until `threshold` bytes are verified, then interrupts the node with `signal`. */
async function interruptAt(
  node: PeerNodeProcess,
  request: Parameters<PeerNodeClient['Fetch']>[0],
  size: number,
  threshold: number,
  signal: NodeJS.Signals,
): Promise<number> {
  let done = 0;
  const stream = fetchAll(node.client, request, 60_000, (event) => {
    if (event.state !== 'downloading') return;
    done = event.bytesDone;
    if (done >= threshold) node.proc.kill(signal);
  });
  const ended = await stream.then(
    () => undefined,
    (error: { code?: number; details?: string }) => error,
  );
  // A clean stop ends the stream with UNAVAILABLE and says why; a crash just breaks it.
  if (signal === 'SIGTERM') {
    assert.equal(ended?.code, 14, JSON.stringify(ended));
    assert.match(String(ended?.details), /shutting down; the fetch resumes/);
  } else {
    assert.ok(ended !== undefined);
  }
  const exit = await node.proc.exited;
  assert.equal(
    exit.signal ?? 'exit',
    signal === 'SIGKILL' ? 'SIGKILL' : 'exit',
    JSON.stringify(exit),
  );
  assert.ok(done >= threshold && done < size, `${done} of ${size}`);
  return done;
}

function logLines(node: PeerNodeProcess, msg: string): Record<string, unknown>[] {
  return node.proc
    .logs()
    .split('\n')
    .filter((line) => line.includes(`"msg":"${msg}"`))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

test('a peer-node stopped or killed mid-download resumes without fetching verified pieces again', {
  timeout: 100_000,
}, async (t) => {
  const cluster = await startCluster(t);
  // 4 MiB/s from the origin: the 24 MiB download takes about six seconds, time to interrupt it.
  const store = await startPieceStore(t, cluster, {
    SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(4 * MiB),
  });
  const work = await tempDir(t);
  const file = await randomFile(join(work, 'epsilon.bin'), 24 * MiB);
  const artifact = await store.client.ingestFile(file.path, { name: 'epsilon.bin' });
  const { pieceLength } = parseTorrent(new Uint8Array(artifact.torrent));
  const destination = join(work, 'out');
  const request = { infoHash: artifact.infoHash, destination };
  const dataDir = await tempDir(t, 'shoal-restart-');
  const partial = `.shoal-partial-${artifact.infoHash}`;

  // 1. SIGTERM at 20 %: the node flushes and writes its resume record on the way out.
  const first = await startPeerNode(t, { name: 'restart', cluster, dataDir });
  const doneBeforeStop = await interruptAt(first, request, file.size, 0.2 * file.size, 'SIGTERM');
  // No half file under the final name: only the partial folder exists.
  assert.deepEqual(await readdir(destination), [partial]);

  // 2. The restarted node trusts the record (no re-verification) and carries on; kill -9 a few
  // pieces later. It writes no record meanwhile, so the files are newer than the one it has.
  const second = await startPeerNode(t, {
    name: 'restart',
    cluster,
    dataDir,
    env: { SHOAL_RESUME_INTERVAL_S: '3600' },
  });
  await second.proc.waitForLine(/"msg":"resuming"/, 15_000);
  assert.equal(logLines(second, 'resume record not usable; verifying the partial data').length, 0);
  const trusted = logLines(second, 'resuming')[0]!.piecesHave as number;
  assert.ok(
    trusted * pieceLength >= doneBeforeStop,
    'every piece verified before the stop was kept',
  );
  const threshold = Math.min(trusted + 4, 94) * pieceLength;
  const doneBeforeKill = await interruptAt(second, request, file.size, threshold, 'SIGKILL');
  assert.deepEqual(await readdir(destination), [partial]);

  // 3. After the crash the files changed since the last record: re-verify, keep intact pieces.
  const third = await startPeerNode(t, { name: 'restart', cluster, dataDir });
  await third.proc.waitForLine(/"msg":"resuming"/, 15_000);
  const [notUsable] = logLines(third, 'resume record not usable; verifying the partial data');
  assert.match(String(notUsable?.reason), /modified after the record|changed size/);
  const kept = logLines(third, 'resuming')[0]!.piecesHave as number;
  assert.ok(kept * pieceLength >= doneBeforeKill, 'every piece verified before the kill was kept');

  // Fetch joins the download the node resumed on its own.
  const events = await fetchAll(third.client, request, 60_000);
  const last = events.at(-1)!;
  assert.equal(last.state, 'complete');
  assert.equal(await sha256OfFile(join(destination, 'epsilon.bin')), file.sha256);
  await assert.rejects(access(join(destination, partial)));
  // What the last run downloaded: the rest, plus at most a few pieces in flight.
  const downloadedAfter = last.bytesFromOrigin + last.bytesFromPeers;
  const rest = file.size - doneBeforeKill;
  t.diagnostic(
    `stop at ${doneBeforeStop} (kept ${trusted} pieces), kill at ${doneBeforeKill} (kept ${kept} pieces), downloaded after restart ${downloadedAfter} of ${file.size}`,
  );
  assert.ok(
    downloadedAfter <= rest + 2 * pieceLength,
    `downloaded ${downloadedAfter} after the restart; ${rest} were missing`,
  );
  assert.ok(downloadedAfter > 0);
});
