import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  counter,
  createLogger,
  createMetricsRegistry,
  envBool,
  envEnum,
  envInt,
  envNatsUrls,
  envNumber,
  envPort,
  envString,
  gauge,
  loadConfig,
  Readiness,
  ServiceKitError,
  ServiceKitErrorCode,
  startHttpServer,
} from '@shoal/service-kit';
import { startProcess } from '@shoal/testkit';
import { z } from 'zod';

const Schema = z.object({
  NAME: envString({ pattern: /^[a-z]+$/, describe: 'must be lowercase letters' }),
  COUNT: envInt({ min: 1, max: 10, default: 3 }),
  RATIO: envNumber({ min: 0, max: 1, default: 0.5 }),
  PORT: envPort({ default: 8080 }),
  VERBOSE: envBool({ default: false }),
  MODE: envEnum(['fast', 'safe'] as const, { default: 'safe' }),
  NATS: envNatsUrls({ default: 'nats://127.0.0.1:4222' }),
  API_TOKEN: envString({ default: 'none' }),
});

test('loadConfig parses, applies defaults, and treats empty strings as unset', () => {
  const config = loadConfig(Schema, {
    NAME: 'abc',
    COUNT: '',
    VERBOSE: 'YES',
    NATS: 'nats://a:1, tls://b:2',
  });
  assert.deepEqual(config, {
    NAME: 'abc',
    COUNT: 3,
    RATIO: 0.5,
    PORT: 8080,
    VERBOSE: true,
    MODE: 'safe',
    NATS: ['nats://a:1', 'tls://b:2'],
    API_TOKEN: 'none',
  });
});

test('loadConfig lists every bad or missing variable in one error, hiding secrets', () => {
  assert.throws(
    () =>
      loadConfig(
        Schema,
        {
          COUNT: '11',
          RATIO: 'half',
          PORT: '0',
          VERBOSE: 'maybe',
          MODE: 'turbo',
          NATS: 'localhost',
          API_TOKEN: '',
          APP_TYPO: '1',
        },
        { rejectUnknownWithPrefix: 'APP_' },
      ),
    (error: unknown) => {
      assert.ok(error instanceof ServiceKitError);
      assert.equal(error.code, ServiceKitErrorCode.InvalidConfig);
      const lines = error.message.split('\n');
      assert.equal(lines[0], 'invalid configuration, 8 problems:');
      assert.match(error.message, /APP_TYPO: not a known variable/);
      assert.match(error.message, /NAME: required \(unset\)/);
      assert.match(error.message, /COUNT: must be at most 10 \(got "11"\)/);
      assert.match(error.message, /RATIO: must be a number \(got "half"\)/);
      assert.match(error.message, /PORT: must be at least 1 \(got "0"\)/);
      assert.match(error.message, /VERBOSE: must be true or false/);
      assert.match(error.message, /MODE: must be one of fast, safe/);
      assert.match(error.message, /NATS: must be comma-separated nats:\/\/host:port URLs/);
      return true;
    },
  );
  assert.throws(
    () =>
      loadConfig(z.object({ DB_PASSWORD: envInt({ min: 0, max: 1 }) }), { DB_PASSWORD: 'hunter2' }),
    (error: unknown) =>
      error instanceof Error &&
      /value hidden/.test(error.message) &&
      !/hunter2/.test(error.message),
  );
});

test('the logger writes one JSON object per line with service, level name and ISO time', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const logger = createLogger({
    service: 'svc',
    level: 'info',
    destination,
    base: { replica: 'r1' },
  });
  logger.debug('hidden');
  logger.info({ port: 1 }, 'listening');
  assert.equal(lines.length, 1);
  const entry = JSON.parse(lines[0]!);
  assert.equal(entry.level, 'info');
  assert.equal(entry.service, 'svc');
  assert.equal(entry.replica, 'r1');
  assert.equal(entry.msg, 'listening');
  assert.equal(entry.port, 1);
  assert.ok(!Number.isNaN(Date.parse(entry.time)));
});

