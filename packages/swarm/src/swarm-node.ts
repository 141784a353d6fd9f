// A node in the swarm: one TCP listener for all its torrents (inbound handshakes are routed
// by infohash), the node-wide caps and rate limits, and the shared hash workers and buffers.
import { EventEmitter } from 'node:events';
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import { BufferPool, PieceBufferPool } from './buffer-pool.ts';
import { SwarmError, SwarmErrorCode } from './errors.ts';
import { PieceHashWorkers } from './hash-workers.ts';
import { type Logger, silentLogger } from './logger.ts';
import { type ConnectionHandler, PeerConnection, randomPeerId, toHex } from './peer-connection.ts';
import { createPiecePicker } from './picker.ts';
import { TokenBucket } from './rate-limit.ts';
import { SharedReadBuffer } from './shared-read.ts';
import {
  type AddTorrentOptions,
  BLOCK_LENGTH,
  Torrent,
  type TorrentHandle,
  type TorrentHost,
  type TorrentSettings,
  WIDE_REQUEST_LENGTH,
} from './torrent.ts';

/** Every option, with its default. Defaults suit a datacenter: generous, quick to start. */
export interface SwarmNodeOptions {
  /** 20 bytes. Default: '-SH0001-' + 12 random bytes. */
  peerId?: Uint8Array;
  /** Default '0.0.0.0'. */
  listenHost?: string;
  /** 0 = ephemeral (default). */
  listenPort?: number;
  /** Connections on the whole node, in and out. Default 200. */
  maxConnections?: number;
  /** Connections per torrent. Default 50. */
  maxConnectionsPerTorrent?: number;
  /** Upload limit for the node, bytes/s; 0 = unlimited (default). */
  uploadRateLimit?: number;
  /** Download limit for the node, bytes/s; 0 = unlimited (default). */
  downloadRateLimit?: number;
  logger?: Logger;
  /** Regular unchoke slots per torrent. Default 8. */
  unchokeSlots?: number;
  /** One more slot rotated every 30 s among the others. Default true. */
  optimisticUnchoke?: boolean;
  /** Regular unchoke period. Default 10 s. */
  rechokeIntervalMs?: number;
  /** Optimistic unchoke rotation. Default 30 s. */
  optimisticIntervalMs?: number;
  /** Origin role: pieces advertised to each peer at a time. Default 4. */
  superSeedPieces?: number;
  /** Origin role: how long a lone downloader waits before it is shown everything. Default 1 s. */
  superSeedGraceMs?: number;
  /**
   * Origin role: a peer that has gained no piece from other peers for this long is also
   * offered pieces other peers hold (it may not be connected to them). Default 2 s.
   */
  superSeedStarveMs?: number;
  /** A host is banned (for the torrent's lifetime) after this many bad pieces. Default 2. */
  banAfterBadPieces?: number;
  /** Requests a peer may have queued with us; more closes the connection. Default 500. */
  maxQueuedRequests?: number;
  /** Requests unanswered this long are taken back and sent elsewhere. Default 20 s. */
  requestTimeoutMs?: number;
  /** Memory for pieces being downloaded, per torrent. Default 32 MiB. */
  maxPendingPieceBytes?: number;
  /** Endgame: peers asked for the same block at most. Default 2. */
  endgameMaxRequesters?: number;
  /** First redial delay after a connection ends; doubles per failure, up to 60 s. Default 1 s. */
  reconnectBaseMs?: number;
  /** Connect + handshake must finish within this. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A peer silent this long is dropped. Default 180 s. */
  idleTimeoutMs?: number;
  /** Keep-alive after this long without sending. Default 60 s. */
  keepAliveMs?: number;
  /** Period of the torrent's bookkeeping tick (rates, snubs, redials). Default 1 s. */
  tickMs?: number;
  /** Deadline of one announce. Default 10 s. */
  announceTimeoutMs?: number;
  /** Piece selection strategy (picker.ts): 'rarest-first' (default) or 'sequential'. */
  piecePicker?: string;
  /** Piece-hashing workers to share between nodes (they stay open on close). */
  hashWorkers?: PieceHashWorkers;
  /** Threads of the node's own hashing workers. Default min(2, available parallelism). */
  hashThreads?: number;
  /** Client name in the extended handshake. */
  clientName?: string;
  /**
   * Offer and use 128 KiB requests with other shoal nodes (see WIDE_REQUEST_LENGTH).
   * Default true; standard clients always get 16 KiB either way.
   */
  wideRequests?: boolean;
  /** Uniform [0, 1); for deterministic tests. Default Math.random. */
  random?: () => number;
}

