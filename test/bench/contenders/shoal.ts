// shoal on the test network: nats-server (JetStream), the tracker and one piece-store on the
// origin host, one peer-node on every other host. The artifact is published with `shoal publish`
// and sent to every node with `shoal distribute`, both run on the origin host like an operator
// would; the time is the CLI's own (from the fleet command to the last node's `complete`, which
// a node sends after checking every piece and the whole-file SHA-256).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, STATE_FILE_NAME, SwarmState } from '@shoal/cli';
import { type ManagedProcess, requireExecutable } from '@shoal/testkit';
import {
  type ContenderRun,
  cpuOf,
  type RunContext,
  RunWindow,
  saveLogs,
  verifyCopies,
} from '../contender.ts';
import { BenchError, BenchErrorCode } from '../errors.ts';
import type { Host } from '../netns.ts';

const SHOAL_BIN = fileURLToPath(new URL('../../../services/cli/bin/shoal.js', import.meta.url));
const PORTS = { nats: 4222, trackerHttp: 6969, grpc: 7070, http: 7071, wire: 6881 } as const;
const READY_TIMEOUT_MS = 240_000;
/** Graceful stop: profiles are written when a process exits by itself. */
const STOP_GRACE_MS = 15_000;

/**
 * The defaults `shoal up` uses on one machine (announce, stats and presence every few seconds),
 * so nodes learn about each other as fast as in the demo; rates are the links' business.
 */
const SWARM_ENV: Record<string, string> = {
  SHOAL_ANNOUNCE_INTERVAL_S: '10',
  SHOAL_STATS_INTERVAL_S: '2',
  SHOAL_PRESENCE_INTERVAL_S: '2',
  SHOAL_PROGRESS_INTERVAL_MS: '1000',
  SHOAL_PIECE_STORE_HEARTBEAT_MS: '1000',
  SHOAL_PIECE_STORE_REPLICA_TTL_MS: '3000',
  SHOAL_PIECE_STORE_REPLICAS: '1',
};

/**
 * Services run from their compiled dist/ as the images run them (scripts/bench.sh builds it
 * first); SHOAL_BENCH_SOURCE=1 runs the .ts sources instead (~17 MB more per process).
 */
