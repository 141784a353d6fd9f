// The CLI's library side: the local swarm launcher and its state file, used by `shoal up` and
// by the end-to-end tests that kill and restart parts of a swarm.
export { type DistributionSummary, DistributionTracker, type NodeOutcome } from './distribution.ts';
export { CliError, CliErrorCode, EXIT_CODES } from './errors.ts';
export { formatBytes, formatDuration, formatPercent, formatRate, renderTable } from './format.ts';
export { isAlive } from './processes.ts';
export {
  type PeerNodeEntry,
  type PieceStoreEntry,
  readRunningSwarm,
  readStateFile,
  STATE_FILE_NAME,
  SwarmState,
  stateFilePath,
} from './state.ts';
export {
  LocalSwarm,
  type LocalSwarmOptions,
  MAX_LOCAL_NODES,
  REPO_ROOT,
  stopSwarm,
} from './swarm.ts';
