export { type AutoscalerConfig, AutoscalerEnv, loadAutoscalerConfig } from './config.ts';
export { RecordOutcome, SwarmDemand, type SwarmDemandOptions } from './demand.ts';
export { AutoscalerError, AutoscalerErrorCode } from './errors.ts';
export {
  type ApiPermission,
  createKubeApi,
  isConflict,
  isRetryable,
  KUBE_API_PERMISSIONS,
  type KubeApi,
  type KubeApiOptions,
  type LeaseState,
  type LeaseWrite,
  loadKubeConfig,
  type ScaleState,
} from './kube.ts';
export { LeaderElector, type LeaderElectorOptions } from './leader.ts';
export {
  loadNodeLabelsConfig,
  NODE_LABELS_PERMISSIONS,
  NodeLabelsEnv,
  renderTopologyEnv,
  type Topology,
  topologyFromLabels,
} from './node-labels.ts';
export {
  type Decision,
  type DemandSignals,
  decide,
  type Recommendation,
  recommendReplicas,
  remember,
  ScaleAction,
  type ScalingPolicy,
} from './policy.ts';
export { backoffDelay, type RetryOptions, withRetry } from './retry.ts';
export { Scaler, type ScalerOptions } from './scaler.ts';
export { type RunningAutoscaler, startAutoscaler } from './service.ts';
