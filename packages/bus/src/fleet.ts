// Fleet commands: one caller asks every peer-node matching a label selector to fetch an
// artifact (`distribute`), and follows the whole fleet through per-node progress reports.
// Nodes also publish presence heartbeats with their labels, and answer presence queries, so a
// caller can tell how many nodes a selector matches before and while it distributes.
import { z } from 'zod';
import { decodeMessage, encodeMessage } from './codec.ts';
import { BusError, BusErrorCode } from './errors.ts';
import { HexId } from './ids.ts';
import { MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES, TorrentBase64 } from './piece-store.ts';
import { createSubjects, subjectToken } from './subjects.ts';
import { Label, PeerIp } from './tracker.ts';

/** Most labels one node carries. */
export const MAX_NODE_LABELS = 32;
/** Most `key=value` terms in one selector. */
export const MAX_SELECTOR_TERMS = 32;
/** Longest selector text. */
export const MAX_SELECTOR_LENGTH = 2048;
/** Largest distribute command: it may carry the .torrent itself. */
export const MAX_DISTRIBUTE_BYTES = MAX_PIECE_STORE_TORRENT_MESSAGE_BYTES + 4096;
/** Largest progress report. */
export const MAX_FLEET_PROGRESS_BYTES = 4096;
/** Largest presence heartbeat (32 labels of 63 + 63 characters fit). */
export const MAX_NODE_PRESENCE_BYTES = 8192;
/** Longest error text in a progress report. */
export const MAX_FLEET_ERROR_LENGTH = 1000;

const Count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A label key: lowercase, DNS-label-like (`zone`, `rack`, `host`, `gpu`, `team.ml`...). */
export const LabelKey = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1-63 characters of a-z 0-9 . _ -');

/** A node's labels: `zone`, `rack`, `host` and any others the operator sets. */
export const NodeLabels = z
  .record(LabelKey, Label)
  .refine((labels) => Object.keys(labels).length <= MAX_NODE_LABELS, {
    message: `at most ${MAX_NODE_LABELS} labels`,
  });
export type NodeLabels = z.infer<typeof NodeLabels>;

/** A node's id: a label value, so it can also be selected on as `node=<id>`. */
export const NodeId = Label;

/** A distribution's id; one subject token, so it names the progress subject. */
export const CommandId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ -');

export interface SelectorTerm {
  readonly key: string;
  readonly value: string;
}

/**
 * Parses a label selector `key=value,key=value`: a node matches when it has every pair (AND).
 * Spaces around terms are ignored; the empty selector matches every node. Throws
 * `BusError(InvalidMessage)` naming the bad term.
 */
export function parseSelector(text: string): SelectorTerm[] {
  if (text.length > MAX_SELECTOR_LENGTH) {
    throw new BusError(
      BusErrorCode.InvalidMessage,
      `selector: longer than ${MAX_SELECTOR_LENGTH} characters`,
    );
  }
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const parts = trimmed.split(',');
  if (parts.length > MAX_SELECTOR_TERMS) {
    throw new BusError(
      BusErrorCode.InvalidMessage,
      `selector: ${parts.length} terms, at most ${MAX_SELECTOR_TERMS}`,
    );
  }
  return parts.map((part) => {
    const term = part.trim();
    const equals = term.indexOf('=');
    const key = equals === -1 ? term : term.slice(0, equals).trim();
    const value = equals === -1 ? '' : term.slice(equals + 1).trim();
    if (equals === -1 || !LabelKey.safeParse(key).success || !Label.safeParse(value).success) {
      throw new BusError(
        BusErrorCode.InvalidMessage,
        `selector: ${JSON.stringify(term)} is not key=value (key: a-z 0-9 . _ -, value: A-Z a-z 0-9 . _ -)`,
      );
    }
    return { key, value };
  });
}

/** Whether `labels` has every `key=value` of `selector` (text or parsed). */
export function matchesSelector(
  labels: Readonly<Record<string, string>>,
  selector: string | readonly SelectorTerm[],
): boolean {
  const terms = typeof selector === 'string' ? parseSelector(selector) : selector;
  return terms.every(({ key, value }) => Object.hasOwn(labels, key) && labels[key] === value);
}

/** A selector as text, for logs and messages. */
export const LabelSelector = z
  .string()
  .max(MAX_SELECTOR_LENGTH)
  .refine(
    (text) => {
      try {
        parseSelector(text);
        return true;
      } catch {
        return false;
      }
    },
    { message: 'must be key=value terms separated by commas' },
  );

