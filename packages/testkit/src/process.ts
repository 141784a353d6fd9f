import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type AfterHook, onCleanup } from './cleanup.ts';
import { TestkitError, TestkitErrorCode } from './errors.ts';
import { waitFor } from './wait.ts';

export interface StartProcessOptions {
  /** Label in messages; default the command's base name. */
  name?: string;
  /** Added over this process's environment (`undefined` removes a variable). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /**
   * When the process counts as started: a line of stdout or stderr matching the RegExp, or an
   * HTTP URL answering 2xx. Without it, `startProcess` returns once the process is spawned.
   */
  ready?: RegExp | { url: string };
  /** Default 15 000 ms. */
  readyTimeoutMs?: number;
  /** Registers `stop()` with `onCleanup(t)`, so the process dies with the test even on failure. */
  t?: AfterHook;
  /** Most bytes of output kept (the newest); default 1 MiB. */
  maxLogBytes?: number;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** `undefined` while it runs. */
  exitStatus(): ExitStatus | undefined;
  /** stdout and stderr as one text, in arrival order (the newest `maxLogBytes`). */
  logs(): string;
  /** Waits for an output line matching `pattern` (lines already seen count) and returns it. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Sends `signal` now without waiting (SIGKILL simulates a crash). */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs` (default 5000); resolves once it has exited. */
  stop(graceMs?: number): Promise<ExitStatus>;
}

// Processes still running when the test runner exits are killed, whatever went wrong.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Starts `command` with captured output and waits until it is ready (see `ready`). */
export async function startProcess(
  command: string,
  args: readonly string[],
  options: StartProcessOptions = {},
): Promise<ManagedProcess> {
  const name = options.name ?? command.split('/').pop() ?? command;
  const maxLogBytes = options.maxLogBytes ?? 1024 * 1024;
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let pending = { stdout: '', stderr: '' };
  const lines: string[] = [];
  const lineWaiters = new Set<{ pattern: RegExp; resolve: (line: string) => void }>();
  const onLine = (line: string) => {
    lines.push(line);
    if (lines.length > 5000) lines.splice(0, lines.length - 5000);
    for (const waiter of lineWaiters) {
      if (waiter.pattern.test(line)) {
        lineWaiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  };
  const capture = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    output += text;
    if (output.length > maxLogBytes) output = output.slice(output.length - maxLogBytes);
    const parts = (pending[stream] + text).split('\n');
    pending = { ...pending, [stream]: parts.pop() ?? '' };
    for (const line of parts) onLine(line);
  };
  child.stdout?.on('data', capture('stdout'));
  child.stderr?.on('data', capture('stderr'));

  let status: ExitStatus | undefined;
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', () => resolve());
    child.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new TestkitError(TestkitErrorCode.ToolMissing, `${command}: not found`, {
              cause: error,
            })
          : new TestkitError(TestkitErrorCode.StartFailed, `${name}: ${error.message}`, {
              cause: error,
            }),
      );
    });
  });
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('close', (code, signal) => {
      status = { code, signal };
      live.delete(child);
      for (const waiter of lineWaiters) waiter.resolve('');
      lineWaiters.clear();
      resolve(status);
    });
  });
  await spawned;
  live.add(child);

  const managed: ManagedProcess = {
    name,
    pid: child.pid ?? -1,
    child,
    exited,
    exitStatus: () => status,
    logs: () => output,
    waitForLine: async (pattern, timeoutMs) => {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return seen;
      if (status !== undefined) {
        throw startFailure(name, `exited (${describe(status)}) before printing ${pattern}`, output);
      }
      let waiter: { pattern: RegExp; resolve: (line: string) => void } | undefined;
      const found = new Promise<string>((resolve) => {
        waiter = { pattern, resolve };
        lineWaiters.add(waiter);
      });
      const timer = sleep(timeoutMs, undefined, { ref: false }).then(() => undefined);
      const line = await Promise.race([found, timer]);
      if (waiter !== undefined) lineWaiters.delete(waiter);
      if (line === undefined) {
        throw new TestkitError(
          TestkitErrorCode.Timeout,
          `${name}: no line matching ${pattern} within ${timeoutMs} ms; output:\n${tail(output)}`,
        );
      }
      if (line === '' && status !== undefined) {
        throw startFailure(name, `exited (${describe(status)}) before printing ${pattern}`, output);
      }
      return line;
    },
    kill: (signal = 'SIGKILL') => {
      if (status === undefined) child.kill(signal);
    },
    stop: async (graceMs = 5000) => {
      if (status !== undefined) return status;
      child.kill('SIGTERM');
      const timer = sleep(graceMs, undefined, { ref: false }).then(() => undefined);
      const result = await Promise.race([exited, timer]);
      if (result !== undefined) return result;
      child.kill('SIGKILL');
      return exited;
    },
  };
  if (options.t !== undefined) onCleanup(options.t, () => managed.stop());

  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  try {
    if (options.ready instanceof RegExp) {
      await managed.waitForLine(options.ready, timeoutMs);
    } else if (options.ready !== undefined) {
      const { url } = options.ready;
      // An exit ends the wait at once (a throwing check would only count as "not yet").
      const outcome = await waitFor(
        async () => {
          if (status !== undefined) return 'exited';
          const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
          await response.body?.cancel();
          return response.ok && 'answered';
        },
        { timeoutMs, intervalMs: 50, description: `${name} to answer ${url}` },
      ).catch((error: unknown) => {
        if (status !== undefined) {
          throw startFailure(name, `exited (${describe(status)}) before ${url} answered`, output);
        }
        throw new TestkitError(
          TestkitErrorCode.Timeout,
          `${name}: ${url} did not answer 2xx within ${timeoutMs} ms; output:\n${tail(output)}`,
          { cause: error },
        );
      });
      if (outcome === 'exited' && status !== undefined) {
        throw startFailure(name, `exited (${describe(status)}) before ${url} answered`, output);
      }
    }
  } catch (error) {
    await managed.stop(1000);
    throw error;
  }
  return managed;
}

function describe(status: ExitStatus): string {
  return status.signal === null ? `code ${status.code}` : `signal ${status.signal}`;
}

function tail(output: string): string {
  return output.length > 4000 ? `…${output.slice(-4000)}` : output;
}

function startFailure(name: string, what: string, output: string): TestkitError {
  return new TestkitError(
    TestkitErrorCode.StartFailed,
    `${name} ${what}; output:\n${tail(output)}`,
  );
}
