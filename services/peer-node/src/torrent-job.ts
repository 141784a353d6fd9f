// One torrent on the node, from request to seeding: it owns the torrent's state (one place
// changes it) and reports every change as an 'update' event; 'done' fires when a fetch ends
// (complete or failed). Steps: metadata -> (checking) -> downloading -> verifying (whole-file
// SHA-256) -> atomic move into the destination -> seeding until the policy says stop.
import { EventEmitter } from 'node:events';
import { link, lstat, mkdir, rename, rm, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Metainfo } from '@shoal/protocol';
import type { Logger } from '@shoal/service-kit';
import {
  type Announcer,
  Bitfield,
  BlobStorage,
  FileLayoutStorage,
  type PieceStorage,
  type SwarmNode,
  type TorrentHandle,
  type TorrentStats,
} from '@shoal/swarm';
import type { SwarmView } from './announcer.ts';
import { syncDirectory } from './atomic-file.ts';
import { asPeerNodeError, PeerNodeError, PeerNodeErrorCode } from './errors.ts';
import type { JobRecord, JobStore } from './job-record.ts';
import {
  type MetainfoLookups,
  type ParsedSource,
  parseTorrentOrThrow,
  resolveMetainfo,
} from './metainfo-source.ts';
import { loadResume, type ResumeExpectation, saveResume } from './resume.ts';
import type { SeedingPolicy } from './seeding-policy.ts';
import { sha256OfFiles } from './sha256.ts';
import { verifyFiles } from './verify-files.ts';

export type JobState =
  | 'metadata'
  | 'checking'
  | 'downloading'
  | 'verifying'
  | 'seeding'
  | 'complete'
  | 'failed';

/** A snapshot of a job, for Fetch progress, List/Status and fleet reports. */
export interface JobProgress {
  readonly infoHash: string;
  readonly name: string;
  readonly state: JobState;
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly rate: number;
  readonly peers: number;
  /** Seconds left at the current rate; `undefined` when unknown. */
  readonly etaS: number | undefined;
  readonly bytesFromOrigin: number;
  readonly bytesFromPeers: number;
  /** Over every run of the node. */
  readonly uploaded: number;
  readonly downloaded: number;
  /** The final path once complete. */
  readonly path: string;
  readonly seeding: boolean;
  readonly seedingReason: string;
  readonly error: PeerNodeError | undefined;
}

/** What a job needs from its node. */
export interface JobContext {
  readonly swarm: SwarmNode;
  readonly store: JobStore;
  readonly logger: Logger;
  readonly policy: SeedingPolicy;
  readonly lookups: MetainfoLookups;
  readonly metadataTimeoutMs: number;
  readonly stallTimeoutMs: number;
  readonly resumeIntervalMs: number;
  /** Test only: wrap the storage the swarm uploads from so every block is corrupted. */
  readonly corruptUploads: boolean;
  /** An announcer for this torrent that reports the swarm's counts to `onSwarm`. */
  createAnnouncer(onSwarm: (view: SwarmView) => void): Announcer;
  onPeerBanned(infoHash: string, host: string, reason: string): void;
  now(): number;
}

/** Prefix of the folder a download is assembled in, beside its destination. */
const PARTIAL_PREFIX = '.shoal-partial-';

export class TorrentJob extends EventEmitter {
  readonly infoHash: string;
  readonly #context: JobContext;
  #record: JobRecord;
  #state: JobState;
  #metainfo: Metainfo | undefined;
  #source: ParsedSource | undefined;
  #handle: TorrentHandle | undefined;
  /** The handle computes the whole-file SHA-256 as pieces arrive. */
  #streamsSha256 = false;
  #storage: PieceStorage | undefined;
  /** Absolute paths of the data files of the open storage, in torrent order. */
  #dataFiles: string[] = [];
  #error: PeerNodeError | undefined;
  #abort = new AbortController();
  #closed = false;
  #swarm: SwarmView | undefined;
  #lastLeecherAt: number | undefined;
  #resumeDirty = false;
  #resumeSaving = false;
  #lastResumeAt = 0;
  #lastBytesDone = 0;
  #lastProgressAt = 0;
  /** Counters of the current handle already reported through `takeCounters`. */
  #reported = { fromOrigin: 0, fromPeers: 0, uploaded: 0 };
  /** Serializes lifecycle steps (finish, stop seeding, close) so they never interleave. */
  #steps: Promise<void> = Promise.resolve();

