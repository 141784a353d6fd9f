import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PieceStoreHeartbeat } from '@shoal/bus';
import { Membership } from '../src/membership.ts';

function heartbeat(
  replicaId: string,
  overrides: Partial<PieceStoreHeartbeat> = {},
): PieceStoreHeartbeat {
  return {
    replicaId,
    incarnation: '0000000000000001',
    wireIp: '127.0.0.1',
    wirePort: 6881,
    artifacts: 0,
    usedBytes: 0,
    limitBytes: 0,
    ready: true,
    at: 0,
    ...overrides,
  };
}

test('replicas join on their first ready heartbeat and expire after the TTL without one', () => {
  let now = 1000;
  const membership = new Membership({ selfId: 'self', ttlMs: 500, now: () => now });
  assert.deepEqual(membership.liveIds(), ['self']);
  assert.deepEqual(membership.observe(heartbeat('b')), { type: 'joined', replicaId: 'b' });
  assert.equal(membership.observe(heartbeat('b')), undefined, 'a repeat changes nothing');
  assert.deepEqual(membership.observe(heartbeat('a')), { type: 'joined', replicaId: 'a' });
  assert.deepEqual(membership.liveIds(), ['a', 'b', 'self']);
  now += 400;
  membership.observe(heartbeat('a'));
  now += 200; // b last seen 600 ms ago, a 200 ms ago
  assert.deepEqual(membership.expire(), [{ type: 'left', replicaId: 'b', reason: 'expired' }]);
  assert.deepEqual(membership.liveIds(), ['a', 'self']);
  assert.deepEqual(membership.expire(), []);
});

test('a leaving or not-ready heartbeat removes a replica at once; its own echo is ignored', () => {
  const membership = new Membership({ selfId: 'self', ttlMs: 10_000, now: () => 0 });
  assert.equal(membership.observe(heartbeat('self')), undefined);
  assert.equal(
    membership.observe(heartbeat('x', { ready: false })),
    undefined,
    'not ready: not live',
  );
  membership.observe(heartbeat('x'));
  assert.deepEqual(membership.observe(heartbeat('x', { leaving: true })), {
    type: 'left',
    replicaId: 'x',
    reason: 'leaving',
  });
  membership.observe(heartbeat('y'));
  assert.equal(membership.observe(heartbeat('y', { ready: false }))?.type, 'left');
  assert.deepEqual(membership.liveIds(), ['self']);
});

test('a new incarnation (a restart) is reported so its confirmations are forgotten', () => {
  const membership = new Membership({ selfId: 'self', ttlMs: 10_000, now: () => 0 });
  membership.observe(heartbeat('x'));
  assert.deepEqual(membership.observe(heartbeat('x', { incarnation: '0000000000000002' })), {
    type: 'restarted',
    replicaId: 'x',
  });
  assert.equal(membership.get('x')?.heartbeat.incarnation, '0000000000000002');
});
