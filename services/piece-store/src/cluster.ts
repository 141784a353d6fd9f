// The piece-store's NATS side: heartbeats that build the live set of replicas, the endpoints
// other replicas and nodes call (metainfo lookup in a queue group, and per-replica holds,
// replicate, delete), and the client calls to other replicas. Decisions (who owns what, what
// to copy) live in replication.ts; this file only moves validated messages.

import { type Service, type ServiceMsg, Svcm } from '@nats-io/services';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  BusError,
  createPieceStoreSubjects,
  DeleteArtifactRequest,
  decodeMessage,
  decodePieceStoreHeartbeat,
  decodeTorrentBase64,
  deleteArtifactSchemas,
  ErrorReply,
  encodeMessage,
  encodePieceStoreHeartbeat,
  encodeTorrentBase64,
  HoldsRequest,
  holdsSchemas,
  MAX_BUS_TORRENT_BYTES,
  MAX_ERROR_REPLY_BYTES,
  MetainfoRequest,
  metainfoSchemas,
  PIECE_STORE_ERROR_STATUS,
  PIECE_STORE_QUEUE_GROUP,
  PIECE_STORE_SERVICE_NAME,
  PieceStoreBusErrorCode,
  type PieceStoreHeartbeat,
  type PieceStoreSubjects,
  type ReplicateReply,
  ReplicateRequest,
  replicateSchemas,
  requestJson,
} from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import type { z } from 'zod';
import { Membership, type MembershipChange } from './membership.ts';
import { rendezvousOwners } from './placement.ts';

/** What this replica answers with; implemented by the service. */
export interface ClusterHandlers {
  /** The .torrent of a locally held artifact, or undefined. */
  localTorrent(infoHash: string): Promise<Uint8Array | undefined>;
  /** The subset of `infoHashes` held here. */
  holds(infoHashes: readonly string[]): string[];
  replicate(request: ReplicateRequest): Promise<ReplicateReply>;
  /** Deletes the local copy and remembers the delete; true if a copy was here. */
  deleteLocal(infoHash: string): Promise<boolean>;
  /** The changing part of this replica's heartbeat. */
  status(): Pick<PieceStoreHeartbeat, 'artifacts' | 'usedBytes' | 'limitBytes' | 'ready'>;
  /** The live set changed. */
  membershipChanged(changes: MembershipChange[]): void;
}

export interface ClusterOptions {
  nc: NatsConnection;
  prefix: string;
  selfId: string;
  incarnation: string;
  wireIp: string;
  wirePort: number;
  grpcAddress: string;
  replicas: number;
  heartbeatMs: number;
  ttlMs: number;
  /** Deadline of replica-to-replica requests. */
  requestTimeoutMs?: number;
  handlers: ClusterHandlers;
  logger: Logger;
  now?: () => number;
}

const SERVICE_VERSION = '0.1.0';

