// The benchmark's test network, checked cheaply in CI: two namespaces on a shaped bridge carry
// 1 MiB at the link rate, and tearing down (or cleaning up after a killed run) leaves no
// namespace, link or process behind. Needs root, like the benchmark.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { isAlive } from '@shoal/cli';
import { waitFor } from '@shoal/testkit';
import {
  checkNetworkSupport,
  cleanupLeftovers,
  listLeftovers,
  NAME_PREFIX,
  run,
  TestNetwork,
} from './netns.ts';

const MiB = 1024 * 1024;
const RATE = 20e6;

/** Serves 1 MiB of zeros on port 8000 of the namespace it runs in. */
const SERVER = `
const body = Buffer.alloc(${MiB});
require('node:http').createServer((req, res) => res.end(req.url === '/ready' ? 'ok' : body))
  .listen(8000, process.argv[1]);`;

test('a shaped network carries 1 MiB at its link rate and is gone after destroy()', async (t) => {
  await checkNetworkSupport();
  const network = await TestNetwork.create({ hosts: 2, rateBitsPerS: RATE });
  t.after(() => network.destroy(1000));
  const [origin, host] = [network.hosts[0]!, network.hosts[1]!];
  assert.match(await network.shaping(host), /tbf .*rate 20Mbit.*\| qdisc tbf .*rate 20Mbit/);

  const server = await network.spawn(origin, process.execPath, ['-e', SERVER, origin.ip], {
    name: 'server',
    ready: { url: `http://${origin.ip}:8000/ready` },
  });
  const txBefore = await network.txBytes(origin);
  const fetched = await network.exec(
    host,
    'curl',
    [
      '-sS',
      '--fail',
      '-o',
      '/dev/null',
      '-w',
      '%{size_download} %{time_total}',
      `http://${origin.ip}:8000/`,
    ],
    { timeoutMs: 30_000 },
  );
  assert.equal(fetched.code, 0, fetched.stderr);
  const [size, seconds] = fetched.stdout.trim().split(' ').map(Number);
  assert.equal(size, MiB);
  // 1 MiB at 20 Mbit/s takes 0.42 s; unshaped it would take a few milliseconds.
  const ideal = (MiB * 8) / RATE;
  assert.ok(seconds! > 0.8 * ideal, `1 MiB took ${seconds} s, faster than the link allows`);
  assert.ok(seconds! < 10 * ideal, `1 MiB took ${seconds} s`);
  assert.ok((await network.txBytes(origin)) - txBefore >= MiB);

  await network.destroy(1000);
  assert.equal(server.exitStatus() !== undefined, true, 'the server was stopped');
  const left = await listLeftovers();
  assert.deepEqual(
    left.namespaces.filter((ns) => ns.startsWith(`${network.owner}-`)),
    [],
  );
  assert.deepEqual(
    left.links.filter((link) => link.owner === network.owner),
    [],
  );
  assert.equal(TestNetwork.live().includes(network), false);
});

test('cleanupLeftovers removes what a killed run left: namespaces, bridge, processes', async (t) => {
  await checkNetworkSupport();
  // Above the kernel's largest pid (2^22), so the owner is certainly dead; unique per test run.
  const owner = `${NAME_PREFIX}${2 ** 22 + (process.pid % 100_000)}-0`;
  const namespace = `${owner}-0`;
  const bridge = `sbl${process.pid.toString(36)}`;
  t.after(async () => {
    await run('ip', ['netns', 'del', namespace]).catch(() => {});
    await run('ip', ['link', 'del', bridge]).catch(() => {});
  });
  await run('ip', ['netns', 'add', namespace]);
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['link', 'set', bridge, 'alias', owner]);
  const sleeper = spawn('ip', ['netns', 'exec', namespace, 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => sleeper.kill('SIGKILL'));
  await waitFor(async () => (await run('ip', ['netns', 'pids', namespace])).stdout.trim() !== '', {
    timeoutMs: 5000,
    description: 'sleep to run in the namespace',
  });

  // Another run's clean-up may get there first; what counts is that nothing is left.
  await cleanupLeftovers();
  const left = await listLeftovers();
  assert.equal(left.namespaces.includes(namespace), false);
  assert.equal(
    left.links.some((link) => link.owner === owner),
    false,
  );
  await waitFor(() => sleeper.exitCode !== null || sleeper.signalCode !== null, {
    timeoutMs: 5000,
    description: 'the process in the namespace to be killed',
  });
  assert.equal(isAlive(sleeper.pid!), false);
});

test('leftovers of a live run are kept unless asked', async (t) => {
  await checkNetworkSupport();
  const network = await TestNetwork.create({ hosts: 2 });
  t.after(() => network.destroy(1000));
  const removed = await cleanupLeftovers();
  assert.equal(
    removed.namespaces.some((ns) => ns.startsWith(`${network.owner}-`)),
    false,
  );
  const left = await listLeftovers();
  assert.equal(left.namespaces.filter((ns) => ns.startsWith(`${network.owner}-`)).length, 2);
});
