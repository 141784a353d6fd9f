// A whole shoal swarm on one machine: a nats-server with JetStream, the tracker, one
// piece-store and N peer-nodes, each a separate process with its own data directory and log
// file under the run directory. `shoal up` runs one; the end-to-end tests drive one directly to
// kill and restart its parts.
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SUBJECT_PREFIX } from '@shoal/bus';
import { CliError, CliErrorCode } from './errors.ts';
import {
  findExecutable,
  freePort,
  isAlive,
  readCmdline,
  sameProcess,
  terminatePid,
} from './processes.ts';
import {
  describeExit,
  type ExitStatus,
  ServiceProcess,
  type ServiceSpec,
} from './service-process.ts';
import {
  type ProcessEntry,
  readStateFile,
  removeStateFile,
  type SwarmState,
  serviceEntries,
  writeStateFile,
} from './state.ts';

/** The repository root, where the services' sources live. */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

type Env = Record<string, string | undefined>;

export interface LocalSwarmOptions {
  /** Where data, logs and the state file go; made if missing. */
  runDir: string;
  /** Peer-nodes to start (0 to 200). */
  nodes: number;
  /** Base environment of every service; default `process.env`. */
  env?: Env;
  /** Added over everything else for one kind of service (tests use it for rate limits). */
  trackerEnv?: Env;
  pieceStoreEnv?: Env;
  peerNodeEnv?: (index: number) => Env;
  /** Racks the nodes are spread over (label `rack=rack-<i mod racks>`); default 2. */
  racks?: number;
  /** How long each batch of services may take to answer /readyz; default 120 s. */
  readyTimeoutMs?: number;
  /** SIGTERM to SIGKILL; default 10 s. */
  stopGraceMs?: number;
  /** Lines about processes starting, exiting and stopping. */
  onEvent?: (message: string) => void;
}

/** Most peer-nodes one machine's swarm starts. */
export const MAX_LOCAL_NODES = 200;

/**
 * Each node's wire listener gets an address of its own in 127.0.0.0/8 (Linux routes all of it
 * to loopback), as if each were a machine: a node that sends bad data is banned by address,
 * which must not ban every other node on the machine. Elsewhere everything is 127.0.0.1.
 */
const OWN_LOOPBACK_ADDRESSES = process.platform === 'linux';
export function pieceStoreWireHost(): string {
  return OWN_LOOPBACK_ADDRESSES ? '127.0.0.2' : '127.0.0.1';
}
export function peerNodeWireHost(index: number): string {
  return OWN_LOOPBACK_ADDRESSES ? `127.0.1.${index + 1}` : '127.0.0.1';
}
const LOCK_FILE = 'up.lock';
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * Defaults for a swarm on one machine: announce and presence more often than a datacenter
 * would, so a killed node is noticed in seconds. The caller's environment overrides these.
 */
const LOCAL_DEFAULTS: Env = {
  SHOAL_ANNOUNCE_INTERVAL_S: '10',
  SHOAL_STATS_INTERVAL_S: '2',
  SHOAL_PRESENCE_INTERVAL_S: '2',
  SHOAL_PIECE_STORE_HEARTBEAT_MS: '1000',
  SHOAL_PIECE_STORE_REPLICA_TTL_MS: '3000',
  SHOAL_PIECE_STORE_REPLICAS: '1',
};

export class LocalSwarm {
  readonly runDir: string;
  readonly #options: LocalSwarmOptions;
  readonly #processes = new Map<string, ServiceProcess>();
  readonly #abort = new AbortController();
  readonly #startedAt = Date.now();
  #state: SwarmState | undefined;
  #stopping: Promise<void> | undefined;
  /** Whether this process holds the run directory's lock (and so owns its files). */
  #locked = false;

  private constructor(options: LocalSwarmOptions) {
    this.#options = options;
    this.runDir = resolve(options.runDir);
  }

