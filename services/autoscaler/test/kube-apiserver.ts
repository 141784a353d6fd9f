// A real Kubernetes API server for the tests: Debian's etcd and the kube-apiserver that
// scripts/install-kube-apiserver.sh builds from the Kubernetes Go modules (scripts/setup.sh runs
// it), both on 127.0.0.1 and free ports, with their data in a temp dir, stopped when the test
// ends. Authentication: a static admin token (group system:masters) and service-account tokens
// signed with a key made here; authorization: RBAC. There is no controller-manager, scheduler
// or kubelet: objects are stored and validated, nothing reconciles them (a StatefulSet's
// spec.replicas is what the autoscaler sets; no pod appears).
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  loadAllYaml,
  RbacAuthorizationV1Api,
  type V1Lease,
  type V1Role,
  type V1RoleBinding,
  type V1ServiceAccount,
  VersionApi,
} from '@kubernetes/client-node';
import {
  type AfterHook,
  freePort,
  type ManagedProcess,
  onCleanup,
  requireExecutable,
  startProcess,
  waitFor,
} from '@shoal/testkit';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const run = promisify(execFile);

export interface KubeApiServer {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** PEM of the serving certificate (self-signed, the CA a client trusts). */
  readonly ca: string;
  /** A client with the static admin token (system:masters). */
  readonly admin: KubeConfig;
  readonly dir: string;
  /** kube-apiserver's and etcd's output, for failure messages. */
  logs(): string;
}

/**
 * The path of the pinned kube-apiserver. Never builds (that is scripts/setup.sh's job, up to
 * half an hour the first time): a missing binary fails the test, saying how to build it.
 */
export function kubeApiServerBinary(): string {
  try {
    const out = execFileSync(
      'bash',
      [join(REPO_ROOT, 'scripts/install-kube-apiserver.sh'), '--check'],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return out.trim().split('\n').pop() ?? '';
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '').trim();
    throw new Error(`kube-apiserver is missing, these tests need it: ${stderr || String(error)}`);
  }
}

/** `count` distinct free ports on 127.0.0.1. */
async function freePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort());
  return [...ports];
}

