// `shoal publish <file|dir>`: streams the bytes to the piece-store's Ingest (a directory goes
// as one tar archive), hashing them on the way to check the digest the piece-store reports.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { Artifact__Output } from '@shoal/proto';
import { grpcError, pieceStoreClient } from '../clients.ts';
import { CliError, CliErrorCode, oneLine } from '../errors.ts';
import { formatBytes, formatDuration, formatRate } from '../format.ts';
import type { Output } from '../output.ts';
import { findExecutable } from '../processes.ts';
import { readRunningSwarm } from '../state.ts';

/** Bytes per Ingest message: large enough to be cheap, far under gRPC's 4 MiB limit. */
const CHUNK_BYTES = 1024 * 1024;
/** Most files summed up to estimate a directory's size for the progress bar. */
const MAX_SIZED_FILES = 100_000;

export interface PublishResult {
  infoHash: string;
  sha256: string;
  size: number;
  name: string;
  pieceLength: number;
  magnet: string;
  seconds: number;
}

export async function publishCommand(
  { runDir, output }: { runDir: string; output: Output },
  path: string,
  options: { name?: string },
): Promise<void> {
  const source = await openSource(path, options.name);
  const state = await readRunningSwarm(runDir);
  const store = state.pieceStores[0];
  if (store === undefined) throw new CliError(CliErrorCode.NoSwarm, 'the swarm has no piece-store');

  const client = pieceStoreClient(store.grpcAddress);
  const what = `the piece-store at ${store.grpcAddress}`;
  const started = Date.now();
  const hash = createHash('sha256');
  let sent = 0;
  const view = output.progress({
    bar: 'publish {bar} {percentage}% | {done}/{size} | {rate}',
    plain: (done, total) => `publish ${formatBytes(done)} of ${formatBytes(total)}`,
  });
  const fields = () => {
    const seconds = (Date.now() - started) / 1000;
    return {
      done: formatBytes(sent),
      size: formatBytes(source.size),
      rate: formatRate(seconds > 0 ? sent / seconds : 0),
    };
  };

  let artifact: Artifact__Output;
  try {
    artifact = await new Promise<Artifact__Output>((resolvePromise, reject) => {
      const call = client.Ingest((error, value) => {
        if (error !== null) reject(grpcError(what, error));
        else if (value === undefined)
          reject(new CliError(CliErrorCode.Failed, `${what}: empty reply`));
        else resolvePromise(value);
      });
      call.on('error', () => {}); // reported through the callback
      const pump = async () => {
        call.write({
          header: { name: source.name, expectedSize: source.exactSize ? source.size : 0 },
        });
        for await (const chunk of source.stream as AsyncIterable<Buffer>) {
          hash.update(chunk);
          sent += chunk.length;
          view.update(sent, Math.max(source.size, sent), fields());
          if (!call.write({ data: chunk })) {
            await new Promise<void>((drained) => call.once('drain', drained));
          }
        }
        await source.finished();
        call.end();
      };
      pump().catch((error: unknown) => {
        call.cancel();
        reject(error);
      });
    });
  } finally {
    view.stop();
    source.stream.destroy();
    client.close();
  }

  const digest = hash.digest('hex');
  if (artifact.sha256 !== digest) {
    throw new CliError(
      CliErrorCode.Failed,
      `the piece-store reports SHA-256 ${artifact.sha256} but ${digest} was sent`,
    );
  }
  const seconds = (Date.now() - started) / 1000;
  const result: PublishResult = {
    infoHash: artifact.infoHash,
    sha256: artifact.sha256,
    size: Number(artifact.size),
    name: artifact.name,
    pieceLength: artifact.pieceLength,
    magnet: artifact.magnet,
    seconds,
  };
  output.result(result);
  output.line(
    `published ${result.name} (${formatBytes(result.size)}) in ${formatDuration(seconds)}`,
  );
  output.line(`infohash  ${result.infoHash}`);
  output.line(`sha256    ${result.sha256}`);
  output.line(`magnet    ${result.magnet}`);
}

interface Source {
  name: string;
  /** Exact for a file; for a directory, the sum of its files (the archive is a bit larger). */
  size: number;
  exactSize: boolean;
  stream: Readable;
  /** Resolves once the source ended cleanly; rejects when the tar process failed. */
  finished(): Promise<void>;
}

async function openSource(path: string, name: string | undefined): Promise<Source> {
  const absolute = resolve(path);
  let stats: Awaited<ReturnType<typeof stat>>;
  try {
    stats = await stat(absolute);
  } catch (error) {
    throw new CliError(CliErrorCode.BadFile, `${path}: ${describeFsError(error)}`, {
      cause: error,
    });
  }
  if (stats.isFile()) {
    const stream = createReadStream(absolute, { highWaterMark: CHUNK_BYTES });
    // Open errors (permissions) arrive as an 'error' event; surface them as a bad file.
    await new Promise<void>((ready, fail) => {
      stream.once('open', () => ready());
      stream.once('error', (error) =>
        fail(
          new CliError(CliErrorCode.BadFile, `${path}: ${describeFsError(error)}`, {
            cause: error,
          }),
        ),
      );
    });
    return {
      name: name ?? basename(absolute),
      size: stats.size,
      exactSize: true,
      stream,
      finished: async () => {},
    };
  }
  if (stats.isDirectory()) return tarSource(absolute, name);
  throw new CliError(CliErrorCode.BadFile, `${path} is neither a regular file nor a directory`);
}

/**
 * A directory as a reproducible tar archive (sorted names, fixed times and owners), so the
 * same tree always gives the same infohash.
 */
async function tarSource(directory: string, name: string | undefined): Promise<Source> {
  const tar = findExecutable('tar');
  if (tar === undefined) {
    throw new CliError(
      CliErrorCode.ToolMissing,
      'publishing a directory needs tar, which is not installed',
    );
  }
  const size = await directorySize(directory);
  const child = spawn(
    tar,
    [
      '--create',
      '--file=-',
      '--format=gnu',
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      `--directory=${dirname(directory)}`,
      basename(directory),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-2000);
  });
  const exited = new Promise<number | null>((done) => child.once('close', done));
  return {
    name: name ?? `${basename(directory)}.tar`,
    size,
    exactSize: false,
    stream: child.stdout,
    finished: async () => {
      const code = await exited;
      if (code !== 0) {
        throw new CliError(CliErrorCode.BadFile, `tar of ${directory} failed: ${oneLine(stderr)}`);
      }
    },
  };
}

async function directorySize(root: string): Promise<number> {
  let total = 0;
  let files = 0;
  const pending = [root];
  while (pending.length > 0 && files < MAX_SIZED_FILES) {
    const directory = pending.pop()!;
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const full = join(directory, entry.name);
      if (entry.isDirectory()) pending.push(full);
      else if (entry.isFile()) {
        total += (await stat(full)).size;
        files++;
      }
    }
  }
  return total;
}

function describeFsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'is a directory';
  return oneLine(error);
}
