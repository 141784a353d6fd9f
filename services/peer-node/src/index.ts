// The peer-node is a process (src/main.ts); these are its pure parts and its service class,
// exported for tools (e.g. a CLI that runs nodes in-process) and docs.
export { loadPeerNodeConfig, type PeerNodeConfig, parseLabels } from './config.ts';
export { PeerNodeError, PeerNodeErrorCode } from './errors.ts';
export { type FetchOptions, type NodeStatus, PeerNodeService, type PublishResult } from './node.ts';
export { loadResume, type ResumeExpectation, type ResumeLoad, saveResume } from './resume.ts';
export {
  parseSeedingPolicy,
  type SeedingDecision,
  type SeedingFacts,
  type SeedingPolicy,
} from './seeding-policy.ts';
export type { JobProgress, JobState } from './torrent-job.ts';
