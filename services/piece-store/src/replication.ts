// Keeps every artifact on its R owners (rendezvous hashing over the live replicas).
//
// Push: after an ingest, on every membership change and every reconcile interval, each replica
// asks the owners of each artifact it holds to hold it too ("replicate"); an owner that has it
// answers `present` (remembered until that owner restarts), one that lacks it answers
// `accepted` and downloads it peer to peer from the asking replica (and the tracker's peers),
// checks every piece and the whole-file SHA-256, and commits it like an ingest.
//
// Eviction safety: a copy may be dropped only by a replica that is not an owner, and only when
// every one of the R live owners confirms it holds the artifact. Owners never evict their copy,
// so eviction never takes an artifact below R copies and never fights the push.

import {
  BusError,
  bytesToHex,
  decodeTorrentBase64,
  encodeTorrentBase64,
  type PeerSource,
  type ReplicateReply,
  type ReplicateRequest,
} from '@shoal/bus';
import { type HashPool, hashFilePieces } from '@shoal/hashing';
import type { Metainfo } from '@shoal/protocol';
import { parseTorrent } from '@shoal/protocol';
import type { Logger } from '@shoal/service-kit';
import type { Cluster } from './cluster.ts';
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import type { SpaceBudget } from './ingest.ts';
import type { ArtifactStore, StagedObject } from './store.ts';

/** Downloads an artifact from other peers into a file (the swarm engine as a leecher). */
export interface CopyEngine {
  /** Fails when no byte arrives for `stallMs`. */
  download(options: {
    metainfo: Metainfo;
    path: string;
    sources: readonly PeerSource[];
    signal: AbortSignal;
    stallMs: number;
  }): Promise<void>;
  /** Adds peers to a download in progress (another replica offered the same artifact). */
  addSources(infoHash: string, sources: readonly PeerSource[]): void;
}

export interface ReplicatorOptions {
  store: ArtifactStore;
  cluster: () => Cluster | undefined;
  engine: CopyEngine;
  budget: SpaceBudget;
  pool: HashPool;
  /** This replica's wire address, named as the source in replicate requests. */
  self: PeerSource;
  copyConcurrency: number;
  copyTimeoutMs: number;
  /** A copy with no progress for this long is abandoned (a later push restarts it). */
  copyStallMs: number;
  /** Replicate requests in flight at once during a reconcile pass. */
  pushConcurrency?: number;
  /** Whether this replica has verified its store and may take copies. */
  ready: () => boolean;
  /** Called once a copy is committed (to seed it). */
  onCopied: (infoHash: string) => void;
  /** An owner reports the artifact was deleted after it was ingested: drop the local copy. */
  onDeletedElsewhere: (infoHash: string) => Promise<void>;
  logger: Logger;
  metrics?: {
    copies: (outcome: 'stored' | 'failed') => void;
    pushes: (outcome: ReplicateReply['status'] | 'error') => void;
  };
}

interface CopyJob {
  request: ReplicateRequest;
  metainfo: Metainfo;
  torrent: Uint8Array;
  /** Every replica that offered it while it was queued. */
  sources: readonly PeerSource[];
}

/** Most sources one copy keeps. */
const MAX_COPY_SOURCES = 16;

function mergeSources(
  known: readonly PeerSource[],
  more: readonly PeerSource[],
): readonly PeerSource[] {
  const merged = [...known];
  for (const source of more) {
    const seen = merged.some((s) => s.ip === source.ip && s.port === source.port);
    if (!seen && merged.length < MAX_COPY_SOURCES) merged.push(source);
  }
  return merged;
}

