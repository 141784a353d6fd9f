// One piece-store replica, assembled: the store on disk, the hash workers, ingest, the swarm
// seeder, the NATS cluster side, replication and retention, the gRPC API and the HTTP
// endpoints. `startPieceStore` brings them up in dependency order; `close` takes them down in
// reverse.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { createHashPool, type HashPool } from '@shoal/hashing';
import type { Artifact, VerifyResponse } from '@shoal/proto';
import { magnetFromMetainfo, parseTorrent } from '@shoal/protocol';
import {
  connectNats,
  counter,
  createMetricsRegistry,
  Gauge,
  histogram,
  type Logger,
  Readiness,
  type Registry,
  startHttpServer,
} from '@shoal/service-kit';
import { Cluster } from './cluster.ts';
import type { PieceStoreConfig } from './config.ts';
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import { startGrpcServer } from './grpc-server.ts';
import { Ingestor, type IngestRequest, type IngestResult } from './ingest.ts';
import type { MembershipChange } from './membership.ts';
import { Replicator } from './replication.ts';
import { Retention } from './retention.ts';
import { Seeder } from './seeder.ts';
import { type ArtifactRecord, ArtifactStore, isInfoHash, writeDurably } from './store.ts';
import { VerifyMode, verifyArtifact } from './verify.ts';

export interface RunningPieceStore {
  readonly replicaId: string;
  readonly grpcPort: number;
  readonly httpPort: number;
  readonly wirePort: number;
  close(): Promise<void>;
}

/** How often last-access times are written back to meta.json. */
const ACCESS_FLUSH_MS = 30_000;
/** How often expired tombstones are dropped. */
const TOMBSTONE_SWEEP_MS = 3_600_000;
/** Deadline of fleet-wide lookups made for a gRPC call. */
const FLEET_QUERY_TIMEOUT_MS = 3000;

/** The piece-store's operations, as the gRPC layer calls them. */
export class PieceStoreNode {
  readonly replicaId: string;
  readonly store: ArtifactStore;
  readonly #config: PieceStoreConfig;
  readonly #logger: Logger;
  readonly #pool: HashPool;
  readonly #ingestor: Ingestor;
  readonly #retention: Retention;
  readonly #replicator: Replicator;
  readonly #metrics: ReturnType<typeof createMetrics>;
  #seeder: Seeder | undefined;
  #cluster: Cluster | undefined;
  #ready = false;

