// One torrent's state and every change to it. Connections report messages here (the
// ConnectionHandler interface); timers and storage callbacks come back here too; nothing else
// mutates the torrent. Decisions are delegated to pure modules: picker.ts, choker.ts,
// super-seed.ts.
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import {
  bstr,
  type DecodedMessage,
  type ExtendedHandshake,
  type Handshake,
  METADATA_PIECE_LENGTH,
  type Metainfo,
  metadataPieceCount,
  metadataPieceLength,
  UT_METADATA,
} from '@shoal/protocol';
import { Bitfield } from './bitfield.ts';
import type { BufferPool, PieceBufferPool } from './buffer-pool.ts';
import { type ChokeCandidate, pickOptimistic, regularUnchoke } from './choker.ts';
import { asError, SwarmError, SwarmErrorCode } from './errors.ts';
import { InOrderDigest } from './in-order-digest.ts';
import type { Logger } from './logger.ts';
import {
  type ConnectionHandler,
  OUR_UT_METADATA_ID,
  type PeerConnection,
  type PendingRequest,
  toHex,
} from './peer-connection.ts';
import {
  comparePartialPieces,
  type PickContext,
  type PiecePicker,
  pickEndgameBlocks,
  rarestFirst,
  stragglerBehindFront,
} from './picker.ts';
import { RateMeter } from './rate.ts';
import { sleepUnref, type TokenBucket } from './rate-limit.ts';
import type { PieceStorage } from './storage.ts';
import { advertiseWindow, nextAdvertisement } from './super-seed.ts';
import { type PieceHashFunction, pieceSize, verifyPiece } from './verify.ts';

/** Bytes per block request (BEP 3's 2^14, what every client uses). */
export const BLOCK_LENGTH = 16 * 1024;
/** Largest block we serve to a standard peer; larger requests close the connection. */
export const MAX_REQUEST_LENGTH = 16 * 1024;
/**
 * Largest request between shoal nodes, which say so in the extended handshake
 * (`shoal_max_request`). Why: per-request costs (the REQUEST, its bookkeeping, a PIECE header,
 * a socket write) dominated our CPU per byte at 16 KiB; 128 KiB divides them by 8. Standard
 * clients never see it: they do not send the key, so they get and may send 16 KiB requests.
 */
export const WIDE_REQUEST_LENGTH = 128 * 1024;
/** The extended-handshake key that carries WIDE_REQUEST_LENGTH. */
const WIDE_REQUEST_KEY = 'shoal_max_request';
/** Bytes a connection may have queued in its socket before the uploader waits for 'drain'. */
const UPLOAD_HIGH_WATER = 256 * 1024;
/** Start and bounds of a connection's request pipeline, in blocks. */
const INITIAL_PIPELINE = 32;
const MIN_PIPELINE = 16;
const MAX_PIPELINE = 500;
/**
 * HAVEs for newly verified pieces go to downloaders together, at most this long after the
 * piece: one packet per peer per batch instead of one per piece and peer. With N peers every
 * host sends and receives N - 1 HAVEs per piece, and each alone was a packet (TCP_NODELAY).
 */
const HAVE_BATCH_MS = 100;
/** Free request slots a peer gathers before we top its pipeline up again (< MIN_PIPELINE). */
const REFILL_BATCH = 4;

/** Pipeline cap when the peer does not say (`reqq`), libtorrent's default. */
const DEFAULT_PEER_REQQ = 250;
/**
 * Blocks a peer may send us that were not (or no longer) requested from it: late answers to
 * cancelled requests are normal, a stream of them is a peer wasting our bandwidth.
 */
const MAX_UNREQUESTED_BYTES = 32 * 1024 * 1024;
/** Most allowed-fast pieces remembered per peer (BEP 6 suggests 10). */
const MAX_ALLOWED_FAST = 64;

export type Role = 'origin' | 'peer';

export interface PeerAddress {
  host: string;
  port: number;
  /** Hex peer id, when the tracker knows it. */
  peerId?: string;
  labels?: Record<string, string>;
  seeder?: boolean;
  origin?: boolean;
}

export type AnnounceEvent = 'started' | 'completed' | 'stopped' | 'periodic';

/** Injected by the service: asks the tracker (over NATS) and reports our state. */
export interface Announcer {
  announce(request: {
    infoHash: string;
    event: AnnounceEvent;
    uploaded: number;
    downloaded: number;
    left: number;
    port: number;
  }): Promise<{ peers: PeerAddress[]; intervalSeconds: number }>;
}

export interface TorrentStats {
  infoHash: string;
  role: Role;
  bytesDone: number;
  bytesTotal: number;
  piecesDone: number;
  piecesTotal: number;
  /** Piece payload bytes sent to peers. */
  uploaded: number;
  /** Piece payload bytes received (duplicates and discarded blocks included). */
  downloaded: number;
  downloadedFromOrigin: number;
  downloadedFromPeers: number;
  /** Received bytes that were not used (duplicates in endgame, blocks of failed pieces). */
  wasted: number;
  /** Download rate, bytes/s, exponentially smoothed. */
  rate: number;
  uploadRate: number;
  peers: number;
  /** Connected peers that are origins. */
  originPeers: number;
  seeding: boolean;
  hashFailures: number;
  bannedHosts: number;
}

/** Tunables a SwarmNode passes to each torrent; see SwarmNodeOptions for the defaults. */
export interface TorrentSettings {
  readonly maxConnectionsPerTorrent: number;
  readonly unchokeSlots: number;
  readonly optimisticUnchoke: boolean;
  readonly rechokeIntervalMs: number;
  readonly optimisticIntervalMs: number;
  readonly superSeedPieces: number;
  readonly superSeedGraceMs: number;
  readonly superSeedStarveMs: number;
  readonly banAfterBadPieces: number;
  readonly maxQueuedRequests: number;
  readonly requestTimeoutMs: number;
  readonly maxPendingPieceBytes: number;
  readonly endgameMaxRequesters: number;
  readonly reconnectBaseMs: number;
  readonly tickMs: number;
  readonly announceTimeoutMs: number;
  readonly random: () => number;
  readonly clientName: string;
  readonly wideRequests: boolean;
}

/** What a torrent needs from the node that runs it. */
export interface TorrentHost {
  readonly peerId: Uint8Array;
  /** Our listening port (0 before listen()). */
  readonly port: number;
  readonly logger: Logger;
  readonly hash: PieceHashFunction;
  readonly bufferPool: BufferPool;
  /** Buffers pieces are downloaded into (shared with the hash workers). */
  readonly pieceBuffers: PieceBufferPool;
  readonly uploadLimiter: TokenBucket;
  /** Dials `address` for `torrent`; undefined when the node-wide connection cap is reached. */
  connect(
    address: { host: string; port: number },
    infoHash: Uint8Array,
    handler: ConnectionHandler,
    onClosedBeforeOpen: (reason: SwarmError) => void,
  ): PeerConnection | undefined;
  torrentStopped(torrent: Torrent): void;
}

export interface AddTorrentOptions {
  metainfo: Metainfo;
  storage: PieceStorage;
  /** Verified pieces already in storage (seed: all; resume: some). Default: none. */
  have?: Bitfield;
  announcer?: Announcer;
  /** origin = the piece-store: super-seeds (see super-seed.ts). Default 'peer'. */
  role?: Role;
  /** Piece selection strategy (picker.ts). Default 'rarest-first'. */
  picker?: PiecePicker;
  /**
   * Compute the whole-file SHA-256 while downloading (in-order-digest.ts), for `sha256()`.
   * Default false.
   */
  streamSha256?: boolean;
}

/** The public face of a torrent on a node. Events: see Torrent. */
export interface TorrentHandle extends EventEmitter {
  readonly infoHash: string;
  readonly role: Role;
  stats(): TorrentStats;
  addPeers(peers: PeerAddress[]): void;
  have(): Bitfield;
  /**
   * SHA-256 of the torrent's data front to back, once every piece is verified. Needs
   * `streamSha256`; rejects if a piece could not be read back.
   */
  sha256(): Promise<Uint8Array>;
  stop(): Promise<void>;
}

const BlockState = { Missing: 0, Requested: 1, Received: 2 } as const;

