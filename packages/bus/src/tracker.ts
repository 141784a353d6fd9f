import { z } from 'zod';
import { decodeMessage, encodeMessage } from './codec.ts';
import { HexId } from './ids.ts';
import { type NatsRequester, type RequestOptions, requestJson } from './request.ts';
import { createSubjects } from './subjects.ts';

/** `numwant` when a client does not say. */
export const DEFAULT_NUMWANT = 50;
/** Most peers one announce answer lists; a larger `numwant` is lowered to this. */
export const MAX_NUMWANT = 200;
/** A `numwant` above this is not a request a client means: it is refused as bad input. */
export const MAX_NUMWANT_ACCEPTED = 1000;
/** Most infohashes in one scrape. */
export const MAX_SCRAPE_INFOHASHES = 100;
/** Largest announce or scrape request the tracker reads. */
export const MAX_TRACKER_REQUEST_BYTES = 8192;
/** Largest announce or scrape reply (200 peers with labels fit well under this). */
export const MAX_TRACKER_REPLY_BYTES = 256 * 1024;
/** Largest swarm stats message. */
export const MAX_SWARM_STATS_BYTES = 1024;

const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/** A topology label value: DNS-label-like, so it is safe in logs, keys and metrics. */
export const Label = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be 1-63 characters of A-Z a-z 0-9 . _ -');

/** Where a peer runs; the tracker hands out same-rack peers first, then same-zone ones. */
export const PeerLabels = z.object({
  zone: Label.optional(),
  rack: Label.optional(),
  host: Label.optional(),
});
export type PeerLabels = z.infer<typeof PeerLabels>;

/** A peer's address as dotted IPv4 or RFC 4291 IPv6 text. */
export const PeerIp = z.union([z.ipv4(), z.ipv6()], { error: 'must be an IPv4 or IPv6 address' });

export const AnnounceEvent = z.enum(['started', 'completed', 'stopped']);
export type AnnounceEvent = z.infer<typeof AnnounceEvent>;

/**
 * One announce: the BEP 3 fields, with ids as hex, plus the peer's topology labels.
 * An absent `event` is a regular re-announce.
 */
export const AnnounceRequest = z.object({
  infoHash: HexId,
  peerId: HexId,
  ip: PeerIp,
  port: z.number().int().min(1).max(65535),
  uploaded: z.number().int().min(0).max(MAX_COUNTER),
  downloaded: z.number().int().min(0).max(MAX_COUNTER),
  left: z.number().int().min(0).max(MAX_COUNTER),
  event: AnnounceEvent.optional(),
  numWant: z.number().int().min(0).max(MAX_NUMWANT_ACCEPTED).optional(),
  labels: PeerLabels.optional(),
});
export type AnnounceRequest = z.infer<typeof AnnounceRequest>;

export const AnnouncedPeer = z.object({
  peerId: HexId,
  ip: PeerIp,
  port: z.number().int().min(1).max(65535),
  /** True when the peer has the whole file (`left` was 0). */
  seeder: z.boolean(),
  labels: PeerLabels.optional(),
});
export type AnnouncedPeer = z.infer<typeof AnnouncedPeer>;

export const AnnounceResponse = z.object({
  /** Seconds until the next regular announce. */
  interval: z.number().int().min(1),
  /** Announcing more often than this is rate limited. */
  minInterval: z.number().int().min(1),
  /** Seeders in the swarm. */
  complete: z.number().int().min(0),
  /** Leechers in the swarm. */
  incomplete: z.number().int().min(0),
  /** Completed downloads ever recorded for the swarm. */
  downloaded: z.number().int().min(0),
  peers: z.array(AnnouncedPeer).max(MAX_NUMWANT),
});
export type AnnounceResponse = z.infer<typeof AnnounceResponse>;

export const ScrapeRequest = z.object({
  infoHashes: z.array(HexId).min(1).max(MAX_SCRAPE_INFOHASHES),
});
export type ScrapeRequest = z.infer<typeof ScrapeRequest>;

