// The fleet's NATS messages and selectors (packages/bus/src/fleet.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BusError,
  createFleetSubjects,
  decodeDistributeCommand,
  decodeFleetProgress,
  encodeDistributeCommand,
  encodeFleetProgress,
  encodeNodePresence,
  MAX_DISTRIBUTE_BYTES,
  matchesSelector,
  parseSelector,
} from '@shoal/bus';
import fc from 'fast-check';

test('selectors are ANDed key=value terms; the empty selector matches every node', () => {
  const labels = { zone: 'eu-1', rack: 'r7', node: 'n1', gpu: 'a100' };
  assert.deepEqual(parseSelector(' zone=eu-1 , rack=r7 '), [
    { key: 'zone', value: 'eu-1' },
    { key: 'rack', value: 'r7' },
  ]);
  assert.equal(matchesSelector(labels, ''), true);
  assert.equal(matchesSelector(labels, 'zone=eu-1,rack=r7'), true);
  assert.equal(matchesSelector(labels, 'zone=eu-1,rack=r8'), false);
  assert.equal(matchesSelector(labels, 'team=ml'), false);
  // Inherited properties are not labels.
  assert.equal(matchesSelector(labels, 'constructor=x'), false);
});

test('malformed selectors are refused, naming the term', () => {
  for (const bad of [
    'zone',
    'zone=',
    '=x',
    'Zone=x',
    'zone=a b',
    'a=b,,c=d',
    'x=*',
    `k=${'v'.repeat(64)}`,
  ]) {
    assert.throws(() => parseSelector(bad), BusError, bad);
  }
  assert.throws(
    () => parseSelector(Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')),
    /33 terms/,
  );
});

test('a node matches a selector built from any subset of its labels', () => {
  const key = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/);
  const value = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,10}$/);
  fc.assert(
    fc.property(fc.dictionary(key, value, { minKeys: 1, maxKeys: 8 }), fc.nat(), (labels, seed) => {
      const entries = Object.entries(labels).filter((_, i) => (seed >> i) & 1);
      const selector = entries.map(([k, v]) => `${k}=${v}`).join(',');
      assert.equal(matchesSelector(labels, selector), true);
      const [k, v] = Object.entries(labels)[0]!;
      assert.equal(matchesSelector(labels, `${k}=${v}x`), false);
    }),
  );
});

test('distribute commands and progress reports round-trip and are validated', () => {
  const command = {
    commandId: 'c-1',
    infoHash: 'ab'.repeat(20),
    selector: 'rack=r1',
    at: 1,
  };
  assert.deepEqual(decodeDistributeCommand(encodeDistributeCommand(command)), command);
  assert.throws(() => encodeDistributeCommand({ ...command, selector: 'rack' }), BusError);
  assert.throws(() => encodeDistributeCommand({ ...command, commandId: 'a.b' }), BusError);
  assert.throws(() => decodeDistributeCommand(new TextEncoder().encode('{"commandId":')), BusError);
  assert.throws(
    () => decodeDistributeCommand(new Uint8Array(MAX_DISTRIBUTE_BYTES + 1)),
    /over the/,
  );
  const progress = {
    commandId: 'c-1',
    nodeId: 'n1',
    infoHash: 'ab'.repeat(20),
    state: 'downloading' as const,
    bytesDone: 5,
    bytesTotal: 10,
    rateBytesPerS: 1.5,
    peers: 2,
    bytesFromOrigin: 3,
    bytesFromPeers: 2,
    at: 2,
  };
  assert.deepEqual(decodeFleetProgress(encodeFleetProgress(progress)), progress);
  assert.throws(() => encodeFleetProgress({ ...progress, state: 'bogus' as 'failed' }), BusError);
  assert.throws(
    () =>
      encodeNodePresence({
        nodeId: 'n1',
        labels: { 'Bad Key': 'x' },
        wireIp: '127.0.0.1',
        wirePort: 1,
        torrents: 0,
        downloading: 0,
        seeding: 0,
        uploadedBytes: 0,
        downloadedBytes: 0,
        startedAt: 0,
        at: 0,
      }),
    BusError,
  );
});

test('fleet subjects live under the prefix and refuse wildcard tokens', () => {
  const subjects = createFleetSubjects('shoal.prod');
  assert.equal(subjects.distribute, 'shoal.prod.fleet.distribute');
  assert.equal(subjects.progress('c-1'), 'shoal.prod.fleet.progress.c-1');
  assert.equal(subjects.presence, 'shoal.prod.fleet.presence');
  assert.throws(() => subjects.progress('>'), BusError);
});