  /** Checks the options; `start()` then brings the swarm up. */
  static create(options: LocalSwarmOptions): LocalSwarm {
    if (!Number.isInteger(options.nodes) || options.nodes < 0 || options.nodes > MAX_LOCAL_NODES) {
      throw new CliError(
        CliErrorCode.Usage,
        `--nodes must be an integer from 0 to ${MAX_LOCAL_NODES}, got ${options.nodes}`,
      );
    }
    return new LocalSwarm(options);
  }

  /** `create` and `start` in one. */
  static async start(options: LocalSwarmOptions): Promise<LocalSwarm> {
    const swarm = LocalSwarm.create(options);
    await swarm.start();
    return swarm;
  }

  /**
   * Starts every service and resolves once all answer /readyz, with the state file written.
   * On any failure, or a `stop()` meanwhile, everything started is stopped and the error says
   * which service failed.
   */
  async start(): Promise<void> {
    await this.#lock();
    try {
      await this.#startAll();
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  /** The state as written to `swarm.json`. */
  get state(): SwarmState {
    if (this.#state === undefined) throw new Error('the swarm has not started');
    return this.#state;
  }

  /** The running process of a service by name (`nats-server`, `tracker`, `peer-node-2`...). */
  process(name: string): ServiceProcess {
    const child = this.#processes.get(name);
    if (child === undefined) throw new CliError(CliErrorCode.NotFound, `no process ${name}`);
    return child;
  }

  /** Names of every service, in start order. */
  names(): string[] {
    return [...this.#processes.keys()];
  }

  /** Kills one service (SIGKILL by default, as a crash) and waits until it is gone. */
  async kill(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitStatus> {
    const child = this.process(name);
    child.kill(signal);
    return child.exited;
  }

  /**
   * Stops one service (SIGKILL with `hard`, else SIGTERM) and starts it again with the same
   * ports, data and environment, after `downMs`; resolves once it is ready again.
   */
  async restart(name: string, options: { hard?: boolean; downMs?: number } = {}): Promise<void> {
    const child = this.process(name);
    if (options.hard) {
      child.kill('SIGKILL');
      await child.exited;
    } else {
      await child.stop(this.#graceMs());
    }
    if ((options.downMs ?? 0) > 0) await new Promise((r) => setTimeout(r, options.downMs));
    const next = await this.#spawn(child.spec);
    await next.waitReady(this.#readyTimeoutMs(), this.#abort.signal);
    this.#refreshPids();
    await writeStateFile(this.state);
  }

  /** Stops every service (peer-nodes first, nats-server last) and removes the state file. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopAll();
    return this.#stopping;
  }

  async #stopAll(): Promise<void> {
    this.#abort.abort();
    const grace = this.#graceMs();
    const byKind = (prefix: string) =>
      [...this.#processes.values()].filter((child) => child.name.startsWith(prefix));
    for (const prefix of ['peer-node-', 'piece-store-', 'tracker', 'nats-server']) {
      const group = byKind(prefix).filter((child) => child.exitStatus() === undefined);
      if (group.length === 0) continue;
      this.#event(`stopping ${group.map((child) => child.name).join(', ')}`);
      await Promise.all(group.map((child) => child.stop(grace)));
    }
    if (!this.#locked) return;
    await removeStateFile(this.runDir);
    await rm(join(this.runDir, LOCK_FILE), { force: true });
  }

  async #lock(): Promise<void> {
    await mkdir(this.runDir, { recursive: true });
    const existing = await readStateFile(this.runDir);
    const lockFile = join(this.runDir, LOCK_FILE);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(lockFile, 'wx');
        await handle.writeFile(
          JSON.stringify({ pid: process.pid, cmdline: readCmdline(process.pid) }),
        );
        await handle.close();
        this.#locked = true;
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
        const owner = await readLock(this.runDir);
        if (owner !== undefined && isAlive(owner.pid) && sameProcess(owner)) {
          throw new CliError(
            CliErrorCode.AlreadyRunning,
            `a swarm is already running in ${this.runDir} (pid ${owner.pid}); stop it with: shoal down --dir ${this.runDir}`,
          );
        }
        await rm(lockFile, { force: true });
      }
    }
    if (
      existing !== undefined &&
      isAlive(existing.supervisor.pid) &&
      sameProcess(existing.supervisor)
    ) {
      // Its lock file was removed by hand, but that swarm still runs: leave it alone.
      this.#locked = false;
      await rm(lockFile, { force: true });
      throw new CliError(
        CliErrorCode.AlreadyRunning,
        `a swarm is already running in ${this.runDir} (pid ${existing.supervisor.pid}); stop it with: shoal down --dir ${this.runDir}`,
      );
    }
    if (existing !== undefined) {
      // Left by a `shoal up` that was killed: stop whatever it left running.
      this.#event(`cleaning up a swarm left behind in ${this.runDir}`);
      await stopLeftovers(existing, this.#graceMs());
      await removeStateFile(this.runDir);
    }
  }

  async #startAll(): Promise<void> {
    const { nodes } = this.#options;
    const natsServer = findExecutable('nats-server');
    if (natsServer === undefined) {
      throw new CliError(
        CliErrorCode.ToolMissing,
        'nats-server is not installed (not on PATH nor in /usr/sbin): run ./scripts/setup.sh or apt-get install -y nats-server',
      );
    }
    for (const service of ['tracker', 'piece-store', 'peer-node']) {
      if (!existsSync(serviceMain(service))) {
        throw new CliError(
          CliErrorCode.StartFailed,
          `services/${service}/src/main.ts is missing: this checkout has no ${service} yet`,
        );
      }
    }
    const logs = join(this.runDir, 'logs');
    await mkdir(logs, { recursive: true });
    const ports = new PortAllocator();
    const base: Env = { ...LOCAL_DEFAULTS, ...(this.#options.env ?? process.env) };
    const prefix = base.SHOAL_NATS_PREFIX || DEFAULT_SUBJECT_PREFIX;

    const natsPort = await ports.next();
    const natsUrl = `nats://127.0.0.1:${natsPort}`;
    const storeDir = join(this.runDir, 'nats');
    await mkdir(storeDir, { recursive: true });
    const nats = await this.#spawn({
      name: 'nats-server',
      command: natsServer,
      args: ['-a', '127.0.0.1', '-p', String(natsPort), '-js', '-sd', storeDir],
      env: base,
      logFile: join(logs, 'nats-server.log'),
      ready: { natsPort },
    });
    await nats.waitReady(this.#readyTimeoutMs(), this.#abort.signal);

    const trackerHttpPort = await ports.next();
    const tracker = await this.#spawn({
      name: 'tracker',
      ...nodeService('tracker'),
      env: {
        ...base,
        SHOAL_NATS_URL: natsUrl,
        SHOAL_TRACKER_HTTP_HOST: '127.0.0.1',
        SHOAL_TRACKER_HTTP_PORT: String(trackerHttpPort),
        SHOAL_TRACKER_REPLICA_ID: 'tracker-0',
        ...this.#options.trackerEnv,
      },
      logFile: join(logs, 'tracker.log'),
      ready: { url: `http://127.0.0.1:${trackerHttpPort}/readyz` },
    });
    await tracker.waitReady(this.#readyTimeoutMs(), this.#abort.signal);

    const store = {
      grpcPort: await ports.next(),
      httpPort: await ports.next(),
      wirePort: await ports.next(),
      dataDir: join(this.runDir, 'piece-store-0'),
    };
    await mkdir(store.dataDir, { recursive: true });
    const pieceStore = await this.#spawn({
      name: 'piece-store-0',
      ...nodeService('piece-store'),
      env: {
        ...base,
        SHOAL_NATS_URL: natsUrl,
        SHOAL_DATA_DIR: store.dataDir,
        SHOAL_PIECE_STORE_GRPC_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_GRPC_PORT: String(store.grpcPort),
        SHOAL_PIECE_STORE_HTTP_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_HTTP_PORT: String(store.httpPort),
        SHOAL_PIECE_STORE_WIRE_HOST: pieceStoreWireHost(),
        SHOAL_PIECE_STORE_WIRE_PORT: String(store.wirePort),
        SHOAL_PIECE_STORE_ADVERTISE_IP: pieceStoreWireHost(),
        SHOAL_PIECE_STORE_REPLICA_ID: 'piece-store-0',
        SHOAL_PIECE_STORE_ANNOUNCE_URL: `http://127.0.0.1:${trackerHttpPort}/announce`,
        ...this.#options.pieceStoreEnv,
      },
      logFile: join(logs, 'piece-store-0.log'),
      ready: { url: `http://127.0.0.1:${store.httpPort}/readyz` },
    });
    await pieceStore.waitReady(this.#readyTimeoutMs(), this.#abort.signal);

    const racks = Math.max(1, this.#options.racks ?? 2);
    const peerNodes: SwarmState['peerNodes'] = [];
    for (let index = 0; index < nodes; index++) {
      const nodeId = `node-${index}`;
      const dataDir = join(this.runDir, `peer-node-${index}`);
      const grpcSocket = join(dataDir, 'grpc.sock');
      if (Buffer.byteLength(grpcSocket) > MAX_SOCKET_PATH) {
        throw new CliError(
          CliErrorCode.Usage,
          `the run directory ${this.runDir} is too long for a Unix socket path (${grpcSocket}); use a shorter --dir`,
        );
      }
      await mkdir(dataDir, { recursive: true });
      const wireHost = peerNodeWireHost(index);
      const wirePort = await ports.next();
      const httpPort = await ports.next();
      const labels = { zone: 'local', rack: `rack-${index % racks}`, host: nodeId, node: nodeId };
      const logFile = join(logs, `peer-node-${index}.log`);
      const child = await this.#spawn({
        name: `peer-node-${index}`,
        ...nodeService('peer-node'),
        env: {
          ...base,
          SHOAL_NATS_URL: natsUrl,
          SHOAL_DATA_DIR: dataDir,
          SHOAL_NODE_ID: nodeId,
          SHOAL_ZONE: labels.zone,
          SHOAL_RACK: labels.rack,
          SHOAL_HOST: labels.host,
          SHOAL_GRPC_SOCKET: grpcSocket,
          SHOAL_WIRE_HOST: wireHost,
          SHOAL_WIRE_PORT: String(wirePort),
          SHOAL_ADVERTISE_IP: wireHost,
          SHOAL_HTTP_HOST: '127.0.0.1',
          SHOAL_HTTP_PORT: String(httpPort),
          SHOAL_PIECE_STORE_ADDRESS: `127.0.0.1:${store.grpcPort}`,
          ...this.#options.peerNodeEnv?.(index),
        },
        logFile,
        ready: { url: `http://127.0.0.1:${httpPort}/readyz` },
      });
      peerNodes.push({
        name: child.name,
        pid: child.pid,
        cmdline: child.cmdline,
        logFile,
        index,
        nodeId,
        grpcSocket,
        httpUrl: `http://127.0.0.1:${httpPort}`,
        wireHost,
        wirePort,
        dataDir,
        distributeDir: join(dataDir, 'artifacts'),
        labels,
      });
    }
    // All nodes start at once; they share the CPU, so one deadline covers the batch.
    await Promise.all(
      peerNodes.map((node) =>
        this.process(node.name).waitReady(this.#readyTimeoutMs(), this.#abort.signal),
      ),
    );

    this.#state = {
      version: 1,
      runDir: this.runDir,
      supervisor: { pid: process.pid, cmdline: readCmdline(process.pid) },
      startedAt: this.#startedAt,
      ready: true,
      subjectPrefix: prefix,
      nats: entry(nats, { url: natsUrl, port: natsPort, storeDir }),
      tracker: entry(tracker, { httpUrl: `http://127.0.0.1:${trackerHttpPort}` }),
      pieceStores: [
        entry(pieceStore, {
          grpcAddress: `127.0.0.1:${store.grpcPort}`,
          httpUrl: `http://127.0.0.1:${store.httpPort}`,
          wireHost: pieceStoreWireHost(),
          wirePort: store.wirePort,
          dataDir: store.dataDir,
        }),
      ],
      peerNodes,
    };
    await writeStateFile(this.#state);
  }

  async #spawn(spec: ServiceSpec): Promise<ServiceProcess> {
    if (this.#abort.signal.aborted) {
      throw new CliError(CliErrorCode.Interrupted, `interrupted before ${spec.name} started`);
    }
    const child = await ServiceProcess.spawn(spec);
    this.#processes.set(spec.name, child);
    this.#event(`started ${spec.name} (pid ${child.pid}, log ${spec.logFile})`);
    void child.exited.then((status) => {
      if (this.#stopping === undefined && this.#processes.get(spec.name) === child) {
        this.#event(`${spec.name} exited (${describeExit(status)}); see ${spec.logFile}`);
      }
    });
    return child;
  }

  /** After a restart, the state names the new pids. */
  #refreshPids(): void {
    const state = this.state;
    for (const item of serviceEntries(state)) {
      const child = this.#processes.get(item.name);
      if (child === undefined) continue;
      item.pid = child.pid;
      item.cmdline = child.cmdline;
    }
  }

  #event(message: string): void {
    this.#options.onEvent?.(message);
  }

  #graceMs(): number {
    return this.#options.stopGraceMs ?? 10_000;
  }

  #readyTimeoutMs(): number {
    return this.#options.readyTimeoutMs ?? 120_000;
  }
}

function serviceMain(service: string): string {
  return join(REPO_ROOT, 'services', service, 'src', 'main.ts');
}

/** A Node.js service run from its TypeScript source. */
function nodeService(service: string): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--conditions=source', serviceMain(service)] };
}

function entry<T extends object>(child: ServiceProcess, extra: T): ProcessEntry & T {
  return {
    name: child.name,
    pid: child.pid,
    cmdline: child.cmdline,
    logFile: child.spec.logFile,
    ...extra,
  };
}

/** Ports picked by the kernel, never the same one twice in one swarm. */
class PortAllocator {
  readonly #taken = new Set<number>();

  async next(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await freePort();
      if (!this.#taken.has(port)) {
        this.#taken.add(port);
        return port;
      }
    }
    throw new CliError(CliErrorCode.StartFailed, 'could not find a free TCP port');
  }
}

async function readLock(runDir: string): Promise<{ pid: number; cmdline?: string } | undefined> {
  try {
    const parsed = JSON.parse(await readFile(join(runDir, LOCK_FILE), 'utf8')) as {
      pid?: unknown;
      cmdline?: unknown;
    };
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) {
      return undefined;
    }
    return typeof parsed.cmdline === 'string'
      ? { pid: parsed.pid, cmdline: parsed.cmdline }
      : { pid: parsed.pid };
  } catch {
    return undefined;
  }
}