  constructor(context: JobContext, record: JobRecord, metainfo?: Metainfo) {
    super();
    this.#context = context;
    this.#record = record;
    this.infoHash = record.infoHash;
    this.#metainfo = metainfo;
    this.#state =
      record.phase === 'failed' ? 'failed' : record.phase === 'complete' ? 'complete' : 'metadata';
    if (record.error !== undefined) {
      this.#error = new PeerNodeError(PeerNodeErrorCode.Internal, record.error);
    }
  }

  get state(): JobState {
    return this.#state;
  }

  get record(): Readonly<JobRecord> {
    return this.#record;
  }

  get metainfo(): Metainfo | undefined {
    return this.#metainfo;
  }

  /** True once the fetch has ended, well or not: followers get no more than a last event. */
  get done(): boolean {
    return this.#state === 'seeding' || this.#state === 'complete' || this.#state === 'failed';
  }

  /** Where the artifact lies once complete (the file, or the torrent's folder). */
  get finalPath(): string {
    if (this.#record.seedFile !== undefined) return this.#record.seedFile;
    const name = this.#metainfo?.name ?? this.#record.name;
    return name === undefined ? '' : join(this.#record.destination, name);
  }

  get partialRoot(): string {
    return join(this.#record.destination, `${PARTIAL_PREFIX}${this.infoHash}`);
  }

  /** Starts (or, after a failure, restarts) the job's work in the background. */
  start(source?: ParsedSource): void {
    if (this.#closed) return;
    if (source !== undefined) this.#source = source;
    this.#error = undefined;
    // A retry leaves 'failed' at once, so its own failure is reported as a new end.
    if (this.#state === 'failed') this.#setState(this.#metainfo ? 'checking' : 'metadata');
    this.#abort = new AbortController();
    this.#enqueue('run', () => this.#run());
  }

  progress(): JobProgress {
    const stats: TorrentStats | undefined = this.#handle?.stats();
    const total = this.#metainfo?.totalLength ?? 0;
    const complete = this.#state === 'seeding' || this.#state === 'complete';
    const bytesDone = complete ? total : (stats?.bytesDone ?? this.#lastBytesDone);
    const rate = this.#state === 'downloading' ? (stats?.rate ?? 0) : 0;
    const left = total - bytesDone;
    return {
      infoHash: this.infoHash,
      name: this.#metainfo?.name ?? this.#record.name ?? '',
      state: this.#state,
      bytesDone,
      bytesTotal: total,
      rate,
      peers: stats?.peers ?? 0,
      etaS: left === 0 ? 0 : rate > 0 ? left / rate : undefined,
      bytesFromOrigin: stats?.downloadedFromOrigin ?? 0,
      bytesFromPeers: stats?.downloadedFromPeers ?? 0,
      uploaded: this.#record.uploaded + (stats?.uploaded ?? 0),
      downloaded: this.#record.downloaded + (stats?.downloaded ?? 0),
      path: complete ? this.finalPath : '',
      seeding: this.#state === 'seeding',
      seedingReason: this.#seedingReason(),
      error: this.#error,
    };
  }

  /** Bytes moved since the last call, for the node's counters. */
  takeCounters(): { fromOrigin: number; fromPeers: number; uploaded: number } {
    const stats = this.#handle?.stats();
    if (stats === undefined) return { fromOrigin: 0, fromPeers: 0, uploaded: 0 };
    const delta = {
      fromOrigin: stats.downloadedFromOrigin - this.#reported.fromOrigin,
      fromPeers: stats.downloadedFromPeers - this.#reported.fromPeers,
      uploaded: stats.uploaded - this.#reported.uploaded,
    };
    this.#reported = {
      fromOrigin: stats.downloadedFromOrigin,
      fromPeers: stats.downloadedFromPeers,
      uploaded: stats.uploaded,
    };
    return delta;
  }

  /** Periodic bookkeeping from the node's tick: resume record, stall check, seeding policy. */
  tick(): void {
    if (this.#closed) return;
    const now = this.#context.now();
    if (this.#state === 'downloading' && this.#handle !== undefined) {
      const { bytesDone } = this.#handle.stats();
      if (bytesDone > this.#lastBytesDone) this.#lastProgressAt = now;
      this.#lastBytesDone = bytesDone;
      if (
        this.#resumeDirty &&
        !this.#resumeSaving &&
        now - this.#lastResumeAt >= this.#context.resumeIntervalMs
      ) {
        // In the step queue, so a save never interleaves with the move into place.
        this.#resumeSaving = true;
        this.#enqueue('resume', () => this.#saveResume());
      }
      if (now - this.#lastProgressAt > this.#context.stallTimeoutMs) {
        const seconds = Math.round(this.#context.stallTimeoutMs / 1000);
        this.#enqueue('stall', () =>
          this.#fail(
            new PeerNodeError(
              PeerNodeErrorCode.Unavailable,
              `no verified data for ${seconds} s (${this.#handle?.stats().peers ?? 0} peers connected); the partial data is kept and a new fetch resumes it`,
            ),
          ),
        );
      }
    }
    if (this.#state === 'seeding') {
      const decision = this.#decideSeeding(now);
      if (!decision.seed) this.#enqueue('stop-seeding', () => this.#stopSeeding(decision.reason));
    }
    this.emit('update', this.progress());
  }

  /**
   * Removes the torrent from the node: stops it and forgets it; with `deleteData`, deletes what
   * it downloaded too (the final copy or the partial folder, never a published source file).
   */
  async remove(deleteData: boolean): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    const removed = new PeerNodeError(PeerNodeErrorCode.Cancelled, 'the torrent was removed');
    await this.#enqueueAwait(async () => {
      await this.#retireHandle();
      await this.#closeStorage();
      await this.#context.store.remove(this.infoHash);
      await rm(this.partialRoot, { recursive: true, force: true });
      if (deleteData && this.#record.seedFile === undefined && this.#record.phase === 'complete') {
        const path = this.finalPath;
        if (path !== '') await rm(path, { recursive: true, force: true });
      }
    });
    if (!this.done) {
      this.#error = removed;
      this.#state = 'failed';
    }
    this.emit('done', { ...this.progress(), state: 'failed', error: removed });
  }

  /**
   * Shutdown: stops the torrent and saves what a restart needs (resume record, counters).
   * Followers of an unfinished fetch get a last 'done' saying so; the fetch itself resumes
   * when the node starts again.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.#enqueueAwait(async () => {
      const downloading = this.#state === 'downloading';
      const have = await this.#retireHandle();
      if (downloading) await this.#saveResumeNow(have);
      await this.#closeStorage();
      await this.#context.store.save(this.#record);
    });
    if (!this.done) {
      const error = new PeerNodeError(
        PeerNodeErrorCode.Unavailable,
        'the node is shutting down; the fetch resumes when it starts again',
      );
      this.emit('done', { ...this.progress(), error });
    }
  }

  // ---------------------------------------------------------------- lifecycle steps

  async #run(): Promise<void> {
    try {
      if (this.#metainfo === undefined) await this.#getMetainfo();
      if (this.#closed) return;
      if (this.#record.phase === 'complete') {
        await this.#seedExisting();
        return;
      }
      this.#record = { ...this.#record, phase: 'fetching' };
      delete this.#record.error;
      await this.#context.store.save(this.#record);
      if (await this.#adoptExisting()) return;
      await this.#startDownload();
    } catch (error) {
      await this.#fail(error);
    }
  }

  async #getMetainfo(): Promise<void> {
    const saved = await this.#context.store.loadTorrent(this.infoHash);
    if (saved !== undefined) {
      const metainfo = parseTorrentOrThrow(saved);
      if (metainfo.infoHashHex === this.infoHash) {
        this.#metainfo = metainfo;
        return;
      }
    }
    this.#setState('metadata');
    const source = this.#source ?? { infoHash: this.infoHash, peers: [] };
    const timeout = AbortSignal.timeout(this.#context.metadataTimeoutMs);
    const signal = AbortSignal.any([this.#abort.signal, timeout]);
    const resolved = await resolveMetainfo(source, this.#context.lookups, {
      signal,
      onNote: (note) => this.#context.logger.info({ infoHash: this.infoHash, note }, 'metadata'),
    });
    if (this.#abort.signal.aborted) throw new PeerNodeError(PeerNodeErrorCode.Cancelled, 'stopped');
    this.#metainfo = resolved.metainfo;
    await this.#context.store.saveTorrent(this.infoHash, resolved.torrent);
    this.#record = { ...this.#record, name: resolved.metainfo.name };
    await this.#context.store.save(this.#record);
    this.#context.logger.info(
      { infoHash: this.infoHash, from: resolved.from, name: resolved.metainfo.name },
      'metadata resolved',
    );
  }

  /**
   * A destination that already holds files of the torrent's name (a copy from before, e.g.
   * after Remove without deleting data): used when every piece verifies, else refused, so
   * other data is never overwritten.
   */
  async #adoptExisting(): Promise<boolean> {
    const metainfo = this.#metainfo!;
    const finalPath = this.finalPath;
    if (!(await exists(finalPath))) return false;
    const sizesMatch = await filesHaveSizes(this.#record.destination, metainfo);
    if (!sizesMatch) throw alreadyExists(finalPath);
    const storage = await FileLayoutStorage.open(this.#record.destination, metainfo);
    this.#attachStorage(storage, storage.directory);
    this.#setState('checking');
    const have = await verifyFiles(this.#dataFiles, metainfo);
    if (!have.complete || !(await this.#sha256Matches())) {
      await this.#closeStorage();
      throw alreadyExists(finalPath);
    }
    this.#context.logger.info(
      { infoHash: this.infoHash, path: finalPath },
      'adopted an existing verified copy',
    );
    await this.#markComplete();
    this.#addToSwarm(have);
    await this.#saveResumeNow();
    this.#setState('seeding');
    this.emit('done', this.progress());
    return true;
  }

  async #startDownload(): Promise<void> {
    const metainfo = this.#metainfo!;
    await mkdir(this.#record.destination, { recursive: true });
    const fresh = !(await exists(this.partialRoot));
    const storage = await FileLayoutStorage.open(this.partialRoot, metainfo);
    this.#attachStorage(storage, storage.directory);
    let have = new Bitfield(metainfo.pieceCount);
    if (!fresh) {
      const resume = await loadResume(this.#resumePath(), this.#expectation());
      if (resume.ok) {
        have = resume.have;
      } else {
        this.#context.logger.info(
          { infoHash: this.infoHash, reason: resume.reason },
          'resume record not usable; verifying the partial data',
        );
        this.#setState('checking');
        have = await verifyFiles(this.#dataFiles, metainfo);
      }
      this.#context.logger.info(
        { infoHash: this.infoHash, piecesHave: have.count, pieces: metainfo.pieceCount },
        'resuming',
      );
    }
    if (this.#closed) return;
    this.#lastBytesDone = bytesOf(metainfo, have);
    this.#lastProgressAt = this.#context.now();
    // The record on disk (if any) is as new as this start: the next one is due an interval on.
    this.#lastResumeAt = this.#lastProgressAt;
    this.#addToSwarm(have);
    this.#setState('downloading');
    if (have.complete) this.#enqueue('finish', () => this.#finish());
  }

  /** Every piece verified: check the whole-file SHA-256, then move the files into place. */
  async #finish(): Promise<void> {
    if (this.#closed || this.#state !== 'downloading') return;
    this.#setState('verifying');
    let finishTimings: { flushMs: number; sha256Ms: number } | undefined;
    try {
      // The fsync waits on the disk, the rest of the SHA-256 (usually the last few pieces) on
      // the CPU: side by side, not one after the other.
      const finishStarted = performance.now();
      const elapsedMs = () => Math.round(performance.now() - finishStarted);
      const [flushMs, [sha256Matches, sha256Ms]] = await Promise.all([
        this.#storage!.flush().then(elapsedMs),
        this.#sha256Matches().then((matches) => [matches, elapsedMs()] as const),
      ]);
      finishTimings = { flushMs, sha256Ms };
      if (!sha256Matches) {
        await this.#retireHandle();
        await this.#closeStorage();
        // Every piece matched its SHA-1, so the torrent itself disagrees with its SHA-256:
        // these bytes can never be right.
        await rm(this.partialRoot, { recursive: true, force: true });
        await rm(this.#context.store.resumePath(this.infoHash), { force: true });
        throw new PeerNodeError(
          PeerNodeErrorCode.DataLoss,
          "every piece verified but the whole-file SHA-256 differs from the torrent's: the torrent is inconsistent",
        );
      }
      await this.#moveIntoPlace();
      await this.#markComplete();
      await this.#saveResumeNow();
    } catch (error) {
      await this.#fail(error);
      return;
    }
    const decision = this.#decideSeeding(this.#context.now());
    this.#setState('seeding');
    this.#context.logger.info(
      { infoHash: this.infoHash, path: this.finalPath, ...this.#sourceCounts(), ...finishTimings },
      'download complete',
    );
    this.emit('done', this.progress());
    if (!decision.seed) await this.#stopSeeding(decision.reason);
  }

  async #sha256Matches(): Promise<boolean> {
    const expected = this.#metainfo!.sha256;
    if (expected === undefined) return true;
    // While downloading, the torrent has hashed the data as it arrived; a resumed download
    // that was already complete reads the files.
    const actual =
      this.#handle !== undefined && this.#streamsSha256
        ? await this.#handle.sha256()
        : await sha256OfFiles(this.#dataFiles);
    return Buffer.compare(Buffer.from(actual), Buffer.from(expected)) === 0;
  }

  /**
   * Moves `<partial>/<name>` to `<destination>/<name>` in one step. A single file is hard
   * linked (which refuses an existing target atomically) then unlinked from the partial folder;
   * a folder is renamed after checking nothing is there. Open handles follow the inodes, so
   * seeding carries on from the final location.
   */
  async #moveIntoPlace(): Promise<void> {
    const metainfo = this.#metainfo!;
    const source = join(this.partialRoot, metainfo.name);
    const target = this.finalPath;
    if (metainfo.singleFile) {
      try {
        await link(source, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw alreadyExists(target);
        throw error;
      }
      await unlink(source);
    } else {
      if (await exists(target)) throw alreadyExists(target);
      await rename(source, target);
    }
    await syncDirectory(this.#record.destination);
    await rmdir(this.partialRoot).catch(() =>
      rm(this.partialRoot, { recursive: true, force: true }),
    );
    this.#dataFiles = metainfo.files.map((file) =>
      FileLayoutStorage.resolvePath(this.#record.destination, file),
    );
  }

  async #markComplete(): Promise<void> {
    this.#record = {
      ...this.#record,
      phase: 'complete',
      seeding: true,
      completedAt: this.#context.now(),
    };
    delete this.#record.error;
    await this.#context.store.save(this.#record);
  }

  /** After a restart: seed a completed torrent from its final place, if it is still intact. */
  async #seedExisting(): Promise<void> {
    const metainfo = this.#metainfo!;
    if (!this.#record.seeding) {
      this.#setState('complete');
      return;
    }
    let storage: PieceStorage;
    let root: string;
    if (this.#record.seedFile !== undefined) {
      storage = await BlobStorage.open(this.#record.seedFile, metainfo, { readOnly: true }).catch(
        (error: unknown) => {
          throw changedOnDisk(this.finalPath, error);
        },
      );
      root = this.#record.seedFile;
    } else {
      if (!(await filesHaveSizes(this.#record.destination, metainfo))) {
        throw changedOnDisk(this.finalPath);
      }
      const layout = await FileLayoutStorage.open(this.#record.destination, metainfo);
      storage = layout;
      root = layout.directory;
    }
    this.#attachStorage(storage, root);
    const resume = await loadResume(this.#resumePath(), this.#expectation());
    let have: Bitfield;
    if (resume.ok && resume.have.complete) {
      have = resume.have;
    } else {
      this.#setState('checking');
      have = await verifyFiles(this.#dataFiles, metainfo);
      if (!have.complete) {
        await this.#closeStorage();
        throw changedOnDisk(this.finalPath);
      }
      await this.#saveResumeNow();
    }
    if (this.#closed) return;
    this.#addToSwarm(have);
    this.#setState('seeding');
  }

  /** Publish: the file was just ingested by the piece-store; seed it where it is. */
  async seedPublished(storage: PieceStorage): Promise<void> {
    const metainfo = this.#metainfo!;
    this.#attachStorage(storage, this.#record.seedFile!);
    await this.#markComplete();
    this.#addToSwarm(Bitfield.full(metainfo.pieceCount));
    await this.#saveResumeNow();
    this.#setState('seeding');
  }

  #attachStorage(storage: PieceStorage, root: string): void {
    const metainfo = this.#metainfo!;
    this.#storage = storage;
    this.#dataFiles =
      this.#record.seedFile !== undefined
        ? [this.#record.seedFile]
        : metainfo.files.map((file) => FileLayoutStorage.resolvePath(root, file));
  }

  #addToSwarm(have: Bitfield): void {
    const metainfo = this.#metainfo!;
    // A node told to corrupt what it reads for uploads (a fault-test flag) would corrupt the
    // read-back of its own streamed digest too: it hashes its files at the end instead.
    this.#streamsSha256 = metainfo.sha256 !== undefined && !this.#context.corruptUploads;
    const handle = this.#context.swarm.addTorrent({
      metainfo,
      storage: this.#context.corruptUploads ? corruptingStorage(this.#storage!) : this.#storage!,
      have,
      announcer: this.#context.createAnnouncer((view) => this.#onSwarm(view)),
      role: 'peer',
      // The whole-file SHA-256 follows the download, so little of it is left at the end.
      streamSha256: this.#streamsSha256,
    });
    this.#handle = handle;
    this.#reported = { fromOrigin: 0, fromPeers: 0, uploaded: 0 };
    handle.on('piece', () => {
      this.#resumeDirty = true;
    });
    handle.on('complete', () => this.#enqueue('finish', () => this.#finish()));
    handle.on('error', (error: Error) =>
      this.#context.logger.warn({ infoHash: this.infoHash, err: error }, 'torrent error'),
    );
    handle.on('peer-banned', ({ host, reason }: { host: string; reason: string }) =>
      this.#context.onPeerBanned(this.infoHash, host, reason),
    );
    if (this.#source !== undefined && this.#source.peers.length > 0) {
      handle.addPeers([...this.#source.peers]);
    }
  }

  #onSwarm(view: SwarmView): void {
    this.#swarm = view;
    if (view.leechers > 0) this.#lastLeecherAt = view.at;
  }

  #decideSeeding(now: number) {
    return this.#context.policy.decide({
      now,
      completedAt: this.#record.completedAt ?? now,
      uploaded: this.#record.uploaded + (this.#handle?.stats().uploaded ?? 0),
      size: this.#metainfo?.totalLength ?? 0,
      leechers: this.#swarm?.leechers,
      lastLeecherAt: this.#lastLeecherAt,
    });
  }

  #seedingReason(): string {
    switch (this.#state) {
      case 'seeding':
        return this.#decideSeeding(this.#context.now()).reason;
      case 'complete':
        return this.#record.seedingReason ?? 'not seeding';
      case 'failed':
        return 'not seeding: the fetch failed';
      default:
        return 'not seeding yet: still fetching (uploading the pieces it has meanwhile)';
    }
  }

  async #stopSeeding(reason: string): Promise<void> {
    if (this.#state !== 'seeding') return;
    this.#context.logger.info({ infoHash: this.infoHash, reason }, 'stopped seeding');
    await this.#retireHandle();
    await this.#closeStorage();
    this.#record = { ...this.#record, seeding: false, seedingReason: reason };
    await this.#context.store.save(this.#record);
    this.#setState('complete');
  }

  async #fail(cause: unknown): Promise<void> {
    const error = asPeerNodeError(cause);
    if (this.#closed || this.#state === 'failed') return;
    this.#context.logger.warn(
      { infoHash: this.infoHash, err: error, code: error.code },
      'fetch failed',
    );
    const downloading = this.#state === 'downloading' || this.#state === 'verifying';
    const have = await this.#retireHandle();
    if (downloading) await this.#saveResumeNow(have).catch(() => {});
    await this.#closeStorage();
    this.#error = error;
    this.#record = { ...this.#record, phase: 'failed', error: error.message.slice(0, 2000) };
    await this.#context.store.save(this.#record).catch(() => {});
    this.#setState('failed');
    this.emit('done', this.progress());
  }

  /**
   * Stops the engine's torrent, folding its counters into the record; returns the pieces it
   * had verified (all written: the engine marks a piece only after its write completed).
   */
  async #retireHandle(): Promise<Bitfield | undefined> {
    const handle = this.#handle;
    if (handle === undefined) return undefined;
    this.#handle = undefined;
    await handle.stop();
    const stats = handle.stats();
    this.#lastBytesDone = stats.bytesDone;
    this.#record = {
      ...this.#record,
      uploaded: this.#record.uploaded + stats.uploaded,
      downloaded: this.#record.downloaded + stats.downloaded,
    };
    return handle.have();
  }

  async #closeStorage(): Promise<void> {
    const storage = this.#storage;
    this.#storage = undefined;
    await storage?.close().catch(() => {});
  }

  #resumePath(): string {
    return this.#context.store.resumePath(this.infoHash);
  }

  #expectation(): ResumeExpectation {
    const metainfo = this.#metainfo!;
    return {
      infoHash: this.infoHash,
      pieceCount: metainfo.pieceCount,
      pieceLength: metainfo.pieceLength,
      files: this.#dataFiles,
    };
  }

