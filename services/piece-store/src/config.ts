// Configuration from the environment, validated once at start-up: every variable, its default
// and its meaning are listed in README.md. Contradictions are refused by name.
import { networkInterfaces } from 'node:os';
import {
  envEnum,
  envInt,
  envNatsUrls,
  envPort,
  envString,
  LOG_LEVELS,
  loadConfig,
  loadNatsAuth,
  NATS_AUTH_ENV,
  type NatsAuth,
} from '@shoal/service-kit';
import { z } from 'zod';
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import { VerifyMode } from './verify.ts';

const MiB = 1024 * 1024;

const schema = z.object({
  SHOAL_DATA_DIR: envString({ default: '/var/lib/shoal/piece-store' }),
  SHOAL_NATS_URL: envNatsUrls({ default: 'nats://127.0.0.1:4222' }),
  ...NATS_AUTH_ENV,
  SHOAL_NATS_PREFIX: envString({
    default: 'shoal',
    pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    describe: 'must be dot-separated tokens of A-Z a-z 0-9 _ -',
  }),
  SHOAL_LOG_LEVEL: envEnum(LOG_LEVELS, { default: 'info' }),
  SHOAL_PIECE_STORE_GRPC_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_PIECE_STORE_GRPC_PORT: envPort({ default: 7070, allowZero: true }),
  SHOAL_PIECE_STORE_HTTP_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_PIECE_STORE_HTTP_PORT: envPort({ default: 7071, allowZero: true }),
  SHOAL_PIECE_STORE_WIRE_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_PIECE_STORE_WIRE_PORT: envPort({ default: 6881, allowZero: true }),
  SHOAL_PIECE_STORE_ADVERTISE_IP: z.ipv4().or(z.ipv6()).optional(),
  SHOAL_PIECE_STORE_REPLICA_ID: envString({
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'must be 1-64 characters of A-Z a-z 0-9 _ -',
  }).optional(),
  SHOAL_PIECE_STORE_REPLICAS: envInt({ min: 1, max: 16, default: 2 }),
  SHOAL_PIECE_STORE_HEARTBEAT_MS: envInt({ min: 100, max: 60_000, default: 2000 }),
  SHOAL_PIECE_STORE_REPLICA_TTL_MS: envInt({ min: 300, max: 600_000, default: 7000 }),
  SHOAL_PIECE_STORE_RECONCILE_MS: envInt({ min: 200, max: 3_600_000, default: 30_000 }),
  SHOAL_PIECE_STORE_COPY_CONCURRENCY: envInt({ min: 1, max: 64, default: 2 }),
  SHOAL_PIECE_STORE_COPY_TIMEOUT_MS: envInt({ min: 1000, max: 86_400_000, default: 3_600_000 }),
  SHOAL_PIECE_STORE_COPY_STALL_MS: envInt({ min: 500, max: 3_600_000, default: 60_000 }),
  SHOAL_PIECE_STORE_MAX_BYTES: envInt({ min: 0, max: Number.MAX_SAFE_INTEGER, default: 0 }),
  SHOAL_PIECE_STORE_VERIFY: envEnum([VerifyMode.Size, VerifyMode.Sample, VerifyMode.Full], {
    default: VerifyMode.Sample,
  }),
  SHOAL_PIECE_STORE_VERIFY_SAMPLE_PIECES: envInt({ min: 0, max: 10_000, default: 8 }),
  SHOAL_PIECE_STORE_INGEST_ROOT: envString().optional(),
  SHOAL_PIECE_STORE_ANNOUNCE_URL: envString({
    pattern: /^https?:\/\/[^\s]+$/,
    describe: 'must be an http:// or https:// URL',
  }).optional(),
  SHOAL_PIECE_STORE_HASH_WORKERS: envInt({ min: 1, max: 64, default: 1 }),
  SHOAL_PIECE_STORE_HASH_IN_FLIGHT_BYTES: envInt({ min: MiB, max: 1024 * MiB, default: 8 * MiB }),
  SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: envInt({ min: 0, max: Number.MAX_SAFE_INTEGER, default: 0 }),
  SHOAL_PIECE_STORE_MAX_CONNECTIONS: envInt({ min: 1, max: 100_000, default: 200 }),
  SHOAL_PIECE_STORE_MAX_CONNECTIONS_PER_TORRENT: envInt({ min: 1, max: 10_000, default: 50 }),
  SHOAL_PIECE_STORE_TOMBSTONE_TTL_MS: envInt({
    min: 0,
    max: Number.MAX_SAFE_INTEGER,
    default: 7 * 24 * 3_600_000,
  }),
  SHOAL_PIECE_STORE_ZONE: envString().optional(),
  SHOAL_PIECE_STORE_RACK: envString().optional(),
  SHOAL_PIECE_STORE_SHUTDOWN_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 15_000 }),
});

export type RawConfig = z.output<typeof schema>;

