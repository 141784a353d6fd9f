// The CLI's failures, through the real command: each is one line on stderr starting with
// `shoal: `, no stack trace, and the exit code that names the kind of failure.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { EXIT_CODES, isAlive } from '@shoal/cli';
import {
  defer,
  MiB,
  makeArtifact,
  parseJson,
  publish,
  runShoal,
  type ShoalRun,
  sha256File,
  startSwarm,
  tempDir,
} from './harness.ts';

const UNKNOWN = '0123456789abcdef0123456789abcdef01234567';

/** Exactly one line on stderr, no stack frames, the expected code and message. */
function assertOneLineError(run: ShoalRun, exitCode: number, pattern: RegExp): void {
  const lines = run.stderr.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `one line on stderr, got: ${JSON.stringify(run.stderr)}`);
  const [line] = lines;
  assert.match(line!, /^shoal: /);
  assert.match(line!, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
  assert.equal(run.code, exitCode, `exit code for ${line}`);
}

test('no swarm running: every command says so and exits 3', { timeout: 120_000 }, async (t) => {
  const runDir = join(await tempDir(t), 'none');
  for (const args of [
    ['status'],
    ['down'],
    ['publish', join(import.meta.dirname, 'harness.ts')],
    ['fetch', UNKNOWN],
    ['distribute', UNKNOWN],
    ['--json', 'status'],
  ]) {
    const run = await runShoal(t, runDir, args, { timeoutMs: 30_000 });
    assertOneLineError(run, EXIT_CODES.CLI_NO_SWARM, /no swarm running in /);
    assert.equal(run.stdout, '', `${args.join(' ')} prints nothing on stdout`);
  }
});

test('bad files and bad arguments: exit 6 and 2', { timeout: 120_000 }, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const junk = join(dir, 'junk.torrent');
  await writeFile(junk, 'this is not bencode');
  const cases: [string[], number, RegExp][] = [
    [['publish', join(dir, 'missing.bin')], EXIT_CODES.CLI_BAD_FILE, /missing\.bin: no such file/],
    [['fetch', junk], EXIT_CODES.CLI_BAD_FILE, /junk\.torrent is not a valid \.torrent/],
    [['fetch', join(dir, 'nothing-here')], EXIT_CODES.CLI_BAD_FILE, /no such file/],
    [['fetch', 'magnet:?xt=urn:btih:nothex'], EXIT_CODES.CLI_USAGE, /not a valid magnet link/],
    [['fetch', 'abc123abc123abc123abc123'], EXIT_CODES.CLI_USAGE, /is not an infohash/],
    [['up', '--nodes', 'many'], EXIT_CODES.CLI_USAGE, /--nodes must be an integer/],
    [['up', '--nodes', '500'], EXIT_CODES.CLI_USAGE, /--nodes must be an integer from 0 to 200/],
    [
      ['distribute', UNKNOWN, '--selector', 'no spaces'],
      EXIT_CODES.CLI_USAGE,
      /selector: "no spaces" is not key=value/,
    ],
    [['launch'], EXIT_CODES.CLI_USAGE, /unknown command 'launch'/],
    [['status', '--colour'], EXIT_CODES.CLI_USAGE, /unknown option '--colour'/],
    [['fetch'], EXIT_CODES.CLI_USAGE, /missing required argument 'artifact'/],
  ];
  for (const [args, code, pattern] of cases) {
    const run = await runShoal(t, runDir, args, { timeoutMs: 30_000 });
    assertOneLineError(run, code, pattern);
  }
});

