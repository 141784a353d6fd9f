// The wire side: one SwarmNode seeds every stored artifact as an origin (super-seeding,
// announced to the tracker over NATS) and downloads copies from other replicas as a leecher.
// Stored pieces are checked against their hash the first time each is served in this process,
// so a piece corrupted on disk after start-up is caught before it leaves. That check hashes on
// the event loop (at most one piece, 16 MiB, about 10 ms): a hash-pool job per piece would
// leave a shared ring per piece in the workers until their garbage collector runs. Files are
// opened on first read and closed when idle (see SeedStorage).
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import {
  type AnnouncedPeer,
  announceOverNats,
  type NatsRequester,
  type PeerLabels,
  type PeerSource,
} from '@shoal/bus';
import { type Metainfo, parseTorrent } from '@shoal/protocol';
import type { Logger } from '@shoal/service-kit';
import {
  type Announcer,
  Bitfield,
  BlobStorage,
  type PeerAddress,
  type PieceStorage,
  SwarmNode,
  type TorrentHandle,
} from '@shoal/swarm';
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import type { CopyEngine } from './replication.ts';
import type { ArtifactStore } from './store.ts';

export interface SeederOptions {
  store: ArtifactStore;
  nc: NatsRequester;
  subjectPrefix: string;
  listenHost: string;
  listenPort: number;
  advertiseIp: string;
  labels: PeerLabels;
  uploadRateLimit: number;
  maxConnections: number;
  maxConnectionsPerTorrent: number;
  logger: Logger;
  /** A stored piece failed its hash while being served: take the artifact out of service. */
  onCorrupt: (infoHash: string, reason: string) => void;
}

interface Seeding {
  handle: TorrentHandle;
  storage: PieceStorage;
}

/** Deadline of one announce over NATS. */
const ANNOUNCE_TIMEOUT_MS = 3000;
/** A seeded artifact's file is closed after this long without a read. */
const IDLE_CLOSE_MS = 60_000;

export class Seeder implements CopyEngine {
  readonly #options: SeederOptions;
  readonly #node: SwarmNode;
  readonly #seeding = new Map<string, Seeding>();
  /** Copies from other replicas in progress. */
  readonly #downloads = new Map<string, TorrentHandle>();

  private constructor(options: SeederOptions, node: SwarmNode) {
    this.#options = options;
    this.#node = node;
  }

  static async start(options: SeederOptions): Promise<Seeder> {
    const node = new SwarmNode({
      listenHost: options.listenHost,
      listenPort: options.listenPort,
      maxConnections: options.maxConnections,
      maxConnectionsPerTorrent: options.maxConnectionsPerTorrent,
      uploadRateLimit: options.uploadRateLimit,
      // An origin only hashes the copies it downloads from other replicas: one thread is plenty.
      hashThreads: 1,
      logger: options.logger,
    });
    await node.listen();
    return new Seeder(options, node);
  }

  /** The bound wire port. */
  get port(): number {
    return this.#node.port;
  }

  get seedingCount(): number {
    return this.#seeding.size;
  }

