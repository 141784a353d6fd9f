import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CliError, CliErrorCode } from '../src/errors.ts';
import { isAlive, readCmdline, sameProcess, terminatePid, waitForExit } from '../src/processes.ts';
import {
  readRunningSwarm,
  readStateFile,
  removeStateFile,
  type SwarmState,
  stateFilePath,
  writeStateFile,
} from '../src/state.ts';

async function tempDir(t: test.TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function sampleState(runDir: string, supervisorPid: number): SwarmState {
  return {
    version: 1,
    runDir,
    supervisor: { pid: supervisorPid },
    startedAt: 1,
    ready: true,
    subjectPrefix: 'shoal',
    nats: {
      name: 'nats-server',
      pid: 1,
      logFile: 'n.log',
      url: 'nats://127.0.0.1:1',
      port: 1,
      storeDir: 's',
    },
    pieceStores: [],
    peerNodes: [],
  };
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CliError);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

test('state file round trip; the running swarm needs a live supervisor', async (t) => {
  const dir = await tempDir(t);
  assert.equal(await readStateFile(dir), undefined);
  await rejectsWith(
    readRunningSwarm(dir),
    CliErrorCode.NoSwarm,
    /no swarm running in .*shoal up --detach/,
  );

  await writeStateFile(sampleState(dir, process.pid));
  assert.deepEqual(await readStateFile(dir), sampleState(dir, process.pid));
  assert.equal((await readRunningSwarm(dir)).supervisor.pid, process.pid);

  const gone = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => gone.once('exit', resolve));
  await writeStateFile(sampleState(dir, gone.pid!));
  await rejectsWith(
    readRunningSwarm(dir),
    CliErrorCode.NoSwarm,
    /is not running \(its supervisor, pid \d+, is gone\)/,
  );

  await writeStateFile({ ...sampleState(dir, process.pid), ready: false });
  await rejectsWith(readRunningSwarm(dir), CliErrorCode.NoSwarm, /still starting/);

  await removeStateFile(dir);
  assert.equal(await readStateFile(dir), undefined);
});

test('a garbage state file is refused with a hint, never trusted', async (t) => {
  const dir = await tempDir(t);
  await writeFile(stateFilePath(dir), '{"version": 1');
  await rejectsWith(readStateFile(dir), CliErrorCode.NoSwarm, /is not valid JSON; remove it/);
  await writeFile(stateFilePath(dir), '{"version": 2}');
  await rejectsWith(readStateFile(dir), CliErrorCode.NoSwarm, /is not a shoal swarm state file/);
});

test('terminatePid: SIGTERM, then SIGKILL for a process that ignores it', async () => {
  const stubborn = spawn(
    process.execPath,
    ['-e', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000); console.log('up')"],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  await new Promise((resolve) => stubborn.stdout.once('data', resolve));
  const entry = { pid: stubborn.pid!, cmdline: readCmdline(stubborn.pid!) };
  assert.ok(isAlive(entry.pid));
  const exited = new Promise((resolve) =>
    stubborn.once('exit', (_code, signal) => resolve(signal)),
  );
  const started = Date.now();
  await terminatePid(entry, 300);
  assert.equal(await exited, 'SIGKILL');
  assert.ok(Date.now() - started >= 300);
  assert.equal(await waitForExit(entry.pid, 1000), true);
});

test('a pid that now runs another program is not signalled', async () => {
  const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
  await new Promise((resolve) => other.once('spawn', resolve));
  const recorded = { pid: other.pid!, cmdline: 'some-other-program\0' };
  assert.equal(sameProcess(recorded), false);
  await terminatePid(recorded, 100);
  assert.equal(isAlive(other.pid!), true);
  other.kill('SIGKILL');
  await new Promise((resolve) => other.once('exit', resolve));
});
