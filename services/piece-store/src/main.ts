// The piece-store process: `node --conditions=source services/piece-store/src/main.ts`,
// configured by environment variables (README.md lists every one with its default).
import {
  createLogger,
  describeStartupFailure,
  installShutdown,
  ServiceKitError,
} from '@shoal/service-kit';
import { loadPieceStoreConfig, type PieceStoreConfig } from './config.ts';
import { PieceStoreError } from './errors.ts';
import { startPieceStore } from './service.ts';

async function main(config: PieceStoreConfig): Promise<void> {
  const logger = createLogger({ service: 'shoal-piece-store', level: config.logLevel });
  const shutdown = installShutdown({ logger, timeoutMs: config.shutdownTimeoutMs });
  const running = await startPieceStore(config, logger);
  shutdown.add('piece-store', () => running.close());
}

let config: PieceStoreConfig;
try {
  config = loadPieceStoreConfig(process.env);
} catch (error) {
  if (error instanceof ServiceKitError || error instanceof PieceStoreError) {
    process.stderr.write(`shoal-piece-store: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
main(config).catch((error: unknown) => {
  process.stderr.write(`shoal-piece-store: failed to start: ${describeStartupFailure(error)}\n`);
  process.exit(1);
});
