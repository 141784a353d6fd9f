// The whole-file SHA-256 is the last check: a torrent whose pieces all verify but whose
// info.sha256 names other bytes (an inconsistent torrent, or a bug in how pieces are put
// together) must fail the fetch and leave nothing under the destination. The peer-node computes
// that digest while it downloads (packages/swarm in-order-digest.ts), so this runs a real
// download from an aria2c seed through it.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { aria2SwarmOptions, freePort, requireExecutable, startProcess } from '@shoal/testkit';
import {
  fetchAll,
  randomFile,
  startCluster,
  startPeerNode,
  tempDir,
  writeTorrentFor,
} from './helpers.ts';

const MiB = 1024 * 1024;

test('every piece verifies but the whole-file SHA-256 differs: DATA_LOSS, nothing at the destination', {
  timeout: 90_000,
}, async (t) => {
  const aria2c = requireExecutable('aria2c', 'aria2');
  const cluster = await startCluster(t);
  const work = await tempDir(t);
  const seedDir = join(work, 'seed');
  await mkdir(seedDir);
  const file = await randomFile(join(seedDir, 'omega.bin'), 5 * MiB + 17);
  const torrentPath = join(work, 'omega.torrent');
  const made = await writeTorrentFor(file, {
    name: 'omega.bin',
    pieceLength: 256 * 1024,
    announce: cluster.announceUrl,
    torrentPath,
    // The SHA-256 of other bytes: every SHA-1 piece hash still matches the file.
    sha256: new Uint8Array(createHash('sha256').update('not the artifact').digest()),
  });
  await startProcess(
    aria2c,
    [
      ...aria2SwarmOptions(seedDir),
      `--listen-port=${await freePort()}`,
      `--dht-listen-port=${await freePort()}`,
      '--check-integrity=true',
      '--seed-ratio=0.0',
      '--bt-tracker-interval=2',
      torrentPath,
    ],
    { name: 'aria2c-seed', env: { HOME: work }, t },
  );

  const node = await startPeerNode(t, { name: 'mismatch', cluster });
  const destination = join(work, 'out');
  const failure = await fetchAll(node.client, { torrent: made.torrent, destination }, 60_000).then(
    (events) => assert.fail(`the fetch ended without an error: ${JSON.stringify(events.at(-1))}`),
    (error: grpc.ServiceError) => error,
  );
  assert.equal(failure.code, grpc.status.DATA_LOSS, failure.message);
  assert.match(failure.message, /whole-file SHA-256 differs/);
  const left = await readdir(destination).catch(() => []);
  assert.deepEqual(left, [], 'nothing under the destination');
  assert.match(node.proc.logs(), /"sha256":\{"hashedPieces":\d+/, 'the digest was streamed');
});