  /** Bytes uploaded over all seeded artifacts (since each started seeding). */
  uploadedBytes(): number {
    let total = 0;
    for (const { handle } of this.#seeding.values()) total += handle.stats().uploaded;
    return total;
  }

  /** Starts seeding a stored artifact (no-op if it already is). */
  async seed(infoHash: string): Promise<void> {
    if (this.#seeding.has(infoHash)) return;
    const { store } = this.#options;
    const metainfo = parseTorrent(await store.readTorrent(infoHash));
    if (this.#seeding.has(infoHash)) return;
    const storage = new SeedStorage(store.dataPath(infoHash), metainfo, {
      onCorrupt: (reason) => this.#options.onCorrupt(infoHash, reason),
      // Serving counts as a use for least-recently-used eviction.
      onRead: () => store.touch(infoHash),
    });
    const handle = this.#node.addTorrent({
      metainfo,
      storage,
      have: Bitfield.full(metainfo.pieceCount),
      announcer: this.#announcer(),
      role: 'origin',
    });
    handle.on('error', (error: Error) =>
      this.#options.logger.warn({ err: error, infoHash }, 'seeding error'),
    );
    this.#seeding.set(infoHash, { handle, storage });
  }

  /** Stops seeding (announces `stopped`) and closes the file. */
  async unseed(infoHash: string): Promise<void> {
    const seeding = this.#seeding.get(infoHash);
    if (seeding === undefined) return;
    this.#seeding.delete(infoHash);
    await seeding.handle.stop().catch(() => {});
    await seeding.storage.close().catch(() => {});
  }

  /**
   * Downloads `metainfo`'s content into `path` from `sources` (more can be added while it runs,
   * see `addSources`) and the tracker's peers. Fails when no byte arrives for `stallMs`.
   */
  async download(options: {
    metainfo: Metainfo;
    path: string;
    sources: readonly PeerSource[];
    signal: AbortSignal;
    stallMs: number;
  }): Promise<void> {
    const { metainfo, signal } = options;
    const infoHash = metainfo.infoHashHex;
    if (this.#seeding.has(infoHash) || this.#downloads.has(infoHash)) {
      throw new PieceStoreError(
        PieceStoreErrorCode.InvalidArgument,
        'already seeding or copying it',
      );
    }
    signal.throwIfAborted();
    const storage = await BlobStorage.open(options.path, metainfo);
    const handle = this.#node.addTorrent({
      metainfo,
      storage,
      announcer: this.#announcer(),
      role: 'peer',
    });
    this.#downloads.set(infoHash, handle);
    // Ends the waits below (and their listeners) whichever way the download ends.
    const settled = new AbortController();
    const waitSignal = AbortSignal.any([signal, settled.signal]);
    let lastBytes = -1;
    let lastProgressAt = Date.now();
    try {
      const complete = once(handle, 'complete', { signal: waitSignal });
      const failed = once(handle, 'error', { signal: waitSignal }).then(([error]) => {
        throw error;
      });
      const stalled = new Promise<never>((_, reject) => {
        const timer = setInterval(
          () => {
            const { bytesDone } = handle.stats();
            if (bytesDone !== lastBytes) {
              lastBytes = bytesDone;
              lastProgressAt = Date.now();
            } else if (Date.now() - lastProgressAt >= options.stallMs) {
              reject(
                new PieceStoreError(
                  PieceStoreErrorCode.ReplicationFailed,
                  `no progress for ${options.stallMs} ms (${bytesDone} of ${metainfo.totalLength} bytes)`,
                ),
              );
            }
          },
          Math.min(1000, options.stallMs / 4),
        );
        timer.unref();
        waitSignal.addEventListener('abort', () => clearInterval(timer), { once: true });
      });
      for (const wait of [complete, failed, stalled]) wait.catch(() => {});
      this.addSources(infoHash, options.sources);
      await Promise.race([complete, failed, stalled]);
      await storage.flush();
    } finally {
      settled.abort();
      this.#downloads.delete(infoHash);
      await handle.stop().catch(() => {});
      await storage.close().catch(() => {});
    }
  }

  /** More replicas that hold an artifact being copied: the download connects to them too. */
  addSources(infoHash: string, sources: readonly PeerSource[]): void {
    this.#downloads
      .get(infoHash)
      ?.addPeers(sources.map((source) => ({ host: source.ip, port: source.port })));
  }

  async close(): Promise<void> {
    const all = [...this.#seeding.keys()];
    await Promise.allSettled(all.map((infoHash) => this.unseed(infoHash)));
    await this.#node.close();
  }

  #announcer(): Announcer {
    const { nc, subjectPrefix, advertiseIp, labels } = this.#options;
    const peerId = Buffer.from(this.#node.peerId).toString('hex');
    const hasLabels = Object.keys(labels).length > 0;
    return {
      announce: async (request) => {
        const response = await announceOverNats(
          nc,
          {
            infoHash: request.infoHash,
            peerId,
            ip: advertiseIp,
            port: request.port,
            uploaded: request.uploaded,
            downloaded: request.downloaded,
            left: request.left,
            ...(request.event === 'periodic' ? {} : { event: request.event }),
            ...(hasLabels ? { labels } : {}),
          },
          { prefix: subjectPrefix, timeoutMs: ANNOUNCE_TIMEOUT_MS },
        );
        return {
          peers: response.peers.map(toPeerAddress),
          intervalSeconds: response.interval,
        };
      },
    };
  }
}

function toPeerAddress(peer: AnnouncedPeer): PeerAddress {
  return {
    host: peer.ip,
    port: peer.port,
    peerId: peer.peerId,
    seeder: peer.seeder,
    ...(peer.labels === undefined ? {} : { labels: { ...peer.labels } }),
  };
}

