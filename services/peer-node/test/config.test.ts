import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPeerNodeConfig } from '../src/config.ts';
import { PeerNodeError, PeerNodeErrorCode } from '../src/errors.ts';
import { parseSeedingPolicy } from '../src/seeding-policy.ts';

const base = { SHOAL_DATA_DIR: '/var/lib/shoal/test', SHOAL_NODE_ID: 'n1' };

test('defaults fill every setting; the socket lives in the data directory', () => {
  const config = loadPeerNodeConfig(base);
  assert.deepEqual(config.natsServers, ['nats://127.0.0.1:4222']);
  assert.equal(config.grpcSocket, '/var/lib/shoal/test/peer-node.sock');
  assert.equal(config.grpcAddress, undefined);
  assert.equal(config.distributeDir, '/var/lib/shoal/test/artifacts');
  assert.equal(config.wire.port, 6881);
  assert.equal(config.http.port, 7072);
  assert.equal(config.seedingPolicy.name, 'while-needed');
  assert.equal(config.uploadRateLimit, 0);
  assert.equal(config.maxConnections, 200);
  assert.equal(config.unchokeSlots, 8);
  assert.equal(loadPeerNodeConfig({ ...base, SHOAL_UNCHOKE_SLOTS: '4' }).unchokeSlots, 4);
  assert.deepEqual(config.labels, { node: 'n1' });
});

test('labels come from SHOAL_ZONE/RACK/HOST and SHOAL_LABELS; the node id is a label', () => {
  const config = loadPeerNodeConfig({
    ...base,
    SHOAL_ZONE: 'eu-1',
    SHOAL_RACK: 'r7',
    SHOAL_LABELS: 'gpu=a100, team=ml ,zone=eu-1',
  });
  assert.deepEqual(config.labels, {
    gpu: 'a100',
    team: 'ml',
    zone: 'eu-1',
    rack: 'r7',
    node: 'n1',
  });
});

test('SHOAL_HOST names the node when SHOAL_NODE_ID is not set', () => {
  const config = loadPeerNodeConfig({ SHOAL_DATA_DIR: '/d', SHOAL_HOST: 'web-3' });
  assert.equal(config.nodeId, 'web-3');
  assert.equal(config.labels.host, 'web-3');
});

test('every bad variable is named in one error', () => {
  let error: unknown;
  try {
    loadPeerNodeConfig({
      ...base,
      SHOAL_LABELS: 'BAD=1,novalue',
      SHOAL_SEEDING_POLICY: 'ratio:-1',
      SHOAL_DATA_DIR: 'relative',
      SHOAL_WIRE_PORT: 'x',
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof PeerNodeError);
  assert.equal(error.code, PeerNodeErrorCode.InvalidConfig);
  for (const expected of [
    '"BAD=1" is not key=value',
    '"novalue" is not key=value',
    'SHOAL_SEEDING_POLICY: seeding policy "ratio:-1"',
    'SHOAL_DATA_DIR: must be an absolute path',
    'SHOAL_WIRE_PORT: must be an integer',
  ]) {
    assert.ok(error.message.includes(expected), `mentions ${expected}: ${error.message}`);
  }
});

test('contradicting variables are named in one error', () => {
  let error: unknown;
  try {
    loadPeerNodeConfig({
      ...base,
      SHOAL_ZONE: 'a',
      SHOAL_LABELS: 'zone=b,node=other',
      SHOAL_MAX_CONNECTIONS: '10',
      SHOAL_MAX_CONNECTIONS_PER_TORRENT: '20',
      SHOAL_GRPC_SOCKET: `/tmp/${'x'.repeat(120)}.sock`,
    });
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof PeerNodeError);
  for (const expected of [
    'SHOAL_ZONE (a) contradicts zone=b',
    'node=other contradicts the node id n1',
    'SHOAL_MAX_CONNECTIONS_PER_TORRENT (20) exceeds SHOAL_MAX_CONNECTIONS (10)',
    'longer than the 107 bytes',
  ]) {
    assert.ok(error.message.includes(expected), `mentions ${expected}: ${error.message}`);
  }
});

test('malformed values are refused by the schema', () => {
  for (const [name, value] of [
    ['SHOAL_WIRE_PORT', '70000'],
    ['SHOAL_NATS_URL', 'http://x'],
    ['SHOAL_GRPC_ADDRESS', 'nohostport'],
    ['SHOAL_DATA_DIR', 'relative/dir'],
    ['SHOAL_ADVERTISE_IP', 'not-an-ip'],
    ['SHOAL_UPLOAD_RATE_LIMIT', '-5'],
    ['SHOAL_UNCHOKE_SLOTS', '0'],
  ] as const) {
    assert.throws(
      () => loadPeerNodeConfig({ ...base, [name]: value }),
      (error: unknown) => error instanceof PeerNodeError && error.message.includes(name),
      name,
    );
  }
});

test('seeding policies: unknown names and bad numbers fail at start-up', () => {
  for (const text of [
    'sometimes',
    'time:',
    'time:1.5',
    'ratio:0',
    'ratio:x',
    'forever:1',
    'time:1:2',
  ]) {
    assert.throws(() => parseSeedingPolicy(text, 300), PeerNodeError, text);
  }
  assert.equal(parseSeedingPolicy('time:3600', 0).name, 'time:3600');
  assert.equal(parseSeedingPolicy('ratio:1.5', 0).name, 'ratio:1.5');
});

test('while-needed seeds while leechers remain, then for the grace period, and says why', () => {
  const policy = parseSeedingPolicy('while-needed', 60);
  const facts = {
    now: 1_000_000,
    completedAt: 900_000,
    uploaded: 0,
    size: 100,
    lastLeecherAt: undefined,
  };
  assert.deepEqual(policy.decide({ ...facts, leechers: undefined }), {
    seed: true,
    reason: 'while-needed: waiting for the tracker to report leechers',
  });
  assert.deepEqual(policy.decide({ ...facts, leechers: 3 }), {
    seed: true,
    reason: 'while-needed: 3 leechers still downloading',
  });
  // Last leecher seen 30 s ago: 30 s of grace left.
  const grace = policy.decide({ ...facts, leechers: 0, lastLeecherAt: 970_000 });
  assert.deepEqual(grace, {
    seed: true,
    reason: 'while-needed: no leechers; grace period ends in 30 s',
  });
  const over = policy.decide({ ...facts, leechers: 0, lastLeecherAt: 930_000 });
  assert.deepEqual(over, {
    seed: false,
    reason: 'while-needed: no leechers for the 60 s grace period',
  });
});

test('time and ratio policies count from completion and against the size', () => {
  const time = parseSeedingPolicy('time:10', 0);
  const facts = { completedAt: 0, uploaded: 0, size: 1000, leechers: 5, lastLeecherAt: 0 };
  assert.equal(time.decide({ ...facts, now: 9_000 }).seed, true);
  assert.equal(time.decide({ ...facts, now: 10_000 }).seed, false);
  const ratio = parseSeedingPolicy('ratio:2', 0);
  assert.equal(ratio.decide({ ...facts, now: 0, uploaded: 1999 }).seed, true);
  assert.deepEqual(ratio.decide({ ...facts, now: 0, uploaded: 2000 }), {
    seed: false,
    reason: 'ratio:2: uploaded 2.00 copies, target reached',
  });
  assert.equal(
    parseSeedingPolicy('forever', 0).decide({ ...facts, now: 1e12, leechers: 0 }).seed,
    true,
  );
});
