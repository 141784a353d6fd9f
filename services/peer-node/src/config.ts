// Configuration from the environment, validated once at start-up. Every variable, its default
// and its meaning are in README.md; contradictions are refused by name.
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SUBJECT_PREFIX, LabelKey, MAX_NODE_LABELS, NodeLabels } from '@shoal/bus';
import {
  envBool,
  envEnum,
  envInt,
  envNatsUrls,
  envPort,
  envString,
  LOG_LEVELS,
  type LogLevel,
  loadConfig,
  loadNatsAuth,
  NATS_AUTH_ENV,
  type NatsAuth,
} from '@shoal/service-kit';
import { z } from 'zod';
import { PeerNodeError, PeerNodeErrorCode } from './errors.ts';
import { parseSeedingPolicy, type SeedingPolicy } from './seeding-policy.ts';

const LABEL_VALUE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const MAX_RATE = Number.MAX_SAFE_INTEGER;
const ABSOLUTE = { pattern: /^\//, describe: 'must be an absolute path' };

/** A string variable checked by `check`, which returns the problem or `undefined`. */
function checked<S extends z.ZodType<string | undefined>>(
  schema: S,
  check: (value: string) => string | undefined,
): S {
  return schema.superRefine((value, context) => {
    const problem = value === undefined ? undefined : check(value);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  });
}

const schema = z.object({
  SHOAL_NATS_URL: envNatsUrls({ default: 'nats://127.0.0.1:4222' }),
  ...NATS_AUTH_ENV,
  SHOAL_NATS_PREFIX: envString({
    default: DEFAULT_SUBJECT_PREFIX,
    pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    describe: 'must be dot-separated tokens of A-Z a-z 0-9 _ -',
  }),
  SHOAL_DATA_DIR: envString({ default: '/var/lib/shoal/peer-node', ...ABSOLUTE }),
  SHOAL_NODE_ID: envString({
    pattern: LABEL_VALUE,
    describe: 'must be 1-63 of A-Z a-z 0-9 . _ -',
  }).optional(),
  SHOAL_GRPC_SOCKET: envString(ABSOLUTE).optional(),
  SHOAL_GRPC_ADDRESS: envString({
    pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
    describe: 'must be host:port (port 0 picks a free one)',
  }).optional(),
  SHOAL_WIRE_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_WIRE_PORT: envPort({ default: 6881, allowZero: true }),
  SHOAL_ADVERTISE_IP: z.ipv4().or(z.ipv6()).optional(),
  SHOAL_HTTP_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_HTTP_PORT: envPort({ default: 7072, allowZero: true }),
  SHOAL_ZONE: envString({
    pattern: LABEL_VALUE,
    describe: 'must be 1-63 of A-Z a-z 0-9 . _ -',
  }).optional(),
  SHOAL_RACK: envString({
    pattern: LABEL_VALUE,
    describe: 'must be 1-63 of A-Z a-z 0-9 . _ -',
  }).optional(),
  SHOAL_HOST: envString({
    pattern: LABEL_VALUE,
    describe: 'must be 1-63 of A-Z a-z 0-9 . _ -',
  }).optional(),
  SHOAL_LABELS: checked(envString().optional(), (text) => {
    const problems: string[] = [];
    parseLabels(text, problems);
    return problems.length === 0 ? undefined : problems.join('; ');
  }),
  SHOAL_UPLOAD_RATE_LIMIT: envInt({ min: 0, max: MAX_RATE, default: 0 }),
  SHOAL_DOWNLOAD_RATE_LIMIT: envInt({ min: 0, max: MAX_RATE, default: 0 }),
  SHOAL_MAX_CONNECTIONS: envInt({ min: 1, max: 100_000, default: 200 }),
  SHOAL_MAX_CONNECTIONS_PER_TORRENT: envInt({ min: 1, max: 10_000, default: 50 }),
  SHOAL_MAX_TORRENTS: envInt({ min: 1, max: 100_000, default: 1000 }),
  SHOAL_UNCHOKE_SLOTS: envInt({ min: 1, max: 1000, default: 8 }),
  SHOAL_SEEDING_POLICY: checked(envString({ default: 'while-needed' }), (text) => {
    try {
      parseSeedingPolicy(text, 0);
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }),
  SHOAL_SEEDING_GRACE_S: envInt({ min: 0, max: 30 * 86_400, default: 300 }),
  SHOAL_PIECE_STORE_ADDRESS: envString({
    pattern: /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/,
    describe: 'must be host:port',
  }).optional(),
  SHOAL_DISTRIBUTE_DIR: envString(ABSOLUTE).optional(),
  SHOAL_METADATA_TIMEOUT_S: envInt({ min: 1, max: 86_400, default: 60 }),
  SHOAL_STALL_TIMEOUT_S: envInt({ min: 5, max: 7 * 86_400, default: 600 }),
  SHOAL_RESUME_INTERVAL_S: envInt({ min: 1, max: 3600, default: 5 }),
  SHOAL_PRESENCE_INTERVAL_S: envInt({ min: 1, max: 3600, default: 10 }),
  SHOAL_PROGRESS_INTERVAL_MS: envInt({ min: 100, max: 60_000, default: 1000 }),
  SHOAL_SHUTDOWN_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 15_000 }),
  SHOAL_LOG_LEVEL: envEnum(LOG_LEVELS, { default: 'info' }),
  /** Unlocks the SHOAL_TEST_* flags below; they exist only for fault tests. */
  SHOAL_ALLOW_TEST_FLAGS: envBool({ default: false }),
  /** Test only: every block this node uploads has a byte flipped (a misbehaving peer). */
  SHOAL_TEST_CORRUPT_UPLOADS: envBool({ default: false }),
});