/** Stops the processes a dead supervisor left running (services first, nats-server last). */
export async function stopLeftovers(state: SwarmState, graceMs: number): Promise<void> {
  const entries = serviceEntries(state);
  const services = entries.filter((item) => item.name !== 'nats-server');
  await Promise.all(services.map((item) => terminatePid(item, graceMs)));
  await terminatePid(state.nats, graceMs);
}

/**
 * Stops the swarm in `runDir` from another process (`shoal down`): asks its supervisor to stop
 * everything and waits, or stops the leftovers itself when the supervisor is gone. Returns
 * false when there was nothing to stop.
 */
export async function stopSwarm(
  runDir: string,
  options: { graceMs?: number; timeoutMs?: number } = {},
): Promise<boolean> {
  const dir = resolve(runDir);
  const graceMs = options.graceMs ?? 10_000;
  const state = await readStateFile(dir);
  const owner = state?.supervisor ?? (await readLock(dir));
  if (state === undefined && owner === undefined) return false;
  if (
    owner !== undefined &&
    owner.pid !== process.pid &&
    isAlive(owner.pid) &&
    sameProcess(owner)
  ) {
    await terminatePid(owner, options.timeoutMs ?? 4 * graceMs + 10_000);
  }
  const left = await readStateFile(dir);
  if (left !== undefined) await stopLeftovers(left, graceMs);
  await removeStateFile(dir);
  await rm(join(dir, LOCK_FILE), { force: true });
  return true;
}