const CLIENT_NAME = 'shoal/0.1.0';

function settingsFrom(options: SwarmNodeOptions): TorrentSettings & {
  maxConnections: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveMs: number;
} {
  const settings = {
    maxConnections: options.maxConnections ?? 200,
    maxConnectionsPerTorrent: options.maxConnectionsPerTorrent ?? 50,
    unchokeSlots: options.unchokeSlots ?? 8,
    optimisticUnchoke: options.optimisticUnchoke ?? true,
    rechokeIntervalMs: options.rechokeIntervalMs ?? 10_000,
    optimisticIntervalMs: options.optimisticIntervalMs ?? 30_000,
    superSeedPieces: options.superSeedPieces ?? 4,
    superSeedGraceMs: options.superSeedGraceMs ?? 1_000,
    superSeedStarveMs: options.superSeedStarveMs ?? 2_000,
    banAfterBadPieces: options.banAfterBadPieces ?? 2,
    maxQueuedRequests: options.maxQueuedRequests ?? 500,
    requestTimeoutMs: options.requestTimeoutMs ?? 20_000,
    maxPendingPieceBytes: options.maxPendingPieceBytes ?? 32 * 1024 * 1024,
    endgameMaxRequesters: options.endgameMaxRequesters ?? 2,
    reconnectBaseMs: options.reconnectBaseMs ?? 1_000,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 10_000,
    idleTimeoutMs: options.idleTimeoutMs ?? 180_000,
    keepAliveMs: options.keepAliveMs ?? 60_000,
    tickMs: options.tickMs ?? 1_000,
    announceTimeoutMs: options.announceTimeoutMs ?? 10_000,
    random: options.random ?? Math.random,
    clientName: options.clientName ?? CLIENT_NAME,
    wideRequests: options.wideRequests ?? true,
  };
  const positive: (keyof typeof settings)[] = [
    'maxConnections',
    'maxConnectionsPerTorrent',
    'superSeedPieces',
    'banAfterBadPieces',
    'maxQueuedRequests',
    'requestTimeoutMs',
    'maxPendingPieceBytes',
    'endgameMaxRequesters',
    'reconnectBaseMs',
    'handshakeTimeoutMs',
    'idleTimeoutMs',
    'keepAliveMs',
    'tickMs',
    'rechokeIntervalMs',
    'optimisticIntervalMs',
    'announceTimeoutMs',
  ];
  for (const name of positive) {
    const value = settings[name];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw new SwarmError(
        SwarmErrorCode.InvalidOptions,
        `${name} must be a positive integer, got ${value}`,
      );
    }
  }
  for (const name of ['unchokeSlots', 'superSeedGraceMs', 'superSeedStarveMs'] as const) {
    if (!Number.isSafeInteger(settings[name]) || settings[name] < 0) {
      throw new SwarmError(SwarmErrorCode.InvalidOptions, `${name} must be a non-negative integer`);
    }
  }
  if (settings.maxConnectionsPerTorrent > settings.maxConnections) {
    throw new SwarmError(
      SwarmErrorCode.InvalidOptions,
      'maxConnectionsPerTorrent must not exceed maxConnections',
    );
  }
  return settings;
}