  /** Periodic save while downloading: only while still downloading, failures only logged. */
  async #saveResume(): Promise<void> {
    try {
      if (this.#state === 'downloading') await this.#saveResumeNow();
    } catch (error) {
      this.#context.logger.warn(
        { infoHash: this.infoHash, err: error },
        'saving the resume record failed',
      );
    } finally {
      this.#resumeSaving = false;
    }
  }

  /** Saves the resume record of `have` (default: what the running torrent has verified). */
  async #saveResumeNow(have?: Bitfield): Promise<void> {
    const storage = this.#storage;
    const metainfo = this.#metainfo;
    if (storage === undefined || metainfo === undefined) return;
    // Pieces in `have` were written before it was taken; the flush makes them durable, and
    // the files are stat'ed after it (see saveResume).
    const verified =
      have ??
      this.#handle?.have() ??
      (this.#record.phase === 'complete' ? Bitfield.full(metainfo.pieceCount) : undefined);
    if (verified === undefined) return;
    this.#resumeDirty = false;
    this.#lastResumeAt = this.#context.now();
    await storage.flush();
    await saveResume(this.#resumePath(), this.#expectation(), verified, this.#lastResumeAt);
  }

  #sourceCounts() {
    const stats = this.#handle?.stats();
    return {
      fromOrigin: stats?.downloadedFromOrigin ?? 0,
      fromPeers: stats?.downloadedFromPeers ?? 0,
    };
  }

  #setState(state: JobState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.emit('update', this.progress());
  }

  /** Runs `step` after the steps before it; its failure fails the job, never the process. */
  #enqueue(name: string, step: () => Promise<void>): void {
    void this.#enqueueAwait(step).catch((error: unknown) => {
      this.#context.logger.error(
        { infoHash: this.infoHash, step: name, err: error },
        'job step failed',
      );
    });
  }

  #enqueueAwait(step: () => Promise<void>): Promise<void> {
    const next = this.#steps.then(step);
    this.#steps = next.catch(() => {});
    return next;
  }
}

