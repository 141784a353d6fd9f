// Where a torrent's bytes live: positional I/O on fs FileHandles, no streams, no whole-file
// buffers. BlobStorage keeps the content as one file (the piece-store's layout);
// FileLayoutStorage keeps the torrent's files under a directory (peer-node's layout).
import { constants, type FileHandle, mkdir, open, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import { checkPathComponent } from '@shoal/protocol';
import { SwarmError, SwarmErrorCode } from './errors.ts';

export interface PieceStorage {
  /** Fills `target` with the bytes at `begin` of piece `pieceIndex` (positional reads). */
  read(pieceIndex: number, begin: number, target: Uint8Array): Promise<void>;
  write(pieceIndex: number, begin: number, data: Uint8Array): Promise<void>;
  /** fsync of everything written. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

/** The torrent geometry storage needs (a Metainfo fits). */
export interface StorageLayout {
  readonly pieceLength: number;
  readonly totalLength: number;
}

export interface LayoutFile {
  /** Relative path components; for a Metainfo, `[name, ...path]`. */
  readonly path: readonly string[];
  readonly length: number;
  readonly offset: number;
}

export interface FileLayout extends StorageLayout {
  readonly files: readonly LayoutFile[];
}

const OPEN_READ_WRITE = constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW;
const OPEN_READ_ONLY = constants.O_RDONLY | constants.O_NOFOLLOW;

function absoluteRange(
  layout: StorageLayout,
  pieceIndex: number,
  begin: number,
  length: number,
): number {
  const start = pieceIndex * layout.pieceLength + begin;
  if (
    !Number.isSafeInteger(start) ||
    pieceIndex < 0 ||
    begin < 0 ||
    begin + length > layout.pieceLength ||
    start + length > layout.totalLength
  ) {
    throw new SwarmError(
      SwarmErrorCode.OutOfRange,
      `bytes ${begin}+${length} of piece ${pieceIndex} are outside the torrent`,
    );
  }
  return start;
}

async function readFully(handle: FileHandle, target: Uint8Array, position: number): Promise<void> {
  let done = 0;
  // Bounded: each pass reads at least one byte or throws.
  while (done < target.length) {
    const { bytesRead } = await handle.read(target, done, target.length - done, position + done);
    if (bytesRead === 0) {
      throw new SwarmError(
        SwarmErrorCode.OutOfRange,
        `file ended at ${position + done}, ${target.length - done} bytes short`,
      );
    }
    done += bytesRead;
  }
}

async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

async function sizeTo(handle: FileHandle, length: number, path: string): Promise<void> {
  const stats = await handle.stat();
  if (!stats.isFile()) {
    throw new SwarmError(SwarmErrorCode.UnsafePath, `${path} is not a regular file`);
  }
  if (stats.size !== length) await handle.truncate(length);
}

/** The whole content as one file. */
export class BlobStorage implements PieceStorage {
  readonly path: string;
  readonly #layout: StorageLayout;
  readonly #handle: FileHandle;

  private constructor(path: string, layout: StorageLayout, handle: FileHandle) {
    this.path = path;
    this.#layout = layout;
    this.#handle = handle;
  }

  /**
   * Opens (creating it unless `readOnly`) the file at `path`, sized to the torrent's length.
   * `readOnly`: for seeding only; the file must already have exactly that length.
   */
  static async open(
    path: string,
    layout: StorageLayout,
    options: { readOnly?: boolean } = {},
  ): Promise<BlobStorage> {
    const handle = await open(path, options.readOnly ? OPEN_READ_ONLY : OPEN_READ_WRITE, 0o644);
    try {
      if (options.readOnly) {
        const stats = await handle.stat();
        if (!stats.isFile() || stats.size !== layout.totalLength) {
          throw new SwarmError(
            SwarmErrorCode.OutOfRange,
            `${path} has ${stats.size} bytes, the torrent ${layout.totalLength}`,
          );
        }
      } else {
        await sizeTo(handle, layout.totalLength, path);
      }
    } catch (error) {
      await handle.close();
      throw error;
    }
    return new BlobStorage(path, layout, handle);
  }

  async read(pieceIndex: number, begin: number, target: Uint8Array): Promise<void> {
    const start = absoluteRange(this.#layout, pieceIndex, begin, target.length);
    return readFully(this.#handle, target, start);
  }

  async write(pieceIndex: number, begin: number, data: Uint8Array): Promise<void> {
    const start = absoluteRange(this.#layout, pieceIndex, begin, data.length);
    return writeFully(this.#handle, data, start);
  }

  flush(): Promise<void> {
    return this.#handle.datasync();
  }

  close(): Promise<void> {
    return this.#handle.close();
  }
}

/**
 * The torrent's files under `directory`. Every path is checked component by component and
 * again after resolution (including symlinks in the directories it passes through), so no
 * name in a torrent reaches outside the directory; files are opened without following a
 * symlink. Parent directories are created and each file is sized to its length up front.
 */
export class FileLayoutStorage implements PieceStorage {
  readonly directory: string;
  readonly #layout: FileLayout;
  readonly #handles: FileHandle[];
  /** End offset of each file, for the binary search from a byte offset to a file. */
  readonly #ends: number[];

  private constructor(directory: string, layout: FileLayout, handles: FileHandle[]) {
    this.directory = directory;
    this.#layout = layout;
    this.#handles = handles;
    this.#ends = layout.files.map((file) => file.offset + file.length);
  }

  /** The absolute path of `file` under `root`, refused if it could leave `root`. */
  static resolvePath(root: string, file: Pick<LayoutFile, 'path'>): string {
    if (file.path.length === 0) {
      throw new SwarmError(SwarmErrorCode.UnsafePath, 'a file with an empty path');
    }
    file.path.forEach((component, i) => {
      try {
        checkPathComponent(component, `path[${i}]`);
      } catch (cause) {
        throw new SwarmError(
          SwarmErrorCode.UnsafePath,
          `unsafe path ${JSON.stringify(file.path)}`,
          { cause },
        );
      }
    });
    const full = join(root, ...file.path);
    const rel = relative(root, full);
    if (rel === '' || isAbsolute(rel) || rel === '..' || rel.startsWith(`..${sep}`)) {
      throw new SwarmError(
        SwarmErrorCode.UnsafePath,
        `${JSON.stringify(file.path)} leaves ${root}`,
      );
    }
    return full;
  }

  static async open(directory: string, layout: FileLayout): Promise<FileLayoutStorage> {
    let covered = 0;
    for (const file of layout.files) {
      if (file.offset !== covered || !Number.isSafeInteger(file.length) || file.length < 0) {
        throw new SwarmError(SwarmErrorCode.InvalidOptions, 'files do not tile the torrent');
      }
      covered += file.length;
    }
    if (covered !== layout.totalLength) {
      throw new SwarmError(SwarmErrorCode.InvalidOptions, 'files do not add up to the length');
    }
    await mkdir(directory, { recursive: true });
    const root = await realpath(directory);
    const paths = layout.files.map((file) => FileLayoutStorage.resolvePath(root, file));
    const handles: FileHandle[] = [];
    try {
      for (const [i, path] of paths.entries()) {
        const parent = dirname(path);
        await mkdir(parent, { recursive: true });
        const realParent = await realpath(parent);
        if (realParent !== root && !realParent.startsWith(root + sep)) {
          throw new SwarmError(SwarmErrorCode.UnsafePath, `${parent} resolves outside ${root}`);
        }
        const handle = await open(path, OPEN_READ_WRITE, 0o644);
        handles.push(handle);
        await sizeTo(handle, layout.files[i]!.length, path);
      }
    } catch (error) {
      await Promise.allSettled(handles.map((handle) => handle.close()));
      throw error;
    }
    return new FileLayoutStorage(root, layout, handles);
  }

  async read(pieceIndex: number, begin: number, target: Uint8Array): Promise<void> {
    const start = absoluteRange(this.#layout, pieceIndex, begin, target.length);
    for (const { file, position, from, to } of this.#spans(start, target.length)) {
      await readFully(this.#handles[file]!, target.subarray(from, to), position);
    }
  }

  async write(pieceIndex: number, begin: number, data: Uint8Array): Promise<void> {
    const start = absoluteRange(this.#layout, pieceIndex, begin, data.length);
    for (const { file, position, from, to } of this.#spans(start, data.length)) {
      await writeFully(this.#handles[file]!, data.subarray(from, to), position);
    }
  }

  async flush(): Promise<void> {
    await Promise.all(this.#handles.map((handle) => handle.datasync()));
  }

  async close(): Promise<void> {
    await Promise.all(this.#handles.map((handle) => handle.close()));
  }

  /** The parts of [start, start + length) in each file, skipping empty files. */
  *#spans(
    start: number,
    length: number,
  ): Generator<{ file: number; position: number; from: number; to: number }> {
    let file = this.#firstFileEndingAfter(start);
    let offset = start;
    const end = start + length;
    while (offset < end && file < this.#ends.length) {
      const fileEnd = this.#ends[file]!;
      const fileStart = this.#layout.files[file]!.offset;
      const stop = Math.min(end, fileEnd);
      if (stop > offset) {
        yield { file, position: offset - fileStart, from: offset - start, to: stop - start };
        offset = stop;
      }
      file++;
    }
  }

  #firstFileEndingAfter(offset: number): number {
    let low = 0;
    let high = this.#ends.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.#ends[middle]! > offset) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}
