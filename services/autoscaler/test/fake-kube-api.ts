// An in-process Kubernetes API server with only the endpoints shoal calls, answering as the
// Kubernetes API reference describes: the autoscaling/v1 Scale subresource of StatefulSets,
// coordination.k8s.io/v1 Leases (optimistic concurrency on metadata.resourceVersion, 409 on a
// stale one, strict MicroTime) and Node reads. Errors are `Status` objects with the reason and
// code a real server sends. Faults can be injected; every request is recorded.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireExecutable } from '@shoal/testkit';

export interface RecordedRequest {
  method: string;
  path: string;
  /** RBAC verb the request needs (get, create, update, patch...). */
  verb: string;
  apiGroup: string;
  /** `statefulsets/scale`, `leases`, `nodes`... */
  resource: string;
  /** Object name from the URL; `undefined` for a create. */
  name: string | undefined;
  status: number;
}

interface Fault {
  /** Which requests: `METHOD resource`, e.g. `PUT statefulsets/scale`. */
  match: string;
  remaining: number;
  status: number;
}

export interface LeaseObject {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: Record<string, unknown> & { name: string; namespace: string; resourceVersion: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/;
const MAX_BODY_BYTES = 1024 * 1024;
const TOKEN = 'shoal-test-token';

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  413: 'RequestEntityTooLarge',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export function status(code: number, message: string, reason = REASONS[code] ?? 'Unknown') {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    code,
  };
}

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  readonly #statefulSets = new Map<
    string,
    { replicas: number; resourceVersion: string; uid: string }
  >();
  readonly #leases = new Map<string, LeaseObject>();
  readonly #nodes = new Map<string, Record<string, string>>();
  readonly #faults: Fault[] = [];
  readonly #racedWrites = new Set<string>();
  #revision = 100;
  #server: Server | undefined;
  #certificate = '';
  port = 0;
  readonly namespace: string;

  constructor(namespace: string) {
    this.namespace = namespace;
  }

