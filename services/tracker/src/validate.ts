// Validation on the announce path. The schemas in @shoal/bus (zod) stay the definition and
// produce every error message; a hand-written check in front of them accepts the common,
// well-formed message without building zod's issue machinery. It is only ever stricter than
// the schema: whatever it does not recognise as valid (an unknown key, an IPv6 address, a
// label it has not seen pass the schema yet) goes to the schema, which accepts or refuses it
// with the usual message. `test/unit.test.ts` checks both agree on generated messages.
import {
  AnnounceRequest,
  decodeMessage,
  describeIssues,
  isHexId,
  Label,
  MAX_NUMWANT_ACCEPTED,
  MAX_TRACKER_REQUEST_BYTES,
  PeerIp,
  PeerLabels,
} from '@shoal/bus';
import { regexes, z } from 'zod';
import { badRequest } from './errors.ts';
import type { PeerRecord } from './swarm-cache.ts';

/** A peer record as stored in KV (`<base>-peers`), validated when the watch delivers it. */
export const StoredPeer = z.object({
  ip: PeerIp,
  port: z.number().int().min(1).max(65535),
  left: z.number().int().min(0),
  uploaded: z.number().int().min(0),
  downloaded: z.number().int().min(0),
  labels: PeerLabels.optional(),
});

const IPV4 = regexes.ipv4;
const utf8 = new TextDecoder('utf-8', { fatal: true });

// Label values the schema has accepted: a fleet has a few zones and racks and one host name per
// machine, so after the first few announces a label is checked with one set lookup. Bounded.
const knownLabels = new Set<string>();
const MAX_KNOWN_LABELS = 65_536;

function isLabel(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  if (knownLabels.has(value)) return true;
  if (!Label.safeParse(value).success) return false;
  if (knownLabels.size >= MAX_KNOWN_LABELS) knownLabels.clear();
  knownLabels.add(value);
  return true;
}

function isIp(value: unknown): value is string {
  return typeof value === 'string' && (IPV4.test(value) || PeerIp.safeParse(value).success);
}

function isCount(value: unknown, min: number, max: number): value is number {
  return Number.isSafeInteger(value) && (value as number) >= min && (value as number) <= max;
}

/** `labels` as the schema would output it, or `undefined` when the schema must decide. */
function labelsOf(value: unknown): PeerLabels | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const source = value as Record<string, unknown>;
  let zone: string | undefined;
  let rack: string | undefined;
  let host: string | undefined;
  for (const key in source) {
    const v = source[key];
    if (key === 'zone' && isLabel(v)) zone = v;
    else if (key === 'rack' && isLabel(v)) rack = v;
    else if (key === 'host' && isLabel(v)) host = v;
    else return undefined;
  }
  const labels: PeerLabels = {};
  if (zone !== undefined) labels.zone = zone;
  if (rack !== undefined) labels.rack = rack;
  if (host !== undefined) labels.host = host;
  return labels;
}

const MAX_COUNTER = Number.MAX_SAFE_INTEGER;

/**
 * The fast check of an `AnnounceRequest`: the request as the schema would output it when every
 * field is one it recognises as valid, `undefined` when the schema has to decide.
 */
export function quickAnnounce(value: unknown): AnnounceRequest | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const source = value as Record<string, unknown>;
  let seen = 0;
  for (const key in source) {
    switch (key) {
      case 'infoHash':
      case 'peerId':
      case 'ip':
      case 'port':
      case 'uploaded':
      case 'downloaded':
      case 'left':
      case 'event':
      case 'numWant':
      case 'labels':
        seen++;
        break;
      default:
        return undefined; // unknown keys: the schema strips them
    }
  }
  const { infoHash, peerId, ip, port, uploaded, downloaded, left, event, numWant, labels } = source;
  if (
    typeof infoHash !== 'string' ||
    !isHexId(infoHash) ||
    typeof peerId !== 'string' ||
    !isHexId(peerId) ||
    !isIp(ip) ||
    !isCount(port, 1, 65535) ||
    !isCount(uploaded, 0, MAX_COUNTER) ||
    !isCount(downloaded, 0, MAX_COUNTER) ||
    !isCount(left, 0, MAX_COUNTER)
  ) {
    return undefined;
  }
  const request: AnnounceRequest = { infoHash, peerId, ip, port, uploaded, downloaded, left };
  let present = 7;
  if (event !== undefined) {
    if (event !== 'started' && event !== 'completed' && event !== 'stopped') return undefined;
    request.event = event;
    present++;
  }
  if (numWant !== undefined) {
    if (!isCount(numWant, 0, MAX_NUMWANT_ACCEPTED)) return undefined;
    request.numWant = numWant;
    present++;
  }
  if (labels !== undefined) {
    const checked = labelsOf(labels);
    if (checked === undefined) return undefined;
    request.labels = checked;
    present++;
  }
  // A key holding `undefined` cannot come from JSON; from elsewhere the schema decides.
  return seen === present ? request : undefined;
}

/**
 * An announce from NATS: the bytes as `decodeMessage(AnnounceRequest, ...)` reads them, with the
 * same errors (`BusError`) for everything it refuses.
 */
export function decodeAnnounce(bytes: Uint8Array): AnnounceRequest {
  if (bytes.length <= MAX_TRACKER_REQUEST_BYTES) {
    let json: unknown;
    try {
      json = JSON.parse(utf8.decode(bytes));
    } catch {
      json = undefined;
    }
    const request = quickAnnounce(json);
    if (request !== undefined) return request;
  }
  return decodeMessage(AnnounceRequest, bytes, MAX_TRACKER_REQUEST_BYTES);
}

/** An announce built from an HTTP query; a `TrackerError` (bad request) naming every bad field. */
export function validateAnnounce(candidate: unknown): AnnounceRequest {
  const request = quickAnnounce(candidate);
  if (request !== undefined) return request;
  const parsed = AnnounceRequest.safeParse(candidate);
  if (!parsed.success) throw badRequest(describeIssues(parsed.error));
  return parsed.data;
}

/** A stored peer record (parsed JSON), or `undefined` if it is malformed. */
export function storedPeer(value: unknown): PeerRecord | undefined {
  const record = quickStoredPeer(value);
  if (record !== undefined) return record;
  const parsed = StoredPeer.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

function quickStoredPeer(value: unknown): PeerRecord | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const source = value as Record<string, unknown>;
  for (const key in source) {
    if (
      key !== 'ip' &&
      key !== 'port' &&
      key !== 'left' &&
      key !== 'uploaded' &&
      key !== 'downloaded' &&
      key !== 'labels'
    ) {
      return undefined;
    }
  }
  const { ip, port, left, uploaded, downloaded, labels } = source;
  if (
    !isIp(ip) ||
    !isCount(port, 1, 65535) ||
    !isCount(left, 0, MAX_COUNTER) ||
    !isCount(uploaded, 0, MAX_COUNTER) ||
    !isCount(downloaded, 0, MAX_COUNTER)
  ) {
    return undefined;
  }
  const record: PeerRecord = { ip, port, left, uploaded, downloaded };
  if (labels !== undefined) {
    const checked = labelsOf(labels);
    if (checked === undefined) return undefined;
    record.labels = checked;
  }
  return record;
}
