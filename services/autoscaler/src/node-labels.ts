// `shoal-node-labels`: the peer-node DaemonSet's init step. It reads the Node object the pod
// runs on (NODE_NAME from the downward API), takes its zone and rack labels and writes them as
// an env file (`SHOAL_ZONE=...`) that the peer-node loads with `node --env-file`. Pods cannot
// see their Node's labels through the downward API, hence one `get nodes` call.
import { writeFile } from 'node:fs/promises';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { Label } from '@shoal/bus';
import { envInt, envString, loadConfig } from '@shoal/service-kit';
import { z } from 'zod';
import { AutoscalerError, AutoscalerErrorCode } from './errors.ts';
import { type ApiPermission, apiError, withDeadline } from './kube.ts';

/** The one API call this step makes. */
export const NODE_LABELS_PERMISSIONS: readonly ApiPermission[] = [
  { apiGroup: '', resource: 'nodes', verbs: ['get'] },
];

// A label key as Kubernetes allows it: optional DNS-subdomain prefix, `/`, name.
const LABEL_KEY = {
  pattern:
    /^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
  describe: 'must be a Kubernetes label key',
};

export const NodeLabelsEnv = z.object({
  NODE_NAME: envString({
    pattern: /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/,
    describe: 'must be a Kubernetes node name',
  }),
  SHOAL_NODE_LABELS_OUTPUT: envString({ pattern: /^\//, describe: 'must be an absolute path' }),
  SHOAL_NODE_LABELS_ZONE_KEY: envString({ default: 'topology.kubernetes.io/zone', ...LABEL_KEY }),
  SHOAL_NODE_LABELS_RACK_KEY: envString({ default: 'rack', ...LABEL_KEY }),
  SHOAL_NODE_LABELS_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 5000 }),
  SHOAL_NODE_LABELS_ATTEMPTS: envInt({ min: 1, max: 100, default: 10 }),
  SHOAL_AUTOSCALER_KUBECONFIG: envString({
    pattern: /^\//,
    describe: 'must be an absolute path',
  }).optional(),
});

export interface NodeLabelsConfig {
  nodeName: string;
  output: string;
  zoneKey: string;
  rackKey: string;
  timeoutMs: number;
  attempts: number;
  kubeconfig: string | undefined;
}

export function loadNodeLabelsConfig(
  env: Record<string, string | undefined> = process.env,
): NodeLabelsConfig {
  try {
    const raw = loadConfig(NodeLabelsEnv, env, { rejectUnknownWithPrefix: 'SHOAL_NODE_LABELS_' });
    return {
      nodeName: raw.NODE_NAME,
      output: raw.SHOAL_NODE_LABELS_OUTPUT,
      zoneKey: raw.SHOAL_NODE_LABELS_ZONE_KEY,
      rackKey: raw.SHOAL_NODE_LABELS_RACK_KEY,
      timeoutMs: raw.SHOAL_NODE_LABELS_TIMEOUT_MS,
      attempts: raw.SHOAL_NODE_LABELS_ATTEMPTS,
      kubeconfig: raw.SHOAL_AUTOSCALER_KUBECONFIG,
    };
  } catch (error) {
    throw new AutoscalerError(
      AutoscalerErrorCode.InvalidConfig,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
}

export interface Topology {
  zone?: string;
  rack?: string;
}

/**
 * The zone and rack of a Node from its labels. A missing label is left out; a value the
 * peer-node would refuse is left out too and named in `problems`, so an odd label degrades
 * locality instead of stopping the node.
 */
export function topologyFromLabels(
  labels: Readonly<Record<string, string>> | undefined,
  keys: { zoneKey: string; rackKey: string },
  problems: string[],
): Topology {
  const topology: Topology = {};
  for (const [field, key] of [
    ['zone', keys.zoneKey],
    ['rack', keys.rackKey],
  ] as const) {
    const value = labels?.[key];
    if (value === undefined || value === '') continue;
    if (Label.safeParse(value).success) topology[field] = value;
    else problems.push(`label ${key}=${JSON.stringify(value)} is not a valid shoal ${field}`);
  }
  return topology;
}

/** The env file the peer-node loads: one `NAME=value` line per known value (values are safe). */
export function renderTopologyEnv(topology: Topology): string {
  let text = '';
  if (topology.zone !== undefined) text += `SHOAL_ZONE=${topology.zone}\n`;
  if (topology.rack !== undefined) text += `SHOAL_RACK=${topology.rack}\n`;
  return text;
}

/** Reads the Node's labels (`get nodes/<name>`) within `timeoutMs`. */
export async function readNodeLabels(
  kc: KubeConfig,
  nodeName: string,
  timeoutMs: number,
): Promise<Record<string, string>> {
  const core = kc.makeApiClient(CoreV1Api);
  try {
    const node = await core.readNode({ name: nodeName }, withDeadline(timeoutMs));
    return node.metadata?.labels ?? {};
  } catch (error) {
    throw apiError(`get nodes/${nodeName}`, error);
  }
}

/** Writes the env file from a Node's labels and returns what it holds. */
export async function writeTopologyEnv(
  labels: Readonly<Record<string, string>>,
  config: Pick<NodeLabelsConfig, 'output' | 'zoneKey' | 'rackKey'>,
): Promise<{ topology: Topology; problems: string[] }> {
  const problems: string[] = [];
  const topology = topologyFromLabels(labels, config, problems);
  await writeFile(config.output, renderTopologyEnv(topology), { mode: 0o644 });
  return { topology, problems };
}
