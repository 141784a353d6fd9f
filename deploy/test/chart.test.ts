// The Helm chart: real `helm lint` and `helm template` over several value combinations, and
// assertions on the rendered objects against the services' own code (their configuration
// schemas, the HTTP routes of service-kit, the API calls of the autoscaler).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { KUBE_API_PERMISSIONS, NODE_LABELS_PERMISSIONS } from '@shoal/autoscaler';
import { freePort, onCleanup, startProcess } from '@shoal/testkit';
import {
  CHART_DIR,
  HelmError,
  helm,
  helmBinary,
  isShoalContainer,
  type K8sObject,
  KUBE_VERSION,
  knownVariables,
  loadProgramConfig,
  NAMESPACE,
  podLabels,
  podSpec,
  REPO_ROOT,
  render,
  resolveEnv,
  type ValuesCase,
  valuesArgs,
  WORKLOAD_KINDS,
} from './helpers.ts';

const CASES: ValuesCase[] = [
  { name: 'defaults' },
  { name: 'example: small test cluster', files: ['examples/small-test-cluster.yaml'] },
  { name: 'example: external NATS', files: ['examples/external-nats.yaml'] },
  { name: 'example: production HA', files: ['examples/production-ha.yaml'] },
  {
    name: 'external NATS by URL, no autoscaler, no topology, no hostPort',
    set: [
      'nats.bundled.enabled=false',
      'nats.external.url=nats://nats-a.messaging:4222\\,nats://nats-b.messaging:4222',
      'autoscaler.enabled=false',
      'peerNode.topology.enabled=false',
      'peerNode.hostPort=false',
      'metrics.scrapeAnnotations=false',
    ],
  },
  ...Object.entries({
    token: ['tokenKey=nats-token'],
    'NKey seed': ['nkeySeedKey=seed.nk'],
    'user and password': ['user=shoal', 'passwordKey=password'],
  }).map(([method, keys]) => ({
    name: `external NATS with a ${method}`,
    set: [
      'nats.bundled.enabled=false',
      'nats.external.url=nats://nats.messaging:4222',
      'nats.external.auth.existingSecret=shoal-nats-auth',
      ...keys.map((pair) => `nats.external.auth.${pair}`),
    ],
  })),
  {
    name: 'peer-nodes off, dry-run autoscaler, other ports and names',
    set: [
      'peerNode.enabled=false',
      'autoscaler.dryRun=true',
      'autoscaler.lease.name=my-lease',
      'tracker.port=8080',
      'pieceStore.ports.grpc=9000',
      'pieceStore.ports.http=9001',
      'pieceStore.ports.wire=51413',
      'fullnameOverride=dist',
      'tracker.extraEnv.SHOAL_TRACKER_MAX_SWARMS=5000',
    ],
  },
];

/** The routes service-kit serves itself (`startHttpServer`), read from its source. */
async function serviceKitRoutes(): Promise<Set<string>> {
  const text = await readFile(join(REPO_ROOT, 'packages/service-kit/src/http.ts'), 'utf8');
  const block = text.slice(text.indexOf('const routes'), text.indexOf('...options.routes'));
  const routes = new Set([...block.matchAll(/'(\/[a-z]+)':/g)].map((m) => m[1]!));
  assert.deepEqual([...routes].sort(), ['/healthz', '/metrics', '/readyz']);
  return routes;
}

const byKind = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const named = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);
const portOf = (container: K8sObject, name: string) =>
  (container.ports ?? []).find((p: K8sObject) => p.name === name);

/** The container-port value each service reads its listener from. */
const PORT_VARIABLES: Record<string, Record<string, string>> = {
  tracker: { http: 'SHOAL_TRACKER_HTTP_PORT' },
  'piece-store': {
    grpc: 'SHOAL_PIECE_STORE_GRPC_PORT',
    http: 'SHOAL_PIECE_STORE_HTTP_PORT',
    wire: 'SHOAL_PIECE_STORE_WIRE_PORT',
  },
  'peer-node': { wire: 'SHOAL_WIRE_PORT', http: 'SHOAL_HTTP_PORT' },
  autoscaler: { http: 'SHOAL_AUTOSCALER_HTTP_PORT' },
};

