// The only Kubernetes API calls the autoscaler makes, behind a small interface: the scale
// subresource of one StatefulSet and one Lease. `KUBE_API_PERMISSIONS` lists them as RBAC rules;
// the chart's Role is checked against it and the tests check the calls against it.
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  KubeConfig,
  Observable,
  type RequestContext,
  type ResponseContext,
  type V1Lease,
  V1MicroTime,
  type V1Scale,
} from '@kubernetes/client-node';
import { AutoscalerError, AutoscalerErrorCode } from './errors.ts';

/** An RBAC rule the code needs; `resourceName` says which object's name the rule is bound to. */
export interface ApiPermission {
  apiGroup: string;
  resource: string;
  verbs: readonly string[];
  resourceName?: 'statefulSet' | 'lease';
}

/**
 * Everything the autoscaler asks of the API server. `create` cannot be limited to one name (the
 * name is not part of a create request's URL), so it has a rule of its own.
 */
export const KUBE_API_PERMISSIONS: readonly ApiPermission[] = [
  {
    apiGroup: 'apps',
    resource: 'statefulsets/scale',
    verbs: ['get', 'update'],
    resourceName: 'statefulSet',
  },
  {
    apiGroup: 'coordination.k8s.io',
    resource: 'leases',
    verbs: ['get', 'update'],
    resourceName: 'lease',
  },
  { apiGroup: 'coordination.k8s.io', resource: 'leases', verbs: ['create'] },
];

export interface ScaleState {
  /** `spec.replicas`: what the StatefulSet is asked to run. */
  replicas: number;
  /** `status.replicas`: pods that exist now. */
  statusReplicas: number;
  resourceVersion: string;
}

export interface LeaseState {
  holderIdentity: string | undefined;
  leaseDurationSeconds: number | undefined;
  leaseTransitions: number;
  acquireTime: Date | undefined;
  resourceVersion: string;
}

export interface LeaseWrite {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date;
  renewTime: Date;
  leaseTransitions: number;
}

export interface KubeApi {
  readScale(): Promise<ScaleState>;
  /** Sets `spec.replicas`; with `resourceVersion` a concurrent change answers 409. */
  replaceScale(replicas: number, resourceVersion: string): Promise<ScaleState>;
  /** `undefined` when the Lease does not exist yet. */
  readLease(): Promise<LeaseState | undefined>;
  createLease(write: LeaseWrite): Promise<LeaseState>;
  replaceLease(write: LeaseWrite, resourceVersion: string): Promise<LeaseState>;
}

export interface KubeApiOptions {
  namespace: string;
  statefulSet: string;
  lease: string;
  /** Deadline of each call, body included. */
  timeoutMs: number;
}

/** Loads the kubeconfig: an explicit file, else `KUBECONFIG`, `~/.kube/config`, in-cluster. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file === undefined) kc.loadFromDefault();
  else kc.loadFromFile(file);
  return kc;
}

/** HTTP statuses worth retrying: throttled or a server-side failure. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof AutoscalerError)) return false;
  if (error.code === AutoscalerErrorCode.ApiTimeout) return true;
  if (error.code !== AutoscalerErrorCode.ApiFailed) return false;
  return error.status === undefined || error.status === 429 || error.status >= 500;
}

export function isConflict(error: unknown): boolean {
  return error instanceof AutoscalerError && error.status === 409;
}

function isNotFound(error: unknown): boolean {
  return error instanceof AutoscalerError && error.status === 404;
}

/** Per-call client options that abort the request, body included, after `timeoutMs`. */
export function withDeadline(timeoutMs: number) {
  return {
    middleware: [
      {
        pre: (context: RequestContext) => {
          context.setSignal(AbortSignal.timeout(timeoutMs));
          return new Observable(Promise.resolve(context));
        },
        post: (context: ResponseContext) => new Observable(Promise.resolve(context)),
      },
    ],
    middlewareMergeStrategy: 'append' as const,
  };
}

