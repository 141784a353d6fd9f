// Token buckets for the node's upload and download rate limits.

/**
 * A token bucket: `rate` bytes/s refill, up to `burst` bytes saved up. `take` always
 * succeeds and may drive the balance negative; it returns how long the caller must wait
 * before going on, so a burst is paid back by waiting instead of by being refused.
 * Rate 0 means unlimited.
 */
export class TokenBucket {
  readonly rate: number;
  readonly burst: number;
  readonly #now: () => number;
  #tokens: number;
  #updatedAt: number;

  constructor(rate: number, options: { burst?: number; now?: () => number } = {}) {
    if (!Number.isFinite(rate) || rate < 0) throw new RangeError(`rate ${rate} is invalid`);
    this.rate = rate;
    // Default: a quarter second of traffic, at least one 16 KiB block.
    this.burst = options.burst ?? Math.max(16 * 1024, rate / 4);
    this.#now = options.now ?? (() => performance.now());
    this.#tokens = this.burst;
    this.#updatedAt = this.#now();
  }

  get unlimited(): boolean {
    return this.rate === 0;
  }

  /** Takes `bytes` tokens; returns the milliseconds to wait before using them (0: go on). */
  take(bytes: number): number {
    if (this.rate === 0) return 0;
    this.#refill();
    this.#tokens -= bytes;
    return this.#tokens >= 0 ? 0 : Math.ceil((-this.#tokens / this.rate) * 1000);
  }

  #refill(): void {
    const now = this.#now();
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#updatedAt = now;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsed * this.rate);
  }
}

/** Resolves after `ms` without keeping the process alive. */
export function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