export interface PeerNodeConfig {
  natsServers: string[];
  natsAuth: NatsAuth;
  subjectPrefix: string;
  dataDir: string;
  nodeId: string;
  /** Unix socket path of the gRPC API. */
  grpcSocket: string;
  /** Optional TCP `host:port` of the gRPC API, in addition to the socket. */
  grpcAddress: string | undefined;
  wire: { host: string; port: number };
  /** The IP the tracker hands out for this node's wire listener. */
  advertiseIp: string;
  http: { host: string; port: number };
  /** `zone`, `rack`, `host` and the extra labels; `node` is the node id. */
  labels: Record<string, string>;
  uploadRateLimit: number;
  downloadRateLimit: number;
  maxConnections: number;
  maxConnectionsPerTorrent: number;
  /** Peers each torrent uploads to at once (regular unchoke), plus one optimistic. */
  unchokeSlots: number;
  maxTorrents: number;
  seedingPolicy: SeedingPolicy;
  pieceStoreAddress: string | undefined;
  distributeDir: string;
  metadataTimeoutMs: number;
  stallTimeoutMs: number;
  resumeIntervalMs: number;
  /** Test only (SHOAL_TEST_CORRUPT_UPLOADS): serve corrupted blocks. */
  corruptUploads: boolean;
  presenceIntervalMs: number;
  progressIntervalMs: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
}