  constructor(options: {
    replicaId: string;
    store: ArtifactStore;
    config: PieceStoreConfig;
    logger: Logger;
    pool: HashPool;
    registry: Registry;
    wireSelf: () => { ip: string; port: number };
  }) {
    const { store, config, logger, pool } = options;
    this.replicaId = options.replicaId;
    this.store = store;
    this.#config = config;
    this.#logger = logger;
    this.#pool = pool;
    this.#retention = new Retention({
      store,
      limitBytes: config.maxBytes,
      canEvict: (infoHash) => this.#replicator.canEvict(infoHash),
      evict: async (infoHash) => {
        this.#logger.info({ infoHash }, 'evicting a surplus copy (least recently used)');
        await this.#dropLocal(infoHash, { tombstone: false });
        this.#metrics.evictions.inc();
      },
    });
    this.#metrics = createMetrics(options.registry, this);
    this.#replicator = new Replicator({
      store,
      cluster: () => this.#cluster,
      engine: {
        download: (request) => {
          if (this.#seeder === undefined) throw new Error('the seeder is not running');
          return this.#seeder.download(request);
        },
        addSources: (infoHash, sources) => this.#seeder?.addSources(infoHash, sources),
      },
      budget: this.#retention,
      pool,
      get self() {
        return options.wireSelf();
      },
      copyConcurrency: config.copyConcurrency,
      copyTimeoutMs: config.copyTimeoutMs,
      copyStallMs: config.copyStallMs,
      ready: () => this.#ready,
      onCopied: (infoHash) => void this.#startSeeding(infoHash),
      onDeletedElsewhere: async (infoHash) => {
        await this.deleteLocal(infoHash);
      },
      logger,
      metrics: {
        copies: (outcome) => this.#metrics.copies.inc({ outcome }),
        pushes: (outcome) => this.#metrics.pushes.inc({ outcome }),
      },
    });
    this.#ingestor = new Ingestor({
      store,
      pool,
      budget: this.#retention,
      announceUrl: config.announceUrl,
      ingestRoot: config.ingestRoot,
      maxInFlightBytes: config.hashInFlightBytes,
      onStored: (result) => {
        void this.#startSeeding(result.record.infoHash).then(() =>
          this.#replicator.pushOne(result.record.infoHash),
        );
      },
    });
  }

  get ready(): boolean {
    return this.#ready;
  }

  get liveReplicas(): number {
    return this.#cluster?.liveIds().length ?? 1;
  }

  get seeding(): number {
    return this.#seeder?.seedingCount ?? 0;
  }

  get uploadedBytes(): number {
    return this.#seeder?.uploadedBytes() ?? 0;
  }

  attach(seeder: Seeder, cluster: Cluster): void {
    this.#seeder = seeder;
    this.#cluster = cluster;
  }

  /** Verifies the store (mode from config), quarantines what fails, seeds the rest. */
  async bringOnline(): Promise<void> {
    const mode = this.#config.verify;
    const started = Date.now();
    const outcome = await this.verify({ full: mode === VerifyMode.Full, mode });
    this.#logger.info(
      {
        mode,
        checked: outcome.checked,
        quarantined: outcome.quarantined,
        ms: Date.now() - started,
      },
      'store verified',
    );
    for (const record of this.store.list()) await this.#startSeeding(record.infoHash);
    this.#ready = true;
    this.#cluster?.publishHeartbeat();
    // Give heartbeats one interval to build the live set before placing anything.
    this.#replicator.schedule(Math.round(this.#config.heartbeatMs * 1.5));
  }

  membershipChanged(changes: MembershipChange[]): void {
    for (const change of changes) this.#replicator.forgetReplica(change.replicaId);
    if (this.#ready) this.#replicator.schedule(200);
  }

  reconcile(): void {
    if (this.#ready) this.#replicator.schedule(0);
  }

  async ingestStream(
    request: IngestRequest,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    signal: AbortSignal,
  ): Promise<Artifact> {
    return this.#measureIngest('stream', () =>
      this.#ingestor.ingestStream(request, chunks, signal),
    );
  }

  async ingestPath(
    path: string,
    request: Omit<IngestRequest, 'expectedSize'>,
    signal: AbortSignal,
  ): Promise<Artifact> {
    return this.#measureIngest('path', () => this.#ingestor.ingestPath(path, request, signal));
  }

  async list(): Promise<Artifact[]> {
    const records = this.store.list();
    const holders = await this.#holders(records.map((record) => record.infoHash));
    const artifacts: Artifact[] = [];
    for (const record of records) {
      let torrent: Uint8Array;
      try {
        torrent = await this.store.readTorrent(record.infoHash);
      } catch {
        continue; // Deleted meanwhile.
      }
      artifacts.push(toArtifact(record, torrent, holders.get(record.infoHash) ?? [this.replicaId]));
    }
    return artifacts;
  }

  async stat(infoHash: string): Promise<Artifact> {
    checkInfoHash(infoHash);
    const record = this.store.get(infoHash);
    const holders = await this.#holders([infoHash], record === undefined);
    const replicas = holders.get(infoHash) ?? [];
    if (record !== undefined) {
      this.store.touch(infoHash);
      return toArtifact(record, await this.store.readTorrent(infoHash), replicas);
    }
    const found = await this.#cluster?.findTorrent(infoHash);
    if (found === undefined) {
      throw new PieceStoreError(PieceStoreErrorCode.NotFound, `no replica holds ${infoHash}`);
    }
    const metainfo = parseTorrent(found.torrent);
    return {
      infoHash,
      sha256: metainfo.sha256 === undefined ? '' : Buffer.from(metainfo.sha256).toString('hex'),
      size: metainfo.totalLength,
      pieceLength: metainfo.pieceLength,
      magnet: magnetFromMetainfo(metainfo),
      name: metainfo.name,
      torrent: found.torrent,
      replicas,
    };
  }

  /** Deletes the artifact on every live replica; true if any copy was removed. */
  async delete(infoHash: string): Promise<boolean> {
    checkInfoHash(infoHash);
    const local = await this.deleteLocal(infoHash);
    const cluster = this.#cluster;
    if (cluster === undefined) return local;
    const remote = await Promise.all(
      cluster
        .liveIds()
        .filter((id) => id !== this.replicaId)
        .map((id) =>
          cluster.deleteOn(id, infoHash).catch((error: unknown) => {
            this.#logger.warn({ err: error, replica: id, infoHash }, 'remote delete failed');
            return false;
          }),
        ),
    );
    return local || remote.some(Boolean);
  }

  /** Deletes the local copy and remembers the delete (a tombstone). */
  async deleteLocal(infoHash: string): Promise<boolean> {
    const deleted = await this.#dropLocal(infoHash, { tombstone: true });
    if (deleted) this.#logger.info({ infoHash }, 'artifact deleted');
    return deleted;
  }

  /** Re-checks artifacts now; corrupt ones are quarantined (and copied back from a replica). */
  async verify(options: {
    infoHash?: string;
    full: boolean;
    mode?: VerifyMode;
  }): Promise<Required<VerifyResponse>> {
    const mode = options.mode ?? (options.full ? VerifyMode.Full : VerifyMode.Sample);
    let targets: string[];
    if (options.infoHash === undefined || options.infoHash === '') {
      targets = this.store.list().map((record) => record.infoHash);
    } else {
      checkInfoHash(options.infoHash);
      if (!this.store.has(options.infoHash)) {
        throw new PieceStoreError(PieceStoreErrorCode.NotFound, `no artifact ${options.infoHash}`);
      }
      targets = [options.infoHash];
    }
    const quarantined: string[] = [];
    for (const infoHash of targets) {
      const outcome = await verifyArtifact(this.store, infoHash, {
        mode,
        samplePieces: this.#config.verifySamplePieces,
        pool: this.#pool,
      });
      if (outcome.ok || !this.store.has(infoHash)) continue;
      await this.quarantine(infoHash, outcome.reason ?? 'verification failed');
      quarantined.push(infoHash);
    }
    return { checked: targets.length, quarantined };
  }

  /** Takes a corrupt artifact out of service; a healthy replica's next push copies it back. */
  async quarantine(infoHash: string, reason: string): Promise<void> {
    await this.#seeder?.unseed(infoHash);
    if (await this.store.quarantine(infoHash, reason)) {
      this.#replicator.forgetArtifact(infoHash);
      this.#metrics.quarantined.inc();
      this.#logger.error({ infoHash, reason }, 'artifact quarantined');
    }
  }

  /** The .torrent of a locally held artifact. */
  async localTorrent(infoHash: string): Promise<Uint8Array | undefined> {
    if (!this.store.has(infoHash)) return undefined;
    try {
      const torrent = await this.store.readTorrent(infoHash);
      this.store.touch(infoHash);
      return torrent;
    } catch {
      return undefined;
    }
  }

  heartbeatStatus() {
    return {
      artifacts: this.store.count,
      usedBytes: this.store.usedBytes,
      limitBytes: this.#config.maxBytes,
      ready: this.#ready,
    };
  }

  get replicator(): Replicator {
    return this.#replicator;
  }

  async close(): Promise<void> {
    this.#ready = false;
    await this.#replicator.close();
    await this.store.flushAccessTimes().catch(() => {});
  }

  async #dropLocal(infoHash: string, options: { tombstone: boolean }): Promise<boolean> {
    await this.#seeder?.unseed(infoHash);
    this.#replicator.forgetArtifact(infoHash);
    return this.store.remove(infoHash, options);
  }

  async #startSeeding(infoHash: string): Promise<void> {
    try {
      await this.#seeder?.seed(infoHash);
    } catch (error) {
      this.#logger.error({ err: error, infoHash }, 'cannot seed artifact');
    }
  }

  /** Replica ids holding each artifact (this one included when it does). */
  async #holders(infoHashes: string[], includeMissing = false): Promise<Map<string, string[]>> {
    const holders = new Map<string, string[]>();
    for (const infoHash of infoHashes) {
      if (this.store.has(infoHash)) holders.set(infoHash, [this.replicaId]);
      else if (includeMissing) holders.set(infoHash, []);
    }
    const cluster = this.#cluster;
    if (cluster === undefined || infoHashes.length === 0) return holders;
    const peers = cluster.liveIds().filter((id) => id !== this.replicaId);
    const answers = await Promise.all(
      peers.map((id) =>
        withTimeout(cluster.holdsOn(id, infoHashes), FLEET_QUERY_TIMEOUT_MS).catch(
          () => new Set<string>(),
        ),
      ),
    );
    answers.forEach((held, i) => {
      for (const infoHash of held) {
        const list = holders.get(infoHash) ?? [];
        list.push(peers[i]!);
        holders.set(infoHash, list);
      }
    });
    for (const list of holders.values()) list.sort();
    return holders;
  }

  async #measureIngest(
    kind: 'stream' | 'path',
    run: () => Promise<IngestResult>,
  ): Promise<Artifact> {
    const end = this.#metrics.ingestSeconds.startTimer({ kind });
    try {
      const result = await run();
      this.#metrics.ingests.inc({ kind, outcome: result.created ? 'stored' : 'duplicate' });
      this.#metrics.ingestBytes.inc({ kind }, result.record.size);
      this.#logger.info(
        {
          infoHash: result.record.infoHash,
          name: result.record.name,
          bytes: result.record.size,
          created: result.created,
        },
        'artifact ingested',
      );
      return toArtifact(result.record, result.torrent, [this.replicaId], result.magnet);
    } catch (error) {
      const code = error instanceof PieceStoreError ? error.code : 'internal';
      this.#metrics.ingests.inc({ kind, outcome: code });
      throw error;
    } finally {
      end();
    }
  }
}

