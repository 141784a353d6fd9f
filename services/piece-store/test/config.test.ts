import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { startProcess } from '@shoal/testkit';
import { loadPieceStoreConfig } from '../src/config.ts';
import { serviceDir } from './helpers.ts';

test('defaults fill every setting; explicit values are parsed', () => {
  const defaults = loadPieceStoreConfig({});
  assert.equal(defaults.replicas, 2);
  assert.equal(defaults.grpc.port, 7070);
  assert.equal(defaults.verify, 'sample');
  assert.equal(defaults.maxBytes, 0);
  assert.equal(defaults.ingestRoot, undefined);
  const set = loadPieceStoreConfig({
    SHOAL_DATA_DIR: '/srv/ps',
    SHOAL_PIECE_STORE_REPLICAS: '3',
    SHOAL_PIECE_STORE_MAX_BYTES: '1073741824',
    SHOAL_PIECE_STORE_VERIFY: 'full',
    SHOAL_PIECE_STORE_ZONE: 'eu-1',
    SHOAL_NATS_URL: 'nats://a:4222,nats://b:4222',
  });
  assert.equal(set.dataDir, '/srv/ps');
  assert.equal(set.replicas, 3);
  assert.equal(set.maxBytes, 1073741824);
  assert.equal(set.verify, 'full');
  assert.deepEqual(set.labels, { zone: 'eu-1' });
  assert.deepEqual(set.natsUrls, ['nats://a:4222', 'nats://b:4222']);
});

test('bad values, unknown variables and contradictions are refused by name', () => {
  assert.throws(
    () =>
      loadPieceStoreConfig({
        SHOAL_PIECE_STORE_REPLICAS: '0',
        SHOAL_PIECE_STORE_VERIFY: 'sometimes',
        SHOAL_PIECE_STORE_GRPC_PROT: '1',
      }),
    (error: Error) =>
      /SHOAL_PIECE_STORE_REPLICAS/.test(error.message) &&
      /SHOAL_PIECE_STORE_VERIFY/.test(error.message) &&
      /SHOAL_PIECE_STORE_GRPC_PROT: not a known variable/.test(error.message),
  );
  assert.throws(
    () =>
      loadPieceStoreConfig({
        SHOAL_PIECE_STORE_HEARTBEAT_MS: '2000',
        SHOAL_PIECE_STORE_REPLICA_TTL_MS: '3000',
      }),
    /REPLICA_TTL_MS must be at least twice/,
  );
  assert.throws(() => loadPieceStoreConfig({ SHOAL_PIECE_STORE_RACK: 'a b' }), /RACK/);
});

test('the process exits with code 2 and a clear message on bad configuration', async (t) => {
  const proc = await startProcess(
    process.execPath,
    ['--conditions=source', join(serviceDir, 'src/main.ts')],
    { env: { SHOAL_PIECE_STORE_GRPC_PORT: 'seventy' }, t },
  );
  const exit = await proc.exited;
  assert.equal(exit.code, 2);
  assert.match(proc.logs(), /SHOAL_PIECE_STORE_GRPC_PORT: must be an integer/);
});
