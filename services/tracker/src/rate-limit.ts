/**
 * Token buckets keyed by source (an IP for HTTP, a peer id for NATS): each key may make
 * `burst` requests at once and `ratePerSecond` on average. Memory is bounded: past `maxKeys`
 * keys, the oldest are forgotten (a forgotten key starts again with a full bucket).
 */
export class RateLimiter {
  readonly #rate: number;
  readonly #burst: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(options: {
    ratePerSecond: number;
    burst: number;
    maxKeys?: number;
    now?: () => number;
  }) {
    this.#rate = options.ratePerSecond;
    this.#burst = options.burst;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** A rate of 0 turns limiting off. */
  get enabled(): boolean {
    return this.#rate > 0;
  }

  /** Takes one token for `key`; false means the request must be refused. */
  take(key: string): boolean {
    if (!this.enabled) return true;
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#evict(now);
      this.#buckets.set(key, { tokens: this.#burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + ((now - bucket.at) / 1000) * this.#rate);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.#buckets.size;
  }

  // Drops buckets that have refilled (they behave like new keys anyway); if none, the oldest.
  #evict(now: number): void {
    const refillMs = (this.#burst / this.#rate) * 1000;
    for (const [key, bucket] of this.#buckets) {
      if (now - bucket.at >= refillMs) this.#buckets.delete(key);
    }
    const excess = this.#buckets.size - this.#maxKeys + 1;
    if (excess <= 0) return;
    let dropped = 0;
    for (const key of this.#buckets.keys()) {
      if (dropped++ >= excess) break;
      this.#buckets.delete(key);
    }
  }
}