export class Replicator {
  readonly #options: ReplicatorOptions;
  /** Owner+incarnation+infohash already confirmed present: not asked again. */
  readonly #confirmed = new Set<string>();
  readonly #queued = new Map<string, CopyJob>();
  readonly #copying = new Map<string, AbortController>();
  #reconciling: Promise<void> | undefined;
  #again = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: ReplicatorOptions) {
    this.#options = options;
  }

  /** Artifacts queued or being copied here. */
  get pendingCopies(): number {
    return this.#queued.size + this.#copying.size;
  }

  /** Runs a reconcile pass after `delayMs` (calls within the delay share one pass). */
  schedule(delayMs = 0): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.reconcile();
    }, delayMs);
    this.#timer.unref();
  }

  /** Pushes every held artifact to its owners; a pass requested while one runs runs after it. */
  reconcile(): Promise<void> {
    if (this.#reconciling !== undefined) {
      this.#again = true;
      return this.#reconciling;
    }
    this.#reconciling = (async () => {
      try {
        do {
          this.#again = false;
          await this.#push(this.#options.store.list().map((record) => record.infoHash));
        } while (this.#again && !this.#closed);
      } catch (error) {
        this.#options.logger.error({ err: error }, 'reconcile pass failed');
      } finally {
        this.#reconciling = undefined;
      }
    })();
    return this.#reconciling;
  }

  /** Pushes one artifact to its owners now (after an ingest). */
  pushOne(infoHash: string): Promise<void> {
    return this.#push([infoHash]).catch((error: unknown) => {
      this.#options.logger.error({ err: error, infoHash }, 'replication push failed');
    });
  }

  /** Forgets confirmations from a replica that restarted or left. */
  forgetReplica(replicaId: string): void {
    for (const key of this.#confirmed) {
      if (key.startsWith(`${replicaId}/`)) this.#confirmed.delete(key);
    }
  }

  /** Forgets that anyone holds `infoHash` (after a delete or a quarantine). */
  forgetArtifact(infoHash: string): void {
    for (const key of this.#confirmed)
      if (key.endsWith(`/${infoHash}`)) this.#confirmed.delete(key);
    this.#queued.delete(infoHash);
    this.#copying.get(infoHash)?.abort(new Error('artifact deleted'));
  }

  /** The owner side of a replicate request. */
  async handleReplicate(request: ReplicateRequest): Promise<ReplicateReply> {
    const { store } = this.#options;
    const infoHash = request.infoHash;
    if (store.has(infoHash)) return { status: 'present' };
    if (this.#closed || !this.#options.ready()) {
      return { status: 'refused', reason: 'this replica is not ready' };
    }
    const deleted = store.tombstone(infoHash);
    if (deleted !== undefined && deleted >= request.createdUnixMs) {
      return { status: 'deleted', reason: 'deleted here after it was ingested' };
    }
    const queued = this.#queued.get(infoHash);
    if (queued !== undefined) {
      queued.sources = mergeSources(queued.sources, request.sources);
      return { status: 'accepted' };
    }
    if (this.#copying.has(infoHash)) {
      // The replica that offered it first may be gone: this one can serve it too.
      this.#options.engine.addSources(infoHash, request.sources);
      return { status: 'accepted' };
    }
    const torrent = decodeTorrentBase64(request.torrent);
    let metainfo: Metainfo;
    try {
      metainfo = parseTorrent(torrent);
    } catch (error) {
      return { status: 'refused', reason: `bad torrent: ${(error as Error).message}` };
    }
    if (metainfo.infoHashHex !== infoHash) {
      return { status: 'refused', reason: 'the torrent has another infohash' };
    }
    if (!metainfo.singleFile || metainfo.sha256 === undefined) {
      return { status: 'refused', reason: 'not a piece-store artifact (single file with sha256)' };
    }
    this.#queued.set(infoHash, { request, metainfo, torrent, sources: request.sources });
    this.#drainQueue();
    return { status: 'accepted' };
  }

  /** True when dropping this replica's copy keeps R copies on live owners. */
  async canEvict(infoHash: string): Promise<boolean> {
    const cluster = this.#options.cluster();
    if (cluster === undefined) return false;
    const owners = cluster.owners(infoHash);
    if (owners.includes(cluster.selfId)) return false;
    for (const owner of owners) {
      try {
        if (!(await cluster.holdsOn(owner, [infoHash])).has(infoHash)) return false;
      } catch (error) {
        if (error instanceof BusError) return false;
        throw error;
      }
    }
    return owners.length > 0;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#queued.clear();
    for (const controller of this.#copying.values()) controller.abort(new Error('shutting down'));
    await this.#reconciling;
  }

  async #push(infoHashes: readonly string[]): Promise<void> {
    const cluster = this.#options.cluster();
    if (cluster === undefined || this.#closed) return;
    const tasks: { owner: string; infoHash: string; key: string }[] = [];
    for (const infoHash of infoHashes) {
      for (const owner of cluster.owners(infoHash)) {
        if (owner === cluster.selfId) continue;
        const incarnation = cluster.membership.get(owner)?.heartbeat.incarnation ?? '';
        const key = `${owner}/${incarnation}/${infoHash}`;
        if (!this.#confirmed.has(key)) tasks.push({ owner, infoHash, key });
      }
    }
    const limit = this.#options.pushConcurrency ?? 4;
    let next = 0;
    const worker = async (): Promise<void> => {
      // Bounded: each pass takes one task.
      while (next < tasks.length && !this.#closed) {
        const task = tasks[next++]!;
        await this.#pushTo(cluster, task);
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  }

  async #pushTo(
    cluster: Cluster,
    task: { owner: string; infoHash: string; key: string },
  ): Promise<void> {
    const { store, self, logger, metrics } = this.#options;
    const record = store.get(task.infoHash);
    if (record === undefined) return;
    let torrent: Uint8Array;
    try {
      torrent = await store.readTorrent(task.infoHash);
    } catch {
      return; // Deleted or quarantined meanwhile.
    }
    try {
      const reply = await cluster.replicateTo(task.owner, {
        infoHash: task.infoHash,
        torrent: encodeTorrentBase64(torrent),
        createdUnixMs: record.createdUnixMs,
        from: cluster.selfId,
        sources: [self],
      });
      metrics?.pushes(reply.status);
      if (reply.status === 'present') this.#confirmed.add(task.key);
      if (reply.status === 'deleted') {
        logger.info({ infoHash: task.infoHash, owner: task.owner }, 'deleted elsewhere while away');
        await this.#options.onDeletedElsewhere(task.infoHash);
      }
      if (reply.status === 'refused') {
        logger.warn(
          { infoHash: task.infoHash, owner: task.owner, reason: reply.reason },
          'copy refused',
        );
      }
    } catch (error) {
      metrics?.pushes('error');
      if (!(error instanceof BusError)) throw error;
      logger.warn(
        { err: error, infoHash: task.infoHash, owner: task.owner },
        'replicate request failed',
      );
    }
  }

  #drainQueue(): void {
    // Bounded: each pass moves one job from the queue to the running set.
    while (
      !this.#closed &&
      this.#copying.size < this.#options.copyConcurrency &&
      this.#queued.size > 0
    ) {
      const [infoHash, job] = this.#queued.entries().next().value as [string, CopyJob];
      this.#queued.delete(infoHash);
      const controller = new AbortController();
      this.#copying.set(infoHash, controller);
      void this.#copy(job, controller).finally(() => {
        this.#copying.delete(infoHash);
        this.#drainQueue();
      });
    }
  }

  async #copy(job: CopyJob, controller: AbortController): Promise<void> {
    const { store, engine, budget, logger, metrics } = this.#options;
    const { metainfo } = job;
    const infoHash = metainfo.infoHashHex;
    const timer = setTimeout(
      () => controller.abort(new Error(`copy timed out after ${this.#options.copyTimeoutMs} ms`)),
      this.#options.copyTimeoutMs,
    );
    timer.unref();
    let staged: StagedObject | undefined;
    let reservation: Awaited<ReturnType<SpaceBudget['reserve']>> | undefined;
    const started = Date.now();
    try {
      reservation = await budget.reserve(metainfo.totalLength);
      staged = await store.stage();
      await engine.download({
        metainfo,
        path: staged.dataPath,
        sources: job.sources,
        signal: controller.signal,
        stallMs: this.#options.copyStallMs,
      });
      controller.signal.throwIfAborted();
      await this.#checkCopy(staged.dataPath, metainfo);
      controller.signal.throwIfAborted();
      const { created } = await store.commit(staged, job.torrent, {
        infoHash,
        name: metainfo.name,
        sha256: bytesToHex(metainfo.sha256!),
        size: metainfo.totalLength,
        pieceLength: metainfo.pieceLength,
        createdUnixMs: job.request.createdUnixMs,
      });
      staged = undefined;
      metrics?.copies('stored');
      logger.info(
        { infoHash, from: job.request.from, bytes: metainfo.totalLength, ms: Date.now() - started },
        'copy stored',
      );
      if (created) this.#options.onCopied(infoHash);
    } catch (error) {
      metrics?.copies('failed');
      logger.warn(
        { err: error, infoHash, from: job.request.from },
        'copy failed; a later reconcile retries',
      );
    } finally {
      clearTimeout(timer);
      reservation?.release();
      if (staged !== undefined) await store.discard(staged).catch(() => {});
    }
  }

  /** Every piece and the whole-file SHA-256 of a downloaded copy, from disk. */
  async #checkCopy(path: string, metainfo: Metainfo): Promise<void> {
    const hashes = await hashFilePieces(path, {
      pieceLength: metainfo.pieceLength,
      sha256: true,
      pool: this.#options.pool,
    });
    if (
      hashes.length !== metainfo.totalLength ||
      Buffer.compare(hashes.pieces, metainfo.pieces) !== 0 ||
      Buffer.compare(hashes.sha256!, metainfo.sha256!) !== 0
    ) {
      throw new PieceStoreError(
        PieceStoreErrorCode.Corrupt,
        `the copy of ${metainfo.infoHashHex} does not match its torrent`,
      );
    }
  }
}