export const SwarmCounts = z.object({
  infoHash: HexId,
  complete: z.number().int().min(0),
  incomplete: z.number().int().min(0),
  downloaded: z.number().int().min(0),
});
export type SwarmCounts = z.infer<typeof SwarmCounts>;

/** One entry per requested infohash, in request order; unknown swarms have zero counts. */
export const ScrapeResponse = z.object({
  swarms: z.array(SwarmCounts).max(MAX_SCRAPE_INFOHASHES),
});
export type ScrapeResponse = z.infer<typeof ScrapeResponse>;

/**
 * Published every few seconds per live swarm on `trackerStats(infoHash)`, by one tracker
 * replica at a time. `demand` is leechers per seeder (`leechers / max(seeders, 1)`): above 1 the
 * swarm has more downloaders than full copies, which is when adding seeders helps.
 * `bytesLeft` (sum of every leecher's `left`) sizes the remaining transfer.
 */
export const SwarmStats = z.object({
  infoHash: HexId,
  seeders: z.number().int().min(0),
  leechers: z.number().int().min(0),
  completions: z.number().int().min(0),
  bytesLeft: z.number().int().min(0).max(MAX_COUNTER),
  demand: z.number().min(0),
  /** When the numbers were taken, ms since the epoch. */
  at: z.number().int().min(0),
});
export type SwarmStats = z.infer<typeof SwarmStats>;

/** Stable codes in tracker error replies (`ErrorReply.error.code`), with their service status. */
export const TrackerErrorCode = {
  BadRequest: 'bad_request',
  RateLimited: 'rate_limited',
  SwarmFull: 'swarm_full',
  Unavailable: 'unavailable',
  Internal: 'internal',
} as const;
export type TrackerErrorCode = (typeof TrackerErrorCode)[keyof typeof TrackerErrorCode];
export const TRACKER_ERROR_STATUS: Record<TrackerErrorCode, number> = {
  bad_request: 400,
  rate_limited: 429,
  swarm_full: 409,
  unavailable: 503,
  internal: 500,
};

export interface TrackerClientOptions extends RequestOptions {
  /** Subject prefix, default `shoal`. */
  prefix?: string;
}

const announceSchemas = {
  request: AnnounceRequest,
  reply: AnnounceResponse,
  maxRequestBytes: MAX_TRACKER_REQUEST_BYTES,
  maxReplyBytes: MAX_TRACKER_REPLY_BYTES,
};
const scrapeSchemas = {
  request: ScrapeRequest,
  reply: ScrapeResponse,
  maxRequestBytes: MAX_TRACKER_REQUEST_BYTES,
  maxReplyBytes: MAX_TRACKER_REPLY_BYTES,
};

/** Announces over NATS; validates the request before sending and the reply on receipt. */
export function announceOverNats(
  nc: NatsRequester,
  request: AnnounceRequest,
  options: TrackerClientOptions = {},
): Promise<AnnounceResponse> {
  const subject = createSubjects(options.prefix).trackerAnnounce;
  return requestJson(nc, subject, announceSchemas, request, options);
}

/** Scrapes over NATS; validates both ways like `announceOverNats`. */
export function scrapeOverNats(
  nc: NatsRequester,
  request: ScrapeRequest,
  options: TrackerClientOptions = {},
): Promise<ScrapeResponse> {
  const subject = createSubjects(options.prefix).trackerScrape;
  return requestJson(nc, subject, scrapeSchemas, request, options);
}

export function encodeSwarmStats(stats: SwarmStats): Uint8Array {
  return encodeMessage(SwarmStats, stats, MAX_SWARM_STATS_BYTES);
}

export function decodeSwarmStats(bytes: Uint8Array): SwarmStats {
  return decodeMessage(SwarmStats, bytes, MAX_SWARM_STATS_BYTES);
}
