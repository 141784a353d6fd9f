import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type AfterHook, onCleanup } from './cleanup.ts';
import { TestkitError, TestkitErrorCode } from './errors.ts';
import { freePort } from './ports.ts';
import { type ManagedProcess, startProcess } from './process.ts';
import { waitFor } from './wait.ts';
import { requireExecutable } from './which.ts';

export interface NatsServerOptions {
  /** Enable JetStream (KV needs it); default true. */
  jetstream?: boolean;
  /** Default: a free port. */
  port?: number;
  /** Extra nats-server arguments. */
  args?: readonly string[];
  /**
   * A configuration file's text (e.g. an `authorization { ... }` block), written into the store
   * directory and passed with `-c`; the listen address, port and JetStream flags still come
   * from the command line, which overrides the file.
   */
  config?: string;
  /** Stops the server (and removes its store) when the test ends. */
  t?: AfterHook;
  /** Default 15 000 ms. */
  readyTimeoutMs?: number;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across `restart`, removed by `stop`). */
  readonly storeDir: string;
  /** The current server process (a new one after each `restart`). */
  process(): ManagedProcess;
  /** Output of every run so far. */
  logs(): string;
  /**
   * Stops the server and starts it again on the same port with the same store, as after a
   * crash (`hard: true`: SIGKILL) or a clean restart (default: SIGTERM). Resolves when it
   * accepts connections again.
   */
  restart(options?: { hard?: boolean; downMs?: number }): Promise<void>;
  /** Stops the server and removes its store directory. */
  stop(): Promise<void>;
}

/**
 * Starts the real `nats-server` binary on 127.0.0.1 and a free port with a store directory of
 * its own, and resolves once it logs "Server is ready" and a client socket gets its INFO line.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = requireExecutable('nats-server');
  const port = options.port ?? (await freePort());
  const storeDir = await mkdtemp(join(tmpdir(), 'shoal-nats-'));
  const args = ['-a', '127.0.0.1', '-p', String(port)];
  if (options.config !== undefined) {
    const file = join(storeDir, 'nats-server.conf');
    await writeFile(file, options.config, { mode: 0o600 });
    args.push('-c', file);
  }
  if (options.jetstream !== false) args.push('-js', '-sd', storeDir);
  args.push(...(options.args ?? []));
  const timeoutMs = options.readyTimeoutMs ?? 15_000;
  let previousLogs = '';
  let stopped = false;

  const launch = async (): Promise<ManagedProcess> => {
    const child = await startProcess(binary, args, {
      name: `nats-server:${port}`,
      ready: /Server is ready/,
      readyTimeoutMs: timeoutMs,
    });
    await waitFor(() => receivesInfo(port), {
      timeoutMs,
      description: `nats-server on port ${port} to send INFO`,
    });
    return child;
  };

  let current: ManagedProcess;
  try {
    current = await launch();
  } catch (error) {
    await rm(storeDir, { recursive: true, force: true });
    throw error;
  }

  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    process: () => current,
    logs: () => previousLogs + current.logs(),
    restart: async ({ hard = false, downMs = 0 } = {}) => {
      if (stopped) {
        throw new TestkitError(TestkitErrorCode.StartFailed, 'nats-server was stopped for good');
      }
      if (hard) {
        current.kill('SIGKILL');
        await current.exited;
      } else {
        await current.stop();
      }
      previousLogs += current.logs();
      if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
      current = await launch();
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await current.stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
  if (options.t !== undefined) onCleanup(options.t, () => server.stop());
  return server;
}

/** Whether a TCP client on `port` receives nats-server's `INFO {...}` greeting. */
function receivesInfo(port: number): Promise<boolean> {
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
