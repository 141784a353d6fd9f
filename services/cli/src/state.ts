// The swarm state file, `<run dir>/swarm.json`: written by the process that runs a local swarm
// (`shoal up`), read by every other command to find it. Written whole to a temporary file and
// renamed, so a reader never sees half of it.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError, CliErrorCode } from './errors.ts';
import { isAlive, sameProcess } from './processes.ts';

export const STATE_FILE_NAME = 'swarm.json';
/** Largest state file read (24 nodes take about 10 KiB). */
const MAX_STATE_BYTES = 4 * 1024 * 1024;

const Pid = z.number().int().positive();

/** What every started process has: enough to find, check and stop it. */
const ProcessEntry = z.object({
  name: z.string().min(1),
  pid: Pid,
  /** `/proc/<pid>/cmdline` when started, so a reused pid is never signalled. */
  cmdline: z.string().optional(),
  logFile: z.string(),
});
export type ProcessEntry = z.infer<typeof ProcessEntry>;

export const SwarmState = z.object({
  version: z.literal(1),
  runDir: z.string(),
  /** The `shoal up` process that owns the swarm and stops it. */
  supervisor: z.object({ pid: Pid, cmdline: z.string().optional() }),
  startedAt: z.number().int(),
  /** False while starting; true once every service answered /readyz. */
  ready: z.boolean(),
  subjectPrefix: z.string(),
  nats: ProcessEntry.extend({ url: z.string(), port: z.number().int(), storeDir: z.string() }),
  tracker: ProcessEntry.extend({ httpUrl: z.string() }).optional(),
  pieceStores: z.array(
    ProcessEntry.extend({
      grpcAddress: z.string(),
      httpUrl: z.string(),
      wireHost: z.string(),
      wirePort: z.number().int(),
      dataDir: z.string(),
    }),
  ),
  peerNodes: z.array(
    ProcessEntry.extend({
      index: z.number().int().min(0),
      nodeId: z.string(),
      grpcSocket: z.string(),
      httpUrl: z.string(),
      wireHost: z.string(),
      wirePort: z.number().int(),
      dataDir: z.string(),
      distributeDir: z.string(),
      labels: z.record(z.string(), z.string()),
    }),
  ),
});
export type SwarmState = z.infer<typeof SwarmState>;
export type PeerNodeEntry = SwarmState['peerNodes'][number];
export type PieceStoreEntry = SwarmState['pieceStores'][number];

export function stateFilePath(runDir: string): string {
  return join(runDir, STATE_FILE_NAME);
}

/** Every process a state names, services first and nats-server last (the order to stop them). */
export function serviceEntries(state: SwarmState): ProcessEntry[] {
  return [
    ...state.peerNodes,
    ...state.pieceStores,
    ...(state.tracker === undefined ? [] : [state.tracker]),
    state.nats,
  ];
}

/** Reads the state file; `undefined` when there is none. Throws `NoSwarm` when it is garbage. */
export async function readStateFile(runDir: string): Promise<SwarmState | undefined> {
  const file = stateFilePath(runDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(CliErrorCode.NoSwarm, `cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (text.length > MAX_STATE_BYTES) {
    throw new CliError(CliErrorCode.NoSwarm, `${file} is too large to be a swarm state file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CliError(CliErrorCode.NoSwarm, `${file} is not valid JSON; remove it`, { cause });
  }
  const parsed = SwarmState.safeParse(json);
  if (!parsed.success) {
    throw new CliError(CliErrorCode.NoSwarm, `${file} is not a shoal swarm state file; remove it`);
  }
  return parsed.data;
}

/**
 * The running swarm in `runDir`, for commands that talk to it. Throws `NoSwarm` with a hint when
 * there is none, when its supervisor is gone, or while it is still starting.
 */
export async function readRunningSwarm(runDir: string): Promise<SwarmState> {
  const state = await readStateFile(runDir);
  if (state === undefined) {
    throw new CliError(
      CliErrorCode.NoSwarm,
      `no swarm running in ${runDir} (start one with: shoal up --detach)`,
    );
  }
  if (!isAlive(state.supervisor.pid) || !sameProcess(state.supervisor)) {
    throw new CliError(
      CliErrorCode.NoSwarm,
      `the swarm in ${runDir} is not running (its supervisor, pid ${state.supervisor.pid}, is gone); run shoal down to clean up`,
    );
  }
  if (!state.ready) {
    throw new CliError(CliErrorCode.NoSwarm, `the swarm in ${runDir} is still starting; try again`);
  }
  return state;
}

export async function writeStateFile(state: SwarmState): Promise<void> {
  const file = stateFilePath(state.runDir);
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
  await rename(temporary, file);
}

export async function removeStateFile(runDir: string): Promise<void> {
  await rm(stateFilePath(runDir), { force: true });
}
