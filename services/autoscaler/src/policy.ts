// The scaling decision as pure functions: demand signals and the current replica count in, the
// desired replica count out. No clock, no I/O: the caller passes `now` and keeps the history.

/** What the swarms ask of the origin right now (see `SwarmDemand.signals`). */
export interface DemandSignals {
  /** Swarms with fresh stats. */
  swarms: number;
  /** Swarms whose demand (leechers per seeder) is above the threshold: they need the origin. */
  hotSwarms: number;
  /** Leechers in the hot swarms. */
  hotLeechers: number;
  /**
   * Bytes the origin still has to send: per hot swarm, the mean `left` of its leechers, about one
   * remaining copy of the file (peers pass the rest among themselves).
   */
  originBytes: number;
}

export interface ScalingPolicy {
  minReplicas: number;
  maxReplicas: number;
  /** Leechers of hot swarms one piece-store replica is expected to feed. */
  leechersPerReplica: number;
  /** Bytes per second one replica can send. */
  egressBytesPerReplica: number;
  /** The origin's remaining bytes should take at most this long to send. */
  drainTargetMs: number;
  /** A lower count is applied only once every recommendation in this window allows it. */
  scaleDownWindowMs: number;
}

/** One past recommendation; the history is kept as a sliding-window maximum (see `remember`). */
export interface Recommendation {
  at: number;
  replicas: number;
}

export const ScaleAction = {
  Up: 'scale_up',
  Down: 'scale_down',
  Hold: 'hold',
} as const;
export type ScaleAction = (typeof ScaleAction)[keyof typeof ScaleAction];

export interface Decision {
  action: ScaleAction;
  current: number;
  desired: number;
  /** What the demand alone asks for, within [min, max]. */
  recommended: number;
  /** Replicas the leecher count asks for (before bounds). */
  byLeechers: number;
  /** Replicas the origin egress asks for (before bounds). */
  byEgress: number;
  /** The highest recommendation within the scale-down window (what a scale-down is held to). */
  windowMax: number;
  /** Why the desired count is what it is, for the decision log. */
  reason: string;
  history: Recommendation[];
}

function clamp(value: number, policy: ScalingPolicy): number {
  return Math.min(policy.maxReplicas, Math.max(policy.minReplicas, value));
}

/** Replicas the demand asks for: the larger of the leecher and egress signals, within bounds. */
export function recommendReplicas(
  signals: DemandSignals,
  policy: ScalingPolicy,
): { replicas: number; byLeechers: number; byEgress: number } {
  const byLeechers = Math.ceil(signals.hotLeechers / policy.leechersPerReplica);
  const perReplicaBytes = policy.egressBytesPerReplica * (policy.drainTargetMs / 1000);
  const byEgress = Math.ceil(signals.originBytes / perReplicaBytes);
  return { replicas: clamp(Math.max(byLeechers, byEgress), policy), byLeechers, byEgress };
}

/**
 * Adds a recommendation to the window history and drops what can no longer matter: entries
 * older than the window, and entries that a newer, higher-or-equal one outlives. What remains
 * is strictly decreasing in `replicas`, so it holds at most max-min+1 entries and its first
 * entry is the window's maximum.
 */
export function remember(
  history: readonly Recommendation[],
  recommendation: Recommendation,
  windowMs: number,
): Recommendation[] {
  const kept = history.filter(
    (entry) => entry.at > recommendation.at - windowMs && entry.replicas > recommendation.replicas,
  );
  kept.push(recommendation);
  return kept;
}

/**
 * The named policy: scale up at once to what demand asks for (a release spike must not wait),
 * scale down only to the highest recommendation of the last `scaleDownWindowMs` (a lull between
 * two waves of downloads must not shed seeders), and always within [min, max].
 */
export function decide(
  input: {
    now: number;
    current: number;
    signals: DemandSignals;
    history: readonly Recommendation[];
  },
  policy: ScalingPolicy,
): Decision {
  const { now, current } = input;
  const recommendation = recommendReplicas(input.signals, policy);
  const recommended = recommendation.replicas;
  const history = remember(
    input.history,
    { at: now, replicas: recommended },
    policy.scaleDownWindowMs,
  );
  const windowMax = history[0]?.replicas ?? recommended;

  let desired: number;
  let reason: string;
  if (current < policy.minReplicas || current > policy.maxReplicas) {
    desired = clamp(Math.max(recommended, Math.min(current, windowMax)), policy);
    reason = `current ${current} is outside [${policy.minReplicas}, ${policy.maxReplicas}]`;
  } else if (recommended > current) {
    desired = recommended;
    reason =
      recommended === policy.maxReplicas &&
      Math.max(recommendation.byLeechers, recommendation.byEgress) > policy.maxReplicas
        ? 'demand above the maximum: scale up to the bound'
        : 'demand rose: scale up at once';
  } else if (windowMax < current) {
    desired = windowMax;
    reason = 'demand stayed lower for the whole window: scale down';
  } else if (recommended < current) {
    desired = current;
    reason = `demand fell, held by a recommendation of ${windowMax} within the window`;
  } else {
    desired = current;
    reason = 'demand matches the current count';
  }
  const action =
    desired > current ? ScaleAction.Up : desired < current ? ScaleAction.Down : ScaleAction.Hold;
  return {
    action,
    current,
    desired,
    recommended,
    byLeechers: recommendation.byLeechers,
    byEgress: recommendation.byEgress,
    windowMax,
    reason,
    history,
  };
}