function invalid(problems: string[]): PeerNodeError {
  return new PeerNodeError(
    PeerNodeErrorCode.InvalidConfig,
    `invalid configuration, ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
  );
}

/**
 * `key=value,key=value` to labels. Keys are lowercase label keys; values are label values.
 * Returns the labels or pushes what is wrong onto `problems`.
 */
export function parseLabels(text: string, problems: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const term = part.trim();
    if (term === '') continue;
    const equals = term.indexOf('=');
    const key = term.slice(0, equals).trim();
    const value = term.slice(equals + 1).trim();
    if (equals === -1 || !LabelKey.safeParse(key).success || !LABEL_VALUE.test(value)) {
      problems.push(
        `SHOAL_LABELS: ${JSON.stringify(term)} is not key=value (key: a-z 0-9 . _ -, value: A-Z a-z 0-9 . _ -)`,
      );
      continue;
    }
    if (Object.hasOwn(labels, key)) problems.push(`SHOAL_LABELS: ${key} given twice`);
    labels[key] = value;
  }
  return labels;
}

/** Reads and validates the environment; throws one `PeerNodeError` listing every problem. */
export function loadPeerNodeConfig(
  env: Record<string, string | undefined> = process.env,
): PeerNodeConfig {
  let raw: z.output<typeof schema>;
  let natsAuth: NatsAuth;
  try {
    raw = loadConfig(schema, env);
    natsAuth = loadNatsAuth(raw);
  } catch (error) {
    throw new PeerNodeError(
      PeerNodeErrorCode.InvalidConfig,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  const problems: string[] = [];
  const dataDir = raw.SHOAL_DATA_DIR;
  const grpcSocket = raw.SHOAL_GRPC_SOCKET ?? join(dataDir, 'peer-node.sock');
  // sun_path holds 108 bytes including the terminating NUL.
  if (Buffer.byteLength(grpcSocket) > 107) {
    problems.push(`SHOAL_GRPC_SOCKET: ${grpcSocket} is longer than the 107 bytes a socket allows`);
  }
  const distributeDir = raw.SHOAL_DISTRIBUTE_DIR ?? join(dataDir, 'artifacts');

  const nodeId = raw.SHOAL_NODE_ID ?? raw.SHOAL_HOST ?? defaultNodeId();
  const labels = parseLabels(raw.SHOAL_LABELS ?? '', problems);
  for (const [key, variable] of [
    ['zone', 'SHOAL_ZONE'],
    ['rack', 'SHOAL_RACK'],
    ['host', 'SHOAL_HOST'],
  ] as const) {
    const value = raw[variable];
    if (value === undefined) continue;
    if (Object.hasOwn(labels, key) && labels[key] !== value) {
      problems.push(`${variable} (${value}) contradicts ${key}=${labels[key]} in SHOAL_LABELS`);
    }
    labels[key] = value;
  }
  if (Object.hasOwn(labels, 'node') && labels.node !== nodeId) {
    problems.push(`SHOAL_LABELS: node=${labels.node} contradicts the node id ${nodeId}`);
  }
  labels.node = nodeId;
  if (Object.keys(labels).length > MAX_NODE_LABELS) {
    problems.push(`SHOAL_LABELS: at most ${MAX_NODE_LABELS} labels including zone, rack, host`);
  }
  if (!NodeLabels.safeParse(labels).success) problems.push('SHOAL_LABELS: invalid labels');

  const seedingPolicy = parseSeedingPolicy(raw.SHOAL_SEEDING_POLICY, raw.SHOAL_SEEDING_GRACE_S);
  if (raw.SHOAL_MAX_CONNECTIONS_PER_TORRENT > raw.SHOAL_MAX_CONNECTIONS) {
    problems.push(
      `SHOAL_MAX_CONNECTIONS_PER_TORRENT (${raw.SHOAL_MAX_CONNECTIONS_PER_TORRENT}) exceeds SHOAL_MAX_CONNECTIONS (${raw.SHOAL_MAX_CONNECTIONS})`,
    );
  }
  if (raw.SHOAL_TEST_CORRUPT_UPLOADS && !raw.SHOAL_ALLOW_TEST_FLAGS) {
    problems.push('SHOAL_TEST_CORRUPT_UPLOADS is a test flag: it needs SHOAL_ALLOW_TEST_FLAGS=1');
  }
  if (problems.length > 0) throw invalid(problems);

  return {
    natsServers: raw.SHOAL_NATS_URL,
    natsAuth,
    subjectPrefix: raw.SHOAL_NATS_PREFIX,
    dataDir,
    nodeId,
    grpcSocket,
    grpcAddress: raw.SHOAL_GRPC_ADDRESS,
    wire: { host: raw.SHOAL_WIRE_HOST, port: raw.SHOAL_WIRE_PORT },
    advertiseIp: raw.SHOAL_ADVERTISE_IP ?? defaultAdvertiseIp(),
    http: { host: raw.SHOAL_HTTP_HOST, port: raw.SHOAL_HTTP_PORT },
    labels,
    uploadRateLimit: raw.SHOAL_UPLOAD_RATE_LIMIT,
    downloadRateLimit: raw.SHOAL_DOWNLOAD_RATE_LIMIT,
    maxConnections: raw.SHOAL_MAX_CONNECTIONS,
    maxConnectionsPerTorrent: raw.SHOAL_MAX_CONNECTIONS_PER_TORRENT,
    unchokeSlots: raw.SHOAL_UNCHOKE_SLOTS,
    maxTorrents: raw.SHOAL_MAX_TORRENTS,
    seedingPolicy,
    pieceStoreAddress: raw.SHOAL_PIECE_STORE_ADDRESS,
    distributeDir,
    metadataTimeoutMs: raw.SHOAL_METADATA_TIMEOUT_S * 1000,
    stallTimeoutMs: raw.SHOAL_STALL_TIMEOUT_S * 1000,
    resumeIntervalMs: raw.SHOAL_RESUME_INTERVAL_S * 1000,
    corruptUploads: raw.SHOAL_TEST_CORRUPT_UPLOADS,
    presenceIntervalMs: raw.SHOAL_PRESENCE_INTERVAL_S * 1000,
    progressIntervalMs: raw.SHOAL_PROGRESS_INTERVAL_MS,
    shutdownTimeoutMs: raw.SHOAL_SHUTDOWN_TIMEOUT_MS,
    logLevel: raw.SHOAL_LOG_LEVEL,
  };
}

/** The machine's host name as a label value. */
function defaultNodeId(): string {
  const name = hostname()
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return name === '' ? 'peer-node' : name;
}

/** The first non-internal IPv4 address, else loopback. */
function defaultAdvertiseIp(): string {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}