test('HTTP server: health, readiness, metrics, routes with the raw query, errors', async (t) => {
  const registry = createMetricsRegistry({ prefix: 'test_', defaultLabels: { replica: 'x' } });
  const hits = counter(registry, 'test_hits_total', 'hits', ['route'] as const);
  gauge(registry, 'test_answer', 'answer', [], (g) => g.set(42));
  const readiness = new Readiness();
  const logger = createLogger({ service: 'test', level: 'silent' });
  const http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry,
    readiness,
    logger,
    routes: {
      '/echo': (_req, res, target) => {
        hits.inc({ route: 'echo' });
        res.end(target.rawQuery);
      },
      '/boom': () => {
        throw new Error('boom');
      },
    },
  });
  t.after(() => http.close());

  assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
  assert.equal((await fetch(`${http.url}/readyz`)).status, 503, 'no condition yet: not ready');
  readiness.set('nats', true);
  readiness.set('kv', false, 'binding');
  const notReady = await fetch(`${http.url}/readyz`);
  assert.equal(notReady.status, 503);
  assert.deepEqual(await notReady.json(), {
    ready: false,
    checks: { nats: { ok: true }, kv: { ok: false, detail: 'binding' } },
  });
  readiness.set('kv', true);
  assert.equal((await fetch(`${http.url}/readyz`)).status, 200);

  assert.equal(
    await (await fetch(`${http.url}/echo?info_hash=%00%ff+x`)).text(),
    'info_hash=%00%ff+x',
  );
  const metrics = await (await fetch(`${http.url}/metrics`)).text();
  assert.match(metrics, /test_hits_total\{route="echo",replica="x"\} 1/);
  assert.match(metrics, /test_answer\{replica="x"\} 42/);
  assert.match(metrics, /test_process_resident_memory_bytes/);
  assert.equal((await fetch(`${http.url}/boom`)).status, 500);
  assert.equal((await fetch(`${http.url}/missing`)).status, 404);
  assert.equal((await fetch(`${http.url}/healthz`, { method: 'DELETE' })).status, 405);
  assert.equal((await fetch(`${http.url}/echo?${'x'.repeat(9000)}`)).status, 414);

  await assert.rejects(
    startHttpServer({ host: '127.0.0.1', port: http.port, registry, readiness, logger }),
    (error: unknown) =>
      error instanceof ServiceKitError && error.code === ServiceKitErrorCode.ListenFailed,
  );
});

const child = fileURLToPath(new URL('./fixtures/shutdown-child.ts', import.meta.url));

test('graceful shutdown runs steps in reverse order on SIGTERM, then exits 0', async (t) => {
  const proc = await startProcess(process.execPath, ['--conditions=source', child], {
    ready: /^ready$/,
    t,
  });
  proc.kill('SIGTERM');
  assert.deepEqual(await proc.exited, { code: 0, signal: null });
  assert.match(proc.logs(), /step second\nstep first/);
});

test('a failing step still lets the others run, and the exit code says so', async (t) => {
  const proc = await startProcess(process.execPath, ['--conditions=source', child], {
    ready: /^ready$/,
    env: { FAIL_STEP: 'second' },
    t,
  });
  proc.kill('SIGINT');
  assert.deepEqual(await proc.exited, { code: 1, signal: null });
  assert.match(proc.logs(), /step second[\s\S]*step first/);
});

test('a hanging step is cut short by the timeout', async (t) => {
  const proc = await startProcess(process.execPath, ['--conditions=source', child], {
    ready: /^ready$/,
    env: { HANG: '1' },
    t,
  });
  const started = Date.now();
  proc.kill('SIGTERM');
  assert.deepEqual(await proc.exited, { code: 1, signal: null });
  assert.ok(Date.now() - started < 5000);
  assert.match(proc.logs(), /shutdown timed out/);
});
