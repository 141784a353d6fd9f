import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts: number;
  /** Pause before the second try; doubled each time up to `maxDelayMs`, with jitter. */
  baseDelayMs: number;
  maxDelayMs: number;
  retryable: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Aborting stops waiting and rethrows the last error. */
  signal?: AbortSignal;
}

/** The pause before try `attempt + 1`: exponential, capped, jittered to 50-100 % of it. */
export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling * (0.5 + Math.random() * 0.5));
}

/** Runs `run` until it succeeds, fails with an error that is not retryable, or tries run out. */
export async function withRetry<T>(
  run: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.retryable(error) || options.signal?.aborted) {
        throw error;
      }
      const delayMs = backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs);
      options.onRetry?.(error, attempt, delayMs);
      try {
        await sleep(delayMs, undefined, { signal: options.signal });
      } catch {
        throw error;
      }
    }
  }
}
