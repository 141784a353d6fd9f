// The autoscaler process from its sources against a real nats-server and a real Kubernetes API
// server (kube-apiserver built from the Kubernetes Go modules, on Debian's etcd), authenticated
// with a ServiceAccount token that has exactly the Role the Helm chart renders: a release spike,
// its end, a lost Lease, API failures, and two instances side by side. A proxy in front of the
// API server injects the 5xx answers and lets another writer race the scale write (the 409 is
// the real server's own); everything else is the real server's doing.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AppsV1Api, CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
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
import { LEASE, STATEFULSET } from './helpers.ts';
import {
  applyChartRbac,
  createNamespace,
  createStatefulSet,
  grabLease,
  type KubeApiServer,
  readLease,
  serviceAccountToken,
  startKubeApiServer,
  statefulSetReplicas,
  touchStatefulSet,
  writeKubeconfig,
} from './kube-apiserver.ts';
import { KubeFaultProxy } from './kube-fault-proxy.ts';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const RELEASE = 'shoal';
const WINDOW_S = 3;
const INTERVAL_MS = 200;
const LEASE_S = 2;
const subjects = createSubjects();

async function startAutoscaler(
  t: TestContext,
  options: { natsUrl: string; kubeconfig: string; identity: string; namespace: string },
) {
  const httpPort = await freePort();
  const child = await startProcess(process.execPath, ['--conditions=source', 'src/main.ts'], {
    name: `autoscaler-${options.identity}`,
    cwd: PACKAGE_DIR,
    env: {
      SHOAL_NATS_URL: options.natsUrl,
      SHOAL_LOG_LEVEL: 'debug',
      SHOAL_AUTOSCALER_NAMESPACE: options.namespace,
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
  // A failed test shows what the process logged.
  onCleanup(t, () => {
    // `passed` is there at run time (Node 24), not yet in @types/node's TestContext.
    if ((t as TestContext & { readonly passed?: boolean }).passed === false) {
      console.error(`--- ${child.name} (last 12 kB) ---\n${child.logs().slice(-12_000)}`);
    }
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

/** A client of the real server with `token` (no proxy), bound to `namespace`. */
function clientWithToken(server: KubeApiServer, token: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      { name: 'test', server: server.url, caData: Buffer.from(server.ca).toString('base64') },
    ],
    users: [{ name: 'sa', token }],
    contexts: [{ name: 'sa', cluster: 'test', user: 'sa' }],
    currentContext: 'sa',
  });
  return kc;
}

async function statusOf(call: Promise<unknown>): Promise<number> {
  try {
    await call;
    return 200;
  } catch (error) {
    return Number((error as { code?: unknown }).code);
  }
}

describe('autoscaler process against a real kube-apiserver', () => {
  // One API server (and etcd) for the file; each test works in a namespace of its own.
  const cleanups: (() => unknown)[] = [];
  const suite: AfterHook = { after: (fn) => cleanups.push(fn) };
  after(async () => {
    for (const fn of cleanups) await fn();
  });
  let server: KubeApiServer;
  let namespaces = 0;
  before(async () => {
    const startedAt = performance.now();
    server = await startKubeApiServer(suite);
    console.log(`# kube-apiserver ready in ${Math.round(performance.now() - startedAt)} ms`);
  });

  /**
   * A namespace with the piece-store StatefulSet and the chart's ServiceAccount, Role and
   * RoleBinding; a kubeconfig with that ServiceAccount's token, pointing at a fault proxy.
   */
  async function setUpNamespace(t: AfterHook, replicas: number) {
    namespaces += 1;
    const namespace = `shoal-${namespaces}`;
    const dir = await mkdtemp(join(tmpdir(), 'shoal-autoscaler-'));
    onCleanup(t, () => rm(dir, { recursive: true, force: true }));
    await createNamespace(server.admin, namespace);
    await createStatefulSet(server.admin, namespace, STATEFULSET, replicas);
    const rbac = await applyChartRbac(server.admin, namespace, RELEASE);
    // The chart's names are the ones the autoscaler is configured with.
    assert.deepEqual(
      rbac.role.rules?.map((r) => r.resourceNames ?? []),
      [[STATEFULSET], [LEASE], []],
    );
    const serviceAccount = rbac.serviceAccount.metadata?.name ?? '';
    const token = await serviceAccountToken(server.admin, namespace, serviceAccount);
    const proxy = new KubeFaultProxy(server.url, server.ca);
    await proxy.start(dir);
    onCleanup(t, () => proxy.stop());
    const kubeconfig = await writeKubeconfig(dir, 'kubeconfig', {
      server: proxy.url,
      ca: proxy.certificate,
      token,
      namespace,
    });
    const replicasNow = () => statefulSetReplicas(server.admin, namespace, STATEFULSET);
    const holder = async () =>
      (await readLease(server.admin, namespace, LEASE))?.spec?.holderIdentity;
    return { namespace, token, proxy, kubeconfig, replicasNow, holder };
  }

  it('scales a spike to the bound within seconds, waits the window to scale down, stops when the Lease is lost, survives API errors, with exactly the chart Role', async (t) => {
    const nats = await startNatsServer({ t, jetstream: false });
    const { namespace, token, proxy, kubeconfig, replicasNow, holder } = await setUpNamespace(t, 2);
    const scaleWrites = () =>
      proxy.requests.filter((r) => r.resource === 'statefulsets/scale' && r.verb === 'update');

    // Least privilege, checked by the real authorizer: the chart Role grants the scale of this
    // one StatefulSet and this one Lease, nothing beside them.
    const sa = clientWithToken(server, token);
    const apps = sa.makeApiClient(AppsV1Api);
    const coordination = sa.makeApiClient(CoordinationV1Api);
    assert.equal(
      await statusOf(apps.readNamespacedStatefulSetScale({ name: STATEFULSET, namespace })),
      200,
    );
    assert.equal(
      await statusOf(apps.readNamespacedStatefulSet({ name: STATEFULSET, namespace })),
      403,
    );
    assert.equal(
      await statusOf(apps.readNamespacedStatefulSetScale({ name: 'other', namespace })),
      403,
    );
    assert.equal(
      await statusOf(
        apps.readNamespacedStatefulSetScale({ name: STATEFULSET, namespace: 'default' }),
      ),
      403,
    );
    assert.equal(
      await statusOf(coordination.readNamespacedLease({ name: 'other', namespace })),
      403,
    );
    assert.equal(await statusOf(coordination.listNamespacedLease({ namespace })), 403);
    assert.equal(
      await statusOf(coordination.deleteNamespacedLease({ name: LEASE, namespace })),
      403,
    );

    const autoscaler = await startAutoscaler(t, {
      natsUrl: nats.url,
      kubeconfig,
      identity: 'as-1',
      namespace,
    });
    const nc = await connect({ servers: nats.url });
    onCleanup(t, () => nc.close());
    await waitFor(async () => (await holder()) === 'as-1', {
      timeoutMs: 5000,
      description: 'the autoscaler to take the lease',
    });

    // API trouble on the way up: two server errors, then another writer changes the
    // StatefulSet between the autoscaler's read and its write (the real server answers 409).
    proxy.failNext('PUT statefulsets/scale', 2, 500);
    proxy.raceNextScaleWrite(() => touchStatefulSet(server.admin, namespace, STATEFULSET));
    // 3 swarms x 150 leechers with one seeder each: 450 / 50 = 9 replicas, bounded to 6.
    const wave = spike(nc, 3, 150);
    onCleanup(t, () => wave.stop());
    const spikeAt = performance.now();
    await waitFor(async () => (await replicasNow()) === 6, {
      timeoutMs: 5000,
      description: 'scale-up to the bound',
    });
    const upMs = performance.now() - spikeAt;
    t.diagnostic(`scaled 2 -> 6 in ${Math.round(upMs)} ms`);
    assert.ok(upMs < 5000);
    // The proxy records an answer when it reaches the proxy, which can be just after the new
    // count is readable through the API.
    await waitFor(() => scaleWrites().some((r) => r.status === 200), {
      timeoutMs: 2000,
      description: 'the proxy to see the successful scale write',
    });
    assert.deepEqual(
      scaleWrites()
        .map((r) => r.status)
        .slice(0, 4),
      [500, 500, 409, 200],
      'errors and the conflict were retried',
    );

    // A stretch of failing reads: the process keeps serving and keeps the count.
    proxy.failNext('GET statefulsets/scale', 15, 503);
    await sleep(1000);
    assert.equal(autoscaler.child.exitStatus(), undefined, 'still running');
    assert.equal((await fetch(`http://127.0.0.1:${autoscaler.httpPort}/healthz`)).status, 200);

    // The spike ends: nothing happens before the window has passed, then down to the minimum.
    wave.end();
    const endedAt = performance.now();
    await sleep(WINDOW_S * 1000 - 2 * INTERVAL_MS - 300);
    assert.equal(await replicasNow(), 6, 'held during the window');
    await waitFor(async () => (await replicasNow()) === 2, {
      timeoutMs: 5000,
      description: 'scale-down after the window',
    });
    const downMs = performance.now() - endedAt;
    t.diagnostic(`scaled 6 -> 2 ${Math.round(downMs)} ms after the spike ended`);
    assert.ok(downMs >= WINDOW_S * 1000 - INTERVAL_MS, `waited ${downMs} ms`);

    // Another instance takes the Lease (and keeps renewing it): no scaling, whatever the demand.
    let intruding = true;
    const intruder = (async () => {
      while (intruding) {
        await grabLease(server.admin, namespace, LEASE, 'intruder', LEASE_S).catch(() => false);
        await sleep(300);
      }
    })();
    onCleanup(t, async () => {
      intruding = false;
      await intruder;
    });
    await waitFor(async () => (await autoscaler.metric('shoal_autoscaler_leader')) === 0, {
      timeoutMs: 3000,
      description: 'the autoscaler to step down',
    });
    const writesBefore = scaleWrites().length;
    const second = spike(nc, 3, 150);
    onCleanup(t, () => second.stop());
    await sleep(2000);
    assert.equal(scaleWrites().length, writesBefore, 'no scale write without the Lease');
    assert.equal(await replicasNow(), 2);
    assert.equal(await holder(), 'intruder');

    // The other instance goes away: after the lease duration the autoscaler takes over and acts.
    intruding = false;
    await intruder;
    await waitFor(async () => (await replicasNow()) === 6, {
      timeoutMs: LEASE_S * 1000 + 4000,
      description: 'scale-up after taking the Lease back',
    });
    assert.equal(await holder(), 'as-1');
    second.end();

    // The real authorizer refused nothing, every call is one the Role grants, and every rule
    // of the Role was used.
    assert.deepEqual(
      proxy.requests.filter((r) => r.status === 401 || r.status === 403),
      [],
      'no call refused',
    );
    const granted = new Set(
      KUBE_API_PERMISSIONS.flatMap((p) =>
        p.verbs.map(
          (v) =>
            `${p.apiGroup}|${p.resource}|${v}|${p.resourceName === undefined ? '' : p.resourceName === 'lease' ? LEASE : STATEFULSET}`,
        ),
      ),
    );
    const used = new Set(
      proxy.requests.map((r) => `${r.apiGroup}|${r.resource}|${r.verb}|${r.name ?? ''}`),
    );
    assert.deepEqual([...used].sort(), [...granted].sort());

    // SIGTERM: clean exit, the Lease handed back.
    assert.deepEqual(await autoscaler.child.stop(), { code: 0, signal: null });
    assert.equal((await holder()) ?? '', '');
  });

  it('runs one active instance of two; the standby takes over when the leader dies', async (t) => {
    const nats = await startNatsServer({ t, jetstream: false });
    const { namespace, proxy, kubeconfig, replicasNow, holder } = await setUpNamespace(t, 2);
    const [a, b] = await Promise.all([
      startAutoscaler(t, { natsUrl: nats.url, kubeconfig, identity: 'as-a', namespace }),
      startAutoscaler(t, { natsUrl: nats.url, kubeconfig, identity: 'as-b', namespace }),
    ]);
    const nc = await connect({ servers: nats.url });
    onCleanup(t, () => nc.close());
    const first = await waitFor(holder, { timeoutMs: 5000, description: 'a leader' });
    const [leader, standby] = first === 'as-a' ? [a, b] : [b, a];
    assert.equal(await leader.metric('shoal_autoscaler_leader'), 1);
    assert.equal(await standby.metric('shoal_autoscaler_leader'), 0);

    const wave = spike(nc, 1, 160);
    onCleanup(t, () => wave.stop());
    await waitFor(async () => (await replicasNow()) === 4, {
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
    await waitFor(async () => (await replicasNow()) === 6, {
      timeoutMs: LEASE_S * 1000 + 5000,
      description: 'the standby to take over and scale',
    });
    const takeoverMs = performance.now() - killedAt;
    t.diagnostic(`standby scaled ${Math.round(takeoverMs)} ms after the leader died`);
    assert.ok(takeoverMs >= LEASE_S * 1000 - 500, 'not before the lease ran out');
    // It leads (a renewal slower than the renew deadline on a busy machine would make it step
    // down for a moment: leadership is checked as it settles, not at one instant).
    await waitFor(async () => (await standby.metric('shoal_autoscaler_leader')) === 1, {
      timeoutMs: 3000,
      description: 'the standby to lead',
    });
    assert.notEqual(await holder(), first);
    assert.deepEqual(
      proxy.requests.filter((r) => r.status === 401 || r.status === 403),
      [],
      'no call refused',
    );
    bigger.end();
  });
});
