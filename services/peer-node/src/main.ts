// Entry point: `node --conditions=source services/peer-node/src/main.ts`. Configuration comes
// from the environment (see README.md); a bad setting stops the process before it starts.
import { createLogger, installShutdown } from '@shoal/service-kit';
import { loadPeerNodeConfig, type PeerNodeConfig } from './config.ts';
import { PeerNodeService } from './node.ts';

let config: PeerNodeConfig;
try {
  config = loadPeerNodeConfig(process.env);
} catch (error) {
  process.stderr.write(`peer-node: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(2);
}

const logger = createLogger({
  service: 'peer-node',
  level: config.logLevel,
  base: { node: config.nodeId },
});
const service = new PeerNodeService(config, logger);
const shutdown = installShutdown({ logger, timeoutMs: config.shutdownTimeoutMs });
shutdown.add('peer-node', () => service.close());

// Hostile input is handled where it arrives; anything escaping is a bug: log it, keep serving.
process.on('uncaughtException', (error) => logger.error({ err: error }, 'uncaught exception'));
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

try {
  await service.start();
} catch (error) {
  logger.fatal({ err: error }, 'peer-node failed to start');
  await shutdown.run('start-up failed', 1);
}
logger.info(
  {
    wirePort: service.wirePort,
    httpPort: service.httpPort,
    grpcSocket: config.grpcSocket,
    grpcAddress: service.grpcAddress,
    labels: config.labels,
    seedingPolicy: config.seedingPolicy.name,
  },
  'peer-node ready',
);
