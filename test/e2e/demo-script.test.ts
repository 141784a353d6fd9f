// scripts/demo.sh, the README's first command, with a small artifact: it ends with the summary,
// runs twice in a row, and stops its swarm when interrupted.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isAlive, readStateFile } from '@shoal/cli';
import { waitFor } from '@shoal/testkit';
import { defer, MiB, tempDir } from './harness.ts';

const DEMO = fileURLToPath(new URL('../../scripts/demo.sh', import.meta.url));

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo in its own process group, as a terminal would, killed after `timeoutMs`. */
function startDemo(t: test.TestContext, runDir: string, timeoutMs: number) {
  const child = spawn('bash', [DEMO], {
    env: {
      ...process.env,
      SHOAL_DEMO_BYTES: String(8 * MiB),
      SHOAL_DEMO_NODES: '3',
      SHOAL_DEMO_DIR: runDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const kill = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  const timer = setTimeout(kill, timeoutMs);
  const done = new Promise<DemoRun>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) kill();
    await done;
  });
  return { child, done, output: () => output };
}

test('demo.sh prints the summary, and runs twice in a row', { timeout: 600_000 }, async (t) => {
  const runDir = join(await tempDir(t), 'demo');
  for (const attempt of [1, 2]) {
    const run = await startDemo(t, runDir, 280_000).done;
    assert.equal(run.code, 0, `run ${attempt} failed:\n${run.output.slice(-4000)}`);
    assert.match(run.output, /artifact\s+8\.0 MiB, sha256 verified on 3 of 3 nodes/);
    assert.match(run.output, /wall time\s+[\d.]+ s/);
    assert.match(run.output, /aggregate throughput\s+[\d.]+ MiB\/s/);
    assert.match(run.output, /origin sent\s+[\d.]+ MiB = [\d.]+ copies of the file/);
    assert.match(run.output, /origin offload\s+[\d.]+% of the bytes came from peers/);
    assert.match(run.output, /stopped the swarm in /);
    assert.equal(await readStateFile(runDir), undefined, `run ${attempt} left no swarm behind`);
    assert.equal(existsSync(join(runDir, 'peer-node-0')), false, 'the copies are removed');
    assert.equal(existsSync(join(runDir, 'logs', 'peer-node-0.log')), true, 'the logs are kept');
  }
});

test('demo.sh stops its swarm when interrupted', { timeout: 300_000 }, async (t) => {
  const runDir = join(await tempDir(t), 'demo');
  const demo = startDemo(t, runDir, 280_000);
  const state = await waitFor(() => readStateFile(runDir).catch(() => undefined), {
    timeoutMs: 240_000,
    intervalMs: 100,
    description: 'the demo swarm to be up',
  });
  // Ctrl-C reaches every process of the terminal's foreground group.
  process.kill(-demo.child.pid!, 'SIGINT');
  const run = await demo.done;
  assert.notEqual(run.code, 0, 'an interrupted demo does not report success');
  assert.match(run.output, /stopping the swarm/);
  assert.equal(existsSync(join(runDir, 'swarm.json')), false, run.output.slice(-3000));
  assert.equal(isAlive(state.supervisor.pid), false, 'the supervisor is gone');
  assert.deepEqual(
    state.peerNodes.map((node) => node.pid).filter((pid) => isAlive(pid)),
    [],
    'no peer-node is left',
  );
});