function service(name: string, profileDir: string | undefined): string[] {
  const profile = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`];
  const entry =
    process.env.SHOAL_BENCH_SOURCE === '1'
      ? ['--conditions=source', join(REPO_ROOT, 'services', name, 'src', 'main.ts')]
      : [join(REPO_ROOT, 'services', name, 'dist', 'main.js')];
  return [...profile, ...entry];
}

interface DistributeReport {
  wallSeconds: number;
  complete: number;
  bytesFromOrigin: number;
  bytesFromPeers: number;
  nodes: { nodeId: string; state: string; seconds?: number; path?: string; error?: string }[];
}

export async function runShoal(context: RunContext): Promise<ContenderRun> {
  const { network, artifact, workDir } = context;
  const origin = network.origin;
  const hosts = network.hosts.slice(1);
  const natsServer = requireExecutable('nats-server');
  const started: ManagedProcess[] = [];
  let measuring: RunWindow | undefined;
  const logsDir = join(context.logsDir, 'shoal');
  const natsUrl = `nats://${origin.ip}:${PORTS.nats}`;
  const env = { ...SWARM_ENV, SHOAL_LOG_LEVEL: context.shoalLogLevel ?? 'info' };
  try {
    const natsDir = join(workDir, 'nats');
    await mkdir(natsDir, { recursive: true });
    const nats = await network.spawn(
      origin,
      natsServer,
      ['-a', '0.0.0.0', '-p', String(PORTS.nats), '-js', '-sd', natsDir],
      { name: 'nats-server', ready: /Server is ready/, readyTimeoutMs: 30_000 },
    );
    started.push(nats);

    const tracker = await network.spawn(origin, process.execPath, service('tracker', undefined), {
      name: 'tracker',
      env: {
        ...env,
        SHOAL_NATS_URL: natsUrl,
        SHOAL_TRACKER_HTTP_HOST: origin.ip,
        SHOAL_TRACKER_HTTP_PORT: String(PORTS.trackerHttp),
        SHOAL_TRACKER_REPLICA_ID: 'tracker-0',
      },
      ready: { url: `http://${origin.ip}:${PORTS.trackerHttp}/readyz` },
      readyTimeoutMs: READY_TIMEOUT_MS,
    });
    started.push(tracker);

    const storeDir = join(workDir, 'piece-store-0');
    const pieceStore = await network.spawn(
      origin,
      process.execPath,
      service('piece-store', context.profileDir),
      {
        name: 'piece-store',
        env: {
          ...env,
          SHOAL_NATS_URL: natsUrl,
          SHOAL_DATA_DIR: storeDir,
          SHOAL_PIECE_STORE_GRPC_HOST: origin.ip,
          SHOAL_PIECE_STORE_GRPC_PORT: String(PORTS.grpc),
          SHOAL_PIECE_STORE_HTTP_HOST: origin.ip,
          SHOAL_PIECE_STORE_HTTP_PORT: String(PORTS.http),
          SHOAL_PIECE_STORE_WIRE_HOST: origin.ip,
          SHOAL_PIECE_STORE_WIRE_PORT: String(PORTS.wire),
          SHOAL_PIECE_STORE_ADVERTISE_IP: origin.ip,
          SHOAL_PIECE_STORE_REPLICA_ID: 'piece-store-0',
          SHOAL_PIECE_STORE_ANNOUNCE_URL: `http://${origin.ip}:${PORTS.trackerHttp}/announce`,
        },
        ready: { url: `http://${origin.ip}:${PORTS.http}/readyz` },
        readyTimeoutMs: READY_TIMEOUT_MS,
      },
    );
    started.push(pieceStore);

    const nodes = await Promise.all(
      hosts.map((host) => startPeerNode(context, host, { natsUrl, env }, host.index === 1)),
    );
    started.push(...nodes.map((node) => node.process));

    const runDir = join(workDir, 'cli');
    await mkdir(runDir, { recursive: true });
    await writeFile(
      join(runDir, STATE_FILE_NAME),
      `${JSON.stringify(
        stateFile(runDir, natsUrl, origin, { nats, tracker, pieceStore, storeDir, natsDir }, nodes),
        null,
        2,
      )}\n`,
    );

    const publish = await network.exec(
      origin,
      process.execPath,
      [SHOAL_BIN, '--dir', runDir, '--json', 'publish', artifact.path],
      { timeoutMs: 600_000 },
    );
    if (publish.code !== 0) {
      throw new BenchError(
        BenchErrorCode.ContenderFailed,
        `shoal publish failed (${publish.code ?? publish.signal}): ${publish.stderr.trim()}`,
      );
    }
    const published = JSON.parse(publish.stdout) as {
      infoHash: string;
      sha256: string;
      pieceLength: number;
    };
    if (published.sha256 !== artifact.sha256) {
      throw new BenchError(BenchErrorCode.ContenderFailed, 'the piece-store stored other bytes');
    }
    context.log(`  shoal: published ${published.infoHash} (piece ${published.pieceLength} B)`);

    const originPids = [nats.pid, tracker.pid, pieceStore.pid];
    const hostPids = nodes.map((node) => node.process.pid);
    // Each scrape resets the services' event-loop delay histograms: the next covers the run.
    const metricsUrls = new Map([
      ['piece-store', `http://${origin.ip}:${PORTS.http}/metrics`],
      ...nodes.map(
        (node) => [node.process.name, `http://${node.host.ip}:${PORTS.http}/metrics`] as const,
      ),
    ]);
    await Promise.all([...metricsUrls.values()].map((url) => eventLoopDelay(url).catch(() => {})));
    measuring = await RunWindow.begin(network, [...originPids, ...hostPids]);
    const reportFile = join(workDir, 'distribute.json');
    const timeoutS = Math.ceil(context.timeoutMs / 1000);
    const distribute = await network.exec(
      origin,
      process.execPath,
      [
        SHOAL_BIN,
        '--dir',
        runDir,
        '--json',
        'distribute',
        published.infoHash,
        '--timeout',
        String(timeoutS),
        '--report',
        reportFile,
      ],
      { timeoutMs: context.timeoutMs + 30_000 },
    );
    const measured = await measuring.end([...originPids, ...hostPids]);
    const spent = measured.cpu;
    const delays = new Map<string, EventLoopDelay | undefined>();
    for (const [name, url] of metricsUrls) {
      delays.set(name, await eventLoopDelay(url).catch(() => undefined));
    }
    if (distribute.code !== 0) {
      throw new BenchError(
        BenchErrorCode.ContenderFailed,
        `shoal distribute failed (${distribute.code ?? distribute.signal}): ${distribute.stderr.trim()}`,
      );
    }
    const report = JSON.parse(distribute.stdout) as DistributeReport;
    const byNode = new Map(report.nodes.map((node) => [node.nodeId, node]));
    const outcomes = hosts.map((host) => byNode.get(nodeId(host)));
    const missing = hosts.filter((_, i) => outcomes[i]?.state !== 'complete');
    if (missing.length > 0) {
      throw new BenchError(
        BenchErrorCode.ContenderFailed,
        `shoal: hosts not complete: ${missing.map((host) => nodeId(host)).join(', ')}`,
      );
    }
    await verifyCopies(
      artifact,
      outcomes.map((node) => node!.path!),
    );
    return {
      contender: 'shoal',
      seconds: report.wallSeconds,
      hostSeconds: outcomes.map((node) => node!.seconds ?? Number.NaN),
      originTxBytes: measured.originTxBytes,
      sentBytes: measured.sentBytes,
      sentPackets: measured.sentPackets,
      timeline: measured.timeline,
      originPayloadBytes: report.bytesFromOrigin,
      cpuSeconds: {
        origin: cpuOf(spent, originPids),
        hosts: cpuOf(spent, hostPids),
        hostsInKernel: cpuOf(spent, hostPids, 'system'),
      },
      details: {
        infoHash: published.infoHash,
        pieceLength: published.pieceLength,
        bytesFromPeers: report.bytesFromPeers,
        eventLoopDelayMs: Object.fromEntries(delays),
        cpuPerProcess: Object.fromEntries(
          started.map((child) => [child.name, round(spent.get(child.pid)?.total ?? 0)]),
        ),
      },
    };
  } catch (error) {
    await saveLogs(logsDir, started).catch(() => {});
    throw error;
  } finally {
    measuring?.abandon();
    // Peer-nodes first, nats-server last, as `shoal down` does.
    for (const child of [...started].reverse()) await child.stop(STOP_GRACE_MS);
    if (context.profileDir !== undefined || context.shoalLogLevel !== undefined) {
      await saveLogs(logsDir, started).catch(() => {});
    }
  }
}