const SAMPLE_SEED = new TextDecoder().decode(createUser().getSeed());
/** The chart's NATS credential variables, each with a sample of its file for the loaders. */
const NATS_AUTH_FILES: Record<string, string> = {
  // The loader parses the file and signs with the seed; the JWT is the server's business.
  SHOAL_NATS_CREDS_FILE: [
    '-----BEGIN NATS USER JWT-----',
    'eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.c2lnbmF0dXJl',
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    SAMPLE_SEED,
    '------END USER NKEY SEED------',
  ].join('\n'),
  SHOAL_NATS_NKEY_SEED_FILE: `${SAMPLE_SEED}\n`,
  SHOAL_NATS_TOKEN_FILE: 'sample-token\n',
  SHOAL_NATS_PASSWORD_FILE: 'sample-password\n',
};

/**
 * The Secret and key a file path in `container` comes from: the path must lie in a read-only
 * mount of a Secret volume that projects exactly that key to that file.
 */
function mountedSecretKey(
  spec: K8sObject,
  container: K8sObject,
  path: string,
): { secretName: string; key: string } {
  const at = `container ${container.name}: ${path}`;
  const mount = (container.volumeMounts ?? []).find((m: K8sObject) =>
    path.startsWith(`${m.mountPath}/`),
  );
  assert.ok(mount, `${at} is in a mounted volume`);
  assert.equal(mount.readOnly, true, `${at}: mounted read-only`);
  const secret = (spec.volumes ?? []).find((v: K8sObject) => v.name === mount.name)?.secret;
  assert.ok(secret, `${at}: the volume is a Secret`);
  assert.equal(secret.defaultMode, 0o440, `${at}: readable by the owner and group only`);
  const item = (secret.items ?? []).find(
    (i: K8sObject) => i.path === path.slice(mount.mountPath.length + 1),
  );
  assert.ok(item, `${at}: the Secret volume projects a key to this file`);
  return { secretName: secret.secretName, key: item.key };
}

let authSamplesDir: string;

