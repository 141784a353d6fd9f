// The autoscaler process: `node --conditions=source services/autoscaler/src/main.ts` (or
// `node services/autoscaler/dist/main.js` once built), configured by SHOAL_* variables.
import { createLogger, installShutdown } from '@shoal/service-kit';
import { type AutoscalerConfig, loadAutoscalerConfig } from './config.ts';
import { startAutoscaler } from './service.ts';

let config: AutoscalerConfig;
try {
  config = loadAutoscalerConfig(process.env);
} catch (error) {
  process.stderr.write(
    `shoal-autoscaler: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exit(2);
}

const logger = createLogger({
  service: 'shoal-autoscaler',
  level: config.logLevel,
  base: { identity: config.identity },
});
// Failures are handled where they happen; anything escaping is a bug: log it, keep running.
process.on('uncaughtException', (error) => logger.error({ err: error }, 'uncaught exception'));
process.on('unhandledRejection', (reason) => logger.error({ err: reason }, 'unhandled rejection'));

const shutdown = installShutdown({ logger, timeoutMs: 10_000 });
try {
  const running = await startAutoscaler(config, logger);
  shutdown.add('autoscaler', () => running.close());
} catch (error) {
  logger.fatal({ err: error }, 'autoscaler failed to start');
  await shutdown.run('start-up failed', 1);
}