/**
 * "Every node matching `selector`: fetch `infoHash`." Nodes take the .torrent from `torrent`
 * when present, else from the piece-store (or BEP 9 from the swarm), and report on
 * `progress(commandId)`. Subscribe to that subject before publishing the command.
 */
export const DistributeCommand = z.object({
  commandId: CommandId,
  infoHash: HexId,
  selector: LabelSelector,
  torrent: TorrentBase64.optional(),
  /** Sender's clock, ms since the epoch. */
  at: Count,
});
export type DistributeCommand = z.infer<typeof DistributeCommand>;

export const FleetProgressState = z.enum([
  /** The node matched the selector and started. */
  'accepted',
  /** Getting the .torrent. */
  'metadata',
  'downloading',
  /** Checking the whole-file SHA-256. */
  'verifying',
  /** Held, verified, at `path`: the node's last report for the command. */
  'complete',
  /** Gave up; `error` says why. Also a last report. */
  'failed',
]);
export type FleetProgressState = z.infer<typeof FleetProgressState>;

/** One node's progress on one distribution, published every second or so until it ends. */
export const FleetProgress = z.object({
  commandId: CommandId,
  nodeId: NodeId,
  infoHash: HexId,
  state: FleetProgressState,
  bytesDone: Count,
  bytesTotal: Count,
  rateBytesPerS: z.number().min(0),
  peers: Count,
  /** Seconds left at the current rate; absent when unknown. */
  etaS: z.number().min(0).optional(),
  bytesFromOrigin: Count,
  bytesFromPeers: Count,
  /** Where the artifact lies on the node, once complete. */
  path: z.string().max(4096).optional(),
  error: z.string().max(MAX_FLEET_ERROR_LENGTH).optional(),
  at: Count,
});
export type FleetProgress = z.infer<typeof FleetProgress>;

/** Published by every node every few seconds, once with `leaving` when it shuts down. */
export const NodePresence = z.object({
  nodeId: NodeId,
  labels: NodeLabels,
  wireIp: PeerIp,
  wirePort: z.number().int().min(1).max(65535),
  torrents: Count,
  downloading: Count,
  seeding: Count,
  uploadedBytes: Count,
  downloadedBytes: Count,
  /** When this process started, ms since the epoch. */
  startedAt: Count,
  leaving: z.boolean().optional(),
  at: Count,
});
export type NodePresence = z.infer<typeof NodePresence>;

/**
 * Every fleet subject under `prefix` (default `shoal`):
 * - `distribute`: pub/sub, `DistributeCommand`, to every node;
 * - `progress(commandId)`: pub/sub, `FleetProgress` from each node working on the command;
 * - `presence`: pub/sub, `NodePresence` heartbeats;
 * - `presenceQuery`: publish with a reply subject; every node answers with its `NodePresence`.
 */
export function createFleetSubjects(prefix?: string) {
  const p = `${createSubjects(prefix).prefix}.fleet`;
  return {
    distribute: `${p}.distribute`,
    progress: (commandId: string) => `${p}.progress.${subjectToken(commandId)}`,
    progressAll: `${p}.progress.*`,
    presence: `${p}.presence`,
    presenceQuery: `${p}.presence-query`,
  } as const;
}
export type FleetSubjects = ReturnType<typeof createFleetSubjects>;

export function encodeDistributeCommand(command: DistributeCommand): Uint8Array {
  return encodeMessage(DistributeCommand, command, MAX_DISTRIBUTE_BYTES);
}

export function decodeDistributeCommand(bytes: Uint8Array): DistributeCommand {
  return decodeMessage(DistributeCommand, bytes, MAX_DISTRIBUTE_BYTES);
}

export function encodeFleetProgress(progress: FleetProgress): Uint8Array {
  return encodeMessage(FleetProgress, progress, MAX_FLEET_PROGRESS_BYTES);
}

export function decodeFleetProgress(bytes: Uint8Array): FleetProgress {
  return decodeMessage(FleetProgress, bytes, MAX_FLEET_PROGRESS_BYTES);
}

export function encodeNodePresence(presence: NodePresence): Uint8Array {
  return encodeMessage(NodePresence, presence, MAX_NODE_PRESENCE_BYTES);
}

export function decodeNodePresence(bytes: Uint8Array): NodePresence {
  return decodeMessage(NodePresence, bytes, MAX_NODE_PRESENCE_BYTES);
}
