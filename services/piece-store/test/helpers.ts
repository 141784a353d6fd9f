// Test plumbing: real piece-store processes on free ports against a real nats-server, a gRPC
// client, and a real SwarmNode leecher that downloads over the wire protocol.

import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type Artifact,
  createPieceStoreClient,
  type PieceStoreClient,
} from '@shoal/piece-store-client';
import { parseTorrent } from '@shoal/protocol';
import { BlobStorage, type PeerAddress, SwarmNode, silentLogger } from '@shoal/swarm';
import { type ManagedProcess, startProcess, waitFor } from '@shoal/testkit';

export const serviceDir = fileURLToPath(new URL('..', import.meta.url));
export const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

export interface StoreProcess {
  proc: ManagedProcess;
  replicaId: string;
  dataDir: string;
  grpcPort: number;
  httpPort: number;
  wirePort: number;
  client: PieceStoreClient;
}

export interface StartStoreOptions {
  natsUrl: string;
  dataDir?: string;
  env?: Record<string, string>;
  name?: string;
}

export async function tempDir(t: TestContext, prefix = 'shoal-ps-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `src/main.ts` as a process and waits for its "piece-store ready" line. */
export async function startStore(
  t: TestContext,
  options: StartStoreOptions,
): Promise<StoreProcess> {
  const dataDir = options.dataDir ?? (await tempDir(t));
  const proc = await startProcess(
    process.execPath,
    ['--conditions=source', join(serviceDir, 'src/main.ts')],
    {
      name: options.name ?? 'piece-store',
      cwd: serviceDir,
      env: {
        SHOAL_DATA_DIR: dataDir,
        SHOAL_NATS_URL: options.natsUrl,
        SHOAL_PIECE_STORE_GRPC_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_GRPC_PORT: '0',
        SHOAL_PIECE_STORE_HTTP_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_HTTP_PORT: '0',
        SHOAL_PIECE_STORE_WIRE_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_WIRE_PORT: '0',
        SHOAL_PIECE_STORE_ADVERTISE_IP: '127.0.0.1',
        SHOAL_PIECE_STORE_HASH_WORKERS: '1',
        SHOAL_PIECE_STORE_HEARTBEAT_MS: '300',
        SHOAL_PIECE_STORE_REPLICA_TTL_MS: '1500',
        SHOAL_PIECE_STORE_RECONCILE_MS: '2000',
        SHOAL_PIECE_STORE_COPY_STALL_MS: '5000',
        ...options.env,
      },
      ready: /"msg":"piece-store ready"/,
      readyTimeoutMs: 60_000, // start-up verifies what it holds: slow on a busy 2-core machine
      t,
    },
  );
  const line = await proc.waitForLine(/"msg":"piece-store ready"/, 1000);
  const ready = JSON.parse(line) as {
    replica: string;
    grpcPort: number;
    httpPort: number;
    wirePort: number;
  };
  const client = createPieceStoreClient(`127.0.0.1:${ready.grpcPort}`, { deadlineMs: 20_000 });
  t.after(() => client.close());
  return {
    proc,
    replicaId: ready.replica,
    dataDir,
    grpcPort: ready.grpcPort,
    httpPort: ready.httpPort,
    wirePort: ready.wirePort,
    client,
  };
}

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** `count` chunks of `size` random bytes, and the whole. */
export function randomContent(size: number): Uint8Array {
  return new Uint8Array(randomBytes(size));
}

export function chunked(bytes: Uint8Array, chunk: number): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += chunk) {
    parts.push(bytes.subarray(offset, offset + chunk));
  }
  return parts;
}

/** Committed objects and leftover temporary entries in a data directory. */
export async function diskState(dataDir: string): Promise<{ objects: string[]; tmp: string[] }> {
  const list = async (dir: string) => (await readdir(join(dataDir, dir)).catch(() => [])).sort();
  return { objects: await list('objects'), tmp: await list('tmp') };
}

/**
 * Downloads an artifact over the BitTorrent wire protocol with a real SwarmNode leecher that
 * knows only `peers`, and returns the file's bytes.
 */
export async function downloadOverWire(
  t: TestContext,
  torrent: Uint8Array,
  peers: PeerAddress[],
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Uint8Array> {
  const metainfo = parseTorrent(torrent);
  const dir = await tempDir(t, 'shoal-leech-');
  const path = join(dir, 'data');
  const node = new SwarmNode({ listenHost: '127.0.0.1', logger: silentLogger, hashThreads: 1 });
  await node.listen();
  const storage = await BlobStorage.open(path, metainfo);
  try {
    const handle = node.addTorrent({ metainfo, storage });
    const deadline = AbortSignal.timeout(options.timeoutMs ?? 20_000);
    const signal =
      options.signal === undefined ? deadline : AbortSignal.any([deadline, options.signal]);
    const complete = once(handle, 'complete', { signal });
    handle.addPeers(peers);
    await complete;
    await handle.stop();
  } finally {
    await storage.close();
    await node.close();
  }
  return new Uint8Array(await readFile(path));
}

/** Polls `probe` until it returns true (bounded). */
export function eventually(
  probe: () => Promise<boolean> | boolean,
  description: string,
  timeoutMs = 20_000,
): Promise<void> {
  return waitFor(probe, { timeoutMs, intervalMs: 100, description }).then(() => undefined);
}

export type { Artifact };