function toArtifact(
  record: ArtifactRecord,
  torrent: Uint8Array,
  replicas: string[],
  magnet?: string,
): Artifact {
  return {
    infoHash: record.infoHash,
    sha256: record.sha256,
    size: record.size,
    pieceLength: record.pieceLength,
    magnet: magnet ?? magnetFromMetainfo(parseTorrent(torrent)),
    name: record.name,
    torrent,
    replicas,
    createdUnixMs: record.createdUnixMs,
    lastAccessUnixMs: record.lastAccessUnixMs,
  };
}

function checkInfoHash(infoHash: string): void {
  if (!isInfoHash(infoHash)) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidArgument,
      'info_hash must be 40 lowercase hex characters',
    );
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function createMetrics(registry: Registry, node: PieceStoreNode) {
  const prefix = 'shoal_piece_store_';
  const sampled = (name: string, help: string, read: () => number): void => {
    new Gauge({
      name: `${prefix}${name}`,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  };
  sampled('artifacts', 'Artifacts stored on this replica.', () => node.store.count);
  sampled('stored_bytes', 'Bytes of artifacts stored on this replica.', () => node.store.usedBytes);
  sampled(
    'live_replicas',
    'Live piece-store replicas seen, this one included.',
    () => node.liveReplicas,
  );
  sampled('seeding', 'Artifacts seeded over the wire protocol.', () => node.seeding);
  sampled(
    'uploaded_bytes',
    'Bytes sent over the wire protocol for the artifacts seeded now.',
    () => node.uploadedBytes,
  );
  sampled(
    'pending_copies',
    'Copies from other replicas queued or running.',
    () => node.replicator.pendingCopies,
  );
  return {
    ingests: counter(registry, `${prefix}ingests_total`, 'Ingests by kind and outcome.', [
      'kind',
      'outcome',
    ]),
    ingestBytes: counter(registry, `${prefix}ingest_bytes_total`, 'Bytes ingested.', ['kind']),
    ingestSeconds: histogram(
      registry,
      `${prefix}ingest_duration_seconds`,
      'Time to ingest one artifact.',
      ['kind'],
      [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800],
    ),
    quarantined: counter(registry, `${prefix}quarantined_total`, 'Artifacts quarantined.'),
    evictions: counter(registry, `${prefix}evictions_total`, 'Surplus copies evicted (LRU).'),
    copies: counter(registry, `${prefix}copies_total`, 'Copies from other replicas.', ['outcome']),
    pushes: counter(registry, `${prefix}replicate_requests_total`, 'Replicate requests sent.', [
      'outcome',
    ]),
  };
}

/** This replica's id: from config, else the one kept in the data directory, else a new one. */
async function replicaIdFor(config: PieceStoreConfig): Promise<string> {
  if (config.replicaId !== undefined) return config.replicaId;
  const path = join(config.dataDir, 'replica-id');
  try {
    const saved = (await readFile(path, 'utf8')).trim();
    if (/^[A-Za-z0-9_-]{1,64}$/.test(saved)) return saved;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const id = `ps-${randomBytes(6).toString('hex')}`;
  await writeDurably(path, new TextEncoder().encode(`${id}\n`));
  return id;
}

/** Starts one replica; resolves once it listens everywhere (verification may still run). */
export async function startPieceStore(
  config: PieceStoreConfig,
  logger: Logger,
): Promise<RunningPieceStore> {
  const stack: { name: string; stop: () => Promise<unknown> }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const { name, stop } of stack.reverse()) {
      try {
        await stop();
      } catch (error) {
        logger.error({ err: error, step: name }, 'shutdown step failed');
      }
    }
    stack.length = 0;
  };
  try {
    await mkdir(config.dataDir, { recursive: true });
    const replicaId = await replicaIdFor(config);
    const log = logger.child({ replica: replicaId });
    const readiness = new Readiness();
    for (const name of ['store', 'nats', 'verified']) readiness.set(name, false);
    const registry = createMetricsRegistry({
      prefix: 'shoal_piece_store_',
      defaultLabels: { replica: replicaId },
    });
    const http = await startHttpServer({ ...config.http, registry, readiness, logger: log });
    stack.push({ name: 'http', stop: () => http.close() });

    const pool = createHashPool({ workers: config.hashWorkers });
    stack.push({ name: 'hash pool', stop: () => pool.close() });
    const { store, quarantined } = await ArtifactStore.open(config.dataDir);
    for (const entry of quarantined) log.error(entry, 'artifact quarantined at start-up');
    readiness.set('store', true);

    const nc: NatsConnection = await connectNats(config.natsAuth, {
      servers: config.natsUrls,
      name: `shoal-piece-store-${replicaId}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
    });
    stack.push({ name: 'nats', stop: () => nc.drain() });
    readiness.set('nats', true);
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') readiness.set('nats', false, 'disconnected');
        else if (status.type === 'reconnect') readiness.set('nats', true);
      }
    })();

    let seeder: Seeder | undefined;
    const node = new PieceStoreNode({
      replicaId,
      store,
      config,
      logger: log,
      pool,
      registry,
      wireSelf: () => ({ ip: config.advertiseIp, port: seeder?.port ?? config.wire.port }),
    });
    stack.push({ name: 'node', stop: () => node.close() });
    seeder = await Seeder.start({
      store,
      nc,
      subjectPrefix: config.subjectPrefix,
      listenHost: config.wire.host,
      listenPort: config.wire.port,
      advertiseIp: config.advertiseIp,
      labels: config.labels,
      uploadRateLimit: config.uploadRateLimit,
      maxConnections: config.maxConnections,
      maxConnectionsPerTorrent: config.maxConnectionsPerTorrent,
      logger: log,
      onCorrupt: (infoHash, reason) => void node.quarantine(infoHash, reason),
    });
    const runningSeeder = seeder;
    stack.push({ name: 'seeder', stop: () => runningSeeder.close() });

    const grpc = await startGrpcServer({
      node,
      host: config.grpc.host,
      port: config.grpc.port,
      logger: log,
    });
    stack.push({ name: 'grpc', stop: () => grpc.close(config.shutdownTimeoutMs / 2) });

    const cluster = await Cluster.start({
      nc,
      prefix: config.subjectPrefix,
      selfId: replicaId,
      incarnation: randomBytes(8).toString('hex'),
      wireIp: config.advertiseIp,
      wirePort: seeder.port,
      grpcAddress: `${config.advertiseIp}:${grpc.port}`,
      replicas: config.replicas,
      heartbeatMs: config.heartbeatMs,
      ttlMs: config.replicaTtlMs,
      handlers: {
        localTorrent: (infoHash) => node.localTorrent(infoHash),
        holds: (infoHashes) => infoHashes.filter((infoHash) => store.has(infoHash)),
        replicate: (request) => node.replicator.handleReplicate(request),
        deleteLocal: (infoHash) => node.deleteLocal(infoHash),
        status: () => node.heartbeatStatus(),
        membershipChanged: (changes) => node.membershipChanged(changes),
      },
      logger: log,
    });
    stack.push({ name: 'cluster', stop: () => cluster.close() });
    node.attach(seeder, cluster);

    const timers = [
      setInterval(() => node.reconcile(), config.reconcileMs),
      setInterval(() => void store.flushAccessTimes().catch(() => {}), ACCESS_FLUSH_MS),
      setInterval(
        () => void store.expireTombstones(config.tombstoneTtlMs).catch(() => {}),
        TOMBSTONE_SWEEP_MS,
      ),
    ];
    for (const timer of timers) timer.unref();
    stack.push({
      name: 'timers',
      stop: async () => {
        for (const timer of timers) clearInterval(timer);
      },
    });
    // Registered last so it runs first: stop looking ready before anything closes.
    stack.push({ name: 'readiness', stop: async () => readiness.set('shutdown', false) });

    await node.bringOnline();
    readiness.set('verified', true);
    log.info(
      {
        grpcPort: grpc.port,
        httpPort: http.port,
        wirePort: seeder.port,
        artifacts: store.count,
        storedBytes: store.usedBytes,
        replicas: config.replicas,
      },
      'piece-store ready',
    );
    return {
      replicaId,
      grpcPort: grpc.port,
      httpPort: http.port,
      wirePort: seeder.port,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
