import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeSwarmStats, type Subjects, type SwarmStats } from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import type { TrackerMetrics } from './metrics.ts';
import type { SwarmCache, SwarmSummary } from './swarm-cache.ts';

const LEASE_KEY = 'stats';
const encoder = new TextEncoder();

/** Leechers per seeder; with no seeder every leecher is unserved demand. */
export function demandOf(summary: SwarmSummary): number {
  return summary.leechers / Math.max(summary.seeders, 1);
}

export interface StatsPublisherOptions {
  nc: NatsConnection;
  leases: KV;
  cache: SwarmCache;
  subjects: Subjects;
  intervalMs: number;
  replicaId: string;
  metrics: TrackerMetrics;
  logger: Logger;
  now?: () => number;
}

/**
 * Publishes `SwarmStats` for every live swarm each interval. Only one replica publishes: the
 * holder of the `stats` lease in the leases bucket, which it renews with compare-and-set every
 * interval; the bucket's `max_age` (3 intervals) frees the lease of a replica that died.
 */
export class StatsPublisher {
  readonly #options: StatsPublisherOptions;
  #leaseRevision = 0;
  #timer: NodeJS.Timeout | undefined;
  #ticking = false;
  /** Swarms published last time, so a swarm that empties gets one final all-zero message. */
  #published = new Set<string>();

  constructor(options: StatsPublisherOptions) {
    this.#options = options;
  }

  get leader(): boolean {
    return this.#leaseRevision > 0;
  }

  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.#options.intervalMs);
    this.#timer.unref();
    void this.tick();
  }

  async tick(): Promise<void> {
    if (this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#renewLease();
      if (this.leader) this.#publish();
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'stats tick failed');
    } finally {
      this.#ticking = false;
    }
  }

  async #renewLease(): Promise<void> {
    const { leases, replicaId, metrics } = this.#options;
    const value = encoder.encode(JSON.stringify({ replica: replicaId }));
    try {
      this.#leaseRevision =
        this.#leaseRevision > 0
          ? await leases.update(LEASE_KEY, value, this.#leaseRevision)
          : await leases.create(LEASE_KEY, value);
    } catch (error) {
      // Someone else holds the lease (or took it over after ours lapsed).
      if (!/wrong last sequence|key exists/i.test(String(error))) throw error;
      this.#leaseRevision = 0;
    }
    metrics.statsLeader.set(this.leader ? 1 : 0);
  }

  #publish(): void {
    const { nc, cache, subjects, metrics } = this.#options;
    const at = (this.#options.now ?? Date.now)();
    const current = new Set(cache.activeSwarms());
    for (const infoHash of new Set([...current, ...this.#published])) {
      const summary = cache.summary(infoHash);
      const stats: SwarmStats = {
        infoHash,
        seeders: summary.seeders,
        leechers: summary.leechers,
        completions: summary.completions,
        bytesLeft: summary.bytesLeft,
        demand: demandOf(summary),
        at,
      };
      nc.publish(subjects.trackerStats(infoHash), encodeSwarmStats(stats));
      metrics.statsPublished.inc();
    }
    this.#published = current;
  }

  /** Stops publishing and gives the lease up so another replica takes over at once. */
  async stop(): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#leaseRevision > 0) {
      await this.#options.leases
        .delete(LEASE_KEY, { previousSeq: this.#leaseRevision })
        .catch(() => undefined);
      this.#leaseRevision = 0;
    }
  }
}
