// The piece-store's NATS surface: replica heartbeats, metainfo lookup by infohash, and the
// replica-to-replica requests that keep every artifact on its R owners. Artifact bytes never
// travel here (they move peer to peer over the wire protocol); only .torrent files do.
import { z } from 'zod';
import { decodeMessage, encodeMessage } from './codec.ts';
import { BusError, BusErrorCode } from './errors.ts';
import { HexId, isHexId } from './ids.ts';
import { type NatsRequester, type RequestOptions, requestJson } from './request.ts';
import { createSubjects, subjectToken } from './subjects.ts';
import { PeerIp } from './tracker.ts';

/** NATS services framework name of the piece-store, and the queue group of its lookup endpoint. */
export const PIECE_STORE_SERVICE_NAME = 'shoal-piece-store';
export const PIECE_STORE_QUEUE_GROUP = 'shoal-piece-store';

/**
 * Largest .torrent carried over NATS. Base64 grows it by a third, and the reply must fit
 * nats-server's default 1 MiB payload; 512 KiB holds 26,000 piece hashes (400 GiB at 16 MiB).
 */
export const MAX_BUS_TORRENT_BYTES = 512 * 1024;
const MAX_TORRENT_BASE64 = Math.ceil(MAX_BUS_TORRENT_BYTES / 3) * 4;
/** Largest metainfo or replicate message (a torrent plus a few fields). */
export const MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES = MAX_TORRENT_BASE64 + 4096;
/** Largest heartbeat. */
export const MAX_PIECE_STORE_HEARTBEAT_BYTES = 2048;
/** Most infohashes in one `holds` request. */
export const MAX_HOLDS_INFOHASHES = 1000;
/** Largest `holds` request or reply (1000 hex ids and JSON punctuation). */
export const MAX_HOLDS_MESSAGE_BYTES = MAX_HOLDS_INFOHASHES * 43 + 256;
/** Most peer addresses a replicate request names as sources. */
export const MAX_REPLICATE_SOURCES = 16;
/** Largest small request or reply (lookups, deletes, replicate replies). */
export const MAX_PIECE_STORE_SMALL_MESSAGE_BYTES = 2048;

/** A replica's stable id: one subject token. */
export const ReplicaId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');

/** A .torrent file as standard base64, at most MAX_BUS_TORRENT_BYTES once decoded. */
export const TorrentBase64 = z
  .string()
  .min(4)
  .max(MAX_TORRENT_BASE64)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be standard base64');

const Port = z.number().int().min(1).max(65535);
const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * Published by every replica every few seconds on `heartbeat`, and once with `leaving` when it
 * shuts down. Replicas that stop sending drop out of the live set after a TTL.
 */
export const PieceStoreHeartbeat = z.object({
  replicaId: ReplicaId,
  /** New at each process start: a restarted replica has lost its in-memory state. */
  incarnation: z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex characters'),
  /** Where peers reach its BitTorrent wire listener. */
  wireIp: PeerIp,
  wirePort: Port,
  /** Its gRPC address (host:port), for tools that list replicas. */
  grpcAddress: z.string().max(300).optional(),
  artifacts: Count,
  usedBytes: Count,
  /** Byte budget; 0 = unlimited. */
  limitBytes: Count,
  /** It has verified its store and is seeding. */
  ready: z.boolean(),
  /** Last heartbeat before a clean shutdown: drop it from the live set now. */
  leaving: z.boolean().optional(),
  /** Sender's clock, ms since the epoch. */
  at: Count,
});
export type PieceStoreHeartbeat = z.infer<typeof PieceStoreHeartbeat>;

export const MetainfoRequest = z.object({ infoHash: HexId });
export type MetainfoRequest = z.infer<typeof MetainfoRequest>;

export const MetainfoReply = z.object({
  infoHash: HexId,
  torrent: TorrentBase64,
  /** The replica that answered (it holds the artifact). */
  replicaId: ReplicaId,
});
export type MetainfoReply = z.infer<typeof MetainfoReply>;

