import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import {
  freePort,
  onCleanup,
  parseProcStat,
  requireExecutable,
  startNatsServer,
  startProcess,
  TestkitError,
  TestkitErrorCode,
  treeCpuSeconds,
  waitFor,
} from '@shoal/testkit';

test('freePort returns a port that can be bound', async () => {
  const port = await freePort();
  assert.ok(port > 0 && port < 65536);
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  await new Promise((resolve) => server.close(resolve));
});

test('waitFor returns the first truthy value and times out with a clear message', async () => {
  let calls = 0;
  const value = await waitFor(() => (++calls >= 3 ? `after ${calls}` : undefined), {
    timeoutMs: 2000,
    intervalMs: 5,
  });
  assert.equal(value, 'after 3');
  await assert.rejects(
    waitFor(
      () => {
        throw new Error('still starting');
      },
      { timeoutMs: 60, intervalMs: 10, description: 'the impossible' },
    ),
    (error: unknown) =>
      error instanceof TestkitError &&
      error.code === TestkitErrorCode.Timeout &&
      /the impossible/.test(error.message) &&
      /still starting/.test(error.message),
  );
});

test('onCleanup runs steps last-registered first, all of them', async () => {
  const order: string[] = [];
  let hook: (() => unknown) | undefined;
  const t = { after: (fn: () => unknown) => (hook = fn) };
  onCleanup(t, () => order.push('nats'));
  onCleanup(t, () => {
    order.push('service');
    throw new Error('service stop failed');
  });
  onCleanup(t, () => order.push('client'));
  await assert.rejects(async () => hook?.(), /service stop failed/);
  assert.deepEqual(order, ['client', 'service', 'nats']);
});

test('requireExecutable fails loudly for a missing tool', () => {
  assert.throws(
    () => requireExecutable('shoal-no-such-tool', 'shoal-no-such-package'),
    (error: unknown) =>
      error instanceof TestkitError &&
      error.code === TestkitErrorCode.ToolMissing &&
      /apt-get install -y shoal-no-such-package/.test(error.message),
  );
});

test('startProcess waits for a ready line, captures output and stops the process', async (t) => {
  const child = await startProcess(
    process.execPath,
    [
      '-e',
      'console.log("warming"); setTimeout(() => console.log("READY now"), 50); setInterval(() => {}, 1000)',
    ],
    { ready: /^READY/, t },
  );
  assert.match(child.logs(), /warming\nREADY now/);
  const status = await child.stop();
  assert.equal(status.signal, 'SIGTERM');
  assert.deepEqual(child.exitStatus(), status);
});

test('startProcess reports a process that exits before it is ready, with its output', async () => {
  await assert.rejects(
    startProcess(process.execPath, ['-e', 'console.error("bad config: X"); process.exit(3)'], {
      ready: /never/,
    }),
    (error: unknown) =>
      error instanceof TestkitError &&
      error.code === TestkitErrorCode.StartFailed &&
      /code 3/.test(error.message) &&
      /bad config: X/.test(error.message),
  );
});

test('startProcess reports a missing command', async () => {
  await assert.rejects(
    startProcess('/nonexistent/shoal-binary', []),
    (error: unknown) =>
      error instanceof TestkitError && error.code === TestkitErrorCode.ToolMissing,
  );
});

test('startProcess waits for a URL to answer 2xx', async (t) => {
  const port = await freePort();
  const script = `require('node:http').createServer((q, s) => s.end('ok')).listen(${port}, '127.0.0.1')`;
  const child = await startProcess(process.execPath, ['-e', script], {
    ready: { url: `http://127.0.0.1:${port}/` },
    t,
  });
  const response = await fetch(`http://127.0.0.1:${port}/`);
  assert.equal(await response.text(), 'ok');
  await child.stop();
});

test('nats-server restarts on the same port and keeps its JetStream store', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  assert.equal(nats.url, `nats://127.0.0.1:${nats.port}`);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  onCleanup(t, () => nc.close());
  const kv = await new Kvm(nc).create('testkit');
  await kv.put('answer', '42');

  const reconnected = (async () => {
    for await (const status of nc.status()) if (status.type === 'reconnect') return true;
    return false;
  })();
  await nats.restart({ hard: true });
  assert.equal(await reconnected, true);
  const value = await waitFor(async () => (await kv.get('answer'))?.string(), {
    timeoutMs: 10_000,
    description: 'the KV value after the restart',
  });
  assert.equal(value, '42');
  assert.match(nats.logs(), /Server is ready[\s\S]*Server is ready/);

  await nats.stop();
  assert.equal(existsSync(nats.storeDir), false);
  assert.notEqual(nats.process().exitStatus(), undefined);
});

test('nats-server takes a configuration file, here one that requires a token', async (t) => {
  const nats = await startNatsServer({
    jetstream: false,
    config: 'authorization { token: "testkit-token" }\n',
    t,
  });
  await assert.rejects(connect({ servers: nats.url, timeout: 3000 }), /Authorization/i);
  const nc = await connect({ servers: nats.url, token: 'testkit-token', timeout: 3000 });
  onCleanup(t, () => nc.close());
  // A PING/PONG round trip: the server accepted the token.
  await nc.flush();
  assert.equal(nc.isClosed(), false);
});

test('procstat: a stat line whose command holds spaces and parentheses; CPU of a live tree', async () => {
  const line =
    '4242 (node (x) y) S 7 1 1 0 -1 4194304 10 0 0 0 250 120 30 5 20 0 11 0 100 1000 200';
  const parsed = parseProcStat(line);
  assert.equal(parsed.pid, 4242);
  assert.equal(parsed.ppid, 7);
  assert.equal(parsed.ownTicks, 370);
  assert.equal(parsed.systemTicks, 120);
  assert.equal(parsed.reapedChildTicks, 35);
  const start = Date.now();
  while (Date.now() - start < 50) {
    // Burn a little CPU so this process's own time is above zero.
  }
  const cpu = (await treeCpuSeconds([process.pid])).get(process.pid);
  assert.ok(cpu !== undefined && cpu.total > 0, `CPU of this process: ${JSON.stringify(cpu)}`);
  const gone = (await treeCpuSeconds([2 ** 22 + 1])).get(2 ** 22 + 1);
  assert.deepEqual(gone, { total: 0, system: 0 });
});