function alreadyExists(path: string): PeerNodeError {
  return new PeerNodeError(
    PeerNodeErrorCode.AlreadyExists,
    `${path} already exists and is not this torrent's verified content; move it away or choose another destination`,
  );
}

function changedOnDisk(path: string, cause?: unknown): PeerNodeError {
  return new PeerNodeError(
    PeerNodeErrorCode.DataLoss,
    `the completed copy at ${path} is missing or changed on disk; not seeding it (remove the torrent and fetch it again)`,
    { cause },
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether every file of the torrent is under `root` as a regular file of the right size. */
async function filesHaveSizes(root: string, metainfo: Metainfo): Promise<boolean> {
  for (const file of metainfo.files) {
    try {
      const stats = await lstat(FileLayoutStorage.resolvePath(root, file));
      if (!stats.isFile() || stats.size !== file.length) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function bytesOf(metainfo: Metainfo, have: Bitfield): number {
  let bytes = 0;
  for (const index of have.indexes()) {
    bytes +=
      index === metainfo.pieceCount - 1
        ? metainfo.totalLength - index * metainfo.pieceLength
        : metainfo.pieceLength;
  }
  return bytes;
}

/**
 * Test only (SHOAL_TEST_CORRUPT_UPLOADS): reads through to the real storage, then flips a byte
 * of each block, so this node behaves as a peer serving bad data. Its own files stay intact.
 */
function corruptingStorage(storage: PieceStorage): PieceStorage {
  return {
    read: async (pieceIndex, begin, target) => {
      await storage.read(pieceIndex, begin, target);
      if (target.length > 0) target[0] = (target[0]! ^ 0xff) & 0xff;
    },
    write: (pieceIndex, begin, data) => storage.write(pieceIndex, begin, data),
    flush: () => storage.flush(),
    close: () => storage.close(),
  };
}