/** Starts etcd and kube-apiserver; resolves once /readyz answers 200. Stopped when `t` ends. */
export async function startKubeApiServer(
  t: AfterHook,
  options: { readyTimeoutMs?: number } = {},
): Promise<KubeApiServer> {
  const binary = kubeApiServerBinary();
  const etcdBinary = requireExecutable('etcd', 'etcd-server');
  const openssl = requireExecutable('openssl');
  const dir = await mkdtemp(join(tmpdir(), 'shoal-kube-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));

  // Serving certificate for 127.0.0.1, and the key service-account tokens are signed with.
  const cert = join(dir, 'apiserver.crt');
  const key = join(dir, 'apiserver.key');
  execFileSync(
    openssl,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
      .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-apiserver'])
      .concat(['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost']),
    { stdio: 'ignore' },
  );
  const saKey = join(dir, 'service-account.key');
  execFileSync(
    openssl,
    ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', saKey],
    { stdio: 'ignore' },
  );
  const saPublicKey = join(dir, 'service-account.pub');
  execFileSync(openssl, ['pkey', '-in', saKey, '-pubout', '-out', saPublicKey], {
    stdio: 'ignore',
  });
  const adminToken = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  await writeFile(tokenFile, `${adminToken},shoal-test-admin,shoal-test-admin,"system:masters"\n`, {
    mode: 0o600,
  });

  const [etcdClientPort, etcdPeerPort, securePort] = await freePorts(3);
  const etcdClient = `http://127.0.0.1:${etcdClientPort}`;
  const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
  const etcd = await startProcess(
    etcdBinary,
    ['--name', 'shoal-test', '--data-dir', join(dir, 'etcd')]
      .concat(['--listen-client-urls', etcdClient, '--advertise-client-urls', etcdClient])
      .concat(['--listen-peer-urls', etcdPeer, '--initial-advertise-peer-urls', etcdPeer])
      .concat(['--initial-cluster', `shoal-test=${etcdPeer}`, '--initial-cluster-state', 'new']),
    {
      name: `etcd:${etcdClientPort}`,
      ready: { url: `${etcdClient}/health` },
      readyTimeoutMs: 30_000,
      t,
    },
  );

  const apiserver = await startProcess(
    binary,
    [
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${securePort}`,
      `--tls-cert-file=${cert}`,
      `--tls-private-key-file=${key}`,
      `--etcd-servers=${etcdClient}`,
      `--token-auth-file=${tokenFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${saPublicKey}`,
      `--service-account-signing-key-file=${saKey}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // Nothing runs in this "cluster": no endpoints of its own to publish, no profiling.
      '--endpoint-reconciler-type=none',
      '--profiling=false',
      `--cert-dir=${join(dir, 'certs')}`,
    ],
    { name: `kube-apiserver:${securePort}`, t },
  );
  const ca = await readFile(cert, 'utf8');
  const url = `https://127.0.0.1:${securePort}`;
  const logs = () =>
    `--- kube-apiserver ---\n${tail(apiserver.logs())}\n--- etcd ---\n${tail(etcd.logs())}`;
  await waitForReady(url, ca, adminToken, apiserver, options.readyTimeoutMs ?? 120_000, logs);

  const admin = new KubeConfig();
  admin.loadFromOptions({
    clusters: [{ name: 'test', server: url, caData: Buffer.from(ca).toString('base64') }],
    users: [{ name: 'admin', token: adminToken }],
    contexts: [{ name: 'admin', cluster: 'test', user: 'admin' }],
    currentContext: 'admin',
  });
  return { url, ca, admin, dir, logs };
}

function tail(text: string): string {
  return text.length > 6000 ? `…${text.slice(-6000)}` : text;
}

/** GET `path` with a bearer token, trusting `ca`; resolves with status and body. */
export function httpsGet(
  url: string,
  ca: string,
  token: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca, headers: { authorization: `Bearer ${token}` }, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitForReady(
  url: string,
  ca: string,
  token: string,
  apiserver: ManagedProcess,
  timeoutMs: number,
  logs: () => string,
): Promise<void> {
  let last = 'no answer yet';
  try {
    await waitFor(
      async () => {
        if (apiserver.exitStatus() !== undefined) return true;
        try {
          const answer = await httpsGet(`${url}/readyz`, ca, token);
          last = `${answer.status} ${answer.body.slice(-500)}`;
          return answer.status === 200;
        } catch (error) {
          last = String(error);
          return false;
        }
      },
      { timeoutMs, intervalMs: 250, description: 'kube-apiserver /readyz' },
    );
  } catch (error) {
    throw new Error(
      `kube-apiserver not ready within ${timeoutMs} ms (last /readyz: ${last})\n${logs()}`,
      { cause: error },
    );
  }
  const exited = apiserver.exitStatus();
  if (exited !== undefined) {
    throw new Error(`kube-apiserver exited (${JSON.stringify(exited)}) while starting\n${logs()}`);
  }
}

/** A kubeconfig file for `server` with a bearer token; returns its path. */
export async function writeKubeconfig(
  dir: string,
  file: string,
  options: { server: string; ca: string; token: string; namespace: string },
): Promise<string> {
  const path = join(dir, file);
  const ca = Buffer.from(options.ca).toString('base64');
  await writeFile(
    path,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      `- name: test\n  cluster:\n    server: ${options.server}\n    certificate-authority-data: ${ca}`,
      'users:',
      `- name: autoscaler\n  user:\n    token: ${options.token}`,
      'contexts:',
      `- name: test\n  context:\n    cluster: test\n    user: autoscaler\n    namespace: ${options.namespace}`,
      'current-context: test',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

export async function createNamespace(admin: KubeConfig, name: string): Promise<void> {
  await admin.makeApiClient(CoreV1Api).createNamespace({
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
  });
}

/** The piece-store StatefulSet as the chart would declare it (trimmed to the required fields). */
export async function createStatefulSet(
  admin: KubeConfig,
  namespace: string,
  name: string,
  replicas: number,
): Promise<void> {
  const labels = {
    'app.kubernetes.io/name': 'shoal',
    'app.kubernetes.io/component': 'piece-store',
  };
  await admin.makeApiClient(AppsV1Api).createNamespacedStatefulSet({
    namespace,
    body: {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name, namespace, labels },
      spec: {
        replicas,
        serviceName: name,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'piece-store', image: 'shoal/piece-store:test' }] },
        },
      },
    },
  });
}

/** `spec.replicas` of the StatefulSet, read back through the API. */
export async function statefulSetReplicas(
  admin: KubeConfig,
  namespace: string,
  name: string,
): Promise<number | undefined> {
  const sts = await admin.makeApiClient(AppsV1Api).readNamespacedStatefulSet({ name, namespace });
  return sts.spec?.replicas;
}

/** Another writer changes the StatefulSet (an annotation): any version read before is stale. */
export async function touchStatefulSet(
  admin: KubeConfig,
  namespace: string,
  name: string,
): Promise<void> {
  const apps = admin.makeApiClient(AppsV1Api);
  const sts = await apps.readNamespacedStatefulSet({ name, namespace });
  sts.metadata = {
    ...sts.metadata,
    annotations: { ...sts.metadata?.annotations, 'shoal.test/touched': String(Date.now()) },
  };
  await apps.replaceNamespacedStatefulSet({ name, namespace, body: sts });
}

export async function readLease(
  admin: KubeConfig,
  namespace: string,
  name: string,
): Promise<V1Lease | undefined> {
  try {
    return await admin.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace });
  } catch (error) {
    if ((error as { code?: unknown }).code === 404) return undefined;
    throw error;
  }
}

