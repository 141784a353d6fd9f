// Leader election on a coordination.k8s.io/v1 Lease, the protocol client-go's leaderelection
// package uses: the holder renews `renewTime` every retry period; another candidate takes the
// Lease only once it has seen the same record unchanged for `leaseDurationSeconds` (measured on
// its own monotonic clock, so clock skew between machines does not matter); every write carries
// the resourceVersion it read, so two candidates cannot both win (one gets 409).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '@shoal/service-kit';
import { isConflict, type KubeApi, type LeaseState } from './kube.ts';

export interface LeaderElectorOptions {
  api: Pick<KubeApi, 'readLease' | 'createLease' | 'replaceLease'>;
  identity: string;
  leaseDurationS: number;
  /** A leader that could not renew for this long stops acting as leader. */
  renewDeadlineMs: number;
  retryMs: number;
  logger: Logger;
  onChange?: (leading: boolean) => void;
  /** Told whenever the API server starts or stops answering Lease calls. */
  onReachableChange?: (reachable: boolean) => void;
  /** Monotonic milliseconds; default `performance.now()`. */
  now?: () => number;
}

export class LeaderElector {
  readonly #options: LeaderElectorOptions;
  readonly #now: () => number;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #leading = false;
  #lastRenewAt = Number.NEGATIVE_INFINITY;
  #observed: { resourceVersion: string; at: number } | undefined;
  #apiReachable = false;

  constructor(options: LeaderElectorOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * True while this instance holds the Lease and renewed it within the renew deadline. Checked
   * right before every write, so a leader cut off from the API stops scaling on its own, before
   * the Lease expires for the others.
   */
  isLeader(): boolean {
    return this.#leading && this.#now() - this.#lastRenewAt < this.#options.renewDeadlineMs;
  }

  /** Whether the last Lease round trip got an answer from the API server. */
  get apiReachable(): boolean {
    return this.#apiReachable;
  }

  start(): void {
    if (this.#loop !== undefined) return;
    this.#loop = this.#run();
  }

  /** Stops campaigning; a leader hands the Lease back so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    if (this.#leading) {
      this.#setLeading(false, 'stopping');
      await this.#release();
    }
  }

  async #run(): Promise<void> {
    const { logger, retryMs } = this.#options;
    while (!this.#stop.signal.aborted) {
      try {
        const held = await this.#tryAcquireOrRenew();
        this.#setReachable(true);
        if (held) {
          this.#lastRenewAt = this.#now();
          if (!this.#leading) this.#setLeading(true, 'acquired the lease');
        } else if (this.#leading) {
          this.#setLeading(false, 'another instance holds the lease');
        }
      } catch (error) {
        this.#setReachable(false);
        logger.warn({ err: error }, 'lease round trip failed');
        if (this.#leading && !this.isLeader()) {
          this.#setLeading(false, 'could not renew within the renew deadline');
        }
      }
      try {
        await sleep(retryMs, undefined, { signal: this.#stop.signal });
      } catch {
        // stopped
      }
    }
  }

  #setReachable(reachable: boolean): void {
    if (reachable === this.#apiReachable) return;
    this.#apiReachable = reachable;
    this.#options.onReachableChange?.(reachable);
  }

  #setLeading(leading: boolean, reason: string): void {
    this.#leading = leading;
    this.#options.logger.info(
      { identity: this.#options.identity, reason },
      leading ? 'became leader' : 'stopped leading',
    );
    this.#options.onChange?.(leading);
  }

  /** One round: true when this instance holds the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { api, identity, leaseDurationS } = this.#options;
    const now = new Date();
    const current = await api.readLease();
    if (current === undefined) {
      try {
        const created = await api.createLease({
          holderIdentity: identity,
          leaseDurationSeconds: leaseDurationS,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        });
        this.#observe(created);
        return true;
      } catch (error) {
        if (isConflict(error)) return false; // another candidate created it first
        throw error;
      }
    }
    this.#observe(current);
    const heldByMe = current.holderIdentity === identity;
    if (current.holderIdentity !== undefined && !heldByMe && !this.#expired(current)) {
      return false;
    }
    try {
      const written = await api.replaceLease(
        {
          holderIdentity: identity,
          leaseDurationSeconds: leaseDurationS,
          acquireTime: heldByMe ? (current.acquireTime ?? now) : now,
          renewTime: now,
          leaseTransitions: heldByMe ? current.leaseTransitions : current.leaseTransitions + 1,
        },
        current.resourceVersion,
      );
      this.#observe(written);
      return true;
    } catch (error) {
      if (isConflict(error)) return false; // someone wrote since our read
      throw error;
    }
  }

  /** Remembers when the record last changed, on the local monotonic clock. */
  #observe(lease: LeaseState): void {
    if (this.#observed?.resourceVersion !== lease.resourceVersion) {
      this.#observed = { resourceVersion: lease.resourceVersion, at: this.#now() };
    }
  }

  #expired(lease: LeaseState): boolean {
    const durationS = lease.leaseDurationSeconds ?? this.#options.leaseDurationS;
    const observedAt = this.#observed?.at ?? this.#now();
    return this.#now() - observedAt > durationS * 1000;
  }

  /** Empties the holder so a standby need not wait out the lease duration. Best effort. */
  async #release(): Promise<void> {
    const { api, identity, logger } = this.#options;
    try {
      const current = await api.readLease();
      if (current === undefined || current.holderIdentity !== identity) return;
      const now = new Date();
      await api.replaceLease(
        {
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.leaseTransitions,
        },
        current.resourceVersion,
      );
      logger.info({ identity }, 'released the lease');
    } catch (error) {
      logger.warn({ err: error }, 'could not release the lease; it expires on its own');
    }
  }
}
