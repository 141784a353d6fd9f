import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SwarmStats } from '@shoal/bus';
import { RecordOutcome, SwarmDemand } from '../src/demand.ts';

const hash = (i: number) => i.toString(16).padStart(40, '0');
const stats = (i: number, fields: Partial<SwarmStats> = {}): SwarmStats => {
  const seeders = fields.seeders ?? 1;
  const leechers = fields.leechers ?? 100;
  return {
    infoHash: hash(i),
    seeders,
    leechers,
    completions: 0,
    bytesLeft: fields.bytesLeft ?? leechers * 1000,
    demand: leechers / Math.max(seeders, 1),
    at: fields.at ?? 1,
  };
};

describe('SwarmDemand', () => {
  it('sums leechers and one remaining copy per hot swarm, and ignores swarms with enough seeders', () => {
    const demand = new SwarmDemand({ maxAgeMs: 10_000, demandThreshold: 1, maxSwarms: 100 });
    demand.record(stats(1, { leechers: 300, bytesLeft: 300 * 5000 }), 0);
    demand.record(stats(2, { leechers: 50, bytesLeft: 50 * 2000 }), 0);
    demand.record(stats(3, { seeders: 40, leechers: 20 }), 0);
    assert.deepEqual(demand.signals(1000), {
      swarms: 3,
      hotSwarms: 2,
      hotLeechers: 350,
      originBytes: 7000,
    });
  });

  it('forgets a swarm on its all-zero message and when its stats go stale', () => {
    const demand = new SwarmDemand({ maxAgeMs: 10_000, demandThreshold: 1, maxSwarms: 100 });
    demand.record(stats(1), 0);
    demand.record(stats(2), 5000);
    demand.record(stats(1, { seeders: 0, leechers: 0, bytesLeft: 0, at: 2 }), 6000);
    assert.equal(demand.signals(6000).swarms, 1);
    assert.equal(demand.signals(15_001).swarms, 0);
  });

  it('refuses stats older than those held and new swarms beyond the cap', () => {
    const demand = new SwarmDemand({ maxAgeMs: 10_000, demandThreshold: 1, maxSwarms: 2 });
    assert.equal(demand.record(stats(1, { at: 5 }), 0), RecordOutcome.Accepted);
    assert.equal(demand.record(stats(1, { at: 4, leechers: 999 }), 0), RecordOutcome.Outdated);
    assert.equal(demand.record(stats(2), 0), RecordOutcome.Accepted);
    assert.equal(demand.record(stats(3), 0), RecordOutcome.Full);
    assert.equal(demand.signals(0).hotLeechers, 200);
    // Once the others age out there is room again.
    assert.equal(demand.record(stats(3), 10_001), RecordOutcome.Accepted);
    assert.equal(demand.size, 1);
  });
});