test('a running swarm: fetch, unknown infohash, second up, unreachable services', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  const swarm = await startSwarm(t, { runDir, nodes: 1 });

  for (const args of [
    ['fetch', UNKNOWN],
    ['distribute', UNKNOWN],
  ]) {
    const run = await runShoal(t, runDir, args, { timeoutMs: 60_000 });
    assertOneLineError(
      run,
      EXIT_CODES.CLI_NOT_FOUND,
      new RegExp(`unknown infohash ${UNKNOWN}: no piece-store holds it and no peer has it`),
    );
  }

  const again = await runShoal(t, runDir, ['up', '--detach', '--nodes', '1'], {
    timeoutMs: 60_000,
  });
  assertOneLineError(again, EXIT_CODES.CLI_ALREADY_RUNNING, /a swarm is already running in /);
  assert.equal(swarm.process('tracker').exitStatus(), undefined, 'the running swarm is untouched');

  const artifact = await makeArtifact(join(dir, 'small.bin'), 1 * MiB);
  const published = await publish(t, runDir, artifact.path);

  const fetched = await runShoal(
    t,
    runDir,
    ['--json', 'fetch', published.infoHash, '-o', join(dir, 'fetched')],
    { timeoutMs: 120_000 },
  );
  assert.equal(fetched.code, 0, fetched.stderr);
  const result = parseJson<{ path: string; bytes: number; bytesFromOrigin: number }>(fetched);
  assert.equal(result.path, join(dir, 'fetched', 'small.bin'));
  assert.equal(result.bytes, 1 * MiB);
  assert.equal(result.bytesFromOrigin, 1 * MiB, 'the only source is the origin');
  assert.equal(await sha256File(result.path), artifact.sha256);

  await swarm.kill('peer-node-0');
  const fetch = await runShoal(t, runDir, ['fetch', published.infoHash, '-o', join(dir, 'out')], {
    timeoutMs: 60_000,
  });
  assertOneLineError(fetch, EXIT_CODES.CLI_UNREACHABLE, /cannot reach peer-node node-0 /);

  await swarm.kill('piece-store-0');
  const upload = await runShoal(t, runDir, ['publish', artifact.path], { timeoutMs: 60_000 });
  assertOneLineError(
    upload,
    EXIT_CODES.CLI_UNREACHABLE,
    /cannot reach the piece-store at 127\.0\.0\.1:\d+/,
  );

  await swarm.kill('nats-server');
  const distribute = await runShoal(t, runDir, ['distribute', published.infoHash], {
    timeoutMs: 60_000,
  });
  assertOneLineError(
    distribute,
    EXIT_CODES.CLI_UNREACHABLE,
    /cannot reach NATS at nats:\/\/127\.0\.0\.1:\d+/,
  );
});

test('up after its supervisor was killed: status says so, a new up cleans up and starts', {
  timeout: 300_000,
}, async (t) => {
  const dir = await tempDir(t);
  const runDir = join(dir, 'run');
  defer(t, () => runShoal(t, runDir, ['down'], { timeoutMs: 60_000 }));
  const first = await runShoal(t, runDir, ['--json', 'up', '--detach', '--nodes', '1'], {
    timeoutMs: 180_000,
  });
  assert.equal(first.code, 0, first.stderr);
  const state = JSON.parse(first.stdout) as { supervisor: { pid: number }; nats: { pid: number } };
  // The supervisor dies without cleaning up: its services and state file are left behind.
  process.kill(state.supervisor.pid, 'SIGKILL');
  const status = await runShoal(t, runDir, ['status'], { timeoutMs: 30_000 });
  assertOneLineError(
    status,
    EXIT_CODES.CLI_NO_SWARM,
    /is not running \(its supervisor, pid \d+, is gone\); run shoal down/,
  );

  const second = await runShoal(t, runDir, ['--json', 'up', '--detach', '--nodes', '1'], {
    timeoutMs: 180_000,
  });
  assert.equal(second.code, 0, second.stderr);
  const fresh = JSON.parse(second.stdout) as { nats: { pid: number } };
  assert.notEqual(fresh.nats.pid, state.nats.pid);
  assert.equal(isAlive(state.nats.pid), false, 'the old nats-server was stopped');
  const down = await runShoal(t, runDir, ['down'], { timeoutMs: 60_000 });
  assert.equal(down.code, 0, down.stderr);
});
