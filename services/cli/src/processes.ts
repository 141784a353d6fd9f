// Small process helpers: finding programs, free ports, liveness, stopping by pid.
import { accessSync, constants, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// Debian installs nats-server in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an installed executable, or `undefined`. */
export function findExecutable(name: string): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS]) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it, we release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Whether a process with this pid runs (EPERM means it does, owned by someone else). A zombie
 * (exited, not yet reaped: common in containers whose init does not reap) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // The state follows the parenthesised command name: `123 (node) Z ...`.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

/** The NUL-separated command line of `pid` (Linux); `undefined` where /proc is not there. */
export function readCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1');
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is still the process that was recorded: same command line. Without /proc (or a
 * recorded command line) the pid alone is trusted.
 */
export function sameProcess(entry: { pid: number; cmdline?: string | undefined }): boolean {
  if (entry.cmdline === undefined) return true;
  const now = readCmdline(entry.pid);
  return now === undefined || now === entry.cmdline;
}

/** Sends `signal` to `pid` if it is alive; false when it was already gone. */
export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until `pid` is gone or `timeoutMs` passes; true when it is gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/**
 * Stops a process we did not spawn (only know by pid): SIGTERM, then SIGKILL after `graceMs`.
 * Skips it when the pid now belongs to another program.
 */
export async function terminatePid(
  entry: { pid: number; cmdline?: string | undefined },
  graceMs: number,
): Promise<void> {
  if (!isAlive(entry.pid) || !sameProcess(entry)) return;
  signalPid(entry.pid, 'SIGTERM');
  if (await waitForExit(entry.pid, graceMs)) return;
  signalPid(entry.pid, 'SIGKILL');
  await waitForExit(entry.pid, 5000);
}