/** Which of these artifacts does the replica hold (committed and not quarantined)? */
export const HoldsRequest = z.object({
  infoHashes: z.array(HexId).max(MAX_HOLDS_INFOHASHES),
});
export type HoldsRequest = z.infer<typeof HoldsRequest>;

export const HoldsReply = z.object({
  held: z.array(HexId).max(MAX_HOLDS_INFOHASHES),
});
export type HoldsReply = z.infer<typeof HoldsReply>;

/** Where a copy can be downloaded from over the wire protocol. */
export const PeerSource = z.object({ ip: PeerIp, port: Port });
export type PeerSource = z.infer<typeof PeerSource>;

/**
 * Sent by a replica holding an artifact to an owner that should hold it: "copy this". The
 * owner answers at once and downloads in the background from `sources` (and the tracker).
 */
export const ReplicateRequest = z.object({
  infoHash: HexId,
  torrent: TorrentBase64,
  /** When the artifact was first ingested; a delete newer than this wins. */
  createdUnixMs: Count,
  from: ReplicaId,
  sources: z.array(PeerSource).max(MAX_REPLICATE_SOURCES),
});
export type ReplicateRequest = z.infer<typeof ReplicateRequest>;

export const ReplicateStatus = z.enum([
  /** Already stored. */
  'present',
  /** Queued or downloading. */
  'accepted',
  /**
   * Explicitly deleted here after the artifact was ingested: the delete wins, and the asking
   * replica deletes its own copy (it missed the delete, e.g. it was down).
   */
  'deleted',
  /** Not copied: no room, a bad torrent, or this replica is not ready. `reason` says which. */
  'refused',
]);
export type ReplicateStatus = z.infer<typeof ReplicateStatus>;

export const ReplicateReply = z.object({
  status: ReplicateStatus,
  reason: z.string().max(500).optional(),
});
export type ReplicateReply = z.infer<typeof ReplicateReply>;

/** An explicit delete, fanned out to every live replica so no copy is left to spread again. */
export const DeleteArtifactRequest = z.object({ infoHash: HexId, from: ReplicaId });
export type DeleteArtifactRequest = z.infer<typeof DeleteArtifactRequest>;

export const DeleteArtifactReply = z.object({ deleted: z.boolean() });
export type DeleteArtifactReply = z.infer<typeof DeleteArtifactReply>;

/** Stable codes in piece-store error replies (`ErrorReply.error.code`), with their status. */
export const PieceStoreBusErrorCode = {
  BadRequest: 'bad_request',
  NotFound: 'not_found',
  /** The torrent is larger than MAX_BUS_TORRENT_BYTES: fetch it over BEP 9 instead. */
  TooLarge: 'too_large',
  Unavailable: 'unavailable',
  Internal: 'internal',
} as const;
export type PieceStoreBusErrorCode =
  (typeof PieceStoreBusErrorCode)[keyof typeof PieceStoreBusErrorCode];
export const PIECE_STORE_ERROR_STATUS: Record<PieceStoreBusErrorCode, number> = {
  bad_request: 400,
  not_found: 404,
  too_large: 413,
  unavailable: 503,
  internal: 500,
};

/**
 * Every piece-store subject under `prefix` (default `shoal`):
 * - `heartbeat`: pub/sub, `PieceStoreHeartbeat`;
 * - `metainfo`: request/reply in the queue group, `MetainfoRequest` → `MetainfoReply`; the
 *   replica that takes it answers from its store or asks the others, so one request finds any
 *   artifact held anywhere (a `not_found` error reply otherwise);
 * - `replica(id).*`: one replica's own endpoints (metainfo from its store only, holds,
 *   replicate, delete).
 */
