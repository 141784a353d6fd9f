import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SwarmDemand } from '../src/demand.ts';
import { createAutoscalerMetrics } from '../src/metrics.ts';
import type { ScalingPolicy } from '../src/policy.ts';
import { Scaler } from '../src/scaler.ts';
import { capturingLogger, clientFor, STATEFULSET, startFakeCluster } from './helpers.ts';

const policy: ScalingPolicy = {
  minReplicas: 2,
  maxReplicas: 6,
  leechersPerReplica: 50,
  egressBytesPerReplica: 1_000_000_000,
  drainTargetMs: 60_000,
  scaleDownWindowMs: 60_000,
};

/** A scaler over the fake cluster with 400 leechers of demand (asks for the bound, 6). */
async function setUp(
  t: Parameters<typeof startFakeCluster>[0],
  options: { dryRun?: boolean } = {},
) {
  const cluster = await startFakeCluster(t);
  const demand = new SwarmDemand({ maxAgeMs: 60_000, demandThreshold: 1, maxSwarms: 100 });
  demand.record(
    {
      infoHash: 'ab'.repeat(20),
      seeders: 1,
      leechers: 400,
      completions: 0,
      bytesLeft: 400 * 1_000_000,
      demand: 400,
      at: 1,
    },
    performance.now(),
  );
  const { logger, lines } = capturingLogger();
  const metrics = createAutoscalerMetrics({ identity: 'test' });
  let leader = true;
  const scaler = new Scaler({
    api: clientFor(cluster.kubeconfig),
    demand,
    policy,
    dryRun: options.dryRun ?? false,
    intervalMs: 100,
    isLeader: () => leader,
    statsFeedUp: () => true,
    apiAttempts: 4,
    logger,
    metrics,
  });
  return {
    ...cluster,
    scaler,
    lines,
    metrics,
    setLeader: (value: boolean) => {
      leader = value;
    },
  };
}

const writes = (requests: { method: string }[]) => requests.filter((r) => r.method === 'PUT');

describe('Scaler', () => {
  it('scales up through the scale subresource and logs the decision with its inputs', async (t) => {
    const { fake, scaler, lines } = await setUp(t);
    const decision = await scaler.evaluate();
    assert.equal(decision?.action, 'scale_up');
    assert.equal(fake.replicas(STATEFULSET), 6);
    const logged = lines().find((line) => line.msg === 'scaling decision applied');
    assert.ok(logged, 'decision logged');
    assert.equal(logged.hotLeechers, 400);
    assert.equal(logged.current, 2);
    assert.equal(logged.desired, 6);
    assert.equal(logged.byLeechers, 8);
    assert.equal(typeof logged.reason, 'string');
  });

  it('in dry-run mode decides and logs but never writes', async (t) => {
    const { fake, scaler, lines } = await setUp(t, { dryRun: true });
    const decision = await scaler.evaluate();
    assert.equal(decision?.desired, 6);
    assert.equal(fake.replicas(STATEFULSET), 2);
    assert.deepEqual(writes(fake.requests), []);
    assert.ok(lines().some((line) => line.msg === 'scaling decision (dry run, not applied)'));
  });

  it('retries server errors, throttling and conflicts, then applies', async (t) => {
    const { fake, scaler, metrics } = await setUp(t);
    fake.failNext('GET statefulsets/scale', 1, 503);
    fake.failNext('PUT statefulsets/scale', 1, 500);
    fake.failNext('PUT statefulsets/scale', 1, 429);
    await scaler.evaluate();
    assert.equal(fake.replicas(STATEFULSET), 6);
    assert.deepEqual(
      fake.requests.map((r) => `${r.method} ${r.status}`),
      ['GET 503', 'GET 200', 'PUT 500', 'PUT 429', 'PUT 200'],
    );
    // A real conflict: someone else writes between our read and our write, so our
    // resourceVersion is stale; the scaler reads again and decides again.
    fake.addStatefulSet(STATEFULSET, 3);
    fake.requests.length = 0;
    fake.raceNextScaleWrite(STATEFULSET);
    await scaler.evaluate();
    assert.equal(fake.replicas(STATEFULSET), 6);
    assert.deepEqual(
      fake.requests.map((r) => `${r.method} ${r.status}`),
      ['GET 200', 'PUT 409', 'GET 200', 'PUT 200'],
    );
    const text = await metrics.registry.metrics();
    assert.match(
      text,
      /shoal_autoscaler_decisions_total\{action="scale_up",applied="true",identity="test"\} 2/,
    );
  });

  it('gives up on errors that retrying cannot fix, without throwing, and recovers', async (t) => {
    const { fake, scaler, lines } = await setUp(t);
    fake.failNext('GET statefulsets/scale', 1, 403);
    assert.equal(await scaler.evaluate(), undefined);
    assert.equal(fake.requests.length, 1);
    assert.ok(
      lines().some((line) => line.msg === 'scaling round failed; trying again next interval'),
    );
    fake.failNext('PUT statefulsets/scale', 4, 503);
    assert.equal(await scaler.evaluate(), undefined);
    assert.equal(writes(fake.requests).length, 4, 'apiAttempts bounds the retries');
    assert.equal((await scaler.evaluate())?.desired, 6);
    assert.equal(fake.replicas(STATEFULSET), 6);
  });

  it('makes no call at all while not leading', async (t) => {
    const { fake, scaler, setLeader } = await setUp(t);
    setLeader(false);
    assert.equal(await scaler.evaluate(), undefined);
    assert.deepEqual(fake.requests, []);
  });
});
