// The peer-node: one swarm engine for every torrent on the machine, the jobs that drive each
// torrent, the NATS connection (tracker, piece-store lookups, fleet commands), the gRPC API and
// the metrics/health server.
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  announceOverNats,
  BusError,
  BusErrorCode,
  bytesToHex,
  lookupMetainfoOverNats,
  type PeerLabels,
} from '@shoal/bus';
import type { Metainfo } from '@shoal/protocol';
import {
  connectNats,
  type HttpService,
  type Logger,
  Readiness,
  startHttpServer,
} from '@shoal/service-kit';
import { BlobStorage, fetchMetadata, type PeerAddress, SwarmNode } from '@shoal/swarm';
import { NatsAnnouncer } from './announcer.ts';
import type { PeerNodeConfig } from './config.ts';
import { PeerNodeError, PeerNodeErrorCode } from './errors.ts';
import { FleetAgent } from './fleet-agent.ts';
import { type GrpcServer, startGrpcServer } from './grpc-server.ts';
import { type JobOrigin, type JobRecord, JobStore } from './job-record.ts';
import {
  type FetchSource,
  type MetainfoLookups,
  type ParsedSource,
  parseSource,
  parseTorrentOrThrow,
} from './metainfo-source.ts';
import { createPeerNodeMetrics, type PeerNodeMetrics } from './metrics.ts';
import { publishToPieceStore } from './publish.ts';
import { type JobContext, type JobProgress, TorrentJob } from './torrent-job.ts';

export interface FetchOptions {
  source: FetchSource;
  /** Absolute directory; default `<data>/downloads` (fetch) or the distribute directory. */
  destination?: string;
  origin: JobOrigin;
  commandId?: string;
}

export interface PublishResult {
  infoHash: string;
  sha256: string;
  size: number;
  magnet: string;
}

export interface NodeStatus {
  nodeId: string;
  labels: Record<string, string>;
  listenPort: number;
  torrents: JobProgress[];
  uploadedTotal: number;
  downloadedTotal: number;
}

export class PeerNodeService {
  readonly config: PeerNodeConfig;
  readonly logger: Logger;
  readonly metrics: PeerNodeMetrics;
  readonly readiness = new Readiness();
  readonly startedAt = Date.now();
  readonly #store: JobStore;
  readonly #jobs = new Map<string, TorrentJob>();
  readonly #swarm: SwarmNode;
  #nc: NatsConnection | undefined;
  #fleet: FleetAgent | undefined;
  #grpc: GrpcServer | undefined;
  #http: HttpService | undefined;
  #tickTimer: NodeJS.Timeout | undefined;
  #closing = false;
  readonly #natsAbort = new AbortController();

