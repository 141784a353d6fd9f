export { aria2SwarmOptions } from './aria2.ts';
export { type AfterHook, onCleanup } from './cleanup.ts';
export { TestkitError, TestkitErrorCode } from './errors.ts';
export { type NatsServer, type NatsServerOptions, startNatsServer } from './nats.ts';
export { freePort } from './ports.ts';
export {
  type ExitStatus,
  type ManagedProcess,
  type StartProcessOptions,
  startProcess,
} from './process.ts';
export {
  type Cpu,
  CpuMeter,
  parseProcStat,
  selfAndChildrenSeconds,
  treeCpuSeconds,
} from './procstat.ts';
export { type WaitForOptions, waitFor } from './wait.ts';
export { findExecutable, requireExecutable } from './which.ts';