export function createPieceStoreSubjects(prefix?: string) {
  const p = `${createSubjects(prefix).prefix}.piecestore`;
  return {
    heartbeat: `${p}.heartbeat`,
    metainfo: `${p}.metainfo`,
    replica(replicaId: string) {
      const base = `${p}.replica.${subjectToken(replicaId)}`;
      return {
        metainfo: `${base}.metainfo`,
        holds: `${base}.holds`,
        replicate: `${base}.replicate`,
        delete: `${base}.delete`,
      } as const;
    },
  } as const;
}
export type PieceStoreSubjects = ReturnType<typeof createPieceStoreSubjects>;

export const metainfoSchemas = {
  request: MetainfoRequest,
  reply: MetainfoReply,
  maxRequestBytes: MAX_PIECE_STORE_SMALL_MESSAGE_BYTES,
  maxReplyBytes: MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES,
};
export const holdsSchemas = {
  request: HoldsRequest,
  reply: HoldsReply,
  maxRequestBytes: MAX_HOLDS_MESSAGE_BYTES,
  maxReplyBytes: MAX_HOLDS_MESSAGE_BYTES,
};
export const replicateSchemas = {
  request: ReplicateRequest,
  reply: ReplicateReply,
  maxRequestBytes: MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES,
  maxReplyBytes: MAX_PIECE_STORE_SMALL_MESSAGE_BYTES,
};
export const deleteArtifactSchemas = {
  request: DeleteArtifactRequest,
  reply: DeleteArtifactReply,
  maxRequestBytes: MAX_PIECE_STORE_SMALL_MESSAGE_BYTES,
  maxReplyBytes: MAX_PIECE_STORE_SMALL_MESSAGE_BYTES,
};

export interface PieceStoreClientOptions extends RequestOptions {
  /** Subject prefix, default `shoal`. */
  prefix?: string;
}

/**
 * Asks the piece-store fleet for the .torrent of `infoHash` (a node that knows only an infohash
 * or magnet starts this way). Resolves with the torrent bytes, checked to be no larger than
 * MAX_BUS_TORRENT_BYTES; the caller still parses it and compares its infohash. Unknown
 * artifacts reject with `BusError(RemoteError)` whose `remoteCode` is `not_found`.
 */
export async function lookupMetainfoOverNats(
  nc: NatsRequester,
  infoHash: string,
  options: PieceStoreClientOptions = {},
): Promise<{ torrent: Uint8Array; replicaId: string }> {
  if (!isHexId(infoHash)) {
    throw new BusError(
      BusErrorCode.InvalidMessage,
      'infoHash: must be 40 lowercase hex characters',
    );
  }
  const subject = createPieceStoreSubjects(options.prefix).metainfo;
  const reply = await requestJson(nc, subject, metainfoSchemas, { infoHash }, options);
  return { torrent: decodeTorrentBase64(reply.torrent), replicaId: reply.replicaId };
}

/** Torrent bytes to the base64 the messages carry; refuses more than MAX_BUS_TORRENT_BYTES. */
export function encodeTorrentBase64(torrent: Uint8Array): string {
  if (torrent.length > MAX_BUS_TORRENT_BYTES) {
    throw new BusError(
      BusErrorCode.MessageTooLarge,
      `torrent is ${torrent.length} bytes, over the ${MAX_BUS_TORRENT_BYTES}-byte limit`,
    );
  }
  return Buffer.from(torrent.buffer, torrent.byteOffset, torrent.byteLength).toString('base64');
}

export function decodeTorrentBase64(text: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  if (bytes.length > MAX_BUS_TORRENT_BYTES) {
    throw new BusError(BusErrorCode.MessageTooLarge, 'torrent is over the size limit');
  }
  return bytes;
}

export function encodePieceStoreHeartbeat(heartbeat: PieceStoreHeartbeat): Uint8Array {
  return encodeMessage(PieceStoreHeartbeat, heartbeat, MAX_PIECE_STORE_HEARTBEAT_BYTES);
}

export function decodePieceStoreHeartbeat(bytes: Uint8Array): PieceStoreHeartbeat {
  return decodeMessage(PieceStoreHeartbeat, bytes, MAX_PIECE_STORE_HEARTBEAT_BYTES);
}
