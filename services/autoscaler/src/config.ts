// Configuration from the environment, validated once at start-up (README.md lists every
// variable with its default). Contradictions are refused by name.
import { hostname } from 'node:os';
import { DEFAULT_SUBJECT_PREFIX } from '@shoal/bus';
import {
  envBool,
  envEnum,
  envInt,
  envNatsUrls,
  envNumber,
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
import { AutoscalerError, AutoscalerErrorCode } from './errors.ts';
import type { ScalingPolicy } from './policy.ts';

// A Kubernetes object name (RFC 1123 subdomain) and namespace (RFC 1123 label).
const OBJECT_NAME = {
  pattern: /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
  describe: 'must be a Kubernetes object name (lowercase a-z 0-9 - ., at most 253)',
};
const NAMESPACE = {
  pattern: /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
  describe: 'must be a Kubernetes namespace name (lowercase a-z 0-9 -, at most 63)',
};
const HOUR_S = 3600;

/** Every variable the autoscaler reads, with its default. */
export const AutoscalerEnv = z.object({
  SHOAL_NATS_URL: envNatsUrls({ default: 'nats://127.0.0.1:4222' }),
  ...NATS_AUTH_ENV,
  SHOAL_NATS_PREFIX: envString({
    default: DEFAULT_SUBJECT_PREFIX,
    pattern: /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
    describe: 'must be dot-separated tokens of A-Z a-z 0-9 _ -',
  }),
  SHOAL_LOG_LEVEL: envEnum(LOG_LEVELS, { default: 'info' }),
  SHOAL_AUTOSCALER_NAMESPACE: envString(NAMESPACE),
  SHOAL_AUTOSCALER_STATEFULSET: envString(OBJECT_NAME),
  SHOAL_AUTOSCALER_LEASE_NAME: envString({ default: 'shoal-autoscaler', ...OBJECT_NAME }),
  SHOAL_AUTOSCALER_IDENTITY: envString({
    default: `${hostname()}-${process.pid}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128),
    pattern: /^[A-Za-z0-9._-]{1,128}$/,
    describe: 'must be 1-128 characters of A-Z a-z 0-9 . _ -',
  }),
  SHOAL_AUTOSCALER_KUBECONFIG: envString({
    pattern: /^\//,
    describe: 'must be an absolute path',
  }).optional(),
  SHOAL_AUTOSCALER_MIN_REPLICAS: envInt({ min: 0, max: 1000, default: 2 }),
  SHOAL_AUTOSCALER_MAX_REPLICAS: envInt({ min: 1, max: 1000, default: 10 }),
  SHOAL_AUTOSCALER_LEECHERS_PER_REPLICA: envInt({ min: 1, max: 1_000_000, default: 50 }),
  SHOAL_AUTOSCALER_EGRESS_BYTES_PER_REPLICA: envInt({
    min: 1,
    max: Number.MAX_SAFE_INTEGER,
    default: 125_000_000,
  }),
  SHOAL_AUTOSCALER_DRAIN_TARGET_S: envInt({ min: 1, max: 24 * HOUR_S, default: 120 }),
  SHOAL_AUTOSCALER_DEMAND_THRESHOLD: envNumber({ min: 0, max: 1_000_000, default: 1 }),
  SHOAL_AUTOSCALER_SCALE_DOWN_WINDOW_S: envInt({ min: 0, max: 24 * HOUR_S, default: 300 }),
  SHOAL_AUTOSCALER_INTERVAL_MS: envInt({ min: 100, max: 600_000, default: 5000 }),
  SHOAL_AUTOSCALER_STATS_MAX_AGE_S: envInt({ min: 1, max: HOUR_S, default: 30 }),
  SHOAL_AUTOSCALER_MAX_SWARMS: envInt({ min: 1, max: 10_000_000, default: 100_000 }),
  SHOAL_AUTOSCALER_DRY_RUN: envBool({ default: false }),
  SHOAL_AUTOSCALER_LEASE_DURATION_S: envInt({ min: 1, max: HOUR_S, default: 15 }),
  SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS: envInt({
    min: 100,
    max: HOUR_S * 1000,
    default: 10_000,
  }),
  SHOAL_AUTOSCALER_LEASE_RETRY_MS: envInt({ min: 50, max: HOUR_S * 1000, default: 2000 }),
  SHOAL_AUTOSCALER_API_TIMEOUT_MS: envInt({ min: 100, max: 600_000, default: 5000 }),
  SHOAL_AUTOSCALER_API_ATTEMPTS: envInt({ min: 1, max: 20, default: 5 }),
  SHOAL_AUTOSCALER_HTTP_HOST: envString({ default: '0.0.0.0' }),
  SHOAL_AUTOSCALER_HTTP_PORT: envPort({ default: 7073, allowZero: true }),
});

export interface AutoscalerConfig {
  natsServers: string[];
  natsAuth: NatsAuth;
  subjectPrefix: string;
  logLevel: LogLevel;
  namespace: string;
  statefulSet: string;
  leaseName: string;
  identity: string;
  /** A kubeconfig file; unset: `KUBECONFIG`, `~/.kube/config`, then the in-cluster account. */
  kubeconfig: string | undefined;
  policy: ScalingPolicy;
  demandThreshold: number;
  intervalMs: number;
  statsMaxAgeMs: number;
  maxSwarms: number;
  dryRun: boolean;
  lease: { durationS: number; renewDeadlineMs: number; retryMs: number };
  apiTimeoutMs: number;
  apiAttempts: number;
  http: { host: string; port: number };
}

/** Reads and checks the environment; throws one `AutoscalerError` listing every problem. */
export function loadAutoscalerConfig(
  env: Record<string, string | undefined> = process.env,
): AutoscalerConfig {
  let raw: z.output<typeof AutoscalerEnv>;
  let natsAuth: NatsAuth;
  try {
    raw = loadConfig(AutoscalerEnv, env, { rejectUnknownWithPrefix: 'SHOAL_AUTOSCALER_' });
    natsAuth = loadNatsAuth(raw);
  } catch (error) {
    throw new AutoscalerError(
      AutoscalerErrorCode.InvalidConfig,
      error instanceof Error ? error.message : String(error),
      { cause: error },
    );
  }
  const problems: string[] = [];
  if (raw.SHOAL_AUTOSCALER_MIN_REPLICAS > raw.SHOAL_AUTOSCALER_MAX_REPLICAS) {
    problems.push(
      `SHOAL_AUTOSCALER_MIN_REPLICAS (${raw.SHOAL_AUTOSCALER_MIN_REPLICAS}) exceeds SHOAL_AUTOSCALER_MAX_REPLICAS (${raw.SHOAL_AUTOSCALER_MAX_REPLICAS})`,
    );
  }
  const durationMs = raw.SHOAL_AUTOSCALER_LEASE_DURATION_S * 1000;
  const renewDeadlineMs = raw.SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS;
  const retryMs = raw.SHOAL_AUTOSCALER_LEASE_RETRY_MS;
  // As in client-go: a leader must give up before another may take over, and must be able to
  // try more than once before it gives up.
  if (renewDeadlineMs >= durationMs) {
    problems.push(
      `SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS (${renewDeadlineMs}) must be shorter than SHOAL_AUTOSCALER_LEASE_DURATION_S (${durationMs} ms)`,
    );
  }
  if (retryMs * 2 > renewDeadlineMs) {
    problems.push(
      `SHOAL_AUTOSCALER_LEASE_RETRY_MS (${retryMs}) must be at most half of SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS (${renewDeadlineMs})`,
    );
  }
  if (raw.SHOAL_AUTOSCALER_API_TIMEOUT_MS >= renewDeadlineMs) {
    problems.push(
      `SHOAL_AUTOSCALER_API_TIMEOUT_MS (${raw.SHOAL_AUTOSCALER_API_TIMEOUT_MS}) must be shorter than SHOAL_AUTOSCALER_LEASE_RENEW_DEADLINE_MS (${renewDeadlineMs}), or one slow call outlasts the leadership`,
    );
  }
  if (problems.length > 0) {
    throw new AutoscalerError(
      AutoscalerErrorCode.InvalidConfig,
      `invalid configuration, ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n  ${problems.join('\n  ')}`,
    );
  }
  return {
    natsServers: raw.SHOAL_NATS_URL,
    natsAuth,
    subjectPrefix: raw.SHOAL_NATS_PREFIX,
    logLevel: raw.SHOAL_LOG_LEVEL,
    namespace: raw.SHOAL_AUTOSCALER_NAMESPACE,
    statefulSet: raw.SHOAL_AUTOSCALER_STATEFULSET,
    leaseName: raw.SHOAL_AUTOSCALER_LEASE_NAME,
    identity: raw.SHOAL_AUTOSCALER_IDENTITY,
    kubeconfig: raw.SHOAL_AUTOSCALER_KUBECONFIG,
    policy: {
      minReplicas: raw.SHOAL_AUTOSCALER_MIN_REPLICAS,
      maxReplicas: raw.SHOAL_AUTOSCALER_MAX_REPLICAS,
      leechersPerReplica: raw.SHOAL_AUTOSCALER_LEECHERS_PER_REPLICA,
      egressBytesPerReplica: raw.SHOAL_AUTOSCALER_EGRESS_BYTES_PER_REPLICA,
      drainTargetMs: raw.SHOAL_AUTOSCALER_DRAIN_TARGET_S * 1000,
      scaleDownWindowMs: raw.SHOAL_AUTOSCALER_SCALE_DOWN_WINDOW_S * 1000,
    },
    demandThreshold: raw.SHOAL_AUTOSCALER_DEMAND_THRESHOLD,
    intervalMs: raw.SHOAL_AUTOSCALER_INTERVAL_MS,
    statsMaxAgeMs: raw.SHOAL_AUTOSCALER_STATS_MAX_AGE_S * 1000,
    maxSwarms: raw.SHOAL_AUTOSCALER_MAX_SWARMS,
    dryRun: raw.SHOAL_AUTOSCALER_DRY_RUN,
    lease: { durationS: raw.SHOAL_AUTOSCALER_LEASE_DURATION_S, renewDeadlineMs, retryMs },
    apiTimeoutMs: raw.SHOAL_AUTOSCALER_API_TIMEOUT_MS,
    apiAttempts: raw.SHOAL_AUTOSCALER_API_ATTEMPTS,
    http: { host: raw.SHOAL_AUTOSCALER_HTTP_HOST, port: raw.SHOAL_AUTOSCALER_HTTP_PORT },
  };
}
