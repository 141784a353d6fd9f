import {
  type AnnounceRequest,
  type AnnounceResponse,
  DEFAULT_NUMWANT,
  MAX_NUMWANT,
  type PeerLabels,
  type SwarmCounts,
} from '@shoal/bus';
import { TrackerError, TrackerErrorCode } from './errors.ts';
import type { HandoutPolicy, PeerCandidate } from './handout.ts';
import type { PeerRecord, SwarmCache, SwarmSummary } from './swarm-cache.ts';

/** A handed-out peer: the policy's view plus its reply entry as JSON (see `CachedPeer`). */
export type HandedPeer = PeerCandidate & { json: Uint8Array; compact: Uint8Array };

/** An announce answer before a transport encodes it; `peers` are the full cached records. */
export type AnnounceResult = Omit<AnnounceResponse, 'peers'> & { peers: HandedPeer[] };

// Replies are carved out of 256 KiB slabs, never reused: a slab is freed once nats.js has
// copied the replies in it to its socket buffer, so a reply costs no ArrayBuffer of its own
// (one per 40-odd replies instead; Buffer.allocUnsafe pools only up to 4 KiB).
const SLAB_BYTES = 256 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
let slabUsed = 0;

function replyBuffer(size: number): Buffer {
  if (size > SLAB_BYTES / 4) return Buffer.allocUnsafeSlow(size);
  if (slabUsed + size > SLAB_BYTES) {
    slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + size);
  slabUsed += (size + 7) & ~7;
  return out;
}

/**
 * The NATS reply as UTF-8 JSON, copied together from the peers' pre-serialised entries: no
 * per-reply stringify or text encoding.
 */
export function announceReplyBytes(result: AnnounceResult): Uint8Array {
  const { interval, minInterval, complete, incomplete, downloaded, peers } = result;
  // Integers only: this is exactly what JSON.stringify writes for them (ASCII).
  const head = `{"interval":${interval},"minInterval":${minInterval},"complete":${complete},"incomplete":${incomplete},"downloaded":${downloaded},"peers":[`;
  let size = head.length + 2 + Math.max(0, peers.length - 1);
  for (const peer of peers) size += peer.json.length;
  const out = replyBuffer(size);
  let at = out.write(head, 0, 'latin1');
  for (let i = 0; i < peers.length; i++) {
    if (i > 0) out[at++] = 0x2c; // ,
    const json = peers[i]!.json;
    out.set(json, at);
    at += json.length;
  }
  out[at++] = 0x5d; // ]
  out[at] = 0x7d; // }
  return out;
}

const utf8 = new TextDecoder();

/** The NATS reply as a string (`announceReplyBytes` decoded). */
export function announceResultJson(result: AnnounceResult): string {
  return utf8.decode(announceReplyBytes(result));
}

/**
 * Where announces are written (the KV store in production). `putPeer` records at once (in the
 * cache; KV is written behind) and throws when it cannot take the write; deletes and
 * completions resolve once KV has them.
 */
export interface SwarmWriter {
  putPeer(infoHash: string, peerId: string, record: PeerRecord): void;
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
  /**
   * A regular announce (no event) that changes nothing in a record younger than this is not
   * written again: the record's age, and so its expiry, stays that of the last write. Must
   * leave the peer time to re-announce before the TTL (see `refreshAfterMs`). 0 writes always.
   */
  refreshAfterMs?: number;
  /** False while the state is not loaded or NATS is down: announces are refused, not guessed. */
  isReady: () => boolean;
  random?: () => number;
  now?: () => number;
}

/**
 * How old a record may get before a regular announce rewrites it: a quarter of the TTL, and
 * no more than half the time between the announce interval and the TTL, so a skipped announce
 * is always followed by a written one, an interval later, before the record expires.
 */
export function refreshAfterMs(peerTtlMs: number, intervalMs: number): number {
  return Math.max(0, Math.min(peerTtlMs / 4, (peerTtlMs - intervalMs) / 2));
}

function sameLabels(a: PeerLabels | undefined, b: PeerLabels | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.zone === b.zone && a.rack === b.rack && a.host === b.host;
}

/**
 * The swarm core both transports call with the same validated request shape. A regular
 * announce is answered synchronously from the cache, its record written behind (see
 * `SwarmWriter`); `stopped` and a first completion wait for KV.
 */
export class Tracker {
  readonly #options: TrackerOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #refreshAfterMs: number;
  #inflight = 0;

  constructor(options: TrackerOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#refreshAfterMs = options.refreshAfterMs ?? 0;
  }

  announce(request: AnnounceRequest): AnnounceResult | Promise<AnnounceResult> {
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
    const { infoHash, peerId } = request;
    const previous = cache.peer(infoHash, peerId);
    // A download finished: the `completed` event, or a known leecher now reporting nothing
    // left (aria2 with --seed-time=0 goes straight to `stopped`). A peer already known as a
    // seeder repeating itself is not a new download.
    const completedNow =
      previous === undefined
        ? request.event === 'completed'
        : previous.left > 0 && (request.left === 0 || request.event === 'completed');
    if (request.event === 'stopped') return this.#stop(request, completedNow);
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
    const fresh =
      previous !== undefined &&
      request.event === undefined &&
      this.#now() - previous.writtenAt < this.#refreshAfterMs &&
      previous.left === request.left &&
      previous.port === request.port &&
      previous.ip === request.ip &&
      sameLabels(previous.labels, request.labels);
    if (!fresh) {
      const record: PeerRecord = {
        ip: request.ip,
        port: request.port,
        left: request.left,
        uploaded: request.uploaded,
        downloaded: request.downloaded,
        labels: request.labels,
      };
      writer.putPeer(infoHash, peerId, record);
    }
    if (completedNow) return this.#afterCompletion(request);
    return this.#answer(request);
  }

  #answer(request: AnnounceRequest): AnnounceResult {
    const numWant = Math.min(request.numWant ?? DEFAULT_NUMWANT, MAX_NUMWANT);
    const snapshot = this.#options.cache.snapshot(request.infoHash);
    const chosen = this.#options.policy(request, snapshot.view, numWant, this.#random);
    return this.#reply(snapshot, chosen);
  }

  async #afterCompletion(request: AnnounceRequest): Promise<AnnounceResult> {
    this.#inflight++;
    try {
      await this.#options.writer.addCompletion(request.infoHash);
      return this.#answer(request);
    } finally {
      this.#inflight--;
    }
  }

  async #stop(request: AnnounceRequest, completedNow: boolean): Promise<AnnounceResult> {
    const { cache, writer } = this.#options;
    this.#inflight++;
    try {
      await writer.deletePeer(request.infoHash, request.peerId);
      if (completedNow) await writer.addCompletion(request.infoHash);
      return this.#reply(cache.summary(request.infoHash), []);
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
