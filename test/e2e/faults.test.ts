// Faults during a real distribution: separate processes for every service, a real nats-server,
// real disk. Upload rate limits make each transfer last long enough to break things mid-way;
// the test waits for progress reports (not for time) before it strikes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '@shoal/testkit';
import {
  type DistributeJson,
  defer,
  MiB,
  makeArtifact,
  ProgressWatcher,
  parseJson,
  publish,
  runShoal,
  startShoal,
  startSwarm,
  swarmLogs,
  tempDir,
  verifyCompleted,
} from './harness.ts';
import { PieceObserver } from './wire-observer.ts';

test('two peer-nodes killed mid-transfer: the others complete', { timeout: 300_000 }, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const swarm = await startSwarm(t, {
    runDir,
    nodes: 6,
    pieceStoreEnv: { SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(3 * MiB) },
    peerNodeEnv: () => ({ SHOAL_UPLOAD_RATE_LIMIT: String(2 * MiB) }),
  });
  const artifact = await makeArtifact(join(dir, 'artifact.bin'), 32 * MiB);
  const published = await publish(t, runDir, artifact.path);
  const watcher = await ProgressWatcher.start(t, swarm);

  const distribute = startShoal(
    t,
    runDir,
    ['--json', 'distribute', published.infoHash, '--stall-timeout', '8'],
    { timeoutMs: 240_000 },
  );
  const atKill = await watcher.waitForProgress(0.25, 120_000);
  await Promise.all([swarm.kill('peer-node-4'), swarm.kill('peer-node-5')]);
  for (const victim of ['node-4', 'node-5']) {
    const report = atKill.find((entry) => entry.nodeId === victim);
    assert.notEqual(report?.state, 'complete', `${victim} was still transferring when killed`);
  }

  const run = await distribute.done;
  const result = parseJson<DistributeJson>(run);
  assert.equal(run.code, 1, 'distribute reports that not every node completed');
  assert.match(run.stderr, /^shoal: 2 of 6 nodes did not complete: node-4 lost.*node-5 lost/m);
  const states = Object.fromEntries(result.nodes.map((node) => [node.nodeId, node.state]));
  assert.deepEqual(states, {
    'node-0': 'complete',
    'node-1': 'complete',
    'node-2': 'complete',
    'node-3': 'complete',
    'node-4': 'lost',
    'node-5': 'lost',
  });
  assert.equal(await verifyCompleted(result, artifact.sha256), 4);
});

test('piece-store killed once every piece is in the swarm: all still complete', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const swarm = await startSwarm(t, {
    runDir,
    nodes: 5,
    pieceStoreEnv: { SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(3 * MiB) },
    peerNodeEnv: () => ({ SHOAL_UPLOAD_RATE_LIMIT: String(1 * MiB) }),
  });
  const artifact = await makeArtifact(join(dir, 'artifact.bin'), 24 * MiB);
  const published = await publish(t, runDir, artifact.path);
  const pieceCount = Math.ceil(published.size / published.pieceLength);
  const observer = new PieceObserver(
    published.infoHash,
    pieceCount,
    swarm.state.peerNodes.map((node) => ({
      name: node.nodeId,
      host: node.wireHost,
      port: node.wirePort,
    })),
  );
  defer(t, () => observer.close());

  const distribute = startShoal(t, runDir, ['--json', 'distribute', published.infoHash], {
    timeoutMs: 240_000,
  });
  await waitFor(() => observer.covered(), {
    timeoutMs: 120_000,
    intervalMs: 50,
    description: 'every piece to be held by some peer-node',
  });
  await swarm.kill('piece-store-0');
  const counts = observer.counts();
  assert.ok(
    [...counts.values()].some((count) => count < pieceCount),
    `some node still missed pieces when the piece-store died: ${JSON.stringify([...counts])}`,
  );

  const run = await distribute.done;
  const result = parseJson<DistributeJson>(run);
  assert.equal(run.code, 0, `distribute failed: ${run.stderr}\n${await swarmLogs(swarm)}`);
  assert.equal(result.complete, 5);
  assert.equal(await verifyCompleted(result, artifact.sha256), 5);
});