export class SwarmNode extends EventEmitter {
  readonly peerId: Uint8Array;
  readonly #options: SwarmNodeOptions;
  readonly #settings: ReturnType<typeof settingsFrom>;
  readonly #log: Logger;
  readonly #torrents = new Map<string, Torrent>();
  readonly #connections = new Set<PeerConnection>();
  readonly #hashWorkers: PieceHashWorkers;
  readonly #ownsHashWorkers: boolean;
  readonly #host: TorrentHost;
  readonly #downloadLimiter: TokenBucket;
  readonly #readBuffer = new SharedReadBuffer();
  #server: Server | undefined;
  #port = 0;
  #closed = false;

  constructor(options: SwarmNodeOptions = {}) {
    super();
    this.#options = options;
    this.#settings = settingsFrom(options);
    for (const name of ['uploadRateLimit', 'downloadRateLimit'] as const) {
      const value = options[name] ?? 0;
      if (!Number.isFinite(value) || value < 0) {
        throw new SwarmError(SwarmErrorCode.InvalidOptions, `${name} must be >= 0, got ${value}`);
      }
    }
    if (options.piecePicker !== undefined) createPiecePicker(options.piecePicker);
    if (options.peerId !== undefined && options.peerId.length !== 20) {
      throw new SwarmError(SwarmErrorCode.InvalidOptions, 'peerId must be 20 bytes');
    }
    if (options.hashWorkers !== undefined && options.hashThreads !== undefined) {
      throw new SwarmError(
        SwarmErrorCode.InvalidOptions,
        'give hashWorkers or hashThreads, not both',
      );
    }
    this.peerId = options.peerId ?? randomPeerId();
    this.#log = options.logger ?? silentLogger;
    this.#ownsHashWorkers = options.hashWorkers === undefined;
    this.#hashWorkers =
      options.hashWorkers ??
      new PieceHashWorkers({ workers: options.hashThreads ?? Math.min(2, availableParallelism()) });
    this.#downloadLimiter = new TokenBucket(options.downloadRateLimit ?? 0);
    const node = this;
    this.#host = {
      peerId: this.peerId,
      get port() {
        return node.#port;
      },
      logger: this.#log,
      hash: this.#hashWorkers.hash,
      // Reads of up to 16 consecutive blocks; at most 64 idle buffers (16 MiB) are kept.
      bufferPool: new BufferPool(16 * BLOCK_LENGTH, 64),
      // Up to 16 MiB of idle piece buffers are kept for the next pieces.
      pieceBuffers: new PieceBufferPool(16 * 1024 * 1024),
      uploadLimiter: new TokenBucket(options.uploadRateLimit ?? 0),
      connect: (address, infoHash, handler, onClosedBeforeOpen) =>
        this.#dial(address, infoHash, handler, onClosedBeforeOpen),
      torrentStopped: (torrent) => {
        if (this.#torrents.get(torrent.infoHash) === torrent)
          this.#torrents.delete(torrent.infoHash);
      },
    };
  }

  /** The bound port (0 before listen()). */
  get port(): number {
    return this.#port;
  }

