// `shoal up` in the foreground: ready, then Ctrl-C stops every process in order and removes
// the state file.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive, readStateFile } from '@shoal/cli';
import { waitFor } from '@shoal/testkit';
import { runShoal, startShoal, tempDir } from './harness.ts';

test('up in the foreground runs until Ctrl-C, then stops everything', {
  timeout: 180_000,
}, async (t) => {
  const runDir = join(await tempDir(t), 'run');
  const up = startShoal(t, runDir, ['up', '--nodes', '2', '--file-log'], { timeoutMs: 170_000 });
  await waitFor(() => up.output().stderr.includes('swarm ready in'), {
    timeoutMs: 150_000,
    intervalMs: 100,
    description: 'shoal up to say the swarm is ready',
  });
  const state = await readStateFile(runDir);
  assert.ok(state, 'the state file exists while the swarm runs');
  assert.equal(state.supervisor.pid, up.child.pid);
  assert.match(up.output().stdout, /swarm ready: 2 peer-nodes/);

  const status = await runShoal(t, runDir, ['--json', 'status'], { timeoutMs: 60_000 });
  assert.equal(status.code, 0, status.stderr);

  up.child.kill('SIGINT');
  const run = await up.done;
  assert.equal(run.code, 0, run.stderr);
  const order = [
    'SIGINT: stopping the swarm',
    'stopping peer-node-0, peer-node-1',
    'stopping piece-store-0',
    'stopping tracker',
    'stopping nats-server',
    'swarm stopped',
  ];
  let at = -1;
  for (const line of order) {
    const next = run.stderr.indexOf(line, at + 1);
    assert.ok(next > at, `"${line}" comes next in:\n${run.stderr}`);
    at = next;
  }
  assert.equal(await readStateFile(runDir), undefined);
  const fileLog = await readFile(join(runDir, 'logs', 'shoal-up.log'), 'utf8');
  assert.match(
    fileLog,
    /swarm ready in .*\n(.*\n)*.*swarm stopped/,
    '--file-log keeps the same lines',
  );
  const pids = [
    state.nats.pid,
    state.tracker!.pid,
    ...state.pieceStores.map((s) => s.pid),
    ...state.peerNodes.map((n) => n.pid),
  ];
  assert.deepEqual(
    pids.filter((pid) => isAlive(pid)),
    [],
  );
});
