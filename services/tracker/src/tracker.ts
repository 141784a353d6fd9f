import {
  type AnnounceRequest,
  type AnnounceResponse,
  DEFAULT_NUMWANT,
  MAX_NUMWANT,
  type SwarmCounts,
} from '@shoal/bus';
import { TrackerError, TrackerErrorCode } from './errors.ts';
import type { HandoutPolicy, PeerCandidate } from './handout.ts';
import type { PeerRecord, SwarmCache, SwarmSummary } from './swarm-cache.ts';

/** A handed-out peer: the policy's view plus its reply entry as JSON (see `CachedPeer`). */
export type HandedPeer = PeerCandidate & { json: string; compact: Uint8Array };

/** An announce answer before a transport encodes it; `peers` are the full cached records. */
export type AnnounceResult = Omit<AnnounceResponse, 'peers'> & { peers: HandedPeer[] };

/** The NATS reply, built from the peers' pre-serialised entries: no per-reply stringify. */
export function announceResultJson(result: AnnounceResult): string {
  const { interval, minInterval, complete, incomplete, downloaded } = result;
  const head = JSON.stringify({ interval, minInterval, complete, incomplete, downloaded });
  return `${head.slice(0, -1)},"peers":[${result.peers.map((p) => p.json).join(',')}]}`;
}

/** Where announces are written (the KV store in production). */
export interface SwarmWriter {
  putPeer(infoHash: string, peerId: string, record: PeerRecord): Promise<void>;
  deletePeer(infoHash: string, peerId: string): Promise<void>;
  addCompletion(infoHash: string): Promise<void>;
}

export interface TrackerOptions {
  cache: SwarmCache;
  writer: SwarmWriter;
  policy: HandoutPolicy;
  intervalS: number;
  minIntervalS: number;
  maxPeersPerSwarm: number;
  maxSwarms: number;
  maxInflight: number;
  /** False while the state is not loaded or NATS is down: announces are refused, not guessed. */
  isReady: () => boolean;
  random?: () => number;
}

/**
 * The swarm core both transports call with the same validated request shape. Writes go to
 * the writer before the answer is sent, so an answered announce survives any replica's death.
 */
export class Tracker {
  readonly #options: TrackerOptions;
  readonly #random: () => number;
  #inflight = 0;

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  async announce(request: AnnounceRequest): Promise<AnnounceResult> {
    const { cache, writer } = this.#options;
    if (!this.#options.isReady()) {
      throw new TrackerError(
        TrackerErrorCode.Unavailable,
        'tracker is not ready (state loading or NATS down)',
      );
    }
    if (this.#inflight >= this.#options.maxInflight) {
      throw new TrackerError(TrackerErrorCode.Unavailable, 'tracker is overloaded, retry later');
    }
    this.#inflight++;
    try {
      const { infoHash, peerId } = request;
      const previous = cache.peer(infoHash, peerId);
      // A download finished: the `completed` event, or a known leecher now reporting nothing
      // left (aria2 with --seed-time=0 goes straight to `stopped`). A peer already known as a
      // seeder repeating itself is not a new download.
      const completedNow =
        previous === undefined
          ? request.event === 'completed'
          : previous.left > 0 && (request.left === 0 || request.event === 'completed');
      if (request.event === 'stopped') {
        await writer.deletePeer(infoHash, peerId);
        if (completedNow) await writer.addCompletion(infoHash);
        return this.#reply(cache.summary(infoHash), []);
      }
      if (previous === undefined) {
        if (cache.swarmSize(infoHash) >= this.#options.maxPeersPerSwarm) {
          throw new TrackerError(TrackerErrorCode.SwarmFull, `swarm ${infoHash} is full`);
        }
        if (cache.swarmSize(infoHash) === 0 && cache.swarmCount >= this.#options.maxSwarms) {
          throw new TrackerError(
            TrackerErrorCode.SwarmFull,
            'the tracker tracks its maximum number of swarms',
          );
        }
      }
      const record: PeerRecord = {
        ip: request.ip,
        port: request.port,
        left: request.left,
        uploaded: request.uploaded,
        downloaded: request.downloaded,
        labels: request.labels,
      };
      await writer.putPeer(infoHash, peerId, record);
      if (completedNow) await writer.addCompletion(infoHash);
      const numWant = Math.min(request.numWant ?? DEFAULT_NUMWANT, MAX_NUMWANT);
      const snapshot = cache.snapshot(infoHash);
      const chosen = this.#options.policy(request, snapshot.view, numWant, this.#random);
      return this.#reply(snapshot, chosen);
    } finally {
      this.#inflight--;
    }
  }

  scrape(infoHashes: readonly string[]): SwarmCounts[] {
    if (!this.#options.isReady()) {
      throw new TrackerError(
        TrackerErrorCode.Unavailable,
        'tracker is not ready (state loading or NATS down)',
      );
    }
    return infoHashes.map((infoHash) => {
      const summary = this.#options.cache.summary(infoHash);
      return {
        infoHash,
        complete: summary.seeders,
        incomplete: summary.leechers,
        downloaded: summary.completions,
      };
    });
  }

  #reply(summary: SwarmSummary, peers: HandedPeer[]): AnnounceResult {
    return {
      interval: this.#options.intervalS,
      minInterval: this.#options.minIntervalS,
      complete: summary.seeders,
      incomplete: summary.leechers,
      downloaded: summary.completions,
      peers,
    };
  }
}
