import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type DemandSignals,
  decide,
  type Recommendation,
  recommendReplicas,
  remember,
  ScaleAction,
  type ScalingPolicy,
} from '../src/policy.ts';

const policy: ScalingPolicy = {
  minReplicas: 2,
  maxReplicas: 10,
  leechersPerReplica: 50,
  egressBytesPerReplica: 100_000_000,
  drainTargetMs: 100_000,
  scaleDownWindowMs: 300_000,
};
const idle: DemandSignals = { swarms: 0, hotSwarms: 0, hotLeechers: 0, originBytes: 0 };
const leechers = (n: number): DemandSignals => ({
  swarms: 1,
  hotSwarms: n > 0 ? 1 : 0,
  hotLeechers: n,
  originBytes: 0,
});

describe('recommendReplicas', () => {
  it('asks one replica per leechersPerReplica leechers of hot swarms, rounded up', () => {
    assert.equal(recommendReplicas(leechers(151), policy).byLeechers, 4);
    assert.equal(recommendReplicas(leechers(151), policy).replicas, 4);
  });

  it('asks for enough egress to send the origin bytes within the drain target', () => {
    // 10 GB per replica within the target: 25 GB needs 3.
    const result = recommendReplicas({ ...idle, originBytes: 25_000_000_000 }, policy);
    assert.equal(result.byEgress, 3);
    assert.equal(result.replicas, 3);
  });

  it('takes the larger signal and keeps within [min, max]', () => {
    const both = recommendReplicas({ ...leechers(100), originBytes: 45_000_000_000 }, policy);
    assert.deepEqual([both.byLeechers, both.byEgress, both.replicas], [2, 5, 5]);
    assert.equal(recommendReplicas(idle, policy).replicas, 2);
    assert.equal(recommendReplicas(leechers(5000), policy).replicas, 10);
  });
});

describe('decide', () => {
  it('scales up at once, to the bound, when a spike exceeds it', () => {
    const decision = decide({ now: 0, current: 2, signals: leechers(900), history: [] }, policy);
    assert.equal(decision.action, ScaleAction.Up);
    assert.equal(decision.desired, 10);
    assert.match(decision.reason, /bound/);
  });

  it('holds a lower recommendation until the whole window has passed, then scales down', () => {
    let history: Recommendation[] = [];
    let current = 2;
    const step = (now: number, signals: DemandSignals) => {
      const decision = decide({ now, current, signals, history }, policy);
      history = decision.history;
      current = decision.desired;
      return decision;
    };
    assert.equal(step(0, leechers(400)).desired, 8);
    // The spike ends at 10 s; the last recommendation of 8 was at 0 s.
    for (let now = 10_000; now < 300_000; now += 10_000) {
      const decision = step(now, idle);
      assert.equal(decision.desired, 8, `still held at ${now} ms`);
      assert.equal(decision.action, ScaleAction.Hold);
    }
    // Exactly one window after the last high recommendation.
    const down = step(300_000, idle);
    assert.equal(down.action, ScaleAction.Down);
    assert.equal(down.desired, 2);
  });

  it('scales down only to the highest recommendation still within the window', () => {
    let history: Recommendation[] = [];
    history = decide({ now: 0, current: 2, signals: leechers(500), history }, policy).history;
    history = decide(
      { now: 100_000, current: 10, signals: leechers(250), history },
      policy,
    ).history;
    const decision = decide({ now: 301_000, current: 10, signals: idle, history }, policy);
    assert.equal(decision.desired, 5);
    assert.equal(decision.windowMax, 5);
  });

  it('brings a count outside the bounds back within them at once', () => {
    assert.equal(decide({ now: 0, current: 0, signals: idle, history: [] }, policy).desired, 2);
    const over = decide({ now: 0, current: 14, signals: leechers(1000), history: [] }, policy);
    assert.equal(over.desired, 10);
    assert.equal(over.action, ScaleAction.Down);
  });

  it('keeps every property over random demand sequences', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 1, max: 120_000 }), n: fc.nat(2000) }), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.integer({ min: 0, max: 12 }),
        (steps, start) => {
          let history: Recommendation[] = [];
          let current = start;
          let now = 0;
          const past: Recommendation[] = [];
          for (const { dt, n } of steps) {
            now += dt;
            const decision = decide({ now, current, signals: leechers(n), history }, policy);
            past.push({ at: now, replicas: decision.recommended });
            // Within bounds whenever the start was.
            assert.ok(
              decision.desired >= policy.minReplicas && decision.desired <= policy.maxReplicas,
            );
            // Never below what demand asks for now.
            assert.ok(decision.desired >= decision.recommended);
            // A scale-down never goes below a recommendation made within the window.
            if (decision.desired < current) {
              for (const entry of past) {
                if (entry.at > now - policy.scaleDownWindowMs) {
                  assert.ok(decision.desired >= Math.min(entry.replicas, current));
                }
              }
            }
            // The history stays small: strictly decreasing counts.
            assert.ok(decision.history.length <= policy.maxReplicas - policy.minReplicas + 1);
            history = decision.history;
            current = decision.desired;
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('remember', () => {
  it('keeps a strictly decreasing window whose head is the maximum', () => {
    let history: Recommendation[] = [];
    for (const [at, replicas] of [
      [0, 3],
      [1, 7],
      [2, 5],
      [3, 5],
      [4, 4],
    ] as const) {
      history = remember(history, { at, replicas }, 10);
    }
    assert.deepEqual(history, [
      { at: 1, replicas: 7 },
      { at: 3, replicas: 5 },
      { at: 4, replicas: 4 },
    ]);
    assert.deepEqual(remember(history, { at: 12, replicas: 2 }, 10), [
      { at: 3, replicas: 5 },
      { at: 4, replicas: 4 },
      { at: 12, replicas: 2 },
    ]);
  });
});