/** RFC 3339 with six fractional digits, as the API server wants a MicroTime. */
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Writes the Lease as another candidate that ignores the protocol would: holder `identity`,
 * renewed now. Returns false on a conflict (someone wrote in between; try again).
 */
export async function grabLease(
  admin: KubeConfig,
  namespace: string,
  name: string,
  identity: string,
  durationSeconds: number,
): Promise<boolean> {
  const coordination = admin.makeApiClient(CoordinationV1Api);
  const lease = await coordination.readNamespacedLease({ name, namespace });
  const spec = lease.spec ?? {};
  const now = microTime(new Date());
  const body = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, resourceVersion: lease.metadata?.resourceVersion },
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: durationSeconds,
      acquireTime: spec.holderIdentity === identity ? spec.acquireTime : now,
      renewTime: now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (spec.holderIdentity === identity ? 0 : 1),
    },
  } as unknown as V1Lease;
  try {
    await coordination.replaceNamespacedLease({ name, namespace, body });
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === 409) return false;
    throw error;
  }
}

/** The pinned helm (scripts/install-helm.sh; scripts/setup.sh installs it beforehand). */
async function helmBinary(): Promise<string> {
  const { stdout } = await run('bash', [join(REPO_ROOT, 'scripts/install-helm.sh')], {
    timeout: 15 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout.trim().split('\n').pop() ?? '';
}

export interface ChartRbac {
  serviceAccount: V1ServiceAccount;
  role: V1Role;
  roleBinding: V1RoleBinding;
}

/**
 * Renders the chart's autoscaler objects (release `release` in `namespace`) with the real helm
 * and creates its ServiceAccount, Role and RoleBinding exactly as rendered.
 */
export async function applyChartRbac(
  admin: KubeConfig,
  namespace: string,
  release: string,
): Promise<ChartRbac> {
  // Rendered for the version this API server reports, as `helm install` against it would.
  const { gitVersion } = await admin.makeApiClient(VersionApi).getCode();
  const chart = join(REPO_ROOT, 'deploy/helm/shoal');
  const { stdout } = await run(
    await helmBinary(),
    ['template', release, chart, '--namespace', namespace, '--kube-version', gitVersion].concat([
      '--show-only',
      'templates/autoscaler.yaml',
    ]),
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  const objects = (loadAllYaml(stdout) as { kind?: string }[]).filter((o) => o !== null);
  const one = <T>(kind: string): T => {
    const found = objects.filter((o) => o.kind === kind);
    if (found.length !== 1) throw new Error(`the chart rendered ${found.length} ${kind} objects`);
    return found[0] as T;
  };
  const rbac: ChartRbac = {
    serviceAccount: one<V1ServiceAccount>('ServiceAccount'),
    role: one<V1Role>('Role'),
    roleBinding: one<V1RoleBinding>('RoleBinding'),
  };
  const core = admin.makeApiClient(CoreV1Api);
  const authz = admin.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: rbac.serviceAccount });
  await authz.createNamespacedRole({ namespace, body: rbac.role });
  await authz.createNamespacedRoleBinding({ namespace, body: rbac.roleBinding });
  return rbac;
}

/** A token of the ServiceAccount from the TokenRequest API, as a projected volume would hold. */
export async function serviceAccountToken(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const answer = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { audiences: [], expirationSeconds: 3600 },
    },
  });
  const token = answer.status?.token;
  if (token === undefined || token === '') throw new Error('TokenRequest returned no token');
  return token;
}