  constructor(config: PeerNodeConfig, logger: Logger) {
    this.config = config;
    this.logger = logger;
    this.metrics = createPeerNodeMetrics(config.nodeId);
    this.#store = new JobStore(config.dataDir);
    this.#swarm = new SwarmNode({
      listenHost: config.wire.host,
      listenPort: config.wire.port,
      maxConnections: config.maxConnections,
      maxConnectionsPerTorrent: config.maxConnectionsPerTorrent,
      unchokeSlots: config.unchokeSlots,
      uploadRateLimit: config.uploadRateLimit,
      downloadRateLimit: config.downloadRateLimit,
      // One SHA-1 worker verifies over 1 GB/s; each more is another JavaScript heap (~25 MB).
      hashThreads: 1,
      logger,
    });
    for (const name of ['wire', 'grpc', 'http', 'torrents', 'nats']) {
      this.readiness.set(name, false, 'starting');
    }
  }

  get wirePort(): number {
    return this.#swarm.port;
  }

  get httpPort(): number | undefined {
    return this.#http?.port;
  }

  get grpcAddress(): string | undefined {
    return this.#grpc?.tcpAddress;
  }

  /** The NATS connection while connected (or reconnecting). */
  get nats(): NatsConnection | undefined {
    return this.#nc;
  }

  async start(): Promise<void> {
    await mkdir(this.config.dataDir, { recursive: true });
    await this.#swarm.listen();
    this.readiness.set('wire', true);
    await this.#restoreJobs();
    this.readiness.set('torrents', true);
    this.#tickTimer = setInterval(() => this.#tick(), this.config.progressIntervalMs);
    this.#tickTimer.unref();
    this.#grpc = await startGrpcServer(this, {
      socketPath: this.config.grpcSocket,
      tcpAddress: this.config.grpcAddress,
    });
    this.readiness.set('grpc', true);
    this.#http = await startHttpServer({
      host: this.config.http.host,
      port: this.config.http.port,
      registry: this.metrics.registry,
      readiness: this.readiness,
      logger: this.logger,
    });
    this.readiness.set('http', true);
    void this.#connectNats();
  }

  job(infoHash: string): TorrentJob | undefined {
    return this.#jobs.get(infoHash);
  }

  jobs(): IterableIterator<TorrentJob> {
    return this.#jobs.values();
  }

  /**
   * Starts fetching (or joins the fetch already running for the same torrent and destination).
   * Resolves once the request is checked and the job exists; follow the job's events for
   * progress. Throws PeerNodeError for a bad request.
   */
  async fetch(options: FetchOptions): Promise<TorrentJob> {
    this.#checkOpen();
    const source = parseSource(options.source);
    const destination = this.#destination(options);
    const existing = this.#jobs.get(source.infoHash);
    if (existing !== undefined) {
      if (options.origin !== 'distribute' && existing.record.destination !== destination) {
        throw new PeerNodeError(
          PeerNodeErrorCode.AlreadyExists,
          `torrent ${source.infoHash} is already on this node at ${existing.finalPath || existing.record.destination}; remove it first to fetch it elsewhere`,
        );
      }
      if (existing.state === 'failed') existing.start(source);
      return existing;
    }
    if (this.#jobs.size >= this.config.maxTorrents) {
      throw new PeerNodeError(
        PeerNodeErrorCode.ResourceExhausted,
        `the node already holds ${this.#jobs.size} torrents (SHOAL_MAX_TORRENTS)`,
      );
    }
    const record: JobRecord = {
      version: 1,
      infoHash: source.infoHash,
      origin: options.origin,
      destination,
      phase: 'fetching',
      seeding: false,
      addedAt: Date.now(),
      uploaded: 0,
      downloaded: 0,
      ...(options.source.kind === 'magnet' ? { magnet: options.source.magnet } : {}),
      ...(source.metainfo === undefined ? {} : { name: source.metainfo.name }),
      ...(options.commandId === undefined ? {} : { commandId: options.commandId }),
    };
    const job = this.#addJob(record, source.metainfo);
    try {
      if (source.torrent !== undefined)
        await this.#store.saveTorrent(source.infoHash, source.torrent);
      await this.#store.save(record);
    } catch (error) {
      this.#jobs.delete(source.infoHash);
      throw new PeerNodeError(PeerNodeErrorCode.Internal, `cannot record the fetch: ${error}`, {
        cause: error,
      });
    }
    this.logger.info(
      { infoHash: source.infoHash, destination, origin: options.origin },
      'fetch started',
    );
    job.start(source);
    return job;
  }

  /** Streams a local file to the piece-store, then seeds it from where it is. */
  async publish(path: string, name: string): Promise<PublishResult> {
    this.#checkOpen();
    const address = this.config.pieceStoreAddress;
    if (address === undefined) {
      throw new PeerNodeError(
        PeerNodeErrorCode.FailedPrecondition,
        'no piece-store configured (SHOAL_PIECE_STORE_ADDRESS)',
      );
    }
    const published = await publishToPieceStore({ address, path, name });
    const result: PublishResult = {
      infoHash: published.metainfo.infoHashHex,
      sha256: published.sha256Hex,
      size: published.size,
      magnet: published.artifact.magnet,
    };
    if (this.#jobs.has(result.infoHash)) return result;
    const record: JobRecord = {
      version: 1,
      infoHash: result.infoHash,
      origin: 'publish',
      destination: dirname(path),
      seedFile: path,
      phase: 'fetching',
      seeding: true,
      name: published.metainfo.name,
      addedAt: Date.now(),
      uploaded: 0,
      downloaded: 0,
    };
    const job = this.#addJob(record, published.metainfo);
    try {
      await this.#store.saveTorrent(result.infoHash, published.torrent);
      await this.#store.save(record);
      const storage = await BlobStorage.open(path, published.metainfo, { readOnly: true });
      await job.seedPublished(storage);
    } catch (error) {
      this.#jobs.delete(result.infoHash);
      await this.#store.remove(result.infoHash);
      throw new PeerNodeError(
        PeerNodeErrorCode.Internal,
        `published, but cannot seed it: ${error}`,
        {
          cause: error,
        },
      );
    }
    this.logger.info({ ...result, path }, 'published');
    return result;
  }

  list(): JobProgress[] {
    return [...this.#jobs.values()].map((job) => job.progress());
  }

  status(): NodeStatus {
    const torrents = this.list();
    return {
      nodeId: this.config.nodeId,
      labels: this.config.labels,
      listenPort: this.#swarm.port,
      torrents,
      uploadedTotal: torrents.reduce((sum, t) => sum + t.uploaded, 0),
      downloadedTotal: torrents.reduce((sum, t) => sum + t.downloaded, 0),
    };
  }

  /** Stops and forgets a torrent; `deleteData` also deletes the bytes it downloaded. */
  async remove(infoHash: string, deleteData: boolean): Promise<boolean> {
    const key = infoHash.trim().toLowerCase();
    const job = this.#jobs.get(key);
    if (job === undefined) return false;
    this.#jobs.delete(key);
    await job.remove(deleteData);
    this.logger.info({ infoHash: key, deleteData }, 'torrent removed');
    return true;
  }

  /** Stops taking requests, saves every torrent's state, closes every connection. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#tickTimer);
    this.#natsAbort.abort();
    // Torrents first, so nothing more is downloaded meanwhile; then the API, whose Fetch
    // streams have just ended with UNAVAILABLE.
    await this.#fleet?.stop();
    await Promise.allSettled([...this.#jobs.values()].map((job) => job.close()));
    await this.#grpc?.close();
    await this.#swarm.close();
    if (this.#nc !== undefined) await this.#nc.drain().catch(() => this.#nc?.close());
    await this.#http?.close();
  }

  // ---------------------------------------------------------------- internals

  #checkOpen(): void {
    if (this.#closing) {
      throw new PeerNodeError(PeerNodeErrorCode.FailedPrecondition, 'the node is shutting down');
    }
  }

  #destination(options: FetchOptions): string {
    const given = options.destination ?? '';
    if (given === '') {
      return options.origin === 'distribute'
        ? this.config.distributeDir
        : join(this.config.dataDir, 'downloads');
    }
    if (!isAbsolute(given) || given.includes('\0')) {
      throw new PeerNodeError(
        PeerNodeErrorCode.InvalidArgument,
        `destination must be an absolute directory path, got ${JSON.stringify(given.slice(0, 200))}`,
      );
    }
    return resolve(given);
  }

  #addJob(record: JobRecord, metainfo: Metainfo | undefined): TorrentJob {
    const job = new TorrentJob(this.#jobContext(), record, metainfo);
    this.#jobs.set(record.infoHash, job);
    job.on('done', (progress: JobProgress) => {
      this.metrics.fetches.inc({ outcome: progress.error?.code ?? 'complete' });
    });
    return job;
  }

  async #restoreJobs(): Promise<void> {
    const records = await this.#store.loadAll((directory, reason) =>
      this.logger.warn({ directory, reason }, 'skipping an unreadable torrent record'),
    );
    for (const record of records) {
      let metainfo: Metainfo | undefined;
      const torrent = await this.#store.loadTorrent(record.infoHash);
      if (torrent !== undefined) {
        try {
          metainfo = parseTorrentOrThrow(torrent);
          if (metainfo.infoHashHex !== record.infoHash) metainfo = undefined;
        } catch {
          metainfo = undefined;
        }
      }
      const job = this.#addJob(record, metainfo);
      if (record.phase === 'failed') continue;
      let source: ParsedSource = { infoHash: record.infoHash, peers: [] };
      if (record.magnet !== undefined) {
        try {
          source = parseSource({ kind: 'magnet', magnet: record.magnet });
        } catch {
          // The magnet was checked when the fetch started; without it, the infohash will do.
        }
      }
      job.start(source);
    }
    if (records.length > 0) this.logger.info({ torrents: records.length }, 'restored torrents');
  }

  #jobContext(): JobContext {
    return {
      swarm: this.#swarm,
      store: this.#store,
      logger: this.logger,
      policy: this.config.seedingPolicy,
      lookups: this.#lookups(),
      metadataTimeoutMs: this.config.metadataTimeoutMs,
      stallTimeoutMs: this.config.stallTimeoutMs,
      resumeIntervalMs: this.config.resumeIntervalMs,
      corruptUploads: this.config.corruptUploads,
      createAnnouncer: (onSwarm) =>
        new NatsAnnouncer({
          nats: () => this.#nc,
          subjectPrefix: this.config.subjectPrefix,
          peerIdHex: bytesToHex(this.#swarm.peerId),
          advertiseIp: this.config.advertiseIp,
          labels: this.#peerLabels(),
          logger: this.logger,
          onSwarm,
          onFailure: () => this.metrics.announceFailures.inc(),
        }),
      onPeerBanned: (infoHash, host, reason) => {
        this.metrics.peersBanned.inc();
        this.logger.warn({ infoHash, host, reason }, 'peer banned');
      },
      now: Date.now,
    };
  }

  #peerLabels(): PeerLabels {
    const { zone, rack, host } = this.config.labels;
    return {
      ...(zone === undefined ? {} : { zone }),
      ...(rack === undefined ? {} : { rack }),
      ...(host === undefined ? {} : { host }),
    };
  }

  #lookups(): MetainfoLookups {
    return {
      pieceStore: async (infoHash) => {
        const nc = this.#nc;
        if (nc === undefined) throw new Error('NATS is not connected');
        try {
          const { torrent } = await lookupMetainfoOverNats(nc, infoHash, {
            prefix: this.config.subjectPrefix,
            timeoutMs: 5000,
          });
          return torrent;
        } catch (error) {
          if (
            error instanceof BusError &&
            error.code === BusErrorCode.RemoteError &&
            (error.remoteCode === 'not_found' || error.remoteCode === 'too_large')
          ) {
            return undefined;
          }
          throw error;
        }
      },
      swarmPeers: async (infoHash) => {
        const nc = this.#nc;
        if (nc === undefined) return [];
        const response = await announceOverNats(
          nc,
          {
            infoHash,
            peerId: bytesToHex(this.#swarm.peerId),
            ip: this.config.advertiseIp,
            port: this.#swarm.port,
            uploaded: 0,
            downloaded: 0,
            // The size is unknown until the metadata arrives; anything above 0 says "leecher".
            left: 1,
            labels: this.#peerLabels(),
          },
          { prefix: this.config.subjectPrefix, timeoutMs: 3000 },
        );
        return response.peers.map(
          (peer): PeerAddress => ({ host: peer.ip, port: peer.port, seeder: peer.seeder }),
        );
      },
      fetchMetadata: (infoHash, peers, signal) =>
        fetchMetadata(infoHash, peers, { signal, peerTimeoutMs: 10_000 }),
    };
  }

  async #connectNats(): Promise<void> {
    // Retries until connected (waitOnFirstConnect); the node serves meanwhile, and announces
    // back off until the connection exists.
    let nc: NatsConnection;
    try {
      nc = await connectNats(this.config.natsAuth, {
        servers: this.config.natsServers,
        name: `shoal-peer-node-${this.config.nodeId}`,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
      });
    } catch (error) {
      if (!this.#closing) this.logger.error({ err: error }, 'NATS connection failed for good');
      return;
    }
    if (this.#natsAbort.signal.aborted) {
      await nc.close();
      return;
    }
    this.#nc = nc;
    this.readiness.set('nats', true);
    this.logger.info({ server: nc.getServer() }, 'connected to NATS');
    this.#fleet = new FleetAgent({
      nc,
      service: this,
      logger: this.logger,
    });
    this.#fleet.start();
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          this.readiness.set('nats', false, 'disconnected');
          this.logger.warn({}, 'NATS disconnected; reconnecting');
        } else if (status.type === 'reconnect') {
          this.readiness.set('nats', true);
          this.logger.info({}, 'NATS reconnected');
        }
      }
    })();
  }

  #tick(): void {
    let peers = 0;
    let rate = 0;
    const states = new Map<string, number>();
    for (const job of this.#jobs.values()) {
      try {
        job.tick();
        const delta = job.takeCounters();
        if (delta.fromOrigin > 0)
          this.metrics.downloadedBytes.inc({ source: 'origin' }, delta.fromOrigin);
        if (delta.fromPeers > 0)
          this.metrics.downloadedBytes.inc({ source: 'peer' }, delta.fromPeers);
        if (delta.uploaded > 0) this.metrics.uploadedBytes.inc(delta.uploaded);
        const progress = job.progress();
        peers += progress.peers;
        rate += progress.rate;
        states.set(progress.state, (states.get(progress.state) ?? 0) + 1);
      } catch (error) {
        this.logger.error({ infoHash: job.infoHash, err: error }, 'tick failed');
      }
    }
    this.metrics.peers.set(peers);
    this.metrics.downloadRate.set(rate);
    this.metrics.torrents.reset();
    for (const [state, count] of states) this.metrics.torrents.set({ state }, count);
  }
}