interface PieceDownload {
  readonly index: number;
  readonly length: number;
  /** Lent to a hash worker while `verifying` (unusable until it comes back). */
  buffer: Uint8Array;
  readonly blockCount: number;
  readonly state: Uint8Array;
  /** Peers each block is requested from. */
  readonly requesters: (PeerState[] | undefined)[];
  unrequested: number;
  received: number;
  /** Hosts that sent blocks of this piece: blamed if it fails its hash. */
  readonly contributors: Set<string>;
  verifying: boolean;
}

interface PeerState {
  readonly conn: PeerConnection;
  readonly host: string;
  readonly idHex: string;
  readonly has: Bitfield;
  readonly known: KnownPeer | undefined;
  isOrigin: boolean;
  amChoking: boolean;
  amInterested: boolean;
  peerChoking: boolean;
  peerInterested: boolean;
  /** Pieces the peer has and we lack. */
  wanted: number;
  /** Counted in #sourceAvailability: a non-origin peer unchoking us. */
  countedAsSource: boolean;
  readonly allowedFast: Set<number>;
  /** Our request pipeline depth for this peer, in blocks. */
  depth: number;
  /** Bytes we ask this peer for per request: 16 KiB, or more if it accepts wide requests. */
  requestLength: number;
  /** The peer's `reqq` (or the default): the most requests it queues. */
  requestCap: number;
  minRttMs: number;
  unrequestedBytes: number;
  lastBlockAt: number;
  snubbedUntil: number;
  readonly downloadRate: RateMeter;
  readonly uploadRate: RateMeter;
  readonly uploadQueue: { index: number; begin: number; length: number }[];
  serving: boolean;
  remoteUtMetadata: number;
  metadataRequests: number;
  /** Origin role: pieces announced to this peer. */
  readonly advertised: Set<number>;
  /** Origin role: advertised pieces the peer does not have yet. */
  advertisedOutstanding: number;
  /** Origin role: when the peer last reported a piece we had not advertised to it (or connected). */
  lastGainElsewhereAt: number;
  sentFirstMessage: boolean;
}

interface KnownPeer {
  readonly key: string;
  address: PeerAddress;
  state: 'idle' | 'connecting' | 'connected';
  failures: number;
  nextAttemptAt: number;
  idHex: string | undefined;
  complete: boolean;
}

/** Known addresses forgotten after this many failed dials in a row (an announce re-adds them). */
const MAX_DIAL_FAILURES = 8;

/**
 * A torrent on a node. Events: 'piece' (index), 'progress' (TorrentStats), 'complete',
 * 'error' (Error; only emitted when someone listens), 'peer-banned' ({ host, reason }).
 */
export class Torrent extends EventEmitter implements TorrentHandle, ConnectionHandler {
  readonly infoHash: string;
  readonly role: Role;
  readonly metainfo: Metainfo;
  readonly #host: TorrentHost;
  readonly #settings: TorrentSettings;
  readonly #storage: PieceStorage;
  readonly #announcer: Announcer | undefined;
  readonly #picker: PiecePicker;
  readonly #log: Logger;
  readonly #have: Bitfield;
  readonly #startedComplete: boolean;
  readonly #peers = new Map<PeerConnection, PeerState>();
  readonly #peersById = new Map<string, PeerState>();
  readonly #known = new Map<string, KnownPeer>();
  /** Outbound connections not open yet, and the address each dials. */
  readonly #dialing = new Map<PeerConnection, KnownPeer>();
  /** Addresses that turned out to be this node. */
  readonly #selfAddresses = new Set<string>();
  readonly #pieces = new Map<number, PieceDownload>();
  readonly #availability: Int32Array;
  /** Per piece: non-origin peers that are unchoking us and have it. */
  readonly #sourceAvailability: Int32Array;
  /** Origin role: times each piece was advertised. */
  readonly #advertisedCount: Int32Array;
  /**
   * Origin role: per piece, connected peers it is advertised to that do not have it yet. Such
   * a piece is not advertised to anyone else: its first copy is on its way, and the others
   * get it from that peer.
   */
  readonly #inFlight: Int32Array;
  readonly #strikes = new Map<string, number>();
  readonly #banned = new Set<string>();
  readonly #maxActivePieces: number;
  readonly #downloadRate = new RateMeter(3);
  readonly #uploadRate = new RateMeter(3);
  #downloadedFromOrigin = 0;
  #downloadedFromPeers = 0;
  #wasted = 0;
  #hashFailures = 0;
  #bytesDone = 0;
  #stopped = false;
  #completedAnnounced = false;
  #tickTimer: NodeJS.Timeout;
  #announceTimer: NodeJS.Timeout | undefined;
  #announceFailures = 0;
  #lastTickAt = performance.now();
  #lastRechokeAt = performance.now();
  #lastOptimisticAt = 0;
  #optimistic: PeerState | undefined;
  /** When the set of downloading non-origin peers last grew (super-seeding grace). */
  #downloaderJoinedAt = performance.now();
  /** Pieces verified since the last HAVE batch, and the batch's timer. */
  #pendingHaves: number[] = [];
  #haveTimer: NodeJS.Timeout | undefined;
  readonly #digest: InOrderDigest | undefined;
  /** No piece below this is missing (where the search for stragglers starts). */
  #lowestMissing = 0;
  #highestVerified = -1;