  /**
   * Serves HTTPS on 127.0.0.1 with a fresh self-signed certificate made by `openssl` in `dir`,
   * as a real API server does (the client refuses plain HTTP without skipping verification).
   */
  async start(dir: string): Promise<void> {
    const key = join(dir, 'apiserver.key');
    const cert = join(dir, 'apiserver.crt');
    execFileSync(
      requireExecutable('openssl'),
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=fake-kube-apiserver'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    this.#certificate = await readFile(cert, 'utf8');
    const server = createServer(
      { key: await readFile(key), cert: this.#certificate },
      (req, res) => {
        this.#handle(req, res).catch((error: unknown) => {
          this.#send(res, 500, status(500, String(error)));
        });
      },
    );
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig file for this server (its CA, a bearer token); returns its path. */
  async writeKubeconfig(dir: string): Promise<string> {
    const path = join(dir, 'kubeconfig');
    const ca = Buffer.from(this.#certificate).toString('base64');
    await writeFile(
      path,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: fake\n  cluster:\n    server: ${this.url}\n    certificate-authority-data: ${ca}`,
        'users:',
        `- name: autoscaler\n  user:\n    token: ${TOKEN}`,
        'contexts:',
        `- name: fake\n  context:\n    cluster: fake\n    user: autoscaler\n    namespace: ${this.namespace}`,
        'current-context: fake',
        '',
      ].join('\n'),
    );
    return path;
  }

  addStatefulSet(name: string, replicas: number): void {
    this.#statefulSets.set(name, {
      replicas,
      resourceVersion: this.#nextVersion(),
      uid: randomUUID(),
    });
  }

  replicas(name: string): number | undefined {
    return this.#statefulSets.get(name)?.replicas;
  }

  /** Another writer (kubectl scale, a rollout) changes the StatefulSet: the held version goes stale. */
  touchStatefulSet(name: string): void {
    const sts = this.#statefulSets.get(name);
    if (sts !== undefined) sts.resourceVersion = this.#nextVersion();
  }

  /** Another writer changes the StatefulSet just before the next scale update arrives. */
  raceNextScaleWrite(name: string): void {
    this.#racedWrites.add(name);
  }

  addNode(name: string, labels: Record<string, string>): void {
    this.#nodes.set(name, labels);
  }

  lease(name: string): LeaseObject | undefined {
    return this.#leases.get(name);
  }

  /** Writes a Lease as another candidate would (a new version, renewed now). */
  setLeaseHolder(name: string, holderIdentity: string, leaseDurationSeconds: number): void {
    const now = microTime(new Date());
    const existing = this.#leases.get(name);
    this.#leases.set(name, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        ...(existing?.metadata ?? { uid: randomUUID() }),
        name,
        namespace: this.namespace,
        resourceVersion: this.#nextVersion(),
      },
      spec: {
        holderIdentity,
        leaseDurationSeconds,
        acquireTime:
          existing?.spec.holderIdentity === holderIdentity ? existing.spec.acquireTime : now,
        renewTime: now,
        leaseTransitions:
          (existing?.spec.leaseTransitions ?? 0) +
          (existing?.spec.holderIdentity === holderIdentity ? 0 : 1),
      },
    });
  }

  /** The next `count` requests matching `METHOD resource` fail with `statusCode`. */
  failNext(match: string, count: number, statusCode: number): void {
    this.#faults.push({ match, remaining: count, status: statusCode });
  }

  #nextVersion(): string {
    this.#revision += 1;
    return String(this.#revision);
  }

  #send(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = parseRoute(method, path);
    const record = (code: number) => {
      this.requests.push({
        method,
        path,
        verb: route?.verb ?? 'unknown',
        apiGroup: route?.apiGroup ?? '',
        resource: route?.resource ?? 'unknown',
        name: route?.name,
        status: code,
      });
    };
    const reply = (code: number, body: unknown) => {
      record(code);
      this.#send(res, code, body);
    };
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      reply(401, status(401, 'Unauthorized'));
      return;
    }
    if (
      route === undefined ||
      (route.namespace !== undefined && route.namespace !== this.namespace)
    ) {
      reply(404, status(404, `the server could not find the requested resource`));
      return;
    }
    const fault = this.#faults.find(
      (f) => f.remaining > 0 && f.match === `${method} ${route.resource}`,
    );
    if (fault !== undefined) {
      fault.remaining -= 1;
      reply(fault.status, status(fault.status, 'injected fault'));
      return;
    }
    if (body === undefined) {
      reply(413, status(413, 'request entity too large'));
      return;
    }
    let parsed: unknown;
    if (body.length > 0) {
      try {
        parsed = JSON.parse(body);
      } catch {
        reply(400, status(400, 'the body of the request was in an unknown format'));
        return;
      }
    }
    const [code, answer] =
      route.resource === 'statefulsets/scale'
        ? this.#scale(route, parsed)
        : route.resource === 'leases'
          ? this.#lease(route, parsed)
          : this.#node(route);
    reply(code, answer);
  }

  #scale(route: Route, body: unknown): [number, unknown] {
    const name = route.name!;
    const sts = this.#statefulSets.get(name);
    if (sts === undefined) {
      return [404, status(404, `statefulsets.apps "${name}" not found`)];
    }
    const scaleObject = () => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {
        name,
        namespace: this.namespace,
        uid: sts.uid,
        resourceVersion: sts.resourceVersion,
        creationTimestamp: '2025-01-01T00:00:00Z',
      },
      spec: { replicas: sts.replicas },
      status: { replicas: sts.replicas, selector: 'app.kubernetes.io/component=piece-store' },
    });
    if (route.verb === 'get') return [200, scaleObject()];
    if (route.verb !== 'update') return [405, status(405, `${route.verb} is not supported here`)];
    const scale = body as {
      apiVersion?: unknown;
      kind?: unknown;
      metadata?: { name?: unknown; namespace?: unknown; resourceVersion?: unknown };
      spec?: { replicas?: unknown };
    };
    if (scale?.apiVersion !== 'autoscaling/v1' || scale.kind !== 'Scale') {
      return [400, status(400, 'body must be an autoscaling/v1 Scale')];
    }
    const check = checkMetadata(scale.metadata, name, this.namespace);
    if (check !== undefined) return check;
    const replicas = scale.spec?.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      return [
        422,
        status(422, `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value`),
      ];
    }
    if (this.#racedWrites.delete(name)) this.touchStatefulSet(name);
    const version = scale.metadata?.resourceVersion;
    if (version !== undefined && version !== sts.resourceVersion) {
      return [409, conflict('statefulsets.apps', name)];
    }
    sts.replicas = replicas;
    sts.resourceVersion = this.#nextVersion();
    return [200, scaleObject()];
  }

  #lease(route: Route, body: unknown): [number, unknown] {
    if (route.verb === 'get') {
      const lease = this.#leases.get(route.name!);
      return lease === undefined
        ? [404, status(404, `leases.coordination.k8s.io "${route.name}" not found`)]
        : [200, lease];
    }
    const lease = body as Partial<LeaseObject> | undefined;
    if (lease?.apiVersion !== 'coordination.k8s.io/v1' || lease.kind !== 'Lease') {
      return [400, status(400, 'body must be a coordination.k8s.io/v1 Lease')];
    }
    const name = route.verb === 'create' ? (lease.metadata?.name as string) : route.name!;
    const check = checkMetadata(lease.metadata, name, this.namespace);
    if (check !== undefined) return check;
    const spec = lease.spec ?? {};
    for (const field of ['acquireTime', 'renewTime'] as const) {
      const value = spec[field];
      if (value !== undefined && (typeof value !== 'string' || !MICRO_TIME.test(value))) {
        return [
          400,
          status(
            400,
            `parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse`,
          ),
        ];
      }
    }
    const duration = spec.leaseDurationSeconds;
    if (duration !== undefined && (!Number.isInteger(duration) || duration <= 0)) {
      return [
        422,
        status(
          422,
          `Lease.coordination.k8s.io "${name}" is invalid: spec.leaseDurationSeconds: must be greater than 0`,
        ),
      ];
    }
    const existing = this.#leases.get(name);
    if (route.verb === 'create') {
      if (existing !== undefined) {
        return [
          409,
          status(409, `leases.coordination.k8s.io "${name}" already exists`, 'AlreadyExists'),
        ];
      }
      if (lease.metadata?.resourceVersion !== undefined) {
        return [422, status(422, 'resourceVersion should not be set on objects to be created')];
      }
    } else {
      // Leases allow create-on-update, but shoal only updates a Lease it has just read.
      if (existing === undefined) {
        return [404, status(404, `leases.coordination.k8s.io "${name}" not found`)];
      }
      const version = lease.metadata?.resourceVersion;
      if (version !== undefined && version !== existing.metadata.resourceVersion) {
        return [409, conflict('leases.coordination.k8s.io', name)];
      }
    }
    const stored: LeaseObject = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        uid: existing?.metadata.uid ?? randomUUID(),
        creationTimestamp:
          existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        name,
        namespace: this.namespace,
        resourceVersion: this.#nextVersion(),
      },
      spec: { ...spec },
    };
    this.#leases.set(name, stored);
    return [route.verb === 'create' ? 201 : 200, stored];
  }

  #node(route: Route): [number, unknown] {
    const labels = this.#nodes.get(route.name!);
    if (labels === undefined) return [404, status(404, `nodes "${route.name}" not found`)];
    return [
      200,
      {
        kind: 'Node',
        apiVersion: 'v1',
        metadata: { name: route.name, uid: randomUUID(), resourceVersion: '1', labels },
        spec: {},
        status: {},
      },
    ];
  }
}

export interface Route {
  verb: string;
  apiGroup: string;
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
}

const VERBS: Record<string, string> = {
  GET: 'get',
  PUT: 'update',
  PATCH: 'patch',
  DELETE: 'delete',
};

/** The RBAC verb, group, resource and names of a request shoal makes; `undefined` for others. */
export function parseRoute(method: string, path: string): Route | undefined {
  const scale = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/statefulsets\/([^/]+)\/scale$/.exec(path);
  if (scale !== null && (method === 'GET' || method === 'PUT' || method === 'PATCH')) {
    return {
      verb: VERBS[method]!,
      apiGroup: 'apps',
      resource: 'statefulsets/scale',
      namespace: scale[1],
      name: scale[2],
    };
  }
  const leases =
    /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/.exec(path);
  if (leases !== null) {
    const group = 'coordination.k8s.io';
    if (leases[2] === undefined) {
      return method === 'POST'
        ? {
            verb: 'create',
            apiGroup: group,
            resource: 'leases',
            namespace: leases[1],
            name: undefined,
          }
        : undefined;
    }
    if (method === 'GET' || method === 'PUT') {
      return {
        verb: VERBS[method]!,
        apiGroup: group,
        resource: 'leases',
        namespace: leases[1],
        name: leases[2],
      };
    }
  }
  const node = /^\/api\/v1\/nodes\/([^/]+)$/.exec(path);
  if (node !== null && method === 'GET') {
    return { verb: 'get', apiGroup: '', resource: 'nodes', namespace: undefined, name: node[1] };
  }
  return undefined;
}

function checkMetadata(
  metadata: { name?: unknown; namespace?: unknown } | undefined,
  name: string,
  namespace: string,
): [number, unknown] | undefined {
  if (metadata?.name !== name) {
    return [
      400,
      status(
        400,
        `the name of the object (${String(metadata?.name)}) does not match the name on the URL (${name})`,
      ),
    ];
  }
  if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
    return [
      400,
      status(
        400,
        'the namespace of the provided object does not match the namespace sent on the request',
      ),
    ];
  }
  return undefined;
}

function conflict(kind: string, name: string) {
  return status(
    409,
    `Operation cannot be fulfilled on ${kind} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
  );
}

/** RFC 3339 with exactly six fractional digits, as Kubernetes writes MicroTime. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The body as text, or `undefined` when it is over MAX_BODY_BYTES. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}
