import { counter, createMetricsRegistry, gauge, type Registry } from '@shoal/service-kit';

/** The autoscaler's Prometheus metrics (all prefixed `shoal_autoscaler_`). */
export function createAutoscalerMetrics(options: { identity: string }) {
  const registry: Registry = createMetricsRegistry({
    prefix: 'shoal_autoscaler_',
    defaultLabels: { identity: options.identity },
  });
  return {
    registry,
    leader: gauge(registry, 'shoal_autoscaler_leader', '1 while this instance holds the Lease'),
    leaderTransitions: counter(
      registry,
      'shoal_autoscaler_leader_transitions_total',
      'Times this instance became leader or stopped being it',
      ['event'] as const,
    ),
    currentReplicas: gauge(
      registry,
      'shoal_autoscaler_current_replicas',
      'spec.replicas of the piece-store StatefulSet at the last decision',
    ),
    desiredReplicas: gauge(
      registry,
      'shoal_autoscaler_desired_replicas',
      'Replicas the last decision asked for',
    ),
    recommendedReplicas: gauge(
      registry,
      'shoal_autoscaler_recommended_replicas',
      'Replicas the demand alone asked for at the last decision, within bounds',
    ),
    hotLeechers: gauge(
      registry,
      'shoal_autoscaler_hot_leechers',
      'Leechers in swarms whose demand is above the threshold',
    ),
    hotSwarms: gauge(
      registry,
      'shoal_autoscaler_hot_swarms',
      'Swarms whose demand is above the threshold',
    ),
    originBytes: gauge(
      registry,
      'shoal_autoscaler_origin_bytes',
      'Bytes the origin is estimated to still send (one remaining copy per hot swarm)',
    ),
    decisions: counter(
      registry,
      'shoal_autoscaler_decisions_total',
      'Scaling decisions by action (scale_up, scale_down, hold) and whether they were applied',
      ['action', 'applied'] as const,
    ),
    apiCalls: counter(
      registry,
      'shoal_autoscaler_api_calls_total',
      'Kubernetes API calls by operation and outcome (ok, conflict, retryable, error)',
      ['op', 'outcome'] as const,
    ),
    statsMessages: counter(
      registry,
      'shoal_autoscaler_stats_messages_total',
      'Swarm stats messages by outcome (accepted, outdated, full, invalid)',
      ['outcome'] as const,
    ),
  };
}
export type AutoscalerMetrics = ReturnType<typeof createAutoscalerMetrics>;
