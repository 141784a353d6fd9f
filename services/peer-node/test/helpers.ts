// Test plumbing: the real processes of a shoal swarm (nats-server, tracker, piece-store,
// peer-nodes) on 127.0.0.1 and free ports, gRPC clients on each peer-node's Unix socket, and
// random artifacts on disk. Everything started is stopped when the test ends.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { hashFilePieces } from '@shoal/hashing';
import { createPieceStoreClient, type PieceStoreClient } from '@shoal/piece-store-client';
import {
  type FetchProgress__Output,
  type FetchRequest,
  type PeerNodeClient,
  peerNodeProto,
  type StatusResponse__Output,
} from '@shoal/proto';
import { createTorrent } from '@shoal/protocol';
import {
  type AfterHook,
  type ManagedProcess,
  onCleanup,
  startNatsServer,
  startProcess,
} from '@shoal/testkit';

export const serviceDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

export async function tempDir(t: AfterHook, prefix = 'shoal-pn-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A file of `size` random bytes and its SHA-256 (hex), written in 1 MiB chunks. */
export async function randomFile(
  path: string,
  size: number,
): Promise<{ path: string; size: number; sha256: string }> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  for (let written = 0; written < size; ) {
    const chunk = randomBytes(Math.min(1024 * 1024, size - written));
    hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    written += chunk.length;
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  return { path, size, sha256: hash.digest('hex') };
}

export async function sha256OfFile(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

function node(
  script: string,
  name: string,
  env: Record<string, string>,
  t: AfterHook,
  ready: RegExp,
) {
  // SHOAL_RUN_BUILT=1 (the benchmark): the compiled dist/ output, as the images run it.
  const args =
    process.env.SHOAL_RUN_BUILT === '1'
      ? [join(repoRoot, script.replace('/src/', '/dist/').replace(/\.ts$/, '.js'))]
      : ['--conditions=source', join(repoRoot, script)];
  return startProcess(process.execPath, args, {
    name,
    cwd: repoRoot,
    env: { SHOAL_LOG_LEVEL: 'info', ...env },
    ready,
    readyTimeoutMs: 30_000,
    t,
  });
}

function readyLine<T>(proc: ManagedProcess, pattern: RegExp): Promise<T> {
  return proc.waitForLine(pattern, 1000).then((line) => JSON.parse(line) as T);
}

export interface Cluster {
  natsUrl: string;
  tracker: ManagedProcess;
  /** `http://127.0.0.1:<port>/announce` of the tracker. */
  announceUrl: string;
}

/** A real nats-server (JetStream) and a real tracker process. */
export async function startCluster(
  t: AfterHook,
  trackerEnv: Record<string, string> = {},
): Promise<Cluster> {
  const nats = await startNatsServer({ t });
  const tracker = await node(
    'services/tracker/src/main.ts',
    'tracker',
    {
      SHOAL_NATS_URL: nats.url,
      SHOAL_TRACKER_HTTP_HOST: '127.0.0.1',
      SHOAL_TRACKER_HTTP_PORT: '0',
      SHOAL_ANNOUNCE_INTERVAL_S: '4',
      SHOAL_TRACKER_NATS_RATE_PER_PEER: '20',
      SHOAL_TRACKER_NATS_BURST_PER_PEER: '100',
      SHOAL_TRACKER_HTTP_RATE_PER_IP: '1000',
      SHOAL_TRACKER_HTTP_BURST_PER_IP: '1000',
      ...trackerEnv,
    },
    t,
    /"msg":"tracker ready"/,
  );
  const { http } = await readyLine<{ http: string }>(tracker, /"msg":"tracker ready"/);
  return { natsUrl: nats.url, tracker, announceUrl: `${http}/announce` };
}

export interface PieceStoreProcess {
  proc: ManagedProcess;
  grpcAddress: string;
  wirePort: number;
  client: PieceStoreClient;
}

export async function startPieceStore(
  t: AfterHook,
  cluster: { natsUrl: string; announceUrl?: string },
  env: Record<string, string> = {},
): Promise<PieceStoreProcess> {
  const dataDir = await tempDir(t, 'shoal-ps-');
  const proc = await node(
    'services/piece-store/src/main.ts',
    'piece-store',
    {
      SHOAL_DATA_DIR: dataDir,
      SHOAL_NATS_URL: cluster.natsUrl,
      SHOAL_PIECE_STORE_GRPC_HOST: '127.0.0.1',
      SHOAL_PIECE_STORE_GRPC_PORT: '0',
      SHOAL_PIECE_STORE_HTTP_HOST: '127.0.0.1',
      SHOAL_PIECE_STORE_HTTP_PORT: '0',
      SHOAL_PIECE_STORE_WIRE_HOST: '127.0.0.1',
      SHOAL_PIECE_STORE_WIRE_PORT: '0',
      SHOAL_PIECE_STORE_ADVERTISE_IP: '127.0.0.1',
      SHOAL_PIECE_STORE_HASH_WORKERS: '1',
      SHOAL_PIECE_STORE_REPLICAS: '1',
      ...(cluster.announceUrl === undefined
        ? {}
        : { SHOAL_PIECE_STORE_ANNOUNCE_URL: cluster.announceUrl }),
      ...env,
    },
    t,
    /"msg":"piece-store ready"/,
  );
  const ready = await readyLine<{ grpcPort: number; wirePort: number }>(
    proc,
    /"msg":"piece-store ready"/,
  );
  const grpcAddress = `127.0.0.1:${ready.grpcPort}`;
  const client = createPieceStoreClient(grpcAddress, { deadlineMs: 20_000 });
  onCleanup(t, () => client.close());
  return { proc, grpcAddress, wirePort: ready.wirePort, client };
}

export interface PeerNodeProcess {
  proc: ManagedProcess;
  name: string;
  dataDir: string;
  socket: string;
  wirePort: number;
  httpPort: number;
  client: PeerNodeClient;
}

export interface StartPeerNodeOptions {
  name: string;
  cluster: { natsUrl: string };
  dataDir?: string;
  env?: Record<string, string>;
}

/** Starts `src/main.ts` and waits for its "peer-node ready" line; the client uses its socket. */
export async function startPeerNode(
  t: AfterHook,
  options: StartPeerNodeOptions,
): Promise<PeerNodeProcess> {
  const dataDir = options.dataDir ?? (await tempDir(t, `shoal-${options.name}-`));
  const socket = join(dataDir, 'peer-node.sock');
  const proc = await node(
    'services/peer-node/src/main.ts',
    options.name,
    {
      SHOAL_DATA_DIR: dataDir,
      SHOAL_NATS_URL: options.cluster.natsUrl,
      SHOAL_NODE_ID: options.name,
      SHOAL_WIRE_HOST: '127.0.0.1',
      SHOAL_WIRE_PORT: '0',
      SHOAL_ADVERTISE_IP: '127.0.0.1',
      SHOAL_HTTP_HOST: '127.0.0.1',
      SHOAL_HTTP_PORT: '0',
      SHOAL_PROGRESS_INTERVAL_MS: '250',
      SHOAL_PRESENCE_INTERVAL_S: '1',
      SHOAL_RESUME_INTERVAL_S: '1',
      ...options.env,
    },
    t,
    /"msg":"peer-node ready"/,
  );
  const ready = await readyLine<{ wirePort: number; httpPort: number }>(
    proc,
    /"msg":"peer-node ready"/,
  );
  const client = peerNodeClient(socket);
  onCleanup(t, () => client.close());
  return {
    proc,
    name: options.name,
    dataDir,
    socket,
    wirePort: ready.wirePort,
    httpPort: ready.httpPort,
    client,
  };
}

export function peerNodeClient(socket: string): PeerNodeClient {
  return new peerNodeProto.PeerNode(`unix://${socket}`, grpc.credentials.createInsecure(), {
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  }) as unknown as PeerNodeClient;
}

/**
 * Calls Fetch and collects every progress event until the stream ends; rejects with the
 * call's ServiceError (code + details) on a failure status or after `timeoutMs`.
 */
export function fetchAll(
  client: PeerNodeClient,
  request: FetchRequest,
  timeoutMs: number,
  onEvent?: (event: FetchProgress__Output) => void,
): Promise<FetchProgress__Output[]> {
  return new Promise((resolve, reject) => {
    const events: FetchProgress__Output[] = [];
    const call = client.Fetch(request, { deadline: new Date(Date.now() + timeoutMs) });
    call.on('data', (event: FetchProgress__Output) => {
      events.push(event);
      onEvent?.(event);
    });
    call.on('error', reject);
    call.on('end', () => resolve(events));
  });
}

export function status(client: PeerNodeClient): Promise<StatusResponse__Output> {
  return new Promise((resolve, reject) => {
    client.Status({}, { deadline: new Date(Date.now() + 5000) }, (error, response) =>
      error || response === undefined ? reject(error) : resolve(response),
    );
  });
}

/** Value of a Prometheus counter/gauge line (summed over label sets matching `labels`). */
export async function metric(httpPort: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest.startsWith('{') && !rest.includes(labels)) continue;
    if (!rest.startsWith('{') && !rest.startsWith(' ')) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A unary call as a promise. */
export function unary<T>(
  call: (callback: (error: grpc.ServiceError | null, value?: T) => void) => unknown,
): Promise<T> {
  return new Promise((resolve, reject) => {
    call((error, value) => (error ? reject(error) : resolve(value as T)));
  });
}

/**
 * A single-file .torrent for `file`, written to `torrentPath`, announcing to `announce`. Its
 * `sha256` is the file's unless one is given (a test of a torrent that contradicts its data).
 */
export async function writeTorrentFor(
  file: { path: string; size: number },
  options: {
    name: string;
    pieceLength: number;
    announce: string;
    torrentPath: string;
    sha256?: Uint8Array;
  },
): Promise<ReturnType<typeof createTorrent>> {
  const hashes = await hashFilePieces(file.path, {
    pieceLength: options.pieceLength,
    sha256: options.sha256 === undefined,
    workers: 1,
  });
  const made = createTorrent({
    name: options.name,
    length: file.size,
    pieceLength: options.pieceLength,
    pieces: hashes.pieces,
    sha256: options.sha256 ?? hashes.sha256!,
    announce: options.announce,
  });
  await writeFile(options.torrentPath, made.torrent);
  return made;
}
