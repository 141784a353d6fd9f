import type { Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { HashingError, HashingErrorCode } from './errors.ts';
import {
  abortError,
  acquirePool,
  HashJob,
  type HashOptions,
  type PieceHashes,
  validateOptions,
} from './job.ts';

export interface FileHashes extends PieceHashes {
  /** Whole-file SHA-256, when `sha256` was asked for. */
  sha256?: Uint8Array;
}

export interface FilesHashes extends PieceHashes {
  /** Each file in order, with its own SHA-256 when `sha256` was asked for. */
  files: { path: string; length: number; sha256?: Uint8Array }[];
}

/**
 * SHA-1 of each `pieceLength` piece of a file (the last one may be shorter), and optionally its
 * SHA-256, hashed on worker threads with at most `maxInFlightBytes` of it in memory.
 */
export async function hashFilePieces(path: string, options: HashOptions): Promise<FileHashes> {
  const { pieces, length, files } = await hashFilesPieces([path], options);
  const sha256 = files[0]?.sha256;
  return sha256 === undefined ? { pieces, length } : { pieces, length, sha256 };
}

/**
 * Like `hashFilePieces` over several files read as one stream, as a multi-file torrent does:
 * a piece can span the end of one file and the start of the next. Files are opened as the
 * stream reaches them and closed once it has passed them.
 */
export async function hashFilesPieces(
  paths: readonly string[],
  options: HashOptions,
): Promise<FilesHashes> {
  validateOptions(options);
  if (options.signal?.aborted) throw abortError(options.signal);
  const lengths: number[] = [];
  for (const path of paths) lengths.push(await regularFileSize(path));
  const files = new ConcatenatedFiles(paths, lengths);
  const { pool, owned } = acquirePool(options);
  let job: HashJob | undefined;
  const reads = new Set<Promise<void>>();
  try {
    job = new HashJob(pool, options, files.ends, files.length);
    const blockCount = Math.ceil(files.length / job.blockBytes);
    for (let block = 0; block < blockCount; block++) {
      const slot = await job.acquireSlot();
      const start = block * job.blockBytes;
      const length = Math.min(job.blockBytes, files.length - start);
      const offset = job.placeBlock(slot, files.positionInFile(start));
      const target = job.view.subarray(offset, offset + length);
      const read: Promise<void> = files.read(start, target).then(
        () => job?.submit(block, slot, length),
        (error: unknown) => job?.fail(error instanceof Error ? error : new Error(String(error))),
      );
      reads.add(read);
      void read.finally(() => reads.delete(read));
    }
    await Promise.all(reads);
    const { pieces, sha256 } = await job.finish();
    return {
      pieces,
      length: files.length,
      files: paths.map((path, i) => {
        const length = lengths[i]!;
        const digest = sha256[i];
        return digest === undefined ? { path, length } : { path, length, sha256: digest };
      }),
    };
  } finally {
    // Reads still running write into the ring and use the handles: let them end first.
    await Promise.allSettled(reads);
    await files.close();
    job?.dispose();
    if (owned) await pool.close();
  }
}

/** Several files read as one stream with positional reads; reads must be issued in order. */
class ConcatenatedFiles {
  readonly ends: readonly number[];
  readonly length: number;
  readonly #paths: readonly string[];
  readonly #lengths: readonly number[];
  readonly #handles: (Promise<FileHandle> | undefined)[];
  /** Reads in progress on each file. */
  readonly #users: number[];
  readonly #closing: Promise<void>[] = [];
  /** End of the furthest read issued: files wholly before it are needed no more once idle. */
  #issuedUpTo = 0;

  constructor(paths: readonly string[], lengths: readonly number[]) {
    this.#paths = paths;
    this.#lengths = lengths;
    const ends: number[] = [];
    let total = 0;
    for (const length of lengths) {
      total += length;
      ends.push(total);
    }
    this.ends = ends;
    this.length = total;
    this.#handles = new Array(paths.length).fill(undefined);
    this.#users = new Array(paths.length).fill(0);
  }

  /** Fills `target` with the stream's bytes from `start`, crossing file ends as needed. */
  read(start: number, target: Uint8Array): Promise<void> {
    const end = start + target.length;
    const first = this.#fileAt(start);
    const last = this.#fileAt(end - 1);
    for (let file = first; file <= last; file++) this.#users[file]!++;
    this.#issuedUpTo = Math.max(this.#issuedUpTo, end);
    return this.#readFiles(first, last, start, target).finally(() => {
      for (let file = first; file <= last; file++) {
        if (--this.#users[file]! === 0 && this.ends[file]! <= this.#issuedUpTo) this.#release(file);
      }
    });
  }

  /** Where the stream's byte at `position` lies within its own file. */
  positionInFile(position: number): number {
    const file = this.#fileAt(position);
    return position - (this.ends[file]! - this.#lengths[file]!);
  }

  async close(): Promise<void> {
    for (let file = 0; file < this.#handles.length; file++) this.#release(file);
    await Promise.allSettled(this.#closing);
  }

  async #readFiles(first: number, last: number, start: number, target: Uint8Array): Promise<void> {
    let filled = 0;
    for (let file = first; file <= last; file++) {
      const fileStart = this.ends[file]! - this.#lengths[file]!;
      const position = start + filled - fileStart;
      const want = Math.min(target.length - filled, this.#lengths[file]! - position);
      if (want === 0) continue;
      const handle = await this.#open(file);
      // Bounded: each pass reads at least one byte or throws.
      for (let got = 0; got < want; ) {
        const bytesRead = await this.#readSome(
          file,
          handle,
          target,
          filled,
          want - got,
          position + got,
        );
        got += bytesRead;
        filled += bytesRead;
      }
    }
  }

  async #readSome(
    file: number,
    handle: FileHandle,
    target: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<number> {
    const path = this.#paths[file]!;
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(target, offset, length, position));
    } catch (cause) {
      throw new HashingError(HashingErrorCode.ReadFailed, `reading ${path} failed`, {
        cause,
        path,
      });
    }
    if (bytesRead === 0) {
      throw new HashingError(
        HashingErrorCode.FileChanged,
        `${path} ended early: it changed while being hashed`,
        { path },
      );
    }
    return bytesRead;
  }

  #open(file: number): Promise<FileHandle> {
    let handle = this.#handles[file];
    if (handle === undefined) {
      handle = openChecked(this.#paths[file]!, this.#lengths[file]!);
      // A failed open is reported by the read awaiting it; close() must not report it again.
      handle.catch(() => {});
      this.#handles[file] = handle;
    }
    return handle;
  }

  #release(file: number): void {
    const handle = this.#handles[file];
    if (handle === undefined) return;
    this.#handles[file] = undefined;
    // Close errors on a read-only file change nothing; a failed open was reported by its read.
    this.#closing.push(handle.then((h) => h.close()).catch(() => {}));
  }

  #fileAt(position: number): number {
    let low = 0;
    let high = this.ends.length - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.ends[mid]! <= position) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/** Opens a file and checks it is still the regular file of the size seen when listing. */
async function openChecked(path: string, length: number): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (cause) {
    throw fileError(path, cause);
  }
  const stats = await handle.stat();
  if (!stats.isFile() || stats.size !== length) {
    await handle.close();
    throw new HashingError(
      HashingErrorCode.FileChanged,
      `${path} changed while being hashed: size ${length}, now ${stats.size}`,
      { path },
    );
  }
  return handle;
}

async function regularFileSize(path: string): Promise<number> {
  let stats: Stats;
  try {
    stats = await stat(path);
  } catch (cause) {
    throw fileError(path, cause);
  }
  if (!stats.isFile()) {
    throw new HashingError(HashingErrorCode.NotAFile, `not a regular file: ${path}`, { path });
  }
  return stats.size;
}

function fileError(path: string, cause: unknown): HashingError {
  if ((cause as NodeJS.ErrnoException).code === 'ENOENT') {
    return new HashingError(HashingErrorCode.FileNotFound, `no such file: ${path}`, {
      cause,
      path,
    });
  }
  return new HashingError(HashingErrorCode.ReadFailed, `cannot open ${path}`, { cause, path });
}
