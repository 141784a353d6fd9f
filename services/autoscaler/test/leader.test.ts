import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { onCleanup, waitFor } from '@shoal/testkit';
import { LeaderElector } from '../src/leader.ts';
import { capturingLogger, clientFor, LEASE, startFakeCluster } from './helpers.ts';

const TIMING = { leaseDurationS: 1, renewDeadlineMs: 700, retryMs: 100 };

function elector(kubeconfig: string, identity: string) {
  const { logger } = capturingLogger();
  return new LeaderElector({ api: clientFor(kubeconfig, 300), identity, logger, ...TIMING });
}

describe('LeaderElector', () => {
  it('lets exactly one candidate lead, and hands over at once when the leader stops', async (t) => {
    const { fake, kubeconfig } = await startFakeCluster(t);
    const a = elector(kubeconfig, 'a');
    const b = elector(kubeconfig, 'b');
    onCleanup(t, () => Promise.all([a.stop(), b.stop()]));
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 3000, description: 'a to lead' });
    b.start();
    // Several rounds of both: b never leads while a renews.
    for (let i = 0; i < 10; i++) {
      assert.equal(b.isLeader(), false);
      assert.equal(a.isLeader(), true);
      await sleep(60);
    }
    const lease = fake.lease(LEASE);
    assert.equal(lease?.spec.holderIdentity, 'a');
    assert.equal(lease?.spec.leaseDurationSeconds, 1);
    assert.match(String(lease?.spec.renewTime), /\.\d{6}Z$/);

    const stoppedAt = performance.now();
    await a.stop();
    assert.equal(a.isLeader(), false);
    await waitFor(() => b.isLeader(), { timeoutMs: 3000, description: 'b to take over' });
    // Released, so b did not wait out the lease duration.
    assert.ok(performance.now() - stoppedAt < 1000, 'takeover after release is quick');
    assert.equal(fake.lease(LEASE)?.spec.holderIdentity, 'b');
    assert.equal(fake.lease(LEASE)?.spec.leaseTransitions, 1);
  });

  it('takes over from a leader that died only after the lease duration', async (t) => {
    const { fake, kubeconfig } = await startFakeCluster(t);
    fake.setLeaseHolder(LEASE, 'dead', 1);
    const b = elector(kubeconfig, 'b');
    onCleanup(t, () => b.stop());
    const startedAt = performance.now();
    b.start();
    await waitFor(() => b.isLeader(), { timeoutMs: 4000, description: 'b to take over' });
    assert.ok(performance.now() - startedAt >= 1000, 'waited the lease duration');
  });

  it('stops leading when another instance writes the lease, and when renewals fail', async (t) => {
    const { fake, kubeconfig } = await startFakeCluster(t);
    const a = elector(kubeconfig, 'a');
    onCleanup(t, () => a.stop());
    a.start();
    await waitFor(() => a.isLeader(), { timeoutMs: 3000, description: 'a to lead' });
    fake.setLeaseHolder(LEASE, 'intruder', 30);
    await waitFor(() => !a.isLeader(), { timeoutMs: 1000, description: 'a to step down' });

    // Back to a, then the API fails every lease call: a gives up within the renew deadline.
    fake.setLeaseHolder(LEASE, '', 1);
    await waitFor(() => a.isLeader(), { timeoutMs: 3000, description: 'a to lead again' });
    fake.failNext('GET leases', 1000, 503);
    const failingSince = performance.now();
    await waitFor(() => !a.isLeader(), { timeoutMs: 2000, description: 'a to give up' });
    const elapsed = performance.now() - failingSince;
    assert.ok(elapsed <= TIMING.renewDeadlineMs + 150, `gave up after ${elapsed} ms`);
    assert.equal(a.apiReachable, false);
  });
});