async function checkWorkload(workload: K8sObject, routes: Set<string>): Promise<void> {
  const where = `${workload.kind}/${workload.metadata.name}`;
  const spec = podSpec(workload);
  assert.equal(spec.securityContext?.runAsNonRoot, true, `${where}: runAsNonRoot`);
  assert.equal(spec.securityContext?.seccompProfile?.type, 'RuntimeDefault', `${where}: seccomp`);
  const volumes = new Set((spec.volumes ?? []).map((v: K8sObject) => v.name));
  const claimTemplates = new Set(
    (workload.spec.volumeClaimTemplates ?? []).map((v: K8sObject) => v.metadata.name),
  );
  const isTestPod = workload.kind === 'Pod';
  for (const [container, init] of [
    ...(spec.containers as K8sObject[]).map((c) => [c, false] as const),
    ...((spec.initContainers ?? []) as K8sObject[]).map((c) => [c, true] as const),
  ]) {
    const at = `${where} container ${container.name}`;
    const security = container.securityContext ?? {};
    assert.equal(security.allowPrivilegeEscalation, false, `${at}: allowPrivilegeEscalation`);
    assert.equal(security.readOnlyRootFilesystem, true, `${at}: read-only root`);
    assert.deepEqual(security.capabilities?.drop, ['ALL'], `${at}: drops every capability`);
    if (container.name === 'cache-owner') {
      // The one exception: root with CAP_CHOWN alone, to hand a hostPath to the service user.
      assert.deepEqual(security.capabilities.add, ['CHOWN']);
      assert.deepEqual(container.command.slice(0, 1), ['chown']);
    } else {
      assert.equal(security.capabilities?.add, undefined, `${at}: adds no capability`);
      assert.notEqual(security.runAsUser, 0, `${at}: not root`);
    }
    assert.ok(container.resources?.requests?.memory, `${at}: memory request`);
    assert.ok(container.resources?.limits?.memory, `${at}: memory limit`);
    for (const mount of container.volumeMounts ?? []) {
      assert.ok(
        volumes.has(mount.name) || claimTemplates.has(mount.name),
        `${at}: mounts unknown volume ${mount.name}`,
      );
    }
    const env = resolveEnv(container);
    const names = (container.env ?? []).map((e: K8sObject) => e.name as string);
    assert.equal(new Set(names).size, names.length, `${at}: a variable set twice`);

    if (!init && !isTestPod) {
      for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const httpGet = container[probe]?.httpGet;
        assert.ok(httpGet, `${at}: ${probe}`);
        assert.ok(
          portOf(container, httpGet.port),
          `${at}: ${probe} port ${httpGet.port} is declared`,
        );
        if (isShoalContainer(container.name)) {
          assert.ok(routes.has(httpGet.path), `${at}: ${probe} path ${httpGet.path} is served`);
        }
      }
      if (isShoalContainer(container.name)) {
        assert.equal(container.readinessProbe.httpGet.path, '/readyz', `${at}: readiness`);
        assert.equal(container.livenessProbe.httpGet.path, '/healthz', `${at}: liveness`);
      }
      // A read-only root: /tmp is a volume.
      assert.ok(
        (container.volumeMounts ?? []).some(
          (m: K8sObject) => m.mountPath === '/tmp' || m.mountPath === '/data',
        ),
        `${at}: a writable volume`,
      );
    }
    if (!isShoalContainer(container.name)) continue;

    // Runs its built entry point, never the sources.
    assert.equal(container.command[0], 'node', `${at}: node`);
    const entry = container.command.at(-1) as string;
    assert.match(entry, /^dist\/[a-z-]+\.js$/, `${at}: runs dist/`);
    assert.ok(
      !container.command.some((arg: string) => arg.includes('conditions')),
      `${at}: no source condition`,
    );

    // Every SHOAL_* variable is one the service declares, and its own loader accepts the set.
    const known = knownVariables(container.name);
    for (const name of names) {
      if (name.startsWith('SHOAL_') || name.startsWith('NODE_')) {
        assert.ok(known.has(name), `${at}: ${name} is not a variable the service knows`);
      }
    }
    const withEnvFile = { ...env };
    if (container.command.some((arg: string) => arg.startsWith('--env-file='))) {
      // What the node-labels init step writes.
      Object.assign(withEnvFile, { SHOAL_ZONE: 'zone-a', SHOAL_RACK: 'rack-1' });
    }
    // Credential files are mounted from a Secret; the loader reads a sample of each instead.
    for (const [name, sample] of Object.entries(NATS_AUTH_FILES)) {
      const path = env[name];
      if (path === undefined) continue;
      mountedSecretKey(spec, container, path);
      const file = join(authSamplesDir, `${container.name}-${name}`);
      await writeFile(file, sample);
      withEnvFile[name] = file;
    }
    try {
      await loadProgramConfig(container.name, withEnvFile);
    } catch (error) {
      assert.fail(`${at}: its own configuration loader refuses the rendered env: ${String(error)}`);
    }

    // Ports: declared container ports are the ones the service listens on.
    for (const [portName, variable] of Object.entries(PORT_VARIABLES[container.name] ?? {})) {
      const port = portOf(container, portName);
      assert.ok(port, `${at}: port ${portName}`);
      assert.equal(String(port.containerPort), env[variable], `${at}: ${variable}`);
      if (port.hostPort !== undefined) assert.equal(port.hostPort, port.containerPort);
    }
    // The data directory is a volume (the root file system is read-only).
    if (env.SHOAL_DATA_DIR !== undefined) {
      assert.ok(
        (container.volumeMounts ?? []).some((m: K8sObject) => m.mountPath === env.SHOAL_DATA_DIR),
        `${at}: SHOAL_DATA_DIR is a mounted volume`,
      );
    }
    const annotations = workload.spec.template?.metadata?.annotations ?? {};
    if (!init && annotations['prometheus.io/scrape'] === 'true') {
      assert.equal(
        annotations['prometheus.io/port'],
        String(portOf(container, 'http').containerPort),
      );
      assert.ok(routes.has(annotations['prometheus.io/path']));
    }
  }
}