/**
 * The seeding side of one stored artifact: the file is opened (read-only, as a BlobStorage)
 * on the first read and closed after a minute without one, so a replica holding thousands of
 * artifacts keeps file descriptors only for those being served. Each piece is checked against
 * its hash the first time any part of it is read, one piece at a time into one reused buffer;
 * once a piece fails, the artifact is refused.
 */
class SeedStorage implements PieceStorage {
  readonly #path: string;
  readonly #metainfo: Metainfo;
  readonly #onCorrupt: (reason: string) => void;
  readonly #onRead: () => void;
  readonly #verified: Bitfield;
  #blob: Promise<BlobStorage> | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #reading = 0;
  /** Piece checks run one after another, into `#pieceBuffer`. */
  #checks: Promise<void> = Promise.resolve();
  #pieceBuffer: Uint8Array | undefined;
  #corrupt: string | undefined;
  #closed = false;

  constructor(
    path: string,
    metainfo: Metainfo,
    hooks: { onCorrupt: (reason: string) => void; onRead: () => void },
  ) {
    this.#path = path;
    this.#metainfo = metainfo;
    this.#onCorrupt = hooks.onCorrupt;
    this.#onRead = hooks.onRead;
    this.#verified = new Bitfield(metainfo.pieceCount);
  }

  async read(pieceIndex: number, begin: number, target: Uint8Array): Promise<void> {
    if (this.#closed) throw new PieceStoreError(PieceStoreErrorCode.Unavailable, 'closed');
    this.#reading++;
    clearTimeout(this.#idleTimer);
    try {
      const blob = await this.#open();
      if (!this.#verified.has(pieceIndex)) await this.#check(blob, pieceIndex);
      await blob.read(pieceIndex, begin, target);
      this.#onRead();
    } finally {
      if (--this.#reading === 0) this.#armIdleClose();
    }
  }

  write(): Promise<void> {
    return Promise.reject(
      new PieceStoreError(PieceStoreErrorCode.InvalidArgument, 'a stored artifact is read-only'),
    );
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#idleTimer);
    await this.#release();
  }

  #open(): Promise<BlobStorage> {
    if (this.#blob === undefined) {
      const opening = BlobStorage.open(this.#path, this.#metainfo, { readOnly: true });
      this.#blob = opening;
      opening.catch(() => {
        if (this.#blob === opening) this.#blob = undefined;
      });
    }
    return this.#blob;
  }

  #armIdleClose(): void {
    this.#idleTimer = setTimeout(() => {
      if (this.#reading === 0) void this.#release();
    }, IDLE_CLOSE_MS);
    this.#idleTimer.unref();
  }

  async #release(): Promise<void> {
    const blob = this.#blob;
    this.#blob = undefined;
    this.#pieceBuffer = undefined;
    if (blob !== undefined) await (await blob.catch(() => undefined))?.close().catch(() => {});
  }

  #check(blob: BlobStorage, index: number): Promise<void> {
    const run = this.#checks.then(() => this.#verify(blob, index));
    this.#checks = run.catch(() => {});
    return run;
  }

  async #verify(blob: BlobStorage, index: number): Promise<void> {
    if (this.#corrupt !== undefined) throw this.#corruptError();
    if (this.#verified.has(index)) return;
    const { pieceLength, pieceCount, totalLength, pieces } = this.#metainfo;
    if (!Number.isInteger(index) || index < 0 || index >= pieceCount) {
      throw new PieceStoreError(PieceStoreErrorCode.InvalidArgument, `no piece ${index}`);
    }
    const length = index === pieceCount - 1 ? totalLength - index * pieceLength : pieceLength;
    this.#pieceBuffer ??= new Uint8Array(pieceLength);
    const data = this.#pieceBuffer.subarray(0, length);
    await blob.read(index, 0, data);
    const digest = createHash('sha1').update(data).digest();
    if (Buffer.compare(digest, pieces.subarray(index * 20, index * 20 + 20)) !== 0) {
      this.#corrupt = `piece ${index} does not match its hash`;
      this.#onCorrupt(this.#corrupt);
      throw this.#corruptError();
    }
    this.#verified.set(index);
  }

  #corruptError(): PieceStoreError {
    return new PieceStoreError(
      PieceStoreErrorCode.Corrupt,
      `stored data is corrupt: ${this.#corrupt}`,
    );
  }
}
