// `shoal up`: runs a local swarm in the foreground until Ctrl-C or `shoal down`; with
// --detach, starts a supervisor in the background and returns once the swarm is ready.
import { spawn } from 'node:child_process';
import { appendFileSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CliError, CliErrorCode, EXIT_CODES } from '../errors.ts';
import { renderTable } from '../format.ts';
import type { Output } from '../output.ts';
import { isAlive } from '../processes.ts';
import { lastLogLine } from '../service-process.ts';
import { readStateFile, type SwarmState } from '../state.ts';
import { LocalSwarm } from '../swarm.ts';

export interface UpOptions {
  nodes: number;
  detach: boolean;
  fileLog: boolean;
  readyTimeout: number;
  supervise?: boolean;
}

const MAIN = fileURLToPath(new URL('../main.ts', import.meta.url));
/** The supervisor's own log (its events, and its output when detached). */
export const UP_LOG = 'shoal-up.log';

export async function upCommand(
  context: { runDir: string; output: Output },
  options: UpOptions,
): Promise<void> {
  if (options.detach && !options.supervise) {
    await detach(context, options);
    return;
  }
  await runForeground(context, options);
}

async function runForeground(
  { runDir, output }: { runDir: string; output: Output },
  options: UpOptions,
): Promise<void> {
  const supervised = options.supervise === true;
  const fileLog = options.fileLog && !supervised ? join(runDir, 'logs', UP_LOG) : undefined;
  const event = (message: string) => {
    const line = `${new Date().toISOString()} ${message}`;
    // A detached supervisor's stderr is its log file; in the foreground it is the terminal.
    if (supervised || !output.json) process.stderr.write(`${line}\n`);
    if (fileLog !== undefined) appendFileSync(fileLog, `${line}\n`);
  };
  if (fileLog !== undefined) mkdirSync(join(runDir, 'logs'), { recursive: true });

  const swarm = LocalSwarm.create({
    runDir,
    nodes: options.nodes,
    readyTimeoutMs: options.readyTimeout * 1000,
    onEvent: event,
  });
  let signalled: NodeJS.Signals | undefined;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled !== undefined) {
        // A second Ctrl-C: do not wait for graceful shutdowns.
        event(`${signal} again: killing every process now`);
        for (const name of swarm.names()) swarm.process(name).kill('SIGKILL');
        return;
      }
      signalled = signal;
      event(`${signal}: stopping the swarm`);
      void swarm.stop().then(resolve);
    };
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
  });

  try {
    await swarm.start();
  } catch (error) {
    if (signalled !== undefined) {
      throw new CliError(CliErrorCode.Interrupted, `interrupted (${signalled}) while starting`);
    }
    throw error;
  }
  event(`swarm ready in ${runDir}`);
  if (!supervised) {
    printSwarm(output, swarm.state);
    output.note('the swarm runs until Ctrl-C or: shoal down');
  }
  await stopped;
  event('swarm stopped');
}

/** Starts `shoal up --supervise` in the background and waits until its swarm is ready. */
async function detach(
  { runDir, output }: { runDir: string; output: Output },
  options: UpOptions,
): Promise<void> {
  mkdirSync(join(runDir, 'logs'), { recursive: true });
  const logFile = join(runDir, 'logs', UP_LOG);
  const log = openSync(logFile, 'a');
  const args = [
    '--conditions=source',
    MAIN,
    '--dir',
    runDir,
    'up',
    '--supervise',
    '--nodes',
    String(options.nodes),
    '--ready-timeout',
    String(options.readyTimeout),
  ];
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', log, log],
    detached: true,
    env: process.env,
  });
  closeSync(log);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal === null ? 1 : 128);
      resolve();
    });
  });
  child.unref();

  const pid = child.pid;
  // Each service has `readyTimeout`; five of them in sequence at most, plus slack.
  const deadline = Date.now() + 5 * options.readyTimeout * 1000 + 30_000;
  for (;;) {
    const state = await readStateFile(runDir).catch(() => undefined);
    if (state?.ready && state.supervisor.pid === pid) {
      printSwarm(output, state);
      output.note(`the swarm runs in the background; stop it with: shoal down --dir ${runDir}`);
      return;
    }
    if (exitCode !== undefined || pid === undefined || !isAlive(pid)) {
      // Node may reap the child before its 'exit' event runs: wait briefly for its exit code
      // (which says why it stopped, e.g. 7 for a swarm already running) before assuming 1.
      if (exitCode === undefined && pid !== undefined) await Promise.race([exited, sleep(2000)]);
      const code = exitCode ?? 1;
      throw new CliError(
        codeForExit(code),
        `${(await lastLogLine(logFile)).replace(/^shoal: /, '')} (log: ${logFile})`,
      );
    }
    if (Date.now() > deadline) {
      throw new CliError(
        CliErrorCode.Timeout,
        `the swarm was not ready in time; see ${logFile} (stop it with: shoal down --dir ${runDir})`,
      );
    }
    await sleep(200);
  }
}

/** The error code whose exit code the detached supervisor ended with. */
function codeForExit(exitCode: number): CliErrorCode {
  const found = Object.entries(EXIT_CODES).find(([, code]) => code === exitCode);
  return (found?.[0] as CliErrorCode | undefined) ?? CliErrorCode.StartFailed;
}

function printSwarm(output: Output, state: SwarmState): void {
  output.result(state);
  const rows: string[][] = [
    ['nats-server', String(state.nats.pid), state.nats.url, state.nats.logFile],
  ];
  if (state.tracker !== undefined) {
    rows.push(['tracker', String(state.tracker.pid), state.tracker.httpUrl, state.tracker.logFile]);
  }
  for (const store of state.pieceStores) {
    rows.push([
      store.name,
      String(store.pid),
      `grpc ${store.grpcAddress}, wire ${store.wireHost}:${store.wirePort}`,
      store.logFile,
    ]);
  }
  for (const node of state.peerNodes) {
    rows.push([
      `${node.name} (${node.labels.rack})`,
      String(node.pid),
      `wire ${node.wireHost}:${node.wirePort}`,
      node.logFile,
    ]);
  }
  output.line(renderTable(['service', 'pid', 'address', 'log'], rows));
  output.line(
    `swarm ready: ${state.peerNodes.length} peer-nodes, state in ${state.runDir}/swarm.json`,
  );
}
