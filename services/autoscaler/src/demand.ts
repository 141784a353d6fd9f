import type { SwarmStats } from '@shoal/bus';
import type { DemandSignals } from './policy.ts';

export interface SwarmDemandOptions {
  /** Stats not refreshed for this long are dropped (the tracker publishes every few seconds). */
  maxAgeMs: number;
  /** A swarm with more leechers per seeder than this needs the origin (default 1). */
  demandThreshold: number;
  /** Most swarms tracked; stats of further swarms are refused until some age out. */
  maxSwarms: number;
}

export const RecordOutcome = {
  Accepted: 'accepted',
  /** Older than what is already held for the swarm (stats from a previous tracker leader). */
  Outdated: 'outdated',
  /** `maxSwarms` reached. */
  Full: 'full',
} as const;
export type RecordOutcome = (typeof RecordOutcome)[keyof typeof RecordOutcome];

interface Entry {
  stats: SwarmStats;
  /** Local receive time: staleness is judged on this machine's clock, not the tracker's. */
  receivedAt: number;
}

/** The latest stats of every live swarm, as the tracker publishes them. Time is passed in. */
export class SwarmDemand {
  readonly #options: SwarmDemandOptions;
  readonly #swarms = new Map<string, Entry>();

  constructor(options: SwarmDemandOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#swarms.size;
  }

  record(stats: SwarmStats, receivedAt: number): RecordOutcome {
    const held = this.#swarms.get(stats.infoHash);
    if (held !== undefined && held.stats.at > stats.at) return RecordOutcome.Outdated;
    // An emptied swarm gets one all-zero message: forget it.
    if (stats.leechers === 0 && stats.seeders === 0) {
      this.#swarms.delete(stats.infoHash);
      return RecordOutcome.Accepted;
    }
    if (held === undefined && this.#swarms.size >= this.#options.maxSwarms) {
      this.prune(receivedAt);
      if (this.#swarms.size >= this.#options.maxSwarms) return RecordOutcome.Full;
    }
    this.#swarms.set(stats.infoHash, { stats, receivedAt });
    return RecordOutcome.Accepted;
  }

  /** Drops swarms whose last stats are older than `maxAgeMs`. */
  prune(now: number): void {
    for (const [infoHash, entry] of this.#swarms) {
      if (now - entry.receivedAt > this.#options.maxAgeMs) this.#swarms.delete(infoHash);
    }
  }

  signals(now: number): DemandSignals {
    this.prune(now);
    let hotSwarms = 0;
    let hotLeechers = 0;
    let originBytes = 0;
    for (const { stats } of this.#swarms.values()) {
      if (stats.leechers === 0 || stats.demand <= this.#options.demandThreshold) continue;
      hotSwarms++;
      hotLeechers += stats.leechers;
      originBytes += stats.bytesLeft / stats.leechers;
    }
    return {
      swarms: this.#swarms.size,
      hotSwarms,
      hotLeechers,
      originBytes: Math.round(originBytes),
    };
  }
}
