// `node services/autoscaler/dist/node-labels-main.js`: the peer-node's init step (see
// node-labels.ts). Exit 0 with the env file written, 2 on bad configuration, 1 when the Node
// could not be read after every attempt (the kubelet then restarts the init container).
import { createLogger } from '@shoal/service-kit';
import { isRetryable, loadKubeConfig } from './kube.ts';
import {
  loadNodeLabelsConfig,
  type NodeLabelsConfig,
  readNodeLabels,
  writeTopologyEnv,
} from './node-labels.ts';
import { withRetry } from './retry.ts';

let config: NodeLabelsConfig;
try {
  config = loadNodeLabelsConfig(process.env);
} catch (error) {
  process.stderr.write(
    `shoal-node-labels: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(2);
}

const logger = createLogger({ service: 'shoal-node-labels', base: { node: config.nodeName } });
try {
  const kc = loadKubeConfig(config.kubeconfig);
  const labels = await withRetry(() => readNodeLabels(kc, config.nodeName, config.timeoutMs), {
    attempts: config.attempts,
    baseDelayMs: 200,
    maxDelayMs: 5000,
    retryable: isRetryable,
    onRetry: (error, attempt, delayMs) =>
      logger.warn({ err: error, attempt, delayMs }, 'reading the node failed, retrying'),
  });
  const { topology, problems } = await writeTopologyEnv(labels, config);
  for (const problem of problems) logger.warn({ problem }, 'node label left out');
  logger.info({ ...topology, output: config.output }, 'node topology written');
} catch (error) {
  logger.fatal({ err: error }, 'could not read the node');
  process.exitCode = 1;
}