export class Cluster {
  readonly membership: Membership;
  readonly subjects: PieceStoreSubjects;
  readonly #options: ClusterOptions;
  readonly #timeoutMs: number;
  #service: Service | undefined;
  #heartbeats: Subscription | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: ClusterOptions) {
    this.#options = options;
    this.#timeoutMs = options.requestTimeoutMs ?? 5000;
    this.subjects = createPieceStoreSubjects(options.prefix);
    this.membership = new Membership({
      selfId: options.selfId,
      ttlMs: options.ttlMs,
      ...(options.now === undefined ? {} : { now: options.now }),
    });
  }

  /** Subscribes to heartbeats, serves the endpoints and starts heartbeating. */
  static async start(options: ClusterOptions): Promise<Cluster> {
    const cluster = new Cluster(options);
    await cluster.#start();
    return cluster;
  }

  get selfId(): string {
    return this.#options.selfId;
  }

  /** Live replica ids, this one included. */
  liveIds(): string[] {
    return this.membership.liveIds();
  }

  /** The R owners of `infoHash` among the live replicas. */
  owners(infoHash: string): string[] {
    return rendezvousOwners(infoHash, this.liveIds(), this.#options.replicas);
  }

  /** Sends this replica's heartbeat now (also done every `heartbeatMs`). */
  publishHeartbeat(leaving = false): void {
    if (this.#options.nc.isClosed()) return;
    const { selfId, incarnation, wireIp, wirePort, grpcAddress, handlers } = this.#options;
    const heartbeat: PieceStoreHeartbeat = {
      replicaId: selfId,
      incarnation,
      wireIp,
      wirePort,
      grpcAddress,
      ...handlers.status(),
      ...(leaving ? { leaving: true } : {}),
      at: (this.#options.now ?? Date.now)(),
    };
    this.#options.nc.publish(this.subjects.heartbeat, encodePieceStoreHeartbeat(heartbeat));
  }

  /** Which of `infoHashes` replica `replicaId` holds; empty when it does not answer. */
  async holdsOn(replicaId: string, infoHashes: readonly string[]): Promise<Set<string>> {
    const held = new Set<string>();
    for (let i = 0; i < infoHashes.length; i += 1000) {
      const reply = await requestJson(
        this.#options.nc,
        this.subjects.replica(replicaId).holds,
        holdsSchemas,
        { infoHashes: infoHashes.slice(i, i + 1000) },
        { timeoutMs: this.#timeoutMs },
      );
      for (const infoHash of reply.held) held.add(infoHash);
    }
    return held;
  }

  replicateTo(replicaId: string, request: ReplicateRequest): Promise<ReplicateReply> {
    return requestJson(
      this.#options.nc,
      this.subjects.replica(replicaId).replicate,
      replicateSchemas,
      request,
      { timeoutMs: this.#timeoutMs },
    );
  }

  async deleteOn(replicaId: string, infoHash: string): Promise<boolean> {
    const reply = await requestJson(
      this.#options.nc,
      this.subjects.replica(replicaId).delete,
      deleteArtifactSchemas,
      { infoHash, from: this.#options.selfId },
      { timeoutMs: this.#timeoutMs },
    );
    return reply.deleted;
  }

  /**
   * The .torrent of `infoHash` from anywhere in the fleet: this replica's store, else its
   * owners, else every other live replica (a copy may sit off its owners while copies move).
   */
  async findTorrent(
    infoHash: string,
  ): Promise<{ torrent: Uint8Array; replicaId: string } | undefined> {
    const local = await this.#options.handlers.localTorrent(infoHash);
    if (local !== undefined) return { torrent: local, replicaId: this.#options.selfId };
    const owners = this.owners(infoHash).filter((id) => id !== this.#options.selfId);
    const others = this.liveIds().filter(
      (id) => id !== this.#options.selfId && !owners.includes(id),
    );
    for (const group of [owners, others]) {
      if (group.length === 0) continue;
      const answers = await Promise.all(group.map((id) => this.#torrentFrom(id, infoHash)));
      const found = answers.find((answer) => answer !== undefined);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Announces departure (so others rebalance at once) and stops serving. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#heartbeats?.unsubscribe();
    try {
      this.publishHeartbeat(true);
      await this.#options.nc.flush();
    } catch {
      // The connection is already gone: the others will expire this replica instead.
    }
    await this.#service?.stop().catch(() => {});
  }

  async #torrentFrom(
    replicaId: string,
    infoHash: string,
  ): Promise<{ torrent: Uint8Array; replicaId: string } | undefined> {
    try {
      const reply = await requestJson(
        this.#options.nc,
        this.subjects.replica(replicaId).metainfo,
        metainfoSchemas,
        { infoHash },
        { timeoutMs: this.#timeoutMs },
      );
      if (reply.infoHash !== infoHash) return undefined;
      return { torrent: decodeTorrentBase64(reply.torrent), replicaId: reply.replicaId };
    } catch (error) {
      if (!(error instanceof BusError)) throw error;
      return undefined;
    }
  }

  async #start(): Promise<void> {
    const { nc, selfId, handlers, logger } = this.#options;
    this.#heartbeats = nc.subscribe(this.subjects.heartbeat, {
      callback: (error, msg) => {
        if (error !== null) return;
        let heartbeat: PieceStoreHeartbeat;
        try {
          heartbeat = decodePieceStoreHeartbeat(msg.data);
        } catch (cause) {
          logger.warn({ err: cause }, 'ignoring a malformed piece-store heartbeat');
          return;
        }
        const change = this.membership.observe(heartbeat);
        if (change === undefined) return;
        logger.info({ change }, 'replica membership changed');
        // A newcomer learns about us now rather than one interval later.
        if (change.type !== 'left') this.publishHeartbeat();
        handlers.membershipChanged([change]);
      },
    });
    const service = await new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
      name: PIECE_STORE_SERVICE_NAME,
      version: SERVICE_VERSION,
      description: 'shoal piece-store: metainfo lookup and replica coordination',
      queue: PIECE_STORE_QUEUE_GROUP,
      metadata: { replicaId: selfId },
    });
    this.#service = service;
    const own = this.subjects.replica(selfId);
    service.addEndpoint('metainfo', {
      subject: this.subjects.metainfo,
      handler: this.#handler(MetainfoRequest, metainfoSchemas.maxRequestBytes, async (request) => {
        const found = await this.findTorrent(request.infoHash);
        if (found === undefined) throw notFound(request.infoHash);
        return encodeMessage(
          metainfoSchemas.reply,
          torrentReply(request.infoHash, found),
          metainfoSchemas.maxReplyBytes,
        );
      }),
    });
    service.addEndpoint('replica-metainfo', {
      subject: own.metainfo,
      queue: '',
      handler: this.#handler(MetainfoRequest, metainfoSchemas.maxRequestBytes, async (request) => {
        const torrent = await handlers.localTorrent(request.infoHash);
        if (torrent === undefined) throw notFound(request.infoHash);
        const reply = torrentReply(request.infoHash, { torrent, replicaId: selfId });
        return encodeMessage(metainfoSchemas.reply, reply, metainfoSchemas.maxReplyBytes);
      }),
    });
    service.addEndpoint('replica-holds', {
      subject: own.holds,
      queue: '',
      handler: this.#handler(HoldsRequest, holdsSchemas.maxRequestBytes, async (request) =>
        encodeMessage(
          holdsSchemas.reply,
          { held: handlers.holds(request.infoHashes) },
          holdsSchemas.maxReplyBytes,
        ),
      ),
    });
    service.addEndpoint('replica-replicate', {
      subject: own.replicate,
      queue: '',
      handler: this.#handler(ReplicateRequest, replicateSchemas.maxRequestBytes, async (request) =>
        encodeMessage(
          replicateSchemas.reply,
          await handlers.replicate(request),
          replicateSchemas.maxReplyBytes,
        ),
      ),
    });
    service.addEndpoint('replica-delete', {
      subject: own.delete,
      queue: '',
      handler: this.#handler(
        DeleteArtifactRequest,
        deleteArtifactSchemas.maxRequestBytes,
        async (request) =>
          encodeMessage(
            deleteArtifactSchemas.reply,
            { deleted: await handlers.deleteLocal(request.infoHash) },
            deleteArtifactSchemas.maxReplyBytes,
          ),
      ),
    });
    this.publishHeartbeat();
    this.#timer = setInterval(() => this.#tick(), this.#options.heartbeatMs);
    this.#timer.unref();
  }

  #tick(): void {
    this.publishHeartbeat();
    const changes = this.membership.expire();
    if (changes.length === 0) return;
    this.#options.logger.info({ changes }, 'replicas expired');
    this.#options.handlers.membershipChanged(changes);
  }

  /** Decodes and validates the request, runs `answer`, and turns failures into error replies. */
  #handler<S extends z.ZodType>(
    schema: S,
    maxBytes: number,
    answer: (request: z.output<S>) => Promise<Uint8Array>,
  ): (error: Error | null, msg: ServiceMsg) => void {
    return (error, msg) => {
      if (error !== null) return;
      let request: z.output<S>;
      try {
        request = decodeMessage(schema, msg.data, maxBytes);
      } catch (cause) {
        respondError(msg, PieceStoreBusErrorCode.BadRequest, (cause as Error).message);
        return;
      }
      answer(request).then(
        (reply) => msg.respond(reply),
        (cause: unknown) => {
          if (cause instanceof ReplyError) {
            respondError(msg, cause.code, cause.message);
            return;
          }
          this.#options.logger.error({ err: cause, subject: msg.subject }, 'bus handler failed');
          respondError(msg, PieceStoreBusErrorCode.Internal, 'internal error');
        },
      );
    };
  }
}

