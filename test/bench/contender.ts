// What every contender gets (the network, the artifact, a scratch folder, a deadline) and what
// it reports, plus the pieces they share: the artifact, SHA-256 checks, saving logs.
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManagedProcess } from '@shoal/testkit';
import { type Cpu, CpuMeter } from '@shoal/testkit';
import { BenchError, BenchErrorCode } from './errors.ts';
import type { TestNetwork } from './netns.ts';

export const MiB = 1024 * 1024;

export const CONTENDERS = ['shoal', 'aria2', 'http'] as const;
export type ContenderName = (typeof CONTENDERS)[number];

export interface Artifact {
  path: string;
  /** File name, the same for every contender. */
  name: string;
  bytes: number;
  sha256: string;
}

export interface RunContext {
  network: TestNetwork;
  artifact: Artifact;
  /** Empty scratch folder of this run (readable by every user: nginx and opentracker drop root). */
  workDir: string;
  /** Where logs of failed or profiled processes are kept. */
  logsDir: string;
  /** The transfer must end within this; setting up is bounded separately. */
  timeoutMs: number;
  /** Write V8 CPU profiles of the origin and one host here (shoal only). */
  profileDir?: string;
  /** shoal's services log at this level and their logs are kept (default: info, not kept). */
  shoalLogLevel?: string;
  log: (line: string) => void;
}

export interface ContenderRun {
  contender: ContenderName;
  /** From the start signal until the last host holds the verified file. */
  seconds: number;
  /** Per receiving host, in host order: seconds from the start signal to its verified file. */
  hostSeconds: number[];
  /** Ethernet bytes the origin host transmitted during the run (its link's tx counter). */
  originTxBytes: number;
  /** Payload bytes the origin's uploader says it sent, where the contender tells. */
  originPayloadBytes?: number;
  /** CPU seconds during the run: origin-side processes, host-side processes. */
  cpuSeconds: { origin: number; hosts: number; hostsInKernel: number };
  /** Bytes each host sent during the run, origin first (Ethernet frames). */
  sentBytes: number[];
  /** Frames each host sent during the run, origin first. */
  sentPackets: number[];
  /** Every host's link counters, each second of the run. */
  timeline: Timeline;
  details: Record<string, unknown>;
}

/**
 * Link counters sampled during a run: seconds since the start, bytes per host since then (in
 * the results: thinned, and in KiB).
 */
export interface Timeline {
  seconds: number[];
  /** [sample][host], origin first. */
  received: number[][];
  sent: number[][];
}

const SAMPLE_MS = 1000;

/**
 * The measured window of a run: CPU of the given processes, the origin's transmit counter and
 * every host's link counters (sampled each second), from `begin` to `end`.
 */
export class RunWindow {
  readonly #network: TestNetwork;
  readonly #cpu = new CpuMeter();
  readonly #startedMs = performance.now();
  readonly #timeline: Timeline = { seconds: [], received: [], sent: [] };
  #originTx = 0;
  #packets: number[] = [];
  #base: { sent: number[]; received: number[] } = { sent: [], received: [] };
  #sampler: NodeJS.Timeout | undefined;

  private constructor(network: TestNetwork) {
    this.#network = network;
  }

  static async begin(network: TestNetwork, pids: readonly number[]): Promise<RunWindow> {
    const window = new RunWindow(network);
    await window.#cpu.begin(pids);
    window.#originTx = await network.txBytes(network.origin);
    window.#base = await network.linkBytes();
    window.#packets = await network.sentPackets();
    window.#sampler = setInterval(() => {
      window.#sample().catch(() => {});
    }, SAMPLE_MS);
    window.#sampler.unref();
    return window;
  }

  async #sample(): Promise<{ sent: number[]; received: number[] }> {
    const now = await this.#network.linkBytes();
    const since = {
      sent: now.sent.map((bytes, i) => bytes - (this.#base.sent[i] ?? 0)),
      received: now.received.map((bytes, i) => bytes - (this.#base.received[i] ?? 0)),
    };
    this.#timeline.seconds.push(Math.round(performance.now() - this.#startedMs) / 1000);
    this.#timeline.sent.push(since.sent);
    this.#timeline.received.push(since.received);
    return since;
  }

  async end(pids: readonly number[]): Promise<{
    cpu: Map<number, Cpu>;
    originTxBytes: number;
    sentBytes: number[];
    sentPackets: number[];
    timeline: Timeline;
  }> {
    clearInterval(this.#sampler);
    const originTxBytes = (await this.#network.txBytes(this.#network.origin)) - this.#originTx;
    const last = await this.#sample();
    const packets = await this.#network.sentPackets();
    const cpu = await this.#cpu.spent(pids);
    return {
      cpu,
      originTxBytes,
      sentBytes: last.sent,
      sentPackets: packets.map((count, i) => count - (this.#packets[i] ?? 0)),
      timeline: this.#timeline,
    };
  }

  /** Stops sampling (a run that failed). */
  abandon(): void {
    clearInterval(this.#sampler);
  }
}

export type Contender = (context: RunContext) => Promise<ContenderRun>;

/** Random bytes (incompressible, no repeated pieces), written in 4 MiB chunks. */
export async function makeArtifact(dir: string, bytes: number): Promise<Artifact> {
  const name = 'artifact.bin';
  const path = join(dir, name);
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const file = await open(path, 'w', 0o644);
  try {
    for (let offset = 0; offset < bytes; offset += chunk.length) {
      const length = Math.min(chunk.length, bytes - offset);
      randomFillSync(chunk, 0, length);
      hash.update(chunk.subarray(0, length));
      await file.write(chunk, 0, length, offset);
    }
  } finally {
    await file.close();
  }
  return { path, name, bytes, sha256: hash.digest('hex') };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * MiB })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

/**
 * Checks every host's copy against the artifact's SHA-256 (after the timed part): two at a
 * time, as the machine has two cores. Fails naming the hosts whose copy differs.
 */
export async function verifyCopies(artifact: Artifact, paths: readonly string[]): Promise<void> {
  const bad: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++]!;
      const digest = await sha256File(path).catch((error: Error) => `unreadable: ${error.message}`);
      if (digest !== artifact.sha256) bad.push(`${path} (${digest})`);
    }
  };
  await Promise.all([worker(), worker()]);
  if (bad.length > 0) {
    throw new BenchError(
      BenchErrorCode.ContenderFailed,
      `copies that differ from the artifact: ${bad.join(', ')}`,
    );
  }
}

/** Keeps the output of processes for the report's logs folder. */
export async function saveLogs(dir: string, processes: readonly ManagedProcess[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const child of processes) {
    await writeFile(join(dir, `${child.name.replace(/[^\w.@-]/g, '_')}.log`), child.logs());
  }
}

/** CPU seconds of the given processes together (`system`: only the kernel's part). */
export function cpuOf(
  spent: Map<number, Cpu>,
  pids: readonly number[],
  part: keyof Cpu = 'total',
): number {
  return pids.reduce((sum, pid) => sum + (spent.get(pid)?.[part] ?? 0), 0);
}

/** Rejects after `ms` with a ContenderFailed naming what was awaited. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new BenchError(BenchErrorCode.ContenderFailed, `${what}: no result after ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
