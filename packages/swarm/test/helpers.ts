// Test fixtures: real files in temp dirs, real torrents, real nodes on 127.0.0.1.
import { createHash, randomBytes } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { createTorrent, type Metainfo } from '@shoal/protocol';
import { PieceHashWorkers, SwarmNode, type SwarmNodeOptions } from '../src/index.ts';

export interface TestContent {
  metainfo: Metainfo;
  torrent: Uint8Array;
  /** All files concatenated. */
  data: Uint8Array;
  /** The content as one file (what an origin's BlobStorage reads). */
  blobPath: string;
}

/** A temp dir removed after the test. */
export async function tempDir(t: TestContext, prefix = 'shoal-swarm-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Random content, its .torrent (piece hashes by node:crypto) and a blob file of it.
 * `files` (lengths) makes a multi-file torrent.
 */
export async function makeContent(
  dir: string,
  options: {
    pieceLength: number;
    length?: number;
    files?: number[];
    name?: string;
    announce?: string;
  },
): Promise<TestContent> {
  const lengths = options.files ?? [options.length ?? 0];
  const total = lengths.reduce((a, b) => a + b, 0);
  const data = new Uint8Array(randomBytes(total));
  const pieceCount = Math.ceil(total / options.pieceLength);
  const pieces = new Uint8Array(pieceCount * 20);
  for (let i = 0; i < pieceCount; i++) {
    const piece = data.subarray(i * options.pieceLength, (i + 1) * options.pieceLength);
    pieces.set(createHash('sha1').update(piece).digest(), i * 20);
  }
  const name = options.name ?? 'content';
  const { torrent, metainfo } = createTorrent({
    name,
    pieceLength: options.pieceLength,
    pieces,
    ...(options.files
      ? {
          files: options.files.map((length, i) => ({
            path: [`dir${i % 2}`, `file${i}.bin`],
            length,
          })),
        }
      : { length: total }),
    ...(options.announce ? { announce: options.announce } : {}),
  });
  const blobPath = join(dir, `${name}.blob`);
  await writeFile(blobPath, data);
  return { metainfo, torrent, data, blobPath };
}

/** One set of hashing threads for every node of a test (the machine has 2 cores). */
export function sharedHashWorkers(t: TestContext): PieceHashWorkers {
  const workers = new PieceHashWorkers({ workers: 2 });
  t.after(() => workers.close());
  return workers;
}

/** A listening node on 127.0.0.1, closed after the test. */
export async function startNode(
  t: TestContext,
  options: SwarmNodeOptions = {},
): Promise<SwarmNode> {
  const node = new SwarmNode({ listenHost: '127.0.0.1', ...options });
  t.after(() => node.close());
  await node.listen();
  return node;
}

/** Resolves on `event`, rejects after `ms`. */
export function waitForEvent<T = unknown>(
  emitter: EventEmitter,
  event: string,
  ms: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`no '${event}' within ${ms} ms`));
    }, ms);
    const onEvent = (value: T) => {
      clearTimeout(timer);
      resolve(value);
    };
    emitter.once(event, onEvent);
  });
}

/** Polls `check` every 20 ms until true; rejects after `ms`. */
export async function waitUntil(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A TCP port free right now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || !address) throw new Error('no port');
  return address.port;
}