function checkServices(objects: K8sObject[]): void {
  const pods = [...WORKLOAD_KINDS.flatMap((kind) => byKind(objects, kind))];
  for (const service of byKind(objects, 'Service')) {
    const selected = pods.filter((w) => matches(service.spec.selector, podLabels(w)));
    assert.equal(selected.length, 1, `Service/${service.metadata.name} selects one workload`);
    const containers = podSpec(selected[0]!).containers as K8sObject[];
    for (const port of service.spec.ports) {
      const target = containers.map((c) => portOf(c, port.targetPort)).find(Boolean);
      assert.ok(target, `Service/${service.metadata.name}: targetPort ${port.targetPort} exists`);
      assert.equal(port.port, target.containerPort, `Service/${service.metadata.name}: same port`);
    }
  }
  for (const sts of byKind(objects, 'StatefulSet')) {
    const headless = named(objects, 'Service', sts.spec.serviceName);
    assert.equal(headless?.spec.clusterIP, 'None', `${sts.metadata.name}: headless service`);
  }
  for (const pdb of byKind(objects, 'PodDisruptionBudget')) {
    assert.equal(
      pods.filter((w) => matches(pdb.spec.selector.matchLabels, podLabels(w))).length,
      1,
      `PDB/${pdb.metadata.name} covers one workload`,
    );
  }
  for (const monitor of [...byKind(objects, 'ServiceMonitor'), ...byKind(objects, 'PodMonitor')]) {
    const isPods = monitor.kind === 'PodMonitor';
    const targets = isPods ? pods : byKind(objects, 'Service');
    const target = targets.find((t) =>
      matches(monitor.spec.selector.matchLabels, isPods ? podLabels(t) : t.metadata.labels),
    );
    assert.ok(target, `${monitor.kind}/${monitor.metadata.name} selects something`);
    const endpoint = (isPods ? monitor.spec.podMetricsEndpoints : monitor.spec.endpoints)[0];
    const ports = isPods
      ? (podSpec(target).containers as K8sObject[]).flatMap((c) => c.ports ?? [])
      : target.spec.ports;
    assert.ok(
      ports.some((p: K8sObject) => p.name === endpoint.port),
      `${monitor.kind}: port`,
    );
    assert.equal(endpoint.path, '/metrics');
  }
}

/** RBAC objects grant exactly what the code calls, to the accounts of the pods that call. */
function checkRbac(objects: K8sObject[]): void {
  const autoscaler = byKind(objects, 'Deployment').find((d) =>
    d.metadata.name.endsWith('-autoscaler'),
  );
  const peerNodes = byKind(objects, 'DaemonSet')[0];
  const topology =
    peerNodes !== undefined &&
    podSpec(peerNodes).initContainers?.some((c: K8sObject) => c.name === 'node-labels');
  const roles = byKind(objects, 'Role');
  const clusterRoles = byKind(objects, 'ClusterRole');
  assert.equal(roles.length, autoscaler === undefined ? 0 : 1, 'one Role, for the autoscaler');
  assert.equal(clusterRoles.length, topology ? 1 : 0, 'one ClusterRole, for node labels');

  for (const workload of [
    ...WORKLOAD_KINDS.flatMap((k) => byKind(objects, k)),
    ...byKind(objects, 'Pod'),
  ]) {
    const spec = podSpec(workload);
    const callsApi = workload === autoscaler;
    assert.equal(
      spec.automountServiceAccountToken,
      callsApi,
      `${workload.metadata.name}: API token mounted only where the API is called`,
    );
    for (const container of [...spec.containers, ...(spec.initContainers ?? [])] as K8sObject[]) {
      const tokenMount = (container.volumeMounts ?? []).some(
        (m: K8sObject) => m.mountPath === '/var/run/secrets/kubernetes.io/serviceaccount',
      );
      assert.equal(tokenMount, container.name === 'node-labels', `${container.name}: token mount`);
    }
  }

  const bound = (kind: string, role: K8sObject) => {
    const binding = byKind(objects, `${kind}Binding`).find(
      (b) => b.roleRef.name === role.metadata.name,
    );
    assert.ok(binding, `${kind}/${role.metadata.name} is bound`);
    assert.equal(binding.roleRef.kind, kind);
    assert.equal(binding.subjects.length, 1);
    return binding.subjects[0];
  };
  if (autoscaler !== undefined) {
    const env = resolveEnv(autoscaler.spec.template.spec.containers[0]);
    const statefulSet = named(objects, 'StatefulSet', env.SHOAL_AUTOSCALER_STATEFULSET!);
    assert.ok(
      statefulSet?.metadata.name.endsWith('-piece-store'),
      'the autoscaler targets the piece-store',
    );
    const expected = KUBE_API_PERMISSIONS.map((p) => ({
      apiGroups: [p.apiGroup],
      resources: [p.resource],
      ...(p.resourceName === undefined
        ? {}
        : {
            resourceNames: [
              p.resourceName === 'lease'
                ? env.SHOAL_AUTOSCALER_LEASE_NAME
                : env.SHOAL_AUTOSCALER_STATEFULSET,
            ],
          }),
      verbs: [...p.verbs],
    }));
    assert.deepEqual(roles[0]!.rules, expected);
    const subject = bound('Role', roles[0]!);
    assert.equal(subject.name, autoscaler.spec.template.spec.serviceAccountName);
    assert.equal(subject.namespace, NAMESPACE);
  }
  if (topology) {
    assert.deepEqual(
      clusterRoles[0]!.rules,
      NODE_LABELS_PERMISSIONS.map((p) => ({
        apiGroups: [p.apiGroup],
        resources: [p.resource],
        verbs: [...p.verbs],
      })),
    );
    assert.equal(
      bound('ClusterRole', clusterRoles[0]!).name,
      podSpec(peerNodes).serviceAccountName,
    );
  }
}

