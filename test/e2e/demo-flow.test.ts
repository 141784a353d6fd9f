// The demo's flow through the real `shoal` command only: up (detached), publish, distribute to
// every node, SHA-256 on every node, status, down; with 8 nodes, then 24 on this small machine.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive, readStateFile, type SwarmState } from '@shoal/cli';
import {
  type DistributeJson,
  defer,
  MiB,
  makeArtifact,
  parseJson,
  publish,
  runShoal,
  tempDir,
  verifyCompleted,
} from './harness.ts';

async function demoFlow(t: test.TestContext, nodes: number, bytes: number): Promise<void> {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  // Whatever happens, the swarm goes down with the test.
  defer(t, () => runShoal(t, runDir, ['down'], { timeoutMs: 60_000 }));

  const up = await runShoal(
    t,
    runDir,
    ['--json', 'up', '--detach', '--nodes', String(nodes), '--ready-timeout', '240'],
    { timeoutMs: 300_000 },
  );
  assert.equal(up.code, 0, `shoal up failed: ${up.stderr}`);
  const state = parseJson<SwarmState>(up);
  assert.equal(state.peerNodes.length, nodes);
  assert.ok(isAlive(state.supervisor.pid), 'the detached supervisor runs');

  const artifact = await makeArtifact(join(dir, 'artifact.bin'), bytes);
  const published = await publish(t, runDir, artifact.path);
  assert.equal(published.sha256, artifact.sha256);
  assert.equal(published.size, bytes);
  assert.match(published.magnet, new RegExp(`^magnet:\\?xt=urn:btih:${published.infoHash}`));

  const run = await runShoal(t, runDir, ['--json', 'distribute', published.infoHash], {
    timeoutMs: 300_000,
  });
  const result = parseJson<DistributeJson>(run);
  assert.equal(run.code, 0, `distribute failed: ${run.stderr}`);
  assert.equal(result.complete, nodes);
  assert.equal(await verifyCompleted(result, artifact.sha256), nodes);
  assert.equal(result.bytesDelivered, nodes * bytes);
  // Every byte a node holds came from somewhere; peers carried a share of it.
  assert.ok(result.bytesFromOrigin + result.bytesFromPeers >= nodes * bytes);
  assert.ok(result.bytesFromPeers > 0, 'peers uploaded to each other');
  t.diagnostic(
    `${nodes} nodes × ${bytes / MiB} MiB: ${result.wallSeconds.toFixed(1)} s, origin ${(result.bytesFromOrigin / bytes).toFixed(2)} copies, offload ${result.originOffloadPercent.toFixed(1)}%`,
  );

  const status = await runShoal(t, runDir, ['--json', 'status'], { timeoutMs: 60_000 });
  assert.equal(status.code, 0, status.stderr);
  const view = parseJson<{
    services: { name: string; running: boolean }[];
    swarms: { infoHash: string; nodesHolding: number; onPieceStore: boolean }[];
    nodes: { nodeId: string; reachable: boolean }[];
  }>(status);
  assert.equal(view.services.length, nodes + 3);
  assert.ok(view.services.every((service) => service.running));
  assert.ok(view.nodes.every((node) => node.reachable));
  const swarm = view.swarms.find((entry) => entry.infoHash === published.infoHash);
  assert.ok(swarm, 'status lists the artifact');
  assert.equal(swarm.nodesHolding, nodes);
  assert.equal(swarm.onPieceStore, true);

  const down = await runShoal(t, runDir, ['down'], { timeoutMs: 120_000 });
  assert.equal(down.code, 0, down.stderr);
  assert.equal(await readStateFile(runDir), undefined, 'down removes the state file');
  assert.equal(existsSync(join(runDir, 'up.lock')), false);
  const pids = [
    state.supervisor.pid,
    state.nats.pid,
    state.tracker?.pid ?? 0,
    ...state.pieceStores.map((store) => store.pid),
    ...state.peerNodes.map((node) => node.pid),
  ];
  assert.deepEqual(
    pids.filter((pid) => isAlive(pid)),
    [],
    'no process of the swarm is left',
  );
}

test(
  'demo flow: 8 peer-nodes, publish, distribute, verify, status, down',
  { timeout: 600_000 },
  (t) => demoFlow(t, 8, 48 * MiB),
);

test('demo flow with 24 peer-nodes on one machine (smaller file)', { timeout: 900_000 }, (t) =>
  demoFlow(t, 24, 16 * MiB),
);
