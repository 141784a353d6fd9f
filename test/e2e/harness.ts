// Shared pieces of the end-to-end tests: temporary run directories, sample artifacts, the real
// `shoal` command run as a child process, a local swarm the test can kill parts of, and a
// NATS watcher of fleet progress. Everything started is stopped when the test ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createFleetSubjects, decodeFleetProgress, type FleetProgress } from '@shoal/bus';
import { LocalSwarm, type LocalSwarmOptions } from '@shoal/cli';
import { type AfterHook, waitFor } from '@shoal/testkit';

export const SHOAL_BIN = fileURLToPath(new URL('../../services/cli/bin/shoal.js', import.meta.url));
export const MiB = 1024 * 1024;

const cleanups = new WeakMap<AfterHook, (() => unknown)[]>();

/**
 * Runs `step` when the test ends, after every step deferred later (last in, first out: a
 * swarm stops before its directory is removed). node:test's own `after` hooks run first in,
 * first out.
 */
export function defer(t: AfterHook, step: () => unknown): void {
  let steps = cleanups.get(t);
  if (steps === undefined) {
    const list: (() => unknown)[] = [];
    steps = list;
    cleanups.set(t, list);
    t.after(async () => {
      const errors: unknown[] = [];
      for (const next of list.reverse()) {
        try {
          await next();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length > 0) throw errors[0];
    });
  }
  steps.push(step);
}

/** A fresh directory under the system temp dir, removed when the test ends. */
export async function tempDir(t: AfterHook, prefix = 'shoal-e2e-'): Promise<string> {
  // Short names: peer-node sockets live below it and Unix socket paths are capped at 107 bytes.
  const dir = await mkdtemp(join(tmpdir(), prefix));
  defer(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A sample build artifact of `bytes`: one random MiB repeated, with its offset stamped every
 * 16 KiB so no two pieces are alike (the same scheme as scripts/demo.sh). Returns its SHA-256.
 */
export async function makeArtifact(
  path: string,
  bytes: number,
): Promise<{ path: string; sha256: string }> {
  const block = randomBytes(MiB);
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let offset = 0; offset < bytes; offset += block.length) {
      for (let stamp = 0; stamp < block.length; stamp += 16 * 1024) {
        block.writeBigUInt64LE(BigInt(offset + stamp), stamp);
      }
      const length = Math.min(block.length, bytes - offset);
      hash.update(block.subarray(0, length));
      await file.write(block, 0, length, offset);
    }
  } finally {
    await file.close();
  }
  return { path, sha256: hash.digest('hex') };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export interface ShoalRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ShoalProcess {
  readonly child: ChildProcess;
  /** Output so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves when the command ends (killed with SIGKILL after its timeout). */
  readonly done: Promise<ShoalRun>;
}

/**
 * Starts `shoal --dir <runDir> ...args` as a separate process; it is killed after `timeoutMs`
 * and when the test ends.
 */
export function startShoal(
  t: AfterHook,
  runDir: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): ShoalProcess {
  const child = spawn(process.execPath, [SHOAL_BIN, '--dir', runDir, ...args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  timer.unref();
  const done = new Promise<ShoalRun>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  return { child, done, output: () => ({ stdout, stderr }) };
}

/** Runs `shoal --dir <runDir> ...args` to the end. */
export function runShoal(
  t: AfterHook,
  runDir: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<ShoalRun> {
  return startShoal(t, runDir, args, options).done;
}

/** The JSON document a `--json` run printed; fails with the run's output when there is none. */
export function parseJson<T>(run: ShoalRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(
      `expected JSON on stdout (exit ${run.code ?? run.signal}); stdout: ${run.stdout.slice(0, 2000)} stderr: ${run.stderr.slice(-2000)}`,
    );
  }
}

/** A local swarm in `runDir`, stopped when the test ends; its logs are printed on failure. */
export async function startSwarm(
  t: AfterHook & { diagnostic?(message: string): void },
  options: LocalSwarmOptions,
): Promise<LocalSwarm> {
  const swarm = LocalSwarm.create({ readyTimeoutMs: 180_000, stopGraceMs: 5000, ...options });
  defer(t, () => swarm.stop());
  await swarm.start();
  return swarm;
}

/** The last lines of every log of a swarm, for a failing test's message. */
export async function swarmLogs(swarm: LocalSwarm, lines = 15): Promise<string> {
  const parts: string[] = [];
  for (const name of swarm.names()) {
    const file = swarm.process(name).spec.logFile;
    const text = await readFile(file, 'utf8').catch(() => '');
    parts.push(`--- ${name}\n${text.split('\n').slice(-lines).join('\n')}`);
  }
  return parts.join('\n');
}

/** Follows every fleet progress report on the swarm's NATS, riding out server restarts. */
export class ProgressWatcher {
  readonly #latest = new Map<string, FleetProgress>();

  private constructor(nc: NatsConnection, prefix: string) {
    nc.subscribe(createFleetSubjects(prefix).progressAll, {
      callback: (error, msg) => {
        if (error !== null) return;
        try {
          const report = decodeFleetProgress(msg.data);
          this.#latest.set(report.nodeId, report);
        } catch {
          // not a report we can read
        }
      },
    });
  }

  static async start(t: AfterHook, swarm: LocalSwarm): Promise<ProgressWatcher> {
    const nc = await connect({
      servers: swarm.state.nats.url,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    defer(t, () => nc.close());
    return new ProgressWatcher(nc, swarm.state.subjectPrefix);
  }

  /** The latest report of each node. */
  reports(): FleetProgress[] {
    return [...this.#latest.values()];
  }

  /** Waits until some node has `fraction` of the artifact; returns the reports at that moment. */
  async waitForProgress(fraction: number, timeoutMs: number): Promise<FleetProgress[]> {
    await waitFor(
      () =>
        this.reports().some(
          (report) => report.bytesTotal > 0 && report.bytesDone >= fraction * report.bytesTotal,
        ),
      { timeoutMs, intervalMs: 100, description: `a node to reach ${fraction * 100}%` },
    );
    return this.reports();
  }
}

/** What `shoal distribute --json` prints. */
export interface DistributeJson {
  commandId: string;
  infoHash: string;
  complete: number;
  failed: number;
  lost: number;
  wallSeconds: number;
  bytesDelivered: number;
  bytesFromOrigin: number;
  bytesFromPeers: number;
  originOffloadPercent: number;
  nodes: {
    nodeId: string;
    state: string;
    path?: string;
    error?: string;
    bytesTotal: number;
    bytesFromOrigin: number;
    bytesFromPeers: number;
  }[];
}

/** What `shoal publish --json` prints. */
export interface PublishJson {
  infoHash: string;
  sha256: string;
  size: number;
  pieceLength: number;
  magnet: string;
}

/** Publishes `path` through the CLI and checks the digest it reports. */
export async function publish(t: AfterHook, runDir: string, path: string): Promise<PublishJson> {
  const run = await runShoal(t, runDir, ['--json', 'publish', path], { timeoutMs: 120_000 });
  if (run.code !== 0) throw new Error(`shoal publish failed (${run.code}): ${run.stderr}`);
  return parseJson<PublishJson>(run);
}

/** Checks that every completed node's file has `sha256`; returns how many were checked. */
export async function verifyCompleted(result: DistributeJson, sha256: string): Promise<number> {
  let checked = 0;
  for (const node of result.nodes) {
    if (node.state !== 'complete') continue;
    if (node.path === undefined) throw new Error(`${node.nodeId} completed without a path`);
    const actual = await sha256File(node.path);
    if (actual !== sha256) {
      throw new Error(
        `${node.nodeId} holds ${node.path} with sha256 ${actual}, expected ${sha256}`,
      );
    }
    checked++;
  }
  return checked;
}
