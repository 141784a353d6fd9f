// One child process of a local swarm: spawned with its output appended to a log file, in its
// own process group (so a Ctrl-C at the terminal reaches only `shoal up`, which stops the
// services in order), watched until it is ready, and stopped with SIGTERM then SIGKILL.
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CliError, CliErrorCode } from './errors.ts';
import { readCmdline } from './processes.ts';

export interface ServiceSpec {
  /** `nats-server`, `tracker`, `piece-store-0`, `peer-node-3`... */
  name: string;
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** Ready when this URL answers 2xx, or (nats) when the port greets with `INFO`. */
  ready: { url: string } | { natsPort: number };
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

// Children still running when this process exits are killed, whatever went wrong.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export class ServiceProcess {
  readonly spec: ServiceSpec;
  readonly pid: number;
  readonly cmdline: string | undefined;
  readonly exited: Promise<ExitStatus>;
  readonly #child: ChildProcess;
  #status: ExitStatus | undefined;

  private constructor(spec: ServiceSpec, child: ChildProcess) {
    this.spec = spec;
    this.#child = child;
    this.pid = child.pid ?? -1;
    this.cmdline = readCmdline(this.pid);
    live.add(child);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.#status = { code, signal };
        live.delete(child);
        resolve(this.#status);
      });
    });
  }

  /** Spawns the process; rejects with `StartFailed` when it cannot even be started. */
  static async spawn(spec: ServiceSpec): Promise<ServiceProcess> {
    const log = openSync(spec.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(spec.command, spec.args, {
        env: spec.env,
        stdio: ['ignore', log, log],
        detached: true,
      });
    } finally {
      closeSync(log);
    }
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', () => resolve());
      child.once('error', (error) =>
        reject(
          new CliError(CliErrorCode.StartFailed, `cannot start ${spec.name}: ${error.message}`, {
            cause: error,
          }),
        ),
      );
    });
    return new ServiceProcess(spec, child);
  }

  get name(): string {
    return this.spec.name;
  }

  /** `undefined` while it runs. */
  exitStatus(): ExitStatus | undefined {
    return this.#status;
  }

  /**
   * Resolves once the service is ready. Rejects with `StartFailed` (naming its last log line)
   * if it exits first, or `Timeout`; stops waiting early when `signal` aborts.
   */
  async waitReady(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      if (this.#status !== undefined) {
        throw new CliError(
          CliErrorCode.StartFailed,
          `${this.name} exited (${describeExit(this.#status)}) before it was ready: ${await lastLogLine(this.spec.logFile)} (log: ${this.spec.logFile})`,
        );
      }
      if (signal?.aborted) {
        throw new CliError(CliErrorCode.Interrupted, `interrupted while ${this.name} was starting`);
      }
      const answer = await probe(this.spec.ready);
      if (answer === true) return;
      last = answer;
      if (Date.now() >= deadline) {
        throw new CliError(
          CliErrorCode.Timeout,
          `${this.name} was not ready after ${Math.round(timeoutMs / 1000)} s (${last}); log: ${this.spec.logFile}`,
        );
      }
      await sleep(100);
    }
  }

  /** Sends `signal` now (SIGKILL simulates a crash). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.#status === undefined) this.#child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs: number): Promise<ExitStatus> {
    if (this.#status !== undefined) return this.#status;
    this.#child.kill('SIGTERM');
    const timer = sleep(graceMs, undefined, { ref: false }).then(() => undefined);
    const status = await Promise.race([this.exited, timer]);
    if (status !== undefined) return status;
    this.#child.kill('SIGKILL');
    return this.exited;
  }
}

export function describeExit(status: ExitStatus): string {
  return status.signal === null ? `code ${status.code}` : `signal ${status.signal}`;
}

/** true when ready, else a short reason. */
async function probe(ready: ServiceSpec['ready']): Promise<true | string> {
  if ('natsPort' in ready) return (await greetsLikeNats(ready.natsPort)) ? true : 'no INFO yet';
  try {
    const response = await fetch(ready.url, { signal: AbortSignal.timeout(2000) });
    const body = await response.text();
    return response.ok ? true : `${ready.url}: ${response.status} ${body.slice(0, 200).trim()}`;
  } catch (error) {
    return `${ready.url}: ${(error as Error).message}`;
  }
}

/** Whether a TCP client on `port` receives nats-server's `INFO {...}` greeting. */
function greetsLikeNats(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('INFO ')));
  });
}

/**
 * The last meaningful line of a log file, for one-line error messages: the `msg` (and `err`
 * message) of a JSON log line, or the text line itself; stack frames and the `Node.js vX` line
 * of a crash are skipped.
 */
export async function lastLogLine(file: string): Promise<string> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 16 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      text = buffer.toString('utf8');
    } finally {
      await handle.close();
    }
  } catch {
    return 'no log output';
  }
  const lines = text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('at ') && !/^Node\.js v\d/.test(line));
  const line = lines.at(-1);
  if (line === undefined) return 'no log output';
  try {
    const record = JSON.parse(line) as { msg?: unknown; err?: { message?: unknown } };
    const parts = [record.msg, record.err?.message].filter((part) => typeof part === 'string');
    if (parts.length > 0) return parts.join(': ').slice(0, 500);
  } catch {
    // a plain text line
  }
  return line.slice(0, 500);
}
