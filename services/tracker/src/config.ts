import { hostname } from 'node:os';
import { DEFAULT_SUBJECT_PREFIX } from '@shoal/bus';
import {
  envBool,
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
  ServiceKitError,
  ServiceKitErrorCode,
} from '@shoal/service-kit';
import { z } from 'zod';
import { HANDOUT_POLICIES, type HandoutPolicyName } from './handout.ts';

const DAY_S = 86_400;
const policyNames = Object.keys(HANDOUT_POLICIES) as [HandoutPolicyName, ...HandoutPolicyName[]];

/** Every variable the tracker reads, with its default (see README.md for the table). */
export const TrackerEnv = z.object({
  SHOAL_NATS_URL: envNatsUrls({ default: 'nats://127.0.0.1:4222' }),
  ...NATS_AUTH_ENV,
  SHOAL_NATS_PREFIX: envString({
    default: DEFAULT_SUBJECT_PREFIX,
    pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    describe: 'must be dot-separated tokens of A-Z a-z 0-9 _ -',
  }),
  SHOAL_KV_BUCKET: envString({
    default: 'shoal-tracker',
    pattern: /^[A-Za-z0-9_-]{1,48}$/,
    describe: 'must be 1-48 characters of A-Z a-z 0-9 _ -',
  }),
  SHOAL_ANNOUNCE_INTERVAL_S: envInt({ min: 1, max: DAY_S, default: 60 }),
  SHOAL_PEER_TTL_S: envInt({ min: 2, max: 7 * DAY_S }).optional(),
  SHOAL_SWARM_RETENTION_S: envInt({ min: 60, max: 365 * DAY_S, default: 7 * DAY_S }),
  SHOAL_STATS_INTERVAL_S: envInt({ min: 1, max: 3600, default: 5 }),
  SHOAL_TRACKER_HTTP_HOST: envString({ default: '127.0.0.1' }),
  SHOAL_TRACKER_HTTP_PORT: envPort({ default: 6969, allowZero: true }),
  SHOAL_TRACKER_HANDOUT_POLICY: envEnum(policyNames, { default: 'locality' }),
  SHOAL_TRACKER_HTTP_RATE_PER_IP: envInt({ min: 0, max: 10_000_000, default: 50 }),
  SHOAL_TRACKER_HTTP_BURST_PER_IP: envInt({ min: 1, max: 10_000_000, default: 200 }),
  SHOAL_TRACKER_NATS_RATE_PER_PEER: envInt({ min: 0, max: 10_000_000, default: 2 }),
  SHOAL_TRACKER_NATS_BURST_PER_PEER: envInt({ min: 1, max: 10_000_000, default: 10 }),
  SHOAL_TRACKER_TRUST_IP_PARAM: envBool({ default: false }),
  SHOAL_TRACKER_MAX_PEERS_PER_SWARM: envInt({ min: 1, max: 10_000_000, default: 50_000 }),
  SHOAL_TRACKER_MAX_SWARMS: envInt({ min: 1, max: 10_000_000, default: 100_000 }),
  SHOAL_TRACKER_MAX_INFLIGHT: envInt({ min: 1, max: 1_000_000, default: 10_000 }),
  SHOAL_TRACKER_REPLICA_ID: envString({
    default: `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64),
    pattern: /^[A-Za-z0-9_-]{1,64}$/,
    describe: 'must be 1-64 characters of A-Z a-z 0-9 _ -',
  }),
  SHOAL_LOG_LEVEL: envEnum(LOG_LEVELS, { default: 'info' }),
});

export interface TrackerConfig {
  natsServers: string[];
  natsAuth: NatsAuth;
  subjectPrefix: string;
  bucketBase: string;
  intervalS: number;
  minIntervalS: number;
  peerTtlMs: number;
  swarmRetentionMs: number;
  statsIntervalMs: number;
  httpHost: string;
  httpPort: number;
  handoutPolicy: HandoutPolicyName;
  httpRatePerIp: number;
  httpBurstPerIp: number;
  natsRatePerPeer: number;
  natsBurstPerPeer: number;
  trustIpParam: boolean;
  maxPeersPerSwarm: number;
  maxSwarms: number;
  maxInflight: number;
  replicaId: string;
  logLevel: (typeof LOG_LEVELS)[number];
}

/** Reads and checks the environment; throws one `ServiceKitError` listing every problem. */
export function loadTrackerConfig(env: Record<string, string | undefined>): TrackerConfig {
  const raw = loadConfig(TrackerEnv, env, { rejectUnknownWithPrefix: 'SHOAL_TRACKER_' });
  const natsAuth = loadNatsAuth(raw);
  const intervalS = raw.SHOAL_ANNOUNCE_INTERVAL_S;
  const peerTtlS = raw.SHOAL_PEER_TTL_S ?? 2 * intervalS;
  if (peerTtlS <= intervalS) {
    throw new ServiceKitError(
      ServiceKitErrorCode.InvalidConfig,
      `invalid configuration, 1 problem:\n  SHOAL_PEER_TTL_S: must be longer than SHOAL_ANNOUNCE_INTERVAL_S (${intervalS}), or peers would expire between announces (got ${peerTtlS})`,
    );
  }
  return {
    natsServers: raw.SHOAL_NATS_URL,
    natsAuth,
    subjectPrefix: raw.SHOAL_NATS_PREFIX,
    bucketBase: raw.SHOAL_KV_BUCKET,
    intervalS,
    minIntervalS: Math.max(1, Math.floor(intervalS / 4)),
    peerTtlMs: peerTtlS * 1000,
    swarmRetentionMs: raw.SHOAL_SWARM_RETENTION_S * 1000,
    statsIntervalMs: raw.SHOAL_STATS_INTERVAL_S * 1000,
    httpHost: raw.SHOAL_TRACKER_HTTP_HOST,
    httpPort: raw.SHOAL_TRACKER_HTTP_PORT,
    handoutPolicy: raw.SHOAL_TRACKER_HANDOUT_POLICY,
    httpRatePerIp: raw.SHOAL_TRACKER_HTTP_RATE_PER_IP,
    httpBurstPerIp: raw.SHOAL_TRACKER_HTTP_BURST_PER_IP,
    natsRatePerPeer: raw.SHOAL_TRACKER_NATS_RATE_PER_PEER,
    natsBurstPerPeer: raw.SHOAL_TRACKER_NATS_BURST_PER_PEER,
    trustIpParam: raw.SHOAL_TRACKER_TRUST_IP_PARAM,
    maxPeersPerSwarm: raw.SHOAL_TRACKER_MAX_PEERS_PER_SWARM,
    maxSwarms: raw.SHOAL_TRACKER_MAX_SWARMS,
    maxInflight: raw.SHOAL_TRACKER_MAX_INFLIGHT,
    replicaId: raw.SHOAL_TRACKER_REPLICA_ID,
    logLevel: raw.SHOAL_LOG_LEVEL,
  };
}