/** A failure answered with its own code rather than `internal`. */
class ReplyError extends Error {
  override readonly name = 'ReplyError';
  readonly code: PieceStoreBusErrorCode;

  constructor(code: PieceStoreBusErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

function notFound(infoHash: string): ReplyError {
  return new ReplyError(PieceStoreBusErrorCode.NotFound, `no piece-store holds ${infoHash}`);
}

function torrentReply(
  infoHash: string,
  found: { torrent: Uint8Array; replicaId: string },
): { infoHash: string; torrent: string; replicaId: string } {
  if (found.torrent.length > MAX_BUS_TORRENT_BYTES) {
    throw new ReplyError(
      PieceStoreBusErrorCode.TooLarge,
      `the torrent of ${infoHash} is over ${MAX_BUS_TORRENT_BYTES} bytes: fetch it over BEP 9`,
    );
  }
  return { infoHash, torrent: encodeTorrentBase64(found.torrent), replicaId: found.replicaId };
}

function respondError(msg: ServiceMsg, code: PieceStoreBusErrorCode, message: string): void {
  const body = encodeMessage(
    ErrorReply,
    { error: { code, message: message.slice(0, 2000) } },
    MAX_ERROR_REPLY_BYTES,
  );
  msg.respondError(PIECE_STORE_ERROR_STATUS[code], message.slice(0, 200), body);
}