function checkNats(objects: K8sObject[], values: ValuesCase): void {
  const urls = WORKLOAD_KINDS.flatMap((kind) => byKind(objects, kind))
    .flatMap((w) => podSpec(w).containers as K8sObject[])
    .filter((c) => isShoalContainer(c.name))
    .map((c) => resolveEnv(c).SHOAL_NATS_URL);
  assert.ok(urls.length > 0);
  assert.equal(new Set(urls).size, 1, 'every service uses the same NATS');
  const nats = byKind(objects, 'StatefulSet').find((s) => s.metadata.name.endsWith('-nats'));
  if (nats === undefined) {
    assert.ok(
      values.set?.includes('nats.bundled.enabled=false') ||
        values.files?.some((f) => f.includes('external')),
    );
    return;
  }
  const client = named(objects, 'Service', nats.metadata.name);
  assert.equal(urls[0], `nats://${client?.metadata.name}:${client?.spec.ports[0].port}`);
}

describe('helm chart', () => {
  let routes: Set<string>;
  before(async () => {
    await helmBinary();
    routes = await serviceKitRoutes();
    authSamplesDir = await mkdtemp(join(tmpdir(), 'shoal-chart-auth-'));
  });
  after(() => rm(authSamplesDir, { recursive: true, force: true }));

  for (const values of CASES) {
    it(`lints and renders: ${values.name}`, async () => {
      await helm([
        'lint',
        CHART_DIR,
        '--strict',
        '--kube-version',
        KUBE_VERSION,
        ...valuesArgs(values),
      ]);
      const objects = await render(values);
      const keys = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      assert.equal(new Set(keys).size, keys.length, 'object names are unique per kind');
      for (const object of objects) {
        assert.equal(
          object.metadata.labels?.['app.kubernetes.io/part-of'],
          'shoal',
          `${object.kind} labels`,
        );
      }
      const workloads = [
        ...WORKLOAD_KINDS.flatMap((kind) => byKind(objects, kind)),
        ...byKind(objects, 'Pod'),
      ];
      for (const workload of workloads) await checkWorkload(workload, routes);
      checkServices(objects);
      checkRbac(objects);
      checkNats(objects, values);
    });
  }

  it('renders the pieces each option asks for', async () => {
    const defaults = await render({ name: 'defaults' });
    const pieceStore = named(defaults, 'StatefulSet', 'shoal-piece-store');
    assert.equal(pieceStore?.spec.replicas, undefined, 'the autoscaler owns the replica count');
    assert.equal(pieceStore?.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '100Gi');
    const peer = podSpec(named(defaults, 'DaemonSet', 'shoal-peer-node')!);
    assert.deepEqual(peer.containers[0].command, [
      'node',
      '--env-file=/run/shoal/node-labels.env',
      'dist/main.js',
    ]);
    assert.equal(
      peer.containers[0].env.find((e: K8sObject) => e.name === 'SHOAL_ADVERTISE_IP').valueFrom
        .fieldRef.fieldPath,
      'status.hostIP',
    );
    assert.equal(
      peer.volumes.find((v: K8sObject) => v.name === 'cache').hostPath.path,
      '/var/lib/shoal/peer-node',
    );
    assert.ok(
      named(defaults, 'Pod', 'shoal-test')?.metadata.annotations['helm.sh/hook'] === 'test',
    );

    const plain = await render(CASES[4]!);
    assert.equal(named(plain, 'StatefulSet', 'shoal-piece-store')?.spec.replicas, 2);
    const plainPeer = podSpec(named(plain, 'DaemonSet', 'shoal-peer-node')!);
    assert.deepEqual(plainPeer.containers[0].command, ['node', 'dist/main.js']);
    assert.equal(plainPeer.containers[0].ports[0].hostPort, undefined);
    assert.equal(byKind(plain, 'ServiceAccount').length, 0);

    const ha = await render(CASES[3]!);
    const conf = named(ha, 'ConfigMap', 'shoal-nats-config')?.data['nats.conf'] as string;
    assert.equal(named(ha, 'StatefulSet', 'shoal-nats')?.spec.replicas, 3);
    assert.equal(
      conf.match(/nats:\/\/shoal-nats-\d\.shoal-nats-headless\.shoal-test\.svc:6222/g)?.length,
      3,
    );
    assert.ok(named(ha, 'PodDisruptionBudget', 'shoal-nats'));
    assert.equal(byKind(ha, 'ServiceMonitor').length, 3);
    assert.equal(byKind(ha, 'PodMonitor').length, 1);

    const secret = await render(CASES[2]!);
    const trackerEnv = podSpec(named(secret, 'Deployment', 'shoal-tracker')!).containers[0].env;
    assert.deepEqual(
      trackerEnv.find((e: K8sObject) => e.name === 'SHOAL_NATS_URL').valueFrom.secretKeyRef,
      { name: 'shoal-nats', key: 'url' },
    );
  });

  it('mounts the NATS credential of each method into every container that talks to NATS', async () => {
    const methods: { values: ValuesCase; variables: Record<string, string>; key: string }[] = [
      {
        values: CASES.find((c) => c.name === 'example: external NATS')!,
        variables: { SHOAL_NATS_CREDS_FILE: '/etc/shoal/nats-auth/user.creds' },
        key: 'user.creds',
      },
      {
        values: CASES.find((c) => c.name === 'external NATS with a token')!,
        variables: { SHOAL_NATS_TOKEN_FILE: '/etc/shoal/nats-auth/token' },
        key: 'nats-token',
      },
      {
        values: CASES.find((c) => c.name === 'external NATS with a NKey seed')!,
        variables: { SHOAL_NATS_NKEY_SEED_FILE: '/etc/shoal/nats-auth/user.nk' },
        key: 'seed.nk',
      },
      {
        values: CASES.find((c) => c.name === 'external NATS with a user and password')!,
        variables: {
          SHOAL_NATS_USER: 'shoal',
          SHOAL_NATS_PASSWORD_FILE: '/etc/shoal/nats-auth/password',
        },
        key: 'password',
      },
    ];
    const authVariables = ['SHOAL_NATS_USER', ...Object.keys(NATS_AUTH_FILES)];
    for (const { values, variables, key } of methods) {
      const objects = await render(values);
      const secretName = values.files === undefined ? 'shoal-nats-auth' : 'shoal-nats';
      const users: string[] = [];
      for (const workload of [
        ...WORKLOAD_KINDS.flatMap((k) => byKind(objects, k)),
        ...byKind(objects, 'Pod'),
      ]) {
        const spec = podSpec(workload);
        for (const container of [
          ...spec.containers,
          ...(spec.initContainers ?? []),
        ] as K8sObject[]) {
          const at = `${values.name}: ${workload.metadata.name} container ${container.name}`;
          const env = resolveEnv(container);
          const mounted = (container.volumeMounts ?? []).some(
            (m: K8sObject) => m.name === 'nats-auth',
          );
          if (env.SHOAL_NATS_URL === undefined) {
            assert.equal(mounted, false, `${at}: no NATS, no credential`);
            continue;
          }
          users.push(container.name);
          const set = Object.fromEntries(
            authVariables.filter((n) => n in env).map((n) => [n, env[n]]),
          );
          assert.deepEqual(set, variables, `${at}: the method's variables, no other`);
          const file = Object.entries(variables).find(([name]) => name.endsWith('_FILE'))![1];
          assert.deepEqual(mountedSecretKey(spec, container, file), { secretName, key }, at);
        }
      }
      assert.deepEqual(users.sort(), ['autoscaler', 'peer-node', 'piece-store', 'tracker']);
    }
    // Without auth settings there is no credential anywhere.
    for (const values of [CASES[0]!, CASES[4]!]) {
      const text = JSON.stringify(await render(values));
      assert.ok(!text.includes('nats-auth'), `${values.name}: no credential volume`);
      assert.ok(
        !/SHOAL_NATS_[A-Z_]*(FILE|USER)/.test(text),
        `${values.name}: no credential variable`,
      );
    }
  });

  it('runs nats-server with the bundled configuration, single and clustered', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-chart-nats-'));
    onCleanup(t, () => rm(dir, { recursive: true, force: true }));
    for (const replicas of [1, 3]) {
      const objects = await render({ name: 'nats', set: [`nats.bundled.replicas=${replicas}`] });
      const port = await freePort();
      // The rendered file with this machine's paths and free ports.
      const rendered = named(objects, 'ConfigMap', 'shoal-nats-config');
      assert.ok(rendered, 'the NATS ConfigMap');
      const conf = (rendered.data['nats.conf'] as string)
        .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${port}`)
        .replace('http: 0.0.0.0:8222', `http: 127.0.0.1:${await freePort()}`)
        .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${await freePort()}`)
        .replaceAll('/data/jetstream', join(dir, `js-${replicas}`))
        .replace('/var/run/nats/nats.pid', join(dir, `nats-${replicas}.pid`));
      const file = join(dir, `nats-${replicas}.conf`);
      await writeFile(file, conf);
      const server = await startProcess('nats-server', ['-c', file], {
        env: { SERVER_NAME: `shoal-nats-0-r${replicas}` },
        ready: /Server is ready/,
        t,
      });
      const logs = server.logs();
      assert.match(logs, /Starting JetStream/);
      assert.match(logs, /Max Storage:\s+9\.00 GB/);
      if (replicas === 3) assert.match(logs, /Cluster:\s+shoal-nats/);
      await server.stop();
    }
  });

  it('refuses values that cannot work, naming the problem', async () => {
    const refused: [string[], RegExp][] = [
      [['nats.bundled.replicas=2'], /nats\/bundled\/replicas/],
      [['tracker.prot=1'], /additional properties 'prot'/],
      [['tracker.extraEnv.PATH=/tmp'], /'PATH' does not match pattern/],
      [['peerNode.seedingPolicy=sometimes'], /seedingPolicy/],
      [['autoscaler.minReplicas=5', 'autoscaler.maxReplicas=3'], /minReplicas must not exceed/],
      [['autoscaler.lease.renewDeadlineMs=20000'], /renewDeadlineMs must be shorter/],
      [['nats.bundled.enabled=false'], /nats.external.url/],
      [
        ['nats.bundled.enabled=false', 'nats.external.url=nats://shoal:pw@nats.messaging:4222'],
        /nats\/external\/url/,
      ],
      [
        ['nats.external.auth.existingSecret=s', 'nats.external.auth.tokenKey=t'],
        /applies to an external NATS/,
      ],
      ...[
        ['tokenKey=t', 'credsKey=c'],
        ['tokenKey=t', 'user=u', 'passwordKey=p'],
        ['user=u'],
        ['passwordKey=p'],
        [],
      ].map((keys): [string[], RegExp] => [
        [
          'nats.bundled.enabled=false',
          'nats.external.url=nats://nats.messaging:4222',
          'nats.external.auth.existingSecret=s',
          ...keys.map((pair) => `nats.external.auth.${pair}`),
        ],
        /nats\/external\/auth/,
      ]),
      [
        [
          'nats.bundled.enabled=false',
          'nats.external.url=nats://nats.messaging:4222',
          'nats.external.auth.tokenKey=t',
        ],
        /nats\/external\/auth/,
      ],
    ];
    for (const [set, message] of refused) {
      await assert.rejects(render({ name: 'bad', set }), (error: unknown) => {
        assert.ok(error instanceof HelmError);
        assert.match(error.stderr, message);
        return true;
      });
    }
  });
});
