// The autoscaler process from its sources against a real nats-server and the fake API server:
// a release spike, its end, a lost Lease, API failures, and two instances side by side.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createSubjects, encodeSwarmStats } from '@shoal/bus';
import {
  type AfterHook,
  freePort,
  onCleanup,
  startNatsServer,
  startProcess,
  waitFor,
} from '@shoal/testkit';
import { KUBE_API_PERMISSIONS } from '../src/kube.ts';
import type { FakeKubeApi } from './fake-kube-api.ts';
import { LEASE, NAMESPACE, STATEFULSET, startFakeCluster } from './helpers.ts';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const WINDOW_S = 3;
const INTERVAL_MS = 200;
const LEASE_S = 2;
const subjects = createSubjects();

async function startAutoscaler(
  t: AfterHook,
  options: { natsUrl: string; kubeconfig: string; identity: string },
) {
  const httpPort = await freePort();
  const child = await startProcess(process.execPath, ['--conditions=source', 'src/main.ts'], {
    name: `autoscaler-${options.identity}`,
    cwd: PACKAGE_DIR,
    env: {
      SHOAL_NATS_URL: options.natsUrl,
      SHOAL_LOG_LEVEL: 'debug',
      SHOAL_AUTOSCALER_NAMESPACE: NAMESPACE,
      SHOAL_AUTOSCALER_STATEFULSET: STATEFULSET,
      SHOAL_AUTOSCALER_LEASE_NAME: LEASE,
      SHOAL_AUTOSCALER_IDENTITY: options.identity,
      SHOAL_AUTOSCALER_KUBECONFIG: options.kubeconfig,
      SHOAL_AUTOSCALER_MIN_REPLICAS: '2',
      SHOAL_AUTOSCALER_MAX_REPLICAS: '6',
      SHOAL_AUTOSCALER_LEECHERS_PER_REPLICA: '50',
      SHOAL_AUTOSCALER_SCALE_DOWN_WINDOW_S: String(WINDOW_S),
      SHOAL_AUTOSCALER_INTERVAL_MS: String(INTERVAL_MS),
      SHOAL_AUTOSCALER_STATS_MAX_AGE_S: '5',
      SHOAL_AUTOSCALER_LEASE_DURATION_S: String(LEASE_S),
      SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS: '1500',
      SHOAL_AUTOSCALER_LEASE_RETRY_MS: '250',
      SHOAL_AUTOSCALER_API_TIMEOUT_MS: '1000',
      SHOAL_AUTOSCALER_HTTP_HOST: '127.0.0.1',
      SHOAL_AUTOSCALER_HTTP_PORT: String(httpPort),
    },
    ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
    readyTimeoutMs: 20_000,
    t,
  });
  const metric = async (name: string): Promise<number | undefined> => {
    const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ').pop());
  };
  return { child, httpPort, metric };
}

/** Publishes `leechers` per swarm on `swarms` swarms every 200 ms, as the tracker would. */
function spike(nc: NatsConnection, swarms: number, leechers: number) {
  const hashes = Array.from({ length: swarms }, (_, i) => (i + 1).toString(16).padStart(40, '0'));
  const publish = (count: number) => {
    for (const infoHash of hashes) {
      nc.publish(
        subjects.trackerStats(infoHash),
        encodeSwarmStats({
          infoHash,
          seeders: count === 0 ? 0 : 1,
          leechers: count,
          completions: 0,
          bytesLeft: count * 50_000_000,
          demand: count,
          at: Date.now(),
        }),
      );
    }
  };
  publish(leechers);
  const timer = setInterval(() => publish(leechers), 200);
  return {
    /** The swarms empty: the tracker sends one all-zero message each. */
    end: () => {
      clearInterval(timer);
      publish(0);
    },
    stop: () => clearInterval(timer),
  };
}

const scaleWrites = (fake: FakeKubeApi) =>
  fake.requests.filter((r) => r.resource === 'statefulsets/scale' && r.verb === 'update');