  /** Open connections on the node. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Starts accepting peers; resolves the bound port. */
  listen(): Promise<number> {
    if (this.#closed) return Promise.reject(new SwarmError(SwarmErrorCode.Stopped, 'node closed'));
    if (this.#server) return Promise.resolve(this.#port);
    const server = createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
      this.#accept(socket),
    );
    this.#server = server;
    server.on('error', (error) => this.#log.error({ err: error }, 'listener error'));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#options.listenPort ?? 0, this.#options.listenHost ?? '0.0.0.0', () => {
        server.off('error', reject);
        const address = server.address();
        this.#port = typeof address === 'object' && address ? address.port : 0;
        resolve(this.#port);
      });
    });
  }

  addTorrent(options: Omit<AddTorrentOptions, 'picker'>): TorrentHandle {
    if (this.#closed) throw new SwarmError(SwarmErrorCode.Stopped, 'node closed');
    const infoHash = options.metainfo.infoHashHex;
    if (this.#torrents.has(infoHash)) {
      throw new SwarmError(SwarmErrorCode.DuplicateTorrent, `torrent ${infoHash} is already added`);
    }
    const picker = createPiecePicker(this.#options.piecePicker ?? 'rarest-first');
    const torrent = new Torrent(this.#host, this.#settings, { ...options, picker });
    this.#torrents.set(infoHash, torrent);
    return torrent;
  }

  getTorrent(infoHash: string): TorrentHandle | undefined {
    return this.#torrents.get(infoHash.toLowerCase());
  }

  /** Stops every torrent, closes every socket and the listener. Storage stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.allSettled([...this.#torrents.values()].map((torrent) => torrent.stop()));
    const reason = new SwarmError(SwarmErrorCode.Stopped, 'node closed');
    for (const conn of [...this.#connections]) conn.close(reason);
    if (this.#server) {
      const server = this.#server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.#ownsHashWorkers) await this.#hashWorkers.close();
  }

  #timeouts() {
    return {
      handshakeTimeoutMs: this.#settings.handshakeTimeoutMs,
      idleTimeoutMs: this.#settings.idleTimeoutMs,
      keepAliveMs: this.#settings.keepAliveMs,
    };
  }

  #accept(accepted: Socket): void {
    if (this.#closed || this.#connections.size >= this.#settings.maxConnections) {
      accepted.destroy();
      return;
    }
    let conn: PeerConnection | undefined;
    const adopted = this.#readBuffer.adopt(accepted, () => conn);
    const socket = adopted ?? accepted.resume();
    conn = new PeerConnection({
      socket,
      sharedReadBuffer: adopted !== undefined,
      direction: 'inbound',
      peerId: this.peerId,
      downloadLimiter: this.#downloadLimiter,
      maxBlockLength: WIDE_REQUEST_LENGTH,
      ...this.#timeouts(),
      // An infohash we do not serve: the connection closes.
      onHandshake: (connection, handshake) =>
        this.#torrents.get(toHex(handshake.infoHash))?.accept(connection),
    });
    this.#track(conn, socket);
  }

  /**
   * A node listening on one specific address dials from it too, so peers see (and ban) the
   * address it really has: several nodes sharing a machine on different loopback addresses
   * would otherwise all appear as 127.0.0.1.
   */
  #outboundLocalAddress(remoteHost: string): { localAddress?: string } {
    const listenHost = this.#options.listenHost;
    if (listenHost === undefined || listenHost === '0.0.0.0' || listenHost === '::') return {};
    const family = isIP(listenHost);
    return family !== 0 && family === isIP(remoteHost) ? { localAddress: listenHost } : {};
  }

  #dial(
    address: { host: string; port: number },
    infoHash: Uint8Array,
    handler: ConnectionHandler,
    onClosedBeforeOpen: (reason: SwarmError) => void,
  ): PeerConnection | undefined {
    if (this.#closed || this.#connections.size >= this.#settings.maxConnections) return undefined;
    let conn: PeerConnection | undefined;
    const socket = connect({
      host: address.host,
      port: address.port,
      noDelay: true,
      onread: this.#readBuffer.onread(() => conn),
      ...this.#outboundLocalAddress(address.host),
    });
    conn = new PeerConnection({
      socket,
      sharedReadBuffer: true,
      direction: 'outbound',
      peerId: this.peerId,
      infoHash,
      remote: address,
      downloadLimiter: this.#downloadLimiter,
      maxBlockLength: WIDE_REQUEST_LENGTH,
      ...this.#timeouts(),
      onHandshake: () => handler,
      onClosedBeforeOpen,
    });
    this.#track(conn, socket);
    return conn;
  }

  #track(conn: PeerConnection, socket: Socket): void {
    this.#connections.add(conn);
    socket.once('close', () => this.#connections.delete(conn));
  }
}