interface EventLoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/** Event-loop delay (ms) since the previous scrape, from a service's Prometheus metrics. */
async function eventLoopDelay(url: string): Promise<EventLoopDelay> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  const read = (name: string) => {
    const match = new RegExp(
      `^\\w*nodejs_eventloop_lag_${name}_seconds(?:\\{[^}]*\\})? (\\S+)$`,
      'm',
    ).exec(text);
    return match === null ? Number.NaN : round(Number(match[1]) * 1000);
  };
  return { p50: read('p50'), p99: read('p99'), max: read('max') };
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}

function nodeId(host: Host): string {
  return `host-${host.index}`;
}

interface PeerNode {
  host: Host;
  process: ManagedProcess;
  dataDir: string;
}

async function startPeerNode(
  context: RunContext,
  host: Host,
  swarm: { natsUrl: string; env: Record<string, string> },
  profiled: boolean,
): Promise<PeerNode> {
  const dataDir = join(context.workDir, `peer-node-${host.index}`);
  await mkdir(dataDir, { recursive: true });
  const child = await context.network.spawn(
    host,
    process.execPath,
    service('peer-node', profiled ? context.profileDir : undefined),
    {
      name: `peer-node-${host.index}`,
      env: {
        ...swarm.env,
        SHOAL_NATS_URL: swarm.natsUrl,
        SHOAL_DATA_DIR: dataDir,
        SHOAL_NODE_ID: nodeId(host),
        SHOAL_ZONE: 'bench',
        SHOAL_RACK: 'rack-0',
        SHOAL_HOST: nodeId(host),
        SHOAL_WIRE_HOST: host.ip,
        SHOAL_WIRE_PORT: String(PORTS.wire),
        SHOAL_ADVERTISE_IP: host.ip,
        SHOAL_HTTP_HOST: host.ip,
        SHOAL_HTTP_PORT: String(PORTS.http),
      },
      ready: { url: `http://${host.ip}:${PORTS.http}/readyz` },
      readyTimeoutMs: READY_TIMEOUT_MS,
    },
  );
  return { host, process: child, dataDir };
}

/** The state file `shoal publish` and `shoal distribute` read to find this swarm. */
function stateFile(
  runDir: string,
  natsUrl: string,
  origin: Host,
  services: {
    nats: ManagedProcess;
    tracker: ManagedProcess;
    pieceStore: ManagedProcess;
    storeDir: string;
    natsDir: string;
  },
  nodes: PeerNode[],
): SwarmState {
  const logFile = join(runDir, 'logs', 'not-written.log');
  return SwarmState.parse({
    version: 1,
    runDir,
    supervisor: { pid: process.pid },
    startedAt: Date.now(),
    ready: true,
    subjectPrefix: 'shoal',
    nats: {
      name: 'nats-server',
      pid: services.nats.pid,
      logFile,
      url: natsUrl,
      port: PORTS.nats,
      storeDir: services.natsDir,
    },
    tracker: {
      name: 'tracker',
      pid: services.tracker.pid,
      logFile,
      httpUrl: `http://${origin.ip}:${PORTS.trackerHttp}`,
    },
    pieceStores: [
      {
        name: 'piece-store-0',
        pid: services.pieceStore.pid,
        logFile,
        grpcAddress: `${origin.ip}:${PORTS.grpc}`,
        httpUrl: `http://${origin.ip}:${PORTS.http}`,
        wireHost: origin.ip,
        wirePort: PORTS.wire,
        dataDir: services.storeDir,
      },
    ],
    peerNodes: nodes.map((node) => ({
      name: `peer-node-${node.host.index}`,
      pid: node.process.pid,
      logFile,
      index: node.host.index - 1,
      nodeId: nodeId(node.host),
      grpcSocket: join(node.dataDir, 'peer-node.sock'),
      httpUrl: `http://${node.host.ip}:${PORTS.http}`,
      wireHost: node.host.ip,
      wirePort: PORTS.wire,
      dataDir: node.dataDir,
      distributeDir: join(node.dataDir, 'artifacts'),
      labels: { zone: 'bench', rack: 'rack-0', host: nodeId(node.host), node: nodeId(node.host) },
    })),
  });
}