test('tracker and nats-server restarted mid-transfer: the swarm carries on', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const swarm = await startSwarm(t, {
    runDir,
    nodes: 4,
    pieceStoreEnv: { SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(2 * MiB) },
    peerNodeEnv: () => ({ SHOAL_UPLOAD_RATE_LIMIT: String(1 * MiB) }),
  });
  const artifact = await makeArtifact(join(dir, 'artifact.bin'), 24 * MiB);
  const published = await publish(t, runDir, artifact.path);
  const watcher = await ProgressWatcher.start(t, swarm);

  const distribute = startShoal(
    t,
    runDir,
    ['--json', 'distribute', published.infoHash, '--stall-timeout', '30'],
    { timeoutMs: 240_000 },
  );
  await watcher.waitForProgress(0.15, 120_000);
  await swarm.restart('tracker', { hard: true });
  await watcher.waitForProgress(0.3, 120_000);
  await swarm.restart('nats-server', { hard: true, downMs: 1000 });
  const afterRestart = watcher.reports().map((report) => report.state);
  assert.ok(
    afterRestart.some((state) => state !== 'complete'),
    'the transfer was still going when nats-server came back',
  );

  const run = await distribute.done;
  const result = parseJson<DistributeJson>(run);
  assert.equal(run.code, 0, `distribute failed: ${run.stderr}\n${await swarmLogs(swarm)}`);
  assert.equal(result.complete, 4);
  assert.equal(await verifyCompleted(result, artifact.sha256), 4);

  // The restarted tracker knows the swarm: every node and the piece-store announce to it.
  await waitFor(
    async () => {
      const status = await runShoal(t, runDir, ['--json', 'status'], { timeoutMs: 60_000 });
      const view = parseJson<{ swarms: { infoHash: string; seeders?: number }[] }>(status);
      return (view.swarms.find((s) => s.infoHash === published.infoHash)?.seeders ?? 0) >= 4;
    },
    { timeoutMs: 60_000, intervalMs: 1000, description: 'the tracker to count 4 seeders' },
  );
});

test('a peer-node serving corrupt data is banned and nobody ends with a bad file', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const swarm = await startSwarm(t, {
    runDir,
    nodes: 5,
    // The origin is slow, so the others turn to node-0, which serves every block corrupted.
    pieceStoreEnv: { SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(2 * MiB) },
    peerNodeEnv: (index) =>
      index === 0 ? { SHOAL_ALLOW_TEST_FLAGS: '1', SHOAL_TEST_CORRUPT_UPLOADS: '1' } : {},
  });
  const artifact = await makeArtifact(join(dir, 'artifact.bin'), 12 * MiB);
  const published = await publish(t, runDir, artifact.path);

  // node-0 fetches honestly first, so it holds every piece when the others start.
  const first = await runShoal(
    t,
    runDir,
    ['--json', 'distribute', published.infoHash, '--selector', 'node=node-0'],
    { timeoutMs: 120_000 },
  );
  assert.equal(first.code, 0, first.stderr);

  const run = await runShoal(t, runDir, ['--json', 'distribute', published.infoHash], {
    timeoutMs: 240_000,
  });
  const result = parseJson<DistributeJson>(run);
  assert.equal(run.code, 0, `distribute failed: ${run.stderr}\n${await swarmLogs(swarm)}`);
  assert.equal(result.complete, 5);
  assert.equal(await verifyCompleted(result, artifact.sha256), 5, 'every file is intact');

  let banned = 0;
  for (const node of swarm.state.peerNodes.slice(1)) {
    const metrics = await (await fetch(`${node.httpUrl}/metrics`)).text();
    const match = /^shoal_peer_node_peers_banned_total(?:\{[^}]*\})? (\d+)/m.exec(metrics);
    banned += Number(match?.[1] ?? 0);
  }
  assert.ok(
    banned >= 1,
    `at least one honest node banned the corrupt one (banned: ${banned}); node-0 runs with SHOAL_TEST_CORRUPT_UPLOADS=1, which the peer-node must honour`,
  );
});