  constructor(host: TorrentHost, settings: TorrentSettings, options: AddTorrentOptions) {
    super();
    const { metainfo } = options;
    this.metainfo = metainfo;
    this.infoHash = metainfo.infoHashHex;
    this.role = options.role ?? 'peer';
    this.#host = host;
    this.#settings = settings;
    this.#storage = options.storage;
    this.#announcer = options.announcer;
    this.#picker = options.picker ?? rarestFirst;
    this.#log = host.logger;
    if (options.have && options.have.length !== metainfo.pieceCount) {
      throw new SwarmError(
        SwarmErrorCode.InvalidOptions,
        `have has ${options.have.length} pieces, the torrent ${metainfo.pieceCount}`,
      );
    }
    this.#have = options.have?.clone() ?? new Bitfield(metainfo.pieceCount);
    for (const index of this.#have.indexes()) this.#bytesDone += pieceSize(metainfo, index);
    this.#startedComplete = this.#have.complete;
    this.#availability = new Int32Array(metainfo.pieceCount);
    this.#sourceAvailability = new Int32Array(metainfo.pieceCount);
    this.#advertisedCount = new Int32Array(metainfo.pieceCount);
    this.#inFlight = new Int32Array(metainfo.pieceCount);
    this.#maxActivePieces = Math.max(
      4,
      Math.floor(settings.maxPendingPieceBytes / metainfo.pieceLength),
    );
    if (options.streamSha256) {
      this.#digest = new InOrderDigest({
        pieceCount: metainfo.pieceCount,
        pieceLength: (index) => pieceSize(metainfo, index),
        isVerified: (index) => this.#have.has(index),
        readPiece: (index, target) => this.#storage.read(index, 0, target),
        acquire: (length) => host.pieceBuffers.acquire(length),
        release: (buffer) => host.pieceBuffers.release(buffer),
      });
      // Pieces already on disk (a resumed download) are hashed while the rest arrives.
      this.#catchUpDigest();
    }
    this.#tickTimer = setInterval(() => this.#guard('tick', () => this.#tick()), settings.tickMs);
    this.#tickTimer.unref();
    if (this.#announcer) this.#scheduleAnnounce('started', 0);
  }

  // ---------------------------------------------------------------- public API

  get stopped(): boolean {
    return this.#stopped;
  }

  get complete(): boolean {
    return this.#have.complete;
  }

  have(): Bitfield {
    return this.#have.clone();
  }

  stats(): TorrentStats {
    let originPeers = 0;
    for (const peer of this.#peers.values()) if (peer.isOrigin) originPeers++;
    return {
      infoHash: this.infoHash,
      role: this.role,
      bytesDone: this.#bytesDone,
      bytesTotal: this.metainfo.totalLength,
      piecesDone: this.#have.count,
      piecesTotal: this.metainfo.pieceCount,
      uploaded: this.#uploadRate.total,
      downloaded: this.#downloadRate.total,
      downloadedFromOrigin: this.#downloadedFromOrigin,
      downloadedFromPeers: this.#downloadedFromPeers,
      wasted: this.#wasted,
      rate: this.#downloadRate.rate,
      uploadRate: this.#uploadRate.rate,
      peers: this.#peers.size,
      originPeers,
      seeding: this.#have.complete,
      hashFailures: this.#hashFailures,
      bannedHosts: this.#banned.size,
    };
  }

  /** Remembers the addresses and dials them (deduplicated, never ourselves, within the caps). */
  addPeers(peers: PeerAddress[]): void {
    if (this.#stopped) return;
    for (const address of peers) {
      if (!validAddress(address)) continue;
      const host = address.host.toLowerCase();
      if (this.#isSelf(host, address.port) || this.#banned.has(host)) continue;
      const key = `${host}:${address.port}`;
      if (this.#selfAddresses.has(key)) continue;
      const known = this.#known.get(key);
      if (known) {
        known.address = { ...known.address, ...address, host };
        if (address.seeder === false) known.complete = false;
        if (known.state === 'idle')
          known.nextAttemptAt = Math.min(known.nextAttemptAt, performance.now());
        continue;
      }
      this.#known.set(key, {
        key,
        address: { ...address, host },
        state: 'idle',
        failures: 0,
        nextAttemptAt: 0,
        idHex: address.peerId?.toLowerCase(),
        complete: address.seeder === true,
      });
    }
    this.#connectMore();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#digest?.stop();
    clearInterval(this.#tickTimer);
    clearTimeout(this.#haveTimer);
    clearTimeout(this.#announceTimer);
    const reason = new SwarmError(SwarmErrorCode.Stopped, 'the torrent was stopped');
    for (const peer of [...this.#peers.values()]) peer.conn.close(reason);
    for (const known of this.#known.values()) known.state = 'idle';
    for (const conn of [...this.#dialing.keys()]) conn.close(reason);
    this.#pieces.clear();
    this.#host.torrentStopped(this);
    if (this.#announcer) {
      try {
        await withTimeout(this.#announceRequest('stopped'), this.#settings.announceTimeoutMs);
      } catch (error) {
        this.#log.warn({ infoHash: this.infoHash, err: asError(error) }, 'stopped announce failed');
      }
    }
  }

  // ---------------------------------------------------------------- connections

  /** An inbound connection's handshake named this torrent: take it or refuse it. */
  accept(connection: PeerConnection): ConnectionHandler | undefined {
    if (this.#stopped || this.#banned.has(connection.remoteHost)) return undefined;
    if (this.#peers.size >= this.#settings.maxConnectionsPerTorrent) return undefined;
    return this;
  }

  onOpen(conn: PeerConnection): void {
    const handshake = conn.handshake as Handshake;
    const idHex = toHex(handshake.peerId);
    const known = this.#dialing.get(conn);
    this.#dialing.delete(conn);
    if (this.#stopped || this.#banned.has(conn.remoteHost)) {
      conn.close(new SwarmError(SwarmErrorCode.Stopped, 'torrent stopped or host banned'));
      return;
    }
    const existing = this.#peersById.get(idHex);
    if (existing) {
      // Both sides apply the same rule, so they keep the same one of two crossed connections.
      if (initiator(existing.conn, this.#host.peerId) < initiator(conn, this.#host.peerId)) {
        if (known) {
          known.state = 'idle';
          known.idHex = idHex;
        }
        conn.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'duplicate connection'));
        return;
      }
      existing.conn.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'duplicate connection'));
    }
    const peer: PeerState = {
      conn,
      host: conn.remoteHost,
      idHex,
      has: new Bitfield(this.metainfo.pieceCount),
      known,
      isOrigin: known?.address.origin === true,
      amChoking: true,
      amInterested: false,
      peerChoking: true,
      peerInterested: false,
      wanted: 0,
      countedAsSource: false,
      allowedFast: new Set(),
      depth: INITIAL_PIPELINE,
      requestLength: BLOCK_LENGTH,
      requestCap: DEFAULT_PEER_REQQ,
      minRttMs: Number.POSITIVE_INFINITY,
      unrequestedBytes: 0,
      lastBlockAt: performance.now(),
      snubbedUntil: 0,
      downloadRate: new RateMeter(5),
      uploadRate: new RateMeter(5),
      uploadQueue: [],
      serving: false,
      remoteUtMetadata: 0,
      metadataRequests: 0,
      advertised: new Set(),
      advertisedOutstanding: 0,
      lastGainElsewhereAt: performance.now(),
      sentFirstMessage: false,
    };
    this.#peers.set(conn, peer);
    this.#peersById.set(idHex, peer);
    if (known) {
      known.state = 'connected';
      known.failures = 0;
      known.idHex = idHex;
    }
    this.#sendFirstMessages(peer);
    if (this.role === 'origin' && !peer.isOrigin) this.#downloaderJoinedAt = performance.now();
    this.#advertise(peer);
  }

  onMessage(conn: PeerConnection, message: DecodedMessage): void {
    const peer = this.#peers.get(conn);
    if (!peer || this.#stopped) return;
    switch (message.type) {
      case 'keep-alive':
      case 'port':
      case 'suggest-piece':
      case 'unknown':
      case 'extended':
      case 'metadata-data':
      case 'metadata-reject':
        return;
      case 'choke':
        this.#onChoke(peer);
        return;
      case 'unchoke':
        peer.peerChoking = false;
        this.#refreshSource(peer);
        this.#fillRequests(peer);
        return;
      case 'interested':
        peer.peerInterested = true;
        this.#unchokeIfSlotFree(peer);
        return;
      case 'not-interested':
        peer.peerInterested = false;
        // Its slot matters only if someone is waiting for one.
        if (!peer.amChoking && this.#someoneWaits()) this.#rechoke(false);
        return;
      case 'have':
        this.#checkIndex(message.index, 'have');
        this.#peerGains(peer, message.index);
        this.#afterAvailabilityChange(peer, message.index);
        return;
      case 'bitfield':
        // A late BITFIELD (aria2 sends one mid-connection) is an update, not an error.
        this.#peerGainsAll(peer, Bitfield.fromBytes(message.bitfield, this.metainfo.pieceCount));
        return;
      case 'have-all':
        this.#requireFast(peer, message.type);
        this.#peerGainsAll(peer, Bitfield.full(this.metainfo.pieceCount));
        return;
      case 'have-none':
        this.#requireFast(peer, message.type);
        return;
      case 'request':
        this.#onRequest(peer, message);
        return;
      case 'cancel':
        this.#onCancel(peer, message);
        return;
      case 'piece':
        this.#onBlock(peer, message.index, message.begin, message.block);
        return;
      case 'reject-request':
        this.#requireFast(peer, message.type);
        if (conn.takePending(message.index, message.begin)) {
          this.#releaseRequest(peer, message.index, message.begin, message.length);
          this.#fillAll();
        }
        return;
      case 'allowed-fast':
        this.#requireFast(peer, message.type);
        this.#checkIndex(message.index, 'allowed-fast');
        if (peer.allowedFast.size < MAX_ALLOWED_FAST) peer.allowedFast.add(message.index);
        if (peer.peerChoking) this.#fillRequests(peer);
        return;
      case 'extended-handshake':
        this.#onExtendedHandshake(peer, message.handshake);
        return;
      case 'metadata-request':
        this.#onMetadataRequest(peer, message.piece);
        return;
    }
  }

  onClose(conn: PeerConnection, reason: SwarmError, pending: PendingRequest[]): void {
    const peer = this.#peers.get(conn);
    if (!peer) return;
    this.#peers.delete(conn);
    if (this.#peersById.get(peer.idHex) === peer) this.#peersById.delete(peer.idHex);
    this.#log.debug(
      { infoHash: this.infoHash, peer: `${peer.host}:${conn.remotePort}`, reason: reason.message },
      'peer connection closed',
    );
    this.#setSource(peer, false);
    for (const index of peer.has.indexes()) this.#availability[index]!--;
    if (!peer.isOrigin) this.#countInFlight(peer, -1);
    for (const request of pending) {
      this.#releaseRequest(peer, request.index, request.begin, request.length);
    }
    peer.uploadQueue.length = 0;
    if (this.#optimistic === peer) this.#optimistic = undefined;
    const known = peer.known ?? this.#knownById(peer.idHex);
    if (known && known.state === 'connected') {
      known.state = 'idle';
      known.complete = peer.has.complete;
      known.nextAttemptAt = performance.now() + this.#settings.reconnectBaseMs;
    }
    if (this.#stopped) return;
    if (!peer.amChoking) this.#rechoke(false);
    this.#fillAll();
  }

  #knownById(idHex: string): KnownPeer | undefined {
    for (const known of this.#known.values()) if (known.idHex === idHex) return known;
    return undefined;
  }

  #connectMore(): void {
    if (this.#stopped) return;
    const now = performance.now();
    let connecting = 0;
    for (const known of this.#known.values()) if (known.state === 'connecting') connecting++;
    for (const known of this.#known.values()) {
      if (this.#peers.size + connecting >= this.#settings.maxConnectionsPerTorrent) return;
      if (known.state !== 'idle' || now < known.nextAttemptAt) continue;
      if (known.idHex !== undefined && this.#peersById.has(known.idHex)) continue;
      // Two complete copies have nothing to trade.
      if (known.complete && this.#have.complete) continue;
      if (this.#banned.has(known.address.host)) continue;
      let conn: PeerConnection | undefined;
      conn = this.#host.connect(
        { host: known.address.host, port: known.address.port },
        this.metainfo.infoHash,
        this,
        (reason) => this.#dialFailed(known, conn, reason),
      );
      if (!conn) return;
      this.#dialing.set(conn, known);
      known.state = 'connecting';
      connecting++;
    }
  }

  #dialFailed(known: KnownPeer, conn: PeerConnection | undefined, reason: SwarmError): void {
    if (conn) this.#dialing.delete(conn);
    if (known.state !== 'connecting') return;
    if (reason.code === SwarmErrorCode.SelfConnection) {
      // Our own address (as the tracker sees it): never dial it again.
      this.#known.delete(known.key);
      this.#selfAddresses.add(known.key);
      return;
    }
    known.state = 'idle';
    known.failures++;
    if (known.failures >= MAX_DIAL_FAILURES) {
      this.#known.delete(known.key);
      return;
    }
    known.nextAttemptAt =
      performance.now() + Math.min(60_000, this.#settings.reconnectBaseMs * 2 ** known.failures);
  }

  #isSelf(host: string, port: number): boolean {
    if (port !== this.#host.port) return false;
    return host === '127.0.0.1' || host === 'localhost' || host === '::1' || host === '0.0.0.0';
  }

  #sendFirstMessages(peer: PeerState): void {
    const { conn } = peer;
    const superSeeding = this.role === 'origin';
    if (conn.fast) {
      if (superSeeding || this.#have.empty) conn.send({ type: 'have-none' });
      else if (this.#have.complete) conn.send({ type: 'have-all' });
      else conn.send({ type: 'bitfield', bitfield: this.#have.toBytes() });
    } else if (!superSeeding && !this.#have.empty) {
      conn.send({ type: 'bitfield', bitfield: this.#have.toBytes() });
    }
    peer.sentFirstMessage = true;
    if (conn.extended) {
      const raw = new Map<string, Uint8Array | number>([['shoal_role', bstr(this.role)]]);
      if (this.#settings.wideRequests) raw.set(WIDE_REQUEST_KEY, WIDE_REQUEST_LENGTH);
      const handshake: ExtendedHandshake = {
        extensions: new Map([[UT_METADATA, OUR_UT_METADATA_ID]]),
        metadataSize: this.metainfo.infoBytes.length,
        requestQueueLength: this.#settings.maxQueuedRequests,
        client: this.#settings.clientName,
        raw,
        ...(this.#host.port > 0 ? { listenPort: this.#host.port } : {}),
      };
      conn.send({ type: 'extended-handshake', handshake });
    }
  }

  #onExtendedHandshake(peer: PeerState, handshake: ExtendedHandshake): void {
    peer.remoteUtMetadata = handshake.extensions?.get(UT_METADATA) ?? 0;
    if (handshake.requestQueueLength !== undefined) peer.requestCap = handshake.requestQueueLength;
    peer.depth = Math.min(peer.depth, this.#pipelineCap(peer));
    const wide = handshake.raw?.get(WIDE_REQUEST_KEY);
    if (
      this.#settings.wideRequests &&
      typeof wide === 'number' &&
      Number.isSafeInteger(wide) &&
      wide >= BLOCK_LENGTH
    ) {
      const blocks = Math.floor(Math.min(wide, WIDE_REQUEST_LENGTH) / BLOCK_LENGTH);
      peer.requestLength = blocks * BLOCK_LENGTH;
    }
    const role = handshake.raw?.get('shoal_role');
    const isOrigin = role instanceof Uint8Array && Buffer.from(role).toString() === 'origin';
    if (isOrigin !== peer.isOrigin) {
      // Pieces on their way to another origin do not stand for a first copy in the swarm.
      this.#countInFlight(peer, isOrigin ? -1 : 1);
      peer.isOrigin = isOrigin;
      this.#refreshSource(peer);
      this.#advertise(peer);
    }
    // Its listen port lets us recognise the peer in tracker lists and not dial it again.
    if (handshake.listenPort !== undefined && peer.conn.direction === 'inbound') {
      const known = this.#known.get(`${peer.host}:${handshake.listenPort}`);
      if (known && known.state === 'idle') {
        known.idHex = peer.idHex;
      }
    }
  }

  // ---------------------------------------------------------------- availability & interest

  #checkIndex(index: number, what: string): void {
    if (index >= this.metainfo.pieceCount) {
      throw new SwarmError(
        SwarmErrorCode.ProtocolViolation,
        `${what} for piece ${index} out of range`,
      );
    }
  }

  #requireFast(peer: PeerState, what: string): void {
    if (!peer.conn.fast) {
      throw new SwarmError(SwarmErrorCode.ProtocolViolation, `${what} without the fast extension`);
    }
  }

  #peerGains(peer: PeerState, index: number): void {
    if (!peer.has.set(index)) return;
    this.#availability[index]!++;
    if (peer.advertised.has(index)) {
      peer.advertisedOutstanding--;
      if (!peer.isOrigin) this.#inFlight[index]!--;
    } else {
      peer.lastGainElsewhereAt = performance.now();
    }
    if (peer.countedAsSource) this.#sourceAvailability[index]!++;
    if (!this.#have.has(index)) peer.wanted++;
  }

  #peerGainsAll(peer: PeerState, bitfield: Bitfield): void {
    for (const index of bitfield.indexes()) this.#peerGains(peer, index);
    this.#afterAvailabilityChange(peer);
  }

  /** `gained`: the one piece a HAVE added (undefined: a bitfield, anything may have changed). */
  #afterAvailabilityChange(peer: PeerState, gained?: number): void {
    this.#updateInterest(peer);
    if (this.role === 'origin') {
      // Its window may have room now. Others need no pass: a piece someone holds is never
      // advertised to a peer that is not starving, and starving is checked every tick.
      // (A pass over every peer per HAVE was most of the origin's CPU with 8 downloaders.)
      this.#advertise(peer);
    }
    if (peer.has.complete && this.#have.complete) {
      peer.conn.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'both sides are complete'));
      return;
    }
    // A HAVE opens one new opportunity, its piece: a full pass (started pieces, the picker's
    // scan of every piece) only if we could ask this peer for it. With N peers every host
    // hears N - 1 HAVEs per piece, and a pass for each grew our CPU per byte with N.
    if (gained === undefined || this.#couldRequest(peer, gained)) this.#fillRequests(peer);
  }

  #couldRequest(peer: PeerState, index: number): boolean {
    if (this.#have.has(index) || this.#freeSlots(peer) <= 0) return false;
    const piece = this.#pieces.get(index);
    if (piece) return piece.unrequested > 0 && !piece.verifying;
    return this.#pieces.size < this.#maxActivePieces;
  }

  #updateInterest(peer: PeerState): void {
    const interested = peer.wanted > 0;
    if (interested === peer.amInterested) return;
    peer.amInterested = interested;
    peer.conn.send({ type: interested ? 'interested' : 'not-interested' });
  }

  #setSource(peer: PeerState, on: boolean): void {
    if (peer.countedAsSource === on) return;
    peer.countedAsSource = on;
    const delta = on ? 1 : -1;
    for (const index of peer.has.indexes()) this.#sourceAvailability[index]! += delta;
  }

  #refreshSource(peer: PeerState): void {
    this.#setSource(peer, !peer.conn.closed && !peer.isOrigin && !peer.peerChoking);
  }

  // ---------------------------------------------------------------- downloading

  #onChoke(peer: PeerState): void {
    peer.peerChoking = true;
    this.#refreshSource(peer);
    // BEP 6: a choke cancels nothing; the peer answers each request with the block or a
    // REJECT, so the requests stay ours until then. Without it, a choke drops them all.
    if (peer.conn.fast) return;
    for (const request of [...peer.conn.pendingRequests()]) {
      peer.conn.takePending(request.index, request.begin);
      this.#releaseRequest(peer, request.index, request.begin, request.length);
    }
    this.#fillAll();
  }

  #pipelineCap(peer: PeerState): number {
    return Math.max(1, Math.min(MAX_PIPELINE, peer.requestCap));
  }

  #fillAll(): void {
    for (const peer of this.#peers.values()) this.#fillRequests(peer);
  }

  #fillRequests(peer: PeerState): void {
    if (!peer.conn.closed) peer.conn.batch(() => this.#fillRequestsNow(peer));
  }

  #fillRequestsNow(peer: PeerState): void {
    if (this.#stopped || peer.conn.closed || !peer.amInterested || this.#have.complete) return;
    const choked = peer.peerChoking;
    if (choked && peer.allowedFast.size === 0) return;
    if (peer.snubbedUntil > performance.now()) return;
    let free = this.#freeSlots(peer);
    if (free <= 0) return;
    const peerHas = choked
      ? (index: number) => peer.allowedFast.has(index) && peer.has.has(index)
      : (index: number) => peer.has.has(index);
    const availableFromPeers = (index: number) => this.#sourceAvailability[index]! > 0;

    // 1. Started pieces first, closest to done first.
    const partials: PieceDownload[] = [];
    for (const piece of this.#pieces.values()) {
      if (piece.unrequested === 0 || piece.verifying || !peerHas(piece.index)) continue;
      if (peer.isOrigin && availableFromPeers(piece.index)) continue;
      partials.push(piece);
    }
    if (partials.length > 1) {
      partials.sort((a, b) =>
        comparePartialPieces(
          {
            index: a.index,
            unrequested: a.unrequested,
            availability: this.#availability[a.index]!,
          },
          {
            index: b.index,
            unrequested: b.unrequested,
            availability: this.#availability[b.index]!,
          },
        ),
      );
    }
    for (const piece of partials) {
      free = this.#requestBlocks(peer, piece, free);
      if (free === 0) return;
    }

    // 2. A straggler far behind the download front (for the streamed SHA-256), then new
    // pieces by the picker's order.
    const pick: PickContext = {
      pieceCount: this.metainfo.pieceCount,
      peerHas,
      needed: (i) => !this.#have.has(i) && !this.#pieces.has(i),
      availability: this.#availability,
      peerIsOrigin: peer.isOrigin,
      availableFromPeers,
      random: this.#settings.random,
    };
    if (this.#digest && free > 0 && this.#pieces.size < this.#maxActivePieces) {
      while (this.#lowestMissing < this.#have.length && this.#have.has(this.#lowestMissing)) {
        this.#lowestMissing++;
      }
      const straggler = stragglerBehindFront(pick, this.#lowestMissing, this.#highestVerified);
      if (straggler !== undefined) {
        free = this.#requestBlocks(peer, this.#startPiece(straggler), free);
      }
    }
    while (free > 0 && this.#pieces.size < this.#maxActivePieces) {
      const index = this.#picker.nextPiece(pick);
      if (index === undefined) break;
      free = this.#requestBlocks(peer, this.#startPiece(index), free);
    }
    if (free === 0 || peer.isOrigin || !this.#inEndgame()) return;

    // 3. Endgame: every missing block is requested somewhere; ask this peer too. Never the
    // origin: duplicates from it would cost the origin bytes it exists to save.
    const outstanding: { index: number; begin: number; requesters: number }[] = [];
    for (const piece of this.#pieces.values()) {
      if (piece.verifying) continue;
      for (let block = 0; block < piece.blockCount; block++) {
        if (piece.state[block] !== BlockState.Requested) continue;
        outstanding.push({
          index: piece.index,
          begin: block * BLOCK_LENGTH,
          requesters: piece.requesters[block]?.length ?? 0,
        });
      }
    }
    const picks = pickEndgameBlocks(outstanding, {
      peerHas,
      requestedFromPeer: (index, begin) =>
        this.#pieces.get(index)?.requesters[begin / BLOCK_LENGTH]?.includes(peer) === true,
      max: free,
      maxRequesters: this.#settings.endgameMaxRequesters,
    });
    for (const pick of picks) {
      const piece = this.#pieces.get(pick.index)!;
      this.#requestRun(peer, piece, pick.begin / BLOCK_LENGTH, 1);
    }
  }

  /** Blocks of pipeline left for this peer (by bytes outstanding; its `reqq` caps requests). */
  #freeSlots(peer: PeerState): number {
    const byBytes = peer.depth - Math.ceil(peer.conn.pendingBytes / BLOCK_LENGTH);
    const blocksPerRequest = peer.requestLength / BLOCK_LENGTH;
    const byCount = (peer.requestCap - peer.conn.pendingCount) * blocksPerRequest;
    return Math.min(byBytes, byCount);
  }

  #inEndgame(): boolean {
    if (this.#have.count + this.#pieces.size < this.metainfo.pieceCount) return false;
    for (const piece of this.#pieces.values()) if (piece.unrequested > 0) return false;
    return true;
  }

  #startPiece(index: number): PieceDownload {
    const length = pieceSize(this.metainfo, index);
    const blockCount = Math.ceil(length / BLOCK_LENGTH);
    const piece: PieceDownload = {
      index,
      length,
      buffer: this.#host.pieceBuffers.acquire(length),
      blockCount,
      state: new Uint8Array(blockCount),
      requesters: new Array(blockCount),
      unrequested: blockCount,
      received: 0,
      contributors: new Set(),
      verifying: false,
    };
    this.#pieces.set(index, piece);
    return piece;
  }

  /**
   * Requests up to `free` unrequested blocks of `piece` from `peer`, consecutive ones in one
   * request of up to the peer's request length; returns what is left of `free`.
   */
  #requestBlocks(peer: PeerState, piece: PieceDownload, free: number): number {
    const maxRun = peer.requestLength / BLOCK_LENGTH;
    let block = 0;
    while (block < piece.blockCount && free > 0 && piece.unrequested > 0) {
      if (piece.state[block] !== BlockState.Missing) {
        block++;
        continue;
      }
      let count = 1;
      while (
        count < maxRun &&
        count < free &&
        block + count < piece.blockCount &&
        piece.state[block + count] === BlockState.Missing
      ) {
        count++;
      }
      this.#requestRun(peer, piece, block, count);
      free -= count;
      block += count;
    }
    return free;
  }

  /** One REQUEST for `count` blocks of `piece` from `block` on. */
  #requestRun(peer: PeerState, piece: PieceDownload, block: number, count: number): void {
    const begin = block * BLOCK_LENGTH;
    const length = Math.min(count * BLOCK_LENGTH, piece.length - begin);
    for (let i = block; i < block + count; i++) {
      if (piece.state[i] === BlockState.Missing) {
        piece.state[i] = BlockState.Requested;
        piece.unrequested--;
      }
      let requesters = piece.requesters[i];
      if (!requesters) {
        requesters = [];
        piece.requesters[i] = requesters;
      }
      requesters.push(peer);
    }
    if (peer.conn.pendingCount === 0) peer.lastBlockAt = performance.now();
    peer.conn.request(piece.index, begin, length);
  }

  /** `peer` will not deliver these blocks (rejected, cancelled, closed): free them for others. */
  #releaseRequest(peer: PeerState, index: number, begin: number, length: number): void {
    const piece = this.#pieces.get(index);
    if (!piece || begin % BLOCK_LENGTH !== 0) return;
    const end = Math.min(piece.blockCount, Math.ceil((begin + length) / BLOCK_LENGTH));
    for (let block = begin / BLOCK_LENGTH; block < end; block++) {
      const requesters = piece.requesters[block];
      if (!requesters) continue;
      const at = requesters.indexOf(peer);
      if (at >= 0) requesters.splice(at, 1);
      if (requesters.length === 0 && piece.state[block] === BlockState.Requested) {
        piece.state[block] = BlockState.Missing;
        piece.unrequested++;
      }
    }
  }

  #onBlock(peer: PeerState, index: number, begin: number, data: Uint8Array): void {
    this.#checkIndex(index, 'piece');
    const pending = peer.conn.takePending(index, begin);
    const now = performance.now();
    peer.lastBlockAt = now;
    peer.downloadRate.add(data.length);
    this.#downloadRate.add(data.length);
    if (peer.isOrigin) this.#downloadedFromOrigin += data.length;
    else this.#downloadedFromPeers += data.length;
    if (pending) {
      if (pending.length !== data.length) {
        throw new SwarmError(
          SwarmErrorCode.ProtocolViolation,
          'block length differs from the request',
        );
      }
      peer.minRttMs = Math.min(peer.minRttMs, now - pending.sentAt);
    } else {
      peer.unrequestedBytes += data.length;
      if (peer.unrequestedBytes > MAX_UNREQUESTED_BYTES) {
        throw new SwarmError(SwarmErrorCode.PeerFlood, 'too many blocks we did not ask for');
      }
    }
    const piece = this.#pieces.get(index);
    const first = begin / BLOCK_LENGTH;
    const end = begin + data.length;
    if (
      !piece ||
      piece.verifying ||
      !Number.isInteger(first) ||
      end > piece.length ||
      // Whole blocks, or a run ending at the piece's end (its last block may be short).
      (data.length % BLOCK_LENGTH !== 0 && end !== piece.length)
    ) {
      // Unrequested, or for a piece already done: not used.
      this.#wasted += data.length;
      this.#fillRequests(peer);
      return;
    }
    for (let block = first, at = 0; at < data.length; block++, at += BLOCK_LENGTH) {
      const blockLength = Math.min(BLOCK_LENGTH, data.length - at);
      if (piece.state[block] === BlockState.Received) {
        // A duplicate from endgame.
        this.#wasted += blockLength;
        continue;
      }
      piece.buffer.set(
        blockLength === data.length ? data : data.subarray(at, at + blockLength),
        begin + at,
      );
      if (piece.state[block] === BlockState.Missing) piece.unrequested--;
      piece.state[block] = BlockState.Received;
      piece.received++;
      for (const other of piece.requesters[block] ?? []) {
        if (other !== peer) other.conn.cancel(index, block * BLOCK_LENGTH);
      }
      piece.requesters[block] = undefined;
    }
    piece.contributors.add(peer.host);
    if (piece.received === piece.blockCount) {
      piece.verifying = true;
      this.#guardAsync('verify', this.#verifyAndStore(piece));
    }
    // Top up in batches: a pass over the started pieces per block received cost more CPU
    // than the block itself, and the pipeline is deep enough to wait for a few free slots.
    if (this.#freeSlots(peer) >= REFILL_BATCH) this.#fillRequests(peer);
  }

  async #verifyAndStore(piece: PieceDownload): Promise<void> {
    const { good, piece: bytes } = await verifyPiece(
      this.#host.hash,
      this.metainfo,
      piece.index,
      piece.buffer,
    );
    piece.buffer = bytes;
    if (this.#stopped || this.#pieces.get(piece.index) !== piece) return;
    if (!good) {
      this.#pieces.delete(piece.index);
      this.#host.pieceBuffers.release(piece.buffer);
      this.#onBadPiece(piece);
      this.#fillAll();
      return;
    }
    try {
      await this.#storage.write(piece.index, 0, piece.buffer);
    } catch (error) {
      this.#pieces.delete(piece.index);
      this.#host.pieceBuffers.release(piece.buffer);
      this.#emitError(
        new SwarmError(SwarmErrorCode.OutOfRange, `writing piece ${piece.index} failed`, {
          cause: error,
        }),
      );
      this.#fillAll();
      return;
    }
    if (this.#stopped) return;
    this.#pieces.delete(piece.index);
    // Next in file order: into the whole-file digest before the buffer is reused.
    this.#digest?.offer(piece.index, piece.buffer.subarray(0, piece.length));
    this.#host.pieceBuffers.release(piece.buffer);
    this.#onPieceVerified(piece.index);
  }

  #onPieceVerified(index: number): void {
    if (!this.#have.set(index)) return;
    if (index > this.#highestVerified) this.#highestVerified = index;
    this.#bytesDone += pieceSize(this.metainfo, index);
    // An origin hears at once (its super-seeding window waits for our HAVEs); downloaders in
    // the next batch.
    for (const peer of this.#peers.values()) {
      if (peer.isOrigin) peer.conn.send({ type: 'have', index });
      if (peer.has.has(index)) {
        peer.wanted--;
        this.#updateInterest(peer);
      }
    }
    this.#pendingHaves.push(index);
    this.#haveTimer ??= setTimeout(() => this.#flushHaves(), HAVE_BATCH_MS);
    this.#catchUpDigest();
    this.emit('piece', index);
    if (this.#have.complete) this.#onComplete();
    else this.#fillAll();
  }

  /** Reads verified pieces back into the whole-file digest, up to the next gap. */
  #catchUpDigest(): void {
    // A failed read-back is reported by sha256(), which the caller awaits.
    if (this.#digest) void this.#digest.catchUp();
  }

  sha256(): Promise<Uint8Array> {
    if (!this.#digest) {
      return Promise.reject(
        new SwarmError(SwarmErrorCode.InvalidOptions, 'the torrent was added without streamSha256'),
      );
    }
    return this.#digest.digest();
  }

  #flushHaves(): void {
    clearTimeout(this.#haveTimer);
    this.#haveTimer = undefined;
    const indexes = this.#pendingHaves;
    this.#pendingHaves = [];
    if (indexes.length === 0 || this.#stopped) return;
    for (const peer of this.#peers.values()) {
      if (peer.isOrigin) continue;
      peer.conn.batch(() => {
        for (const index of indexes) peer.conn.send({ type: 'have', index });
      });
    }
  }

  #onComplete(): void {
    // Everyone hears the last pieces before connections to complete peers are closed.
    this.#flushHaves();
    this.#log.info(
      {
        infoHash: this.infoHash,
        stats: this.stats(),
        // How much of the whole-file SHA-256 is done at the last piece, and how it was fed.
        sha256: this.#digest && {
          hashedPieces: this.#digest.hashedPieces,
          ...this.#digest.counts,
        },
      },
      'torrent complete',
    );
    this.#guardAsync('flush', this.#storage.flush());
    this.emit('complete');
    this.emit('progress', this.stats());
    for (const peer of [...this.#peers.values()]) {
      if (peer.has.complete) {
        peer.conn.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'both sides are complete'));
      }
    }
    if (this.#announcer && !this.#startedComplete && !this.#completedAnnounced) {
      this.#completedAnnounced = true;
      this.#scheduleAnnounce('completed', 0);
    }
    this.#rechoke(false);
  }

  #onBadPiece(piece: PieceDownload): void {
    this.#hashFailures++;
    this.#wasted += piece.length;
    this.#log.warn(
      { infoHash: this.infoHash, piece: piece.index, contributors: [...piece.contributors] },
      'piece failed its hash',
    );
    for (const host of piece.contributors) {
      const strikes = (this.#strikes.get(host) ?? 0) + 1;
      this.#strikes.set(host, strikes);
      const ban = strikes >= this.#settings.banAfterBadPieces;
      const reason = ban
        ? `${strikes} pieces failed their hash`
        : `piece ${piece.index} failed its hash`;
      if (ban && !this.#banned.has(host)) {
        this.#banned.add(host);
        for (const known of this.#known.values()) {
          if (known.address.host === host) this.#known.delete(known.key);
        }
        this.emit('peer-banned', { host, reason });
      }
      for (const peer of [...this.#peers.values()]) {
        if (peer.host === host) peer.conn.close(new SwarmError(SwarmErrorCode.BadPiece, reason));
      }
      this.#discardBlocksFrom(host);
    }
  }

  /** Started pieces holding blocks from a host caught sending bad data start over. */
  #discardBlocksFrom(host: string): void {
    for (const piece of [...this.#pieces.values()]) {
      if (piece.verifying || !piece.contributors.has(host)) continue;
      this.#pieces.delete(piece.index);
      this.#host.pieceBuffers.release(piece.buffer);
      this.#wasted += piece.received * BLOCK_LENGTH;
      for (let block = 0; block < piece.blockCount; block++) {
        for (const peer of piece.requesters[block] ?? []) {
          peer.conn.cancel(piece.index, block * BLOCK_LENGTH);
        }
      }
    }
  }

  // ---------------------------------------------------------------- uploading

  #onRequest(peer: PeerState, request: { index: number; begin: number; length: number }): void {
    const { index, begin, length } = request;
    this.#checkIndex(index, 'request');
    const size = pieceSize(this.metainfo, index);
    // Wide requests only from peers we told we take them (the extended handshake).
    const maxLength =
      this.#settings.wideRequests && peer.conn.extended ? WIDE_REQUEST_LENGTH : MAX_REQUEST_LENGTH;
    if (length === 0 || length > maxLength || begin + length > size) {
      throw new SwarmError(
        SwarmErrorCode.ProtocolViolation,
        `request ${begin}+${length} outside piece ${index} of ${size} bytes (or over ${maxLength})`,
      );
    }
    if (!this.#have.has(index)) {
      if (!peer.conn.fast) {
        throw new SwarmError(
          SwarmErrorCode.ProtocolViolation,
          `request for piece ${index} we lack`,
        );
      }
      peer.conn.send({ type: 'reject-request', index, begin, length });
      return;
    }
    if (peer.amChoking) {
      // BEP 6: answer every request; without it a choked peer's requests are dropped.
      if (peer.conn.fast) peer.conn.send({ type: 'reject-request', index, begin, length });
      return;
    }
    if (peer.uploadQueue.length >= this.#settings.maxQueuedRequests) {
      throw new SwarmError(
        SwarmErrorCode.PeerFlood,
        `more than ${this.#settings.maxQueuedRequests} queued requests`,
      );
    }
    peer.uploadQueue.push({ index, begin, length });
    if (!peer.serving) this.#guardAsync('upload', this.#serve(peer));
  }

  #onCancel(peer: PeerState, cancel: { index: number; begin: number; length: number }): void {
    const at = peer.uploadQueue.findIndex(
      (r) => r.index === cancel.index && r.begin === cancel.begin && r.length === cancel.length,
    );
    if (at < 0) return;
    peer.uploadQueue.splice(at, 1);
    if (peer.conn.fast) peer.conn.send({ type: 'reject-request', ...cancel });
  }

  /**
   * Serves the peer's queue: positional reads into pooled buffers, respecting back-pressure.
   * Queued requests for consecutive blocks of one piece are read with one read (up to
   * READ_CHUNK bytes) and sent as views of that buffer, without copying.
   */
  async #serve(peer: PeerState): Promise<void> {
    peer.serving = true;
    const pool = this.#host.bufferPool;
    try {
      while (peer.uploadQueue.length > 0 && !peer.conn.closed && !this.#stopped) {
        if (peer.conn.writableLength > UPLOAD_HIGH_WATER) {
          await peer.conn.drained();
          continue;
        }
        const run = takeContiguousRun(peer.uploadQueue, pool.size);
        const first = run[0]!;
        const length = run.reduce((sum, request) => sum + request.length, 0);
        const wait = this.#host.uploadLimiter.take(length);
        if (wait > 0) await sleepUnref(wait);
        if (peer.conn.closed || this.#stopped) break;
        const buffer = pool.acquire();
        try {
          await this.#storage.read(first.index, first.begin, buffer.subarray(0, length));
        } catch (error) {
          pool.release(buffer);
          throw error;
        }
        // The buffer returns to the pool once the socket has written every block in it.
        let unwritten = run.length;
        const written = () => {
          if (--unwritten === 0) pool.release(buffer);
        };
        // Corked: the run's headers and blocks leave in one writev, not two syscalls a block.
        peer.conn.batch(() => {
          for (const request of run) {
            const offset = request.begin - first.begin;
            const block = buffer.subarray(offset, offset + request.length);
            peer.conn.sendBlock(request.index, request.begin, block, written);
          }
        });
        peer.uploadRate.add(length);
        this.#uploadRate.add(length);
      }
    } finally {
      peer.serving = false;
    }
  }

  #onMetadataRequest(peer: PeerState, piece: number): void {
    if (peer.remoteUtMetadata === 0) return;
    const info = this.metainfo.infoBytes;
    const count = metadataPieceCount(info.length);
    if (++peer.metadataRequests > count * 4 + 16) {
      throw new SwarmError(SwarmErrorCode.PeerFlood, 'too many metadata requests');
    }
    const extendedId = peer.remoteUtMetadata;
    if (piece >= count) {
      peer.conn.send({ type: 'metadata-reject', extendedId, piece });
      return;
    }
    const start = piece * METADATA_PIECE_LENGTH;
    const data = info.subarray(start, start + metadataPieceLength(info.length, piece));
    peer.conn.send({ type: 'metadata-data', extendedId, piece, totalSize: info.length, data });
  }

  // ---------------------------------------------------------------- choking

  #unchokedCount(): number {
    let count = 0;
    for (const peer of this.#peers.values()) if (!peer.amChoking) count++;
    return count;
  }

  #slots(): number {
    return this.#settings.unchokeSlots + (this.#settings.optimisticUnchoke ? 1 : 0);
  }

  /** An interested peer is choked. */
  #someoneWaits(): boolean {
    for (const peer of this.#peers.values()) if (peer.amChoking && peer.peerInterested) return true;
    return false;
  }

  #unchokeIfSlotFree(peer: PeerState): void {
    if (peer.amChoking && this.#unchokedCount() < this.#slots()) this.#setChoking(peer, false);
  }

  #setChoking(peer: PeerState, choke: boolean): void {
    if (peer.amChoking === choke || peer.conn.closed) return;
    peer.amChoking = choke;
    peer.conn.send({ type: choke ? 'choke' : 'unchoke' });
    if (choke) {
      if (peer.conn.fast) {
        for (const request of peer.uploadQueue)
          peer.conn.send({ type: 'reject-request', ...request });
      }
      peer.uploadQueue.length = 0;
    }
  }

  /** Regular unchoke of the best peers, plus the optimistic one (rotated when asked). */
  #rechoke(rotateOptimistic: boolean): void {
    const seeding = this.#have.complete;
    // Currently unchoked first, so ties do not churn.
    const peers = [...this.#peers.values()].sort(
      (a, b) => Number(a.amChoking) - Number(b.amChoking),
    );
    const candidates: ChokeCandidate<PeerState>[] = peers.map((peer) => ({
      id: peer,
      interested: peer.peerInterested,
      rate: seeding ? peer.uploadRate.rate : peer.downloadRate.rate,
    }));
    const regular = regularUnchoke(candidates, this.#settings.unchokeSlots);
    if (this.#settings.optimisticUnchoke) {
      const current = this.#optimistic;
      const keep =
        current &&
        !rotateOptimistic &&
        this.#peers.has(current.conn) &&
        current.peerInterested &&
        !regular.has(current);
      this.#optimistic = keep
        ? current
        : pickOptimistic(candidates, regular, this.#settings.random);
    } else {
      this.#optimistic = undefined;
    }
    for (const peer of peers) {
      this.#setChoking(peer, !(regular.has(peer) || peer === this.#optimistic));
    }
  }

  // ---------------------------------------------------------------- super-seeding (origin)

  #advertise(peer: PeerState): void {
    if (this.role !== 'origin' || peer.conn.closed || !peer.sentFirstMessage) return;
    const alone =
      this.#downloaderCount() <= 1 &&
      performance.now() - this.#downloaderJoinedAt >= this.#settings.superSeedGraceMs;
    const window = advertiseWindow({
      k: this.#settings.superSeedPieces,
      pieceCount: this.metainfo.pieceCount,
      peerIsOrigin: peer.isOrigin,
      aloneForAWhile: alone,
    });
    // Pieces other peers hold are theirs to spread, unless this peer gets nothing from them
    // (it may not be connected to them).
    const starving =
      performance.now() - peer.lastGainElsewhereAt >= this.#settings.superSeedStarveMs;
    // Bounded: each pass advertises a new piece or stops.
    while (peer.advertisedOutstanding < window) {
      const index = nextAdvertisement({
        pieceCount: this.metainfo.pieceCount,
        advertised: this.#advertisedCount,
        availability: this.#availability,
        skip: (i) =>
          !this.#have.has(i) ||
          peer.advertised.has(i) ||
          peer.has.has(i) ||
          this.#inFlight[i]! > 0 ||
          (this.#availability[i]! > 0 && !starving),
        random: this.#settings.random,
      });
      if (index === undefined) return;
      peer.advertised.add(index);
      this.#advertisedCount[index]!++;
      if (!peer.isOrigin) this.#inFlight[index]!++;
      peer.advertisedOutstanding++;
      peer.conn.send({ type: 'have', index });
    }
  }

  #countInFlight(peer: PeerState, delta: number): void {
    for (const index of peer.advertised) {
      if (!peer.has.has(index)) this.#inFlight[index]! += delta;
    }
  }

  /** Connected non-origin peers still downloading. */
  #downloaderCount(): number {
    let count = 0;
    for (const peer of this.#peers.values()) if (!peer.isOrigin && !peer.has.complete) count++;
    return count;
  }

  // ---------------------------------------------------------------- timers

  #tick(): void {
    if (this.#stopped) return;
    const now = performance.now();
    const seconds = (now - this.#lastTickAt) / 1000;
    this.#lastTickAt = now;
    this.#downloadRate.tick(seconds);
    this.#uploadRate.tick(seconds);
    for (const peer of this.#peers.values()) {
      peer.downloadRate.tick(seconds);
      peer.uploadRate.tick(seconds);
      this.#checkSnubbed(peer, now);
      this.#resizePipeline(peer);
    }
    if (now - this.#lastRechokeAt >= this.#settings.rechokeIntervalMs) {
      this.#lastRechokeAt = now;
      const rotate = now - this.#lastOptimisticAt >= this.#settings.optimisticIntervalMs;
      if (rotate) this.#lastOptimisticAt = now;
      this.#rechoke(rotate);
    }
    if (this.role === 'origin') for (const peer of this.#peers.values()) this.#advertise(peer);
    this.#connectMore();
    this.#fillAll();
    if (!this.#have.complete || this.#peers.size > 0) this.emit('progress', this.stats());
  }

  /** A peer sitting on our requests: take them back so others can serve them. */
  #checkSnubbed(peer: PeerState, now: number): void {
    if (peer.conn.pendingCount === 0 || now - peer.lastBlockAt < this.#settings.requestTimeoutMs) {
      return;
    }
    this.#log.debug({ infoHash: this.infoHash, peer: peer.host }, 'peer snubbed us');
    for (const request of [...peer.conn.pendingRequests()]) {
      peer.conn.cancel(request.index, request.begin);
      this.#releaseRequest(peer, request.index, request.begin, request.length);
    }
    peer.snubbedUntil = now + this.#settings.requestTimeoutMs;
    peer.depth = MIN_PIPELINE;
  }

  /** Pipeline depth = twice the bandwidth-delay product (rate × minimum RTT), in blocks. */
  #resizePipeline(peer: PeerState): void {
    const rtt = Number.isFinite(peer.minRttMs) ? peer.minRttMs : 0;
    const bdpBlocks = (peer.downloadRate.rate * (rtt / 1000) * 2) / BLOCK_LENGTH;
    const target = Math.ceil(bdpBlocks) + MIN_PIPELINE;
    peer.depth = Math.max(
      MIN_PIPELINE,
      Math.min(this.#pipelineCap(peer), Math.max(peer.depth, target)),
    );
  }

  #scheduleAnnounce(event: AnnounceEvent, delayMs: number): void {
    clearTimeout(this.#announceTimer);
    this.#announceTimer = setTimeout(() => {
      this.#guardAsync('announce', this.#announce(event));
    }, delayMs).unref();
  }

  async #announce(event: AnnounceEvent): Promise<void> {
    if (this.#stopped) return;
    try {
      const response = await withTimeout(
        this.#announceRequest(event),
        this.#settings.announceTimeoutMs,
      );
      if (this.#stopped) return;
      this.#announceFailures = 0;
      this.addPeers(response.peers);
      const interval = Math.min(3600, Math.max(5, response.intervalSeconds || 60));
      this.#scheduleAnnounce('periodic', interval * 1000);
    } catch (error) {
      if (this.#stopped) return;
      this.#announceFailures++;
      const retry = Math.min(300_000, 2_000 * 2 ** Math.min(this.#announceFailures, 8));
      this.#log.warn(
        { infoHash: this.infoHash, event, err: asError(error), retryMs: retry },
        'announce failed',
      );
      // A failed 'started' or 'completed' is retried as itself, so the tracker hears it.
      this.#scheduleAnnounce(event, retry);
    }
  }

  #announceRequest(event: AnnounceEvent) {
    return this.#announcer!.announce({
      infoHash: this.infoHash,
      event,
      uploaded: this.#uploadRate.total,
      downloaded: this.#downloadRate.total,
      left: this.metainfo.totalLength - this.#bytesDone,
      port: this.#host.port,
    });
  }

  // ---------------------------------------------------------------- errors

  #emitError(error: Error): void {
    this.#log.error({ infoHash: this.infoHash, err: error }, error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** Runs a timer callback; a bug in it is reported, never thrown into the event loop. */
  #guard(what: string, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.#emitError(new SwarmError(SwarmErrorCode.Stopped, `${what} failed`, { cause: error }));
    }
  }

  #guardAsync(what: string, promise: Promise<unknown>): void {
    promise.catch((error: unknown) => {
      if (this.#stopped) return;
      this.#emitError(
        error instanceof SwarmError
          ? error
          : new SwarmError(SwarmErrorCode.Stopped, `${what} failed: ${asError(error).message}`, {
              cause: error,
            }),
      );
    });
  }
}

/**
 * Removes and returns the first queued request and those right after it that continue it
 * in the same piece, up to `maxBytes` in total.
 */
function takeContiguousRun(
  queue: { index: number; begin: number; length: number }[],
  maxBytes: number,
): { index: number; begin: number; length: number }[] {
  const run = [queue[0]!];
  let bytes = run[0]!.length;
  while (run.length < queue.length) {
    const last = run[run.length - 1]!;
    const next = queue[run.length]!;
    if (next.index !== last.index || next.begin !== last.begin + last.length) break;
    if (bytes + next.length > maxBytes) break;
    run.push(next);
    bytes += next.length;
  }
  queue.splice(0, run.length);
  return run;
}

function validAddress(address: PeerAddress): boolean {
  return (
    typeof address.host === 'string' &&
    address.host.length > 0 &&
    address.host.length <= 253 &&
    (isIP(address.host) !== 0 || /^[a-zA-Z0-9.-]+$/.test(address.host)) &&
    Number.isInteger(address.port) &&
    address.port > 0 &&
    address.port <= 0xffff
  );
}

/** The peer id of whoever dialled this connection. */
function initiator(conn: PeerConnection, ourPeerId: Uint8Array): string {
  return toHex(conn.direction === 'outbound' ? ourPeerId : (conn.remotePeerId ?? new Uint8Array()));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new SwarmError(SwarmErrorCode.Timeout, `no answer in ${ms} ms`)),
      ms,
    );
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