describe('autoscaler process', () => {
  it('scales a spike to the bound within seconds, waits the window to scale down, stops when the Lease is lost, survives API errors', async (t) => {
    const nats = await startNatsServer({ t, jetstream: false });
    const { fake, kubeconfig } = await startFakeCluster(t, 2);
    const autoscaler = await startAutoscaler(t, {
      natsUrl: nats.url,
      kubeconfig,
      identity: 'as-1',
    });
    const nc = await connect({ servers: nats.url });
    onCleanup(t, () => nc.close());
    await waitFor(() => fake.lease(LEASE)?.spec.holderIdentity === 'as-1', {
      timeoutMs: 5000,
      description: 'the autoscaler to take the lease',
    });

    // API trouble on the way up: two server errors and a conflicting writer.
    fake.failNext('PUT statefulsets/scale', 2, 500);
    fake.raceNextScaleWrite(STATEFULSET);
    // 3 swarms x 150 leechers with one seeder each: 450 / 50 = 9 replicas, bounded to 6.
    const wave = spike(nc, 3, 150);
    onCleanup(t, () => wave.stop());
    const spikeAt = performance.now();
    await waitFor(() => fake.replicas(STATEFULSET) === 6, {
      timeoutMs: 5000,
      description: 'scale-up to the bound',
    });
    const upMs = performance.now() - spikeAt;
    t.diagnostic(`scaled 2 -> 6 in ${Math.round(upMs)} ms`);
    assert.ok(upMs < 5000);
    const statuses = scaleWrites(fake).map((r) => r.status);
    assert.deepEqual(
      statuses.slice(0, 4),
      [500, 500, 409, 200],
      'errors and the conflict were retried',
    );

    // A stretch of failing reads: the process keeps serving and keeps the count.
    fake.failNext('GET statefulsets/scale', 15, 503);
    await sleep(1000);
    assert.equal(autoscaler.child.exitStatus(), undefined, 'still running');
    assert.equal((await fetch(`http://127.0.0.1:${autoscaler.httpPort}/healthz`)).status, 200);

    // The spike ends: nothing happens before the window has passed, then down to the minimum.
    wave.end();
    const endedAt = performance.now();
    await sleep(WINDOW_S * 1000 - 2 * INTERVAL_MS - 300);
    assert.equal(fake.replicas(STATEFULSET), 6, 'held during the window');
    await waitFor(() => fake.replicas(STATEFULSET) === 2, {
      timeoutMs: 5000,
      description: 'scale-down after the window',
    });
    const downMs = performance.now() - endedAt;
    t.diagnostic(`scaled 6 -> 2 ${Math.round(downMs)} ms after the spike ended`);
    assert.ok(downMs >= WINDOW_S * 1000 - INTERVAL_MS, `waited ${downMs} ms`);

    // Another instance holds the Lease (and keeps renewing it): no scaling, whatever the demand.
    fake.setLeaseHolder(LEASE, 'intruder', LEASE_S);
    const renewing = setInterval(() => fake.setLeaseHolder(LEASE, 'intruder', LEASE_S), 300);
    onCleanup(t, () => clearInterval(renewing));
    await waitFor(async () => (await autoscaler.metric('shoal_autoscaler_leader')) === 0, {
      timeoutMs: 3000,
      description: 'the autoscaler to step down',
    });
    const writesBefore = scaleWrites(fake).length;
    const second = spike(nc, 3, 150);
    onCleanup(t, () => second.stop());
    await sleep(2000);
    assert.equal(scaleWrites(fake).length, writesBefore, 'no scale write without the Lease');
    assert.equal(fake.replicas(STATEFULSET), 2);

    // The other instance goes away: after the lease duration the autoscaler takes over and acts.
    clearInterval(renewing);
    await waitFor(() => fake.replicas(STATEFULSET) === 6, {
      timeoutMs: LEASE_S * 1000 + 4000,
      description: 'scale-up after taking the Lease back',
    });
    assert.equal(fake.lease(LEASE)?.spec.holderIdentity, 'as-1');
    second.end();

    // Every call it made is one the RBAC rules grant, and every rule is used.
    const granted = new Set(
      KUBE_API_PERMISSIONS.flatMap((p) =>
        p.verbs.map(
          (v) =>
            `${p.apiGroup}|${p.resource}|${v}|${p.resourceName === undefined ? '' : p.resourceName === 'lease' ? LEASE : STATEFULSET}`,
        ),
      ),
    );
    const used = new Set(
      fake.requests.map((r) => `${r.apiGroup}|${r.resource}|${r.verb}|${r.name ?? ''}`),
    );
    assert.deepEqual([...used].sort(), [...granted].sort());

    // SIGTERM: clean exit, the Lease handed back.
    assert.deepEqual(await autoscaler.child.stop(), { code: 0, signal: null });
    assert.equal(fake.lease(LEASE)?.spec.holderIdentity, '');
  });

  it('runs one active instance of two; the standby takes over when the leader dies', async (t) => {
    const nats = await startNatsServer({ t, jetstream: false });
    const { fake, kubeconfig } = await startFakeCluster(t, 2);
    const [a, b] = await Promise.all([
      startAutoscaler(t, { natsUrl: nats.url, kubeconfig, identity: 'as-a' }),
      startAutoscaler(t, { natsUrl: nats.url, kubeconfig, identity: 'as-b' }),
    ]);
    const nc = await connect({ servers: nats.url });
    onCleanup(t, () => nc.close());
    const holder = await waitFor(() => fake.lease(LEASE)?.spec.holderIdentity, {
      timeoutMs: 5000,
      description: 'a leader',
    });
    const [leader, standby] = holder === 'as-a' ? [a, b] : [b, a];
    assert.equal(await leader.metric('shoal_autoscaler_leader'), 1);
    assert.equal(await standby.metric('shoal_autoscaler_leader'), 0);

    const wave = spike(nc, 1, 160);
    onCleanup(t, () => wave.stop());
    await waitFor(() => fake.replicas(STATEFULSET) === 4, {
      timeoutMs: 5000,
      description: 'scale-up',
    });
    assert.equal(
      await standby.metric('shoal_autoscaler_decisions_total'),
      undefined,
      'the standby decides nothing',
    );

    // The leader is killed without a chance to release: the standby waits out the lease.
    leader.child.kill('SIGKILL');
    const killedAt = performance.now();
    wave.stop();
    const bigger = spike(nc, 1, 260);
    onCleanup(t, () => bigger.stop());
    await waitFor(() => fake.replicas(STATEFULSET) === 6, {
      timeoutMs: LEASE_S * 1000 + 5000,
      description: 'the standby to take over and scale',
    });
    const takeoverMs = performance.now() - killedAt;
    t.diagnostic(`standby scaled ${Math.round(takeoverMs)} ms after the leader died`);
    assert.ok(takeoverMs >= LEASE_S * 1000 - 500, 'not before the lease ran out');
    assert.equal(await standby.metric('shoal_autoscaler_leader'), 1);
    bigger.end();
  });
});
