// Shared by the chart and image tests: the real helm binary, rendered objects, and what each
// shoal container runs (its service, its known variables, its configuration loader).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { NATS_AUTH_ENV } from '@shoal/service-kit';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CHART_DIR = join(REPO_ROOT, 'deploy/helm/shoal');
export const RELEASE = 'shoal';
export const NAMESPACE = 'shoal-test';
/** Helm renders for this cluster version (the chart needs 1.27 or newer). */
export const KUBE_VERSION = '1.31.0';

let helmPath: Promise<string> | undefined;

/**
 * The pinned helm, installed by scripts/install-helm.sh when missing (a `go install` of a few
 * minutes the first time; scripts/setup.sh runs it beforehand).
 */
export function helmBinary(): Promise<string> {
  helmPath ??= run('bash', [join(REPO_ROOT, 'scripts/install-helm.sh')], {
    timeout: 15 * 60_000,
    maxBuffer: 16 * 1024 * 1024,
  }).then(({ stdout }) => stdout.trim().split('\n').pop() ?? '');
  return helmPath;
}

export class HelmError extends Error {
  override readonly name = 'HelmError';
  readonly code = 'HELM_FAILED';
  readonly stderr: string;

  constructor(message: string, stderr: string) {
    super(message);
    this.stderr = stderr;
  }
}

export async function helm(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(await helmBinary(), [...args], {
      cwd: REPO_ROOT,
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const stderr = String((error as { stderr?: unknown }).stderr ?? '');
    throw new HelmError(`helm ${args.join(' ')} failed: ${stderr.trim()}`, stderr);
  }
}

/** One value combination: values files (relative to the chart) and `--set` pairs. */
export interface ValuesCase {
  name: string;
  files?: readonly string[];
  set?: readonly string[];
}

export function valuesArgs(values: ValuesCase): string[] {
  return [
    ...(values.files ?? []).flatMap((file) => ['-f', join(CHART_DIR, file)]),
    ...(values.set ?? []).flatMap((pair) => ['--set', pair]),
  ];
}

// Kubernetes objects are dynamic documents; these aliases keep the assertions readable.
// biome-ignore lint/suspicious/noExplicitAny: rendered YAML has no static shape
export type K8sObject = Record<string, any>;

/** `helm template` of the chart with `values`, parsed into objects (test hooks included). */
export async function render(values: ValuesCase): Promise<K8sObject[]> {
  const text = await helm([
    'template',
    RELEASE,
    CHART_DIR,
    '--namespace',
    NAMESPACE,
    '--kube-version',
    KUBE_VERSION,
    ...valuesArgs(values),
  ]);
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((object): object is K8sObject => object !== null);
}

export const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'DaemonSet'] as const;

export function podSpec(object: K8sObject): K8sObject {
  return object.kind === 'Pod' ? object.spec : object.spec.template.spec;
}

export function podLabels(object: K8sObject): Record<string, string> {
  return object.kind === 'Pod' ? object.metadata.labels : object.spec.template.metadata.labels;
}

/** The shoal program a container runs, by container name. */
export const SHOAL_PROGRAMS = {
  tracker: { service: 'tracker', configFile: 'src/config.ts', loader: 'loadTrackerConfig' },
  'piece-store': {
    service: 'piece-store',
    configFile: 'src/config.ts',
    loader: 'loadPieceStoreConfig',
  },
  'peer-node': { service: 'peer-node', configFile: 'src/config.ts', loader: 'loadPeerNodeConfig' },
  autoscaler: {
    service: 'autoscaler',
    configFile: 'src/config.ts',
    loader: 'loadAutoscalerConfig',
  },
  'node-labels': {
    service: 'autoscaler',
    configFile: 'src/node-labels.ts',
    loader: 'loadNodeLabelsConfig',
  },
} as const;
export type ShoalContainer = keyof typeof SHOAL_PROGRAMS;

export function isShoalContainer(name: string): name is ShoalContainer {
  return Object.hasOwn(SHOAL_PROGRAMS, name);
}

/**
 * Every variable a program's configuration schema declares, read from its source (including
 * service-kit's NATS authentication variables where the schema spreads `...NATS_AUTH_ENV`).
 */
export function knownVariables(container: ShoalContainer): Set<string> {
  const { service, configFile } = SHOAL_PROGRAMS[container];
  const text = readFileSync(join(REPO_ROOT, 'services', service, configFile), 'utf8');
  const names = [...text.matchAll(/^ {2}((?:SHOAL|NODE)_[A-Z0-9_]+): /gm)].map((m) => m[1]!);
  if (names.length === 0) throw new Error(`no variables found in ${service}/${configFile}`);
  if (/^ {2}\.\.\.NATS_AUTH_ENV,$/m.test(text)) names.push(...Object.keys(NATS_AUTH_ENV));
  return new Set(names);
}

/** Calls the program's own configuration loader (it throws on a missing or bad variable). */
export async function loadProgramConfig(
  container: ShoalContainer,
  env: Record<string, string>,
): Promise<unknown> {
  const { service, configFile, loader } = SHOAL_PROGRAMS[container];
  const module = (await import(
    pathToFileURL(join(REPO_ROOT, 'services', service, configFile)).href
  )) as Record<string, (env: Record<string, string>) => unknown>;
  const load = module[loader];
  if (load === undefined) throw new Error(`${service}/${configFile} has no ${loader}`);
  return load(env);
}

/** Stand-ins for downward-API fields and Secret keys, as a kubelet would fill them. */
export const FIELD_SAMPLES: Record<string, string> = {
  'metadata.name': 'shoal-tracker-5d8f7c9b6-x2k4q',
  'metadata.namespace': NAMESPACE,
  'status.podIP': '198.18.0.10',
  'status.hostIP': '198.18.1.20',
  'spec.nodeName': 'node-a.example',
};
export const SECRET_SAMPLE = 'nats://nats.messaging.svc:4222';

/** A container's environment as the kubelet would build it (downward API and Secrets filled in). */
export function resolveEnv(container: K8sObject): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (typeof entry.value === 'string') env[entry.name] = entry.value;
    else if (entry.valueFrom?.fieldRef !== undefined) {
      const sample = FIELD_SAMPLES[entry.valueFrom.fieldRef.fieldPath as string];
      if (sample === undefined)
        throw new Error(`no sample for ${entry.valueFrom.fieldRef.fieldPath}`);
      env[entry.name] = sample;
    } else if (entry.valueFrom?.secretKeyRef !== undefined) env[entry.name] = SECRET_SAMPLE;
    else throw new Error(`env ${entry.name}: unsupported source ${JSON.stringify(entry)}`);
  }
  return env;
}