/** The `message` of a Kubernetes `Status` body (an object, or its JSON text), as `: message`. */
function statusMessage(body: unknown): string {
  let status = body;
  if (typeof body === 'string') {
    try {
      status = JSON.parse(body);
    } catch {
      return body === '' ? '' : `: ${body.slice(0, 300)}`;
    }
  }
  const message = (status as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? `: ${message.slice(0, 300)}` : '';
}

/** Every failure as an `AutoscalerError` naming the call; the API's own message is kept. */
export function apiError(call: string, error: unknown): AutoscalerError {
  if (error instanceof AutoscalerError) return error;
  if (error instanceof ApiException) {
    return new AutoscalerError(
      AutoscalerErrorCode.ApiFailed,
      `${call}: HTTP ${error.code}${statusMessage(error.body)}`,
      { cause: error, status: error.code },
    );
  }
  const name = error instanceof Error ? error.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new AutoscalerError(AutoscalerErrorCode.ApiTimeout, `${call}: no answer in time`, {
      cause: error,
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new AutoscalerError(AutoscalerErrorCode.ApiFailed, `${call}: ${message}`, {
    cause: error,
  });
}

function nonNegativeInt(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new AutoscalerError(
      AutoscalerErrorCode.BadApiResponse,
      `${what}: expected a non-negative integer, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function resourceVersionOf(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 64) {
    throw new AutoscalerError(
      AutoscalerErrorCode.BadApiResponse,
      `${what}: metadata.resourceVersion missing or malformed`,
    );
  }
  return value;
}

function toScaleState(scale: V1Scale): ScaleState {
  return {
    replicas: nonNegativeInt(scale.spec?.replicas ?? 0, 'scale spec.replicas'),
    statusReplicas: nonNegativeInt(scale.status?.replicas ?? 0, 'scale status.replicas'),
    resourceVersion: resourceVersionOf(scale.metadata?.resourceVersion, 'scale'),
  };
}

function toLeaseState(lease: V1Lease): LeaseState {
  const spec = lease.spec ?? {};
  // The client hands MicroTime fields back as the raw RFC 3339 string.
  const acquired = spec.acquireTime === undefined ? undefined : new Date(spec.acquireTime);
  return {
    holderIdentity: spec.holderIdentity === '' ? undefined : spec.holderIdentity,
    leaseDurationSeconds:
      spec.leaseDurationSeconds === undefined
        ? undefined
        : nonNegativeInt(spec.leaseDurationSeconds, 'lease spec.leaseDurationSeconds'),
    leaseTransitions: nonNegativeInt(spec.leaseTransitions ?? 0, 'lease spec.leaseTransitions'),
    acquireTime: acquired === undefined || Number.isNaN(acquired.getTime()) ? undefined : acquired,
    resourceVersion: resourceVersionOf(lease.metadata?.resourceVersion, 'lease'),
  };
}

/** The client-node implementation; every call carries an abort deadline. */
export function createKubeApi(kc: KubeConfig, options: KubeApiOptions): KubeApi {
  const apps = kc.makeApiClient(AppsV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const { namespace, statefulSet, lease, timeoutMs } = options;
  const deadline = () => withDeadline(timeoutMs);
  const call = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw apiError(name, error);
    }
  };
  const leaseBody = (write: LeaseWrite, resourceVersion?: string): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: lease,
      namespace,
      ...(resourceVersion === undefined ? {} : { resourceVersion }),
    },
    spec: {
      holderIdentity: write.holderIdentity,
      leaseDurationSeconds: write.leaseDurationSeconds,
      // MicroTime: the API server accepts exactly six fractional digits.
      acquireTime: new V1MicroTime(write.acquireTime.getTime()),
      renewTime: new V1MicroTime(write.renewTime.getTime()),
      leaseTransitions: write.leaseTransitions,
    },
  });

  return {
    readScale: () =>
      call('get statefulsets/scale', async () =>
        toScaleState(
          await apps.readNamespacedStatefulSetScale({ name: statefulSet, namespace }, deadline()),
        ),
      ),
    replaceScale: (replicas, resourceVersion) =>
      call('update statefulsets/scale', async () =>
        toScaleState(
          await apps.replaceNamespacedStatefulSetScale(
            {
              name: statefulSet,
              namespace,
              body: {
                apiVersion: 'autoscaling/v1',
                kind: 'Scale',
                metadata: { name: statefulSet, namespace, resourceVersion },
                spec: { replicas },
              },
            },
            deadline(),
          ),
        ),
      ),
    readLease: async () => {
      try {
        return await call('get leases', async () =>
          toLeaseState(
            await coordination.readNamespacedLease({ name: lease, namespace }, deadline()),
          ),
        );
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    },
    createLease: (write) =>
      call('create leases', async () =>
        toLeaseState(
          await coordination.createNamespacedLease(
            { namespace, body: leaseBody(write) },
            deadline(),
          ),
        ),
      ),
    replaceLease: (write, resourceVersion) =>
      call('update leases', async () =>
        toLeaseState(
          await coordination.replaceNamespacedLease(
            { name: lease, namespace, body: leaseBody(write, resourceVersion) },
            deadline(),
          ),
        ),
      ),
  };
}

/** Outcome label of one API call, for metrics. */
export function callOutcome(error: unknown): 'ok' | 'conflict' | 'retryable' | 'error' {
  if (error === undefined) return 'ok';
  if (isConflict(error)) return 'conflict';
  return isRetryable(error) ? 'retryable' : 'error';
}

/** Wraps every call of `api` to report its operation and outcome. */
export function instrumentKubeApi(
  api: KubeApi,
  report: (op: keyof KubeApi, outcome: ReturnType<typeof callOutcome>) => void,
): KubeApi {
  const wrap =
    <A extends unknown[], R>(op: keyof KubeApi, run: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        const result = await run(...args);
        report(op, 'ok');
        return result;
      } catch (error) {
        report(op, callOutcome(error));
        throw error;
      }
    };
  return {
    readScale: wrap('readScale', api.readScale),
    replaceScale: wrap('replaceScale', api.replaceScale),
    readLease: wrap('readLease', api.readLease),
    createLease: wrap('createLease', api.createLease),
    replaceLease: wrap('replaceLease', api.replaceLease),
  };
}
