import { setTimeout as sleep } from 'node:timers/promises';
import { TestkitError, TestkitErrorCode } from './errors.ts';

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between attempts; default 50 ms. */
  intervalMs?: number;
  /** What is awaited, for the timeout message. */
  description?: string;
}

/**
 * Calls `predicate` until it returns a truthy value (which is returned) or `timeoutMs` passes
 * (`TestkitError(Timeout)`, naming the last value or error). A throwing predicate counts as "not
 * yet", so it can poll something that is still starting.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + options.timeoutMs;
  const interval = options.intervalMs ?? 50;
  let last: unknown;
  for (let attempt = 0; ; attempt++) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() + interval > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new TestkitError(
        TestkitErrorCode.Timeout,
        `timed out after ${options.timeoutMs} ms (${attempt + 1} attempts) waiting for ${options.description ?? 'a condition'}; last: ${detail}`,
        { cause: last },
      );
    }
    await sleep(interval);
  }
}
