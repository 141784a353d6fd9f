// The control loop: every interval, while this instance leads, read the StatefulSet's scale,
// decide from the swarm demand, and write the new replica count. Every failure is logged and
// counted and the loop goes on: the autoscaler never crashes over an API or NATS problem.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@shoal/service-kit';
import type { SwarmDemand } from './demand.ts';
import { isConflict, isRetryable, type KubeApi } from './kube.ts';
import type { AutoscalerMetrics } from './metrics.ts';
import { type Decision, decide, type Recommendation, type ScalingPolicy } from './policy.ts';
import { withRetry } from './retry.ts';

export interface ScalerOptions {
  api: Pick<KubeApi, 'readScale' | 'replaceScale'>;
  demand: SwarmDemand;
  policy: ScalingPolicy;
  dryRun: boolean;
  intervalMs: number;
  /** Checked before each round and again right before each write. */
  isLeader: () => boolean;
  /** Without a live stats feed the demand is unknown: hold instead of scaling down on silence. */
  statsFeedUp: () => boolean;
  apiAttempts: number;
  logger: Logger;
  metrics: AutoscalerMetrics;
  /** Monotonic milliseconds; default `performance.now()`. */
  now?: () => number;
}

/** Base and cap of the pause between retries of one API call. */
const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 2000;

export class Scaler {
  readonly #options: ScalerOptions;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** Recommendations of the scale-down window; reset whenever leadership is lost. */
  #history: Recommendation[] | undefined;
  #lastLogged = '';

  constructor(options: ScalerOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  start(): void {
    if (this.#loop !== undefined) return;
    this.#loop = (async () => {
      while (!this.#stop.signal.aborted) {
        await this.evaluate();
        try {
          await sleep(this.#options.intervalMs, undefined, { signal: this.#stop.signal });
        } catch {
          // stopped
        }
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** One round. Resolves with the decision taken, or `undefined` when there was none to take. */
  async evaluate(): Promise<Decision | undefined> {
    const { logger } = this.#options;
    if (!this.#options.isLeader()) {
      this.#history = undefined;
      return undefined;
    }
    if (!this.#options.statsFeedUp()) {
      logger.warn('swarm stats feed is down (NATS disconnected): holding the replica count');
      return undefined;
    }
    try {
      return await this.#decideAndApply();
    } catch (error) {
      logger.error({ err: error }, 'scaling round failed; trying again next interval');
      return undefined;
    }
  }

  async #decideAndApply(): Promise<Decision | undefined> {
    const { api, apiAttempts, logger, metrics, policy } = this.#options;
    const retry = {
      attempts: apiAttempts,
      baseDelayMs: RETRY_BASE_MS,
      maxDelayMs: RETRY_MAX_MS,
      signal: this.#stop.signal,
    };
    // A conflict means someone changed the scale since our read: read again and decide again.
    return withRetry(
      async () => {
        const scale = await withRetry(() => api.readScale(), {
          ...retry,
          retryable: isRetryable,
          onRetry: (error, attempt, delayMs) =>
            logger.warn({ err: error, attempt, delayMs }, 'reading the scale failed, retrying'),
        });
        const now = this.#now();
        // A new leader has no history: it counts the replicas it found as a recommendation, so
        // it waits a whole window before scaling down what the previous leader scaled up.
        const history = this.#history ?? [
          {
            at: now,
            replicas: Math.min(policy.maxReplicas, Math.max(policy.minReplicas, scale.replicas)),
          },
        ];
        const signals = this.#options.demand.signals(now);
        const decision = decide({ now, current: scale.replicas, signals, history }, policy);
        this.#history = decision.history;
        metrics.currentReplicas.set(decision.current);
        metrics.desiredReplicas.set(decision.desired);
        metrics.recommendedReplicas.set(decision.recommended);
        metrics.hotLeechers.set(signals.hotLeechers);
        metrics.hotSwarms.set(signals.hotSwarms);
        metrics.originBytes.set(signals.originBytes);

        const inputs = {
          ...signals,
          statusReplicas: scale.statusReplicas,
          current: decision.current,
          recommended: decision.recommended,
          byLeechers: decision.byLeechers,
          byEgress: decision.byEgress,
          windowMax: decision.windowMax,
          desired: decision.desired,
          action: decision.action,
          reason: decision.reason,
          dryRun: this.#options.dryRun,
        };
        if (decision.action === 'hold' || this.#options.dryRun) {
          metrics.decisions.inc({ action: decision.action, applied: 'false' });
          this.#log(
            inputs,
            decision.action === 'hold'
              ? 'scaling decision: hold'
              : 'scaling decision (dry run, not applied)',
          );
          return decision;
        }
        if (!this.#options.isLeader()) {
          logger.warn(inputs, 'lost leadership before writing; decision dropped');
          return undefined;
        }
        await withRetry(() => api.replaceScale(decision.desired, scale.resourceVersion), {
          ...retry,
          retryable: isRetryable,
          onRetry: (error, attempt, delayMs) =>
            logger.warn({ err: error, attempt, delayMs }, 'writing the scale failed, retrying'),
        });
        metrics.decisions.inc({ action: decision.action, applied: 'true' });
        this.#log(inputs, 'scaling decision applied');
        return decision;
      },
      {
        ...retry,
        retryable: isConflict,
        onRetry: (error, attempt) =>
          logger.info({ err: error, attempt }, 'scale changed meanwhile (409), deciding again'),
      },
    );
  }

  /**
   * Every decision is logged with its inputs: changes at info; a hold at info when something
   * differs from the previous one, else at debug (one identical line every interval is noise).
   */
  #log(inputs: Record<string, unknown>, message: string): void {
    const key = JSON.stringify({ ...inputs, message });
    if (inputs.action !== 'hold' || key !== this.#lastLogged) {
      this.#options.logger.info(inputs, message);
    } else {
      this.#options.logger.debug(inputs, message);
    }
    this.#lastLogged = key;
  }
}