export interface PieceStoreConfig {
  dataDir: string;
  natsUrls: string[];
  natsAuth: NatsAuth;
  subjectPrefix: string;
  logLevel: (typeof LOG_LEVELS)[number];
  grpc: { host: string; port: number };
  http: { host: string; port: number };
  wire: { host: string; port: number };
  /** The IP peers and the tracker are told to reach the wire listener at. */
  advertiseIp: string;
  /** Explicit id; otherwise one is kept in the data directory. */
  replicaId: string | undefined;
  replicas: number;
  heartbeatMs: number;
  replicaTtlMs: number;
  reconcileMs: number;
  copyConcurrency: number;
  copyTimeoutMs: number;
  copyStallMs: number;
  maxBytes: number;
  verify: VerifyMode;
  verifySamplePieces: number;
  ingestRoot: string | undefined;
  announceUrl: string | undefined;
  hashWorkers: number;
  hashInFlightBytes: number;
  uploadRateLimit: number;
  maxConnections: number;
  maxConnectionsPerTorrent: number;
  tombstoneTtlMs: number;
  labels: { zone?: string; rack?: string };
  shutdownTimeoutMs: number;
}

/** Reads and validates the environment; throws one error listing every problem. */
export function loadPieceStoreConfig(
  env: Record<string, string | undefined> = process.env,
): PieceStoreConfig {
  const raw = loadConfig(schema, env, { rejectUnknownWithPrefix: 'SHOAL_PIECE_STORE_' });
  const natsAuth = loadNatsAuth(raw);
  const problems: string[] = [];
  if (raw.SHOAL_PIECE_STORE_REPLICA_TTL_MS < 2 * raw.SHOAL_PIECE_STORE_HEARTBEAT_MS) {
    problems.push(
      'SHOAL_PIECE_STORE_REPLICA_TTL_MS must be at least twice SHOAL_PIECE_STORE_HEARTBEAT_MS, or one late heartbeat drops a live replica',
    );
  }
  for (const name of ['SHOAL_PIECE_STORE_ZONE', 'SHOAL_PIECE_STORE_RACK'] as const) {
    const value = raw[name];
    if (value !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(value)) {
      problems.push(`${name} must be 1-63 characters of A-Z a-z 0-9 . _ -`);
    }
  }
  if (problems.length > 0) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidConfig,
      `invalid configuration:\n  ${problems.join('\n  ')}`,
    );
  }
  return {
    dataDir: raw.SHOAL_DATA_DIR,
    natsUrls: raw.SHOAL_NATS_URL,
    natsAuth,
    subjectPrefix: raw.SHOAL_NATS_PREFIX,
    logLevel: raw.SHOAL_LOG_LEVEL,
    grpc: { host: raw.SHOAL_PIECE_STORE_GRPC_HOST, port: raw.SHOAL_PIECE_STORE_GRPC_PORT },
    http: { host: raw.SHOAL_PIECE_STORE_HTTP_HOST, port: raw.SHOAL_PIECE_STORE_HTTP_PORT },
    wire: { host: raw.SHOAL_PIECE_STORE_WIRE_HOST, port: raw.SHOAL_PIECE_STORE_WIRE_PORT },
    advertiseIp: raw.SHOAL_PIECE_STORE_ADVERTISE_IP ?? defaultAdvertiseIp(),
    replicaId: raw.SHOAL_PIECE_STORE_REPLICA_ID,
    replicas: raw.SHOAL_PIECE_STORE_REPLICAS,
    heartbeatMs: raw.SHOAL_PIECE_STORE_HEARTBEAT_MS,
    replicaTtlMs: raw.SHOAL_PIECE_STORE_REPLICA_TTL_MS,
    reconcileMs: raw.SHOAL_PIECE_STORE_RECONCILE_MS,
    copyConcurrency: raw.SHOAL_PIECE_STORE_COPY_CONCURRENCY,
    copyTimeoutMs: raw.SHOAL_PIECE_STORE_COPY_TIMEOUT_MS,
    copyStallMs: raw.SHOAL_PIECE_STORE_COPY_STALL_MS,
    maxBytes: raw.SHOAL_PIECE_STORE_MAX_BYTES,
    verify: raw.SHOAL_PIECE_STORE_VERIFY,
    verifySamplePieces: raw.SHOAL_PIECE_STORE_VERIFY_SAMPLE_PIECES,
    ingestRoot: raw.SHOAL_PIECE_STORE_INGEST_ROOT,
    announceUrl: raw.SHOAL_PIECE_STORE_ANNOUNCE_URL,
    hashWorkers: raw.SHOAL_PIECE_STORE_HASH_WORKERS,
    hashInFlightBytes: raw.SHOAL_PIECE_STORE_HASH_IN_FLIGHT_BYTES,
    uploadRateLimit: raw.SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT,
    maxConnections: raw.SHOAL_PIECE_STORE_MAX_CONNECTIONS,
    maxConnectionsPerTorrent: raw.SHOAL_PIECE_STORE_MAX_CONNECTIONS_PER_TORRENT,
    tombstoneTtlMs: raw.SHOAL_PIECE_STORE_TOMBSTONE_TTL_MS,
    labels: {
      ...(raw.SHOAL_PIECE_STORE_ZONE === undefined ? {} : { zone: raw.SHOAL_PIECE_STORE_ZONE }),
      ...(raw.SHOAL_PIECE_STORE_RACK === undefined ? {} : { rack: raw.SHOAL_PIECE_STORE_RACK }),
    },
    shutdownTimeoutMs: raw.SHOAL_PIECE_STORE_SHUTDOWN_TIMEOUT_MS,
  };
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
