import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger, type Logger } from '@shoal/service-kit';
import { type AfterHook, onCleanup } from '@shoal/testkit';
import { createKubeApi, type KubeApi, loadKubeConfig } from '../src/kube.ts';
import { FakeKubeApi } from './fake-kube-api.ts';

export const NAMESPACE = 'shoal';
export const STATEFULSET = 'shoal-piece-store';
export const LEASE = 'shoal-autoscaler';

/** A fake API server with the piece-store StatefulSet, a kubeconfig for it, and a temp dir. */
export async function startFakeCluster(t: AfterHook, replicas = 2) {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-autoscaler-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const fake = new FakeKubeApi(NAMESPACE);
  await fake.start(dir);
  onCleanup(t, () => fake.stop());
  fake.addStatefulSet(STATEFULSET, replicas);
  const kubeconfig = await fake.writeKubeconfig(dir);
  return { fake, kubeconfig, dir };
}

export function clientFor(kubeconfig: string, timeoutMs = 1000): KubeApi {
  return createKubeApi(loadKubeConfig(kubeconfig), {
    namespace: NAMESPACE,
    statefulSet: STATEFULSET,
    lease: LEASE,
    timeoutMs,
  });
}

/** A logger whose JSON lines are kept for assertions. */
export function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({
    service: 'test',
    level: 'debug',
    destination: {
      write: (line: string) => {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { logger, lines: () => lines };
}
