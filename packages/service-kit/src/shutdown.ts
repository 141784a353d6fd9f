import type { Logger } from './logger.ts';

export interface Shutdown {
  /** Registers a step; steps run in reverse order of registration (last started, first stopped). */
  add(name: string, step: () => Promise<unknown> | unknown): void;
  /** Runs every step once, then exits the process with `exitCode`. */
  run(reason: string, exitCode?: number): Promise<void>;
}

/**
 * Graceful shutdown on SIGTERM and SIGINT: runs the registered steps (stop taking requests,
 * drain NATS, close the HTTP server...) within `timeoutMs`, then exits. A second signal or the
 * timeout exits at once with code 1.
 */
export function installShutdown(options: {
  logger: Logger;
  timeoutMs?: number;
  exit?: (code: number) => void;
}): Shutdown {
  const { logger } = options;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const steps: { name: string; step: () => Promise<unknown> | unknown }[] = [];
  let running: Promise<void> | undefined;

  const run = (reason: string, exitCode = 0): Promise<void> => {
    if (running !== undefined) return running;
    logger.info({ reason }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ timeoutMs: options.timeoutMs ?? 10_000 }, 'shutdown timed out');
      exit(1);
    }, options.timeoutMs ?? 10_000);
    timer.unref();
    running = (async () => {
      let code = exitCode;
      for (const { name, step } of [...steps].reverse()) {
        try {
          await step();
        } catch (error) {
          code = 1;
          logger.error({ err: error, step: name }, 'shutdown step failed');
        }
      }
      clearTimeout(timer);
      logger.info({ exitCode: code }, 'stopped');
      logger.flush?.();
      exit(code);
    })();
    return running;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (running !== undefined) {
      logger.warn({ signal }, 'second signal, exiting now');
      exit(1);
      return;
    }
    void run(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  return { add: (name, step) => steps.push({ name, step }), run };
}
