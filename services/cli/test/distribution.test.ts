import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FleetProgress } from '@shoal/bus';
import fc from 'fast-check';
import { DistributionTracker } from '../src/distribution.ts';

const SIZE = 1000;

function report(nodeId: string, fields: Partial<FleetProgress>): FleetProgress {
  return {
    commandId: 'c1',
    nodeId,
    infoHash: 'a'.repeat(40),
    state: 'downloading',
    bytesDone: 0,
    bytesTotal: SIZE,
    rateBytesPerS: 0,
    peers: 0,
    bytesFromOrigin: 0,
    bytesFromPeers: 0,
    at: 0,
    ...fields,
  };
}

test('done once every expected node completes; summary adds up', () => {
  const tracker = new DistributionTracker({
    startedMs: 0,
    stallMs: 10_000,
    expected: ['n1', 'n2'],
    sizeHint: SIZE,
  });
  assert.equal(tracker.done(), false);
  tracker.report(
    report('n1', {
      state: 'downloading',
      bytesDone: 400,
      rateBytesPerS: 100,
      bytesFromOrigin: 400,
    }),
    1000,
  );
  tracker.report(
    report('n2', { state: 'downloading', bytesDone: 100, rateBytesPerS: 50, bytesFromOrigin: 100 }),
    1000,
  );
  const snapshot = tracker.snapshot();
  assert.deepEqual(snapshot, {
    bytesDone: 500,
    bytesTotal: 2000,
    nodesDone: 0,
    nodesTotal: 2,
    rateBytesPerS: 150,
    slowest: { nodeId: 'n2', fraction: 0.1 },
  });
  tracker.report(
    report('n1', {
      state: 'complete',
      bytesDone: SIZE,
      bytesFromOrigin: 600,
      bytesFromPeers: 400,
      path: '/a',
    }),
    4000,
  );
  tracker.report(
    report('n2', {
      state: 'complete',
      bytesDone: SIZE,
      bytesFromOrigin: 250,
      bytesFromPeers: 750,
      path: '/b',
    }),
    5000,
  );
  assert.equal(tracker.done(), true);
  const summary = tracker.summary(9000);
  assert.equal(summary.complete, 2);
  assert.equal(summary.wallSeconds, 5, 'wall time ends at the last completion, not at "now"');
  assert.equal(summary.bytesDelivered, 2 * SIZE);
  assert.equal(summary.throughputBytesPerS, 400);
  assert.equal(summary.bytesFromOrigin, 850);
  assert.equal(summary.bytesFromPeers, 1150);
  assert.equal(summary.originOffloadPercent, 57.5);
  assert.deepEqual(
    summary.nodes.map((node) => [node.nodeId, node.state, node.seconds, node.path]),
    [
      ['n1', 'complete', 4, '/a'],
      ['n2', 'complete', 5, '/b'],
    ],
  );
});

test('a silent node is lost after the stall timeout; one that reports again comes back', () => {
  const tracker = new DistributionTracker({ startedMs: 0, stallMs: 5000, expected: ['n1', 'n2'] });
  tracker.report(report('n1', { bytesDone: 10 }), 1000);
  tracker.checkStalls(5500);
  const states = () =>
    Object.fromEntries(tracker.summary(6000).nodes.map((n) => [n.nodeId, n.state]));
  assert.deepEqual(states(), { n1: 'downloading', n2: 'lost' });
  tracker.checkStalls(6001);
  assert.deepEqual(states(), { n1: 'lost', n2: 'lost' });
  assert.equal(tracker.done(), true);
  tracker.report(report('n2', { bytesDone: 20 }), 7000);
  assert.equal(tracker.done(), false);
  assert.deepEqual(states(), { n1: 'lost', n2: 'downloading' });
});

test('leaving marks a node lost; final states are not overwritten; late joiners count', () => {
  const tracker = new DistributionTracker({
    startedMs: 0,
    stallMs: 60_000,
    expected: ['n1', 'n2'],
  });
  tracker.report(report('n1', { state: 'failed', error: 'disk full' }), 100);
  tracker.report(report('n1', { state: 'downloading' }), 200);
  tracker.leaving('n2', 300);
  tracker.report(report('n3', { state: 'accepted' }), 400);
  const summary = tracker.summary(500);
  assert.deepEqual(
    summary.nodes.map((node) => [node.nodeId, node.state, node.error]),
    [
      ['n1', 'failed', 'disk full'],
      ['n2', 'lost', 'the node shut down'],
      ['n3', 'accepted', undefined],
    ],
  );
  assert.equal(tracker.done(), false);
  assert.equal(summary.failed, 1);
  assert.equal(summary.lost, 1);
});

test('snapshot and summary stay within bounds for any sequence of reports', () => {
  const arbitraryReport = fc.record({
    node: fc.constantFrom('a', 'b', 'c'),
    state: fc.constantFrom(
      'accepted',
      'metadata',
      'downloading',
      'verifying',
      'complete',
      'failed',
    ),
    done: fc.integer({ min: 0, max: SIZE }),
    origin: fc.integer({ min: 0, max: SIZE }),
    peers: fc.integer({ min: 0, max: SIZE }),
    at: fc.integer({ min: 0, max: 100_000 }),
  });
  fc.assert(
    fc.property(fc.array(arbitraryReport, { maxLength: 40 }), (reports) => {
      const tracker = new DistributionTracker({
        startedMs: 0,
        stallMs: 30_000,
        expected: ['a'],
        sizeHint: SIZE,
      });
      let now = 0;
      for (const r of reports) {
        now += r.at % 5000;
        tracker.report(
          report(r.node, {
            state: r.state as FleetProgress['state'],
            bytesDone: r.done,
            bytesFromOrigin: r.origin,
            bytesFromPeers: r.peers,
          }),
          now,
        );
        tracker.checkStalls(now);
      }
      const snapshot = tracker.snapshot();
      assert.ok(snapshot.bytesDone <= snapshot.bytesTotal);
      assert.ok(snapshot.nodesDone <= snapshot.nodesTotal);
      const summary = tracker.summary(now);
      assert.ok(summary.originOffloadPercent >= 0 && summary.originOffloadPercent <= 100);
      assert.equal(summary.complete + summary.failed + summary.lost <= summary.nodes.length, true);
      assert.equal(
        tracker.done(),
        summary.complete + summary.failed + summary.lost === summary.nodes.length,
      );
    }),
  );
});
