// Ingest: bytes in (an upload stream or a local file), a committed artifact out. The bytes go
// to a staged file and to the hash workers at the same time, so memory stays at the hasher's
// ring whatever the size; nothing becomes visible until every check has passed.
import { constants } from 'node:fs';
import { copyFile, type FileHandle, lstat, open, realpath } from 'node:fs/promises';
import { basename, isAbsolute, relative, resolve, sep } from 'node:path';
import { bytesToHex } from '@shoal/bus';
import { type HashPool, hashFilePieces, PieceHasher } from '@shoal/hashing';
import {
  checkPathComponent,
  choosePieceLength,
  createTorrent,
  MetainfoError,
  magnetFromMetainfo,
  parseTorrent,
} from '@shoal/protocol';
import { isNoSpaceError, PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import type { ArtifactRecord, ArtifactStore, StagedObject } from './store.ts';

/** Room for bytes about to be written; see Retention. */
export interface SpaceBudget {
  reserve(bytes: number): Promise<Reservation>;
}
export interface Reservation {
  /** Asks for `bytes` more; throws PieceStoreError(NoSpace) when they cannot be found. */
  grow(bytes: number): Promise<void>;
  /** Takes `bytes` more only if they are free now (never evicts); false otherwise. */
  tryGrow(bytes: number): boolean;
  release(): void;
}

export interface IngestRequest {
  name: string;
  /** Empty or 32 bytes. */
  expectedSha256?: Uint8Array;
  /** 0 or undefined: unknown. */
  expectedSize?: number;
}

export interface IngestResult {
  record: ArtifactRecord;
  torrent: Uint8Array;
  magnet: string;
  /** False when the same artifact was already stored. */
  created: boolean;
}

export interface IngestorOptions {
  store: ArtifactStore;
  pool: HashPool;
  budget: SpaceBudget;
  /** Written as the torrent's `announce` when set, so standard clients find the HTTP tracker. */
  announceUrl?: string | undefined;
  /** Root that IngestPath may read below; undefined disables IngestPath. */
  ingestRoot?: string | undefined;
  /** Bytes held by the hasher at once (default: the hasher's own). */
  maxInFlightBytes?: number | undefined;
  /** Called when an artifact is committed for the first time (to seed and replicate it). */
  onStored?: (result: IngestResult) => void;
  /** Piece length for a given size; default `choosePieceLength`. */
  pieceLengthFor?: (size: number) => number;
}

/** Reservations grow in steps this large for uploads of unknown size (less when tight). */
const RESERVE_STEP = 16 * 1024 * 1024;
/** Chunk writes in flight at once during an upload. */
const MAX_WRITES_IN_FLIGHT = 4;
/** Longest artifact accepted (2^53 is the JSON-safe limit; far beyond any disk). */
const MAX_SIZE = Number.MAX_SAFE_INTEGER;

export class Ingestor {
  readonly #options: IngestorOptions;
  readonly #pieceLengthFor: (size: number) => number;

  constructor(options: IngestorOptions) {
    this.#options = options;
    this.#pieceLengthFor = options.pieceLengthFor ?? choosePieceLength;
  }

  /**
   * Stores the bytes of `chunks` as the artifact `request.name`. With `signal` aborted or the
   * chunks failing, nothing is stored and the error is PieceStoreError(Cancelled).
   */
  async ingestStream(
    request: IngestRequest,
    chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    signal?: AbortSignal,
  ): Promise<IngestResult> {
    const expected = checkRequest(request);
    const { store, budget } = this.#options;
    let reserved = expected.size ?? 0;
    const reservation = await budget.reserve(reserved);
    let staged: StagedObject | undefined;
    let file: FileHandle | undefined;
    let writes: WriteWindow | undefined;
    const guessedPieceLength = this.#pieceLengthFor(expected.size ?? 0);
    const hasher = new PieceHasher({
      pieceLength: guessedPieceLength,
      sha256: true,
      pool: this.#options.pool,
      ...this.#inFlight(),
    });
    try {
      staged = await store.stage();
      file = await open(staged.dataPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL);
      writes = new WriteWindow(file, MAX_WRITES_IN_FLIGHT);
      let size = 0;
      try {
        for await (const chunk of chunks) {
          if (signal?.aborted) break;
          if (chunk.length === 0) continue;
          size += chunk.length;
          if (expected.size !== undefined && size > expected.size) {
            throw new PieceStoreError(
              PieceStoreErrorCode.DigestMismatch,
              `upload is longer than the declared ${expected.size} bytes`,
            );
          }
          if (size > reserved) reserved += await growReservation(reservation, size - reserved);
          await writes.push(chunk, size - chunk.length);
          await hasher.update(chunk);
        }
        await writes.drain();
      } catch (error) {
        if (error instanceof PieceStoreError || isNoSpaceError(error)) throw error;
        throw cancelled(error);
      }
      if (signal?.aborted) throw cancelled(signal.reason);
      if (size === 0) {
        throw new PieceStoreError(PieceStoreErrorCode.InvalidArgument, 'the upload is empty');
      }
      if (expected.size !== undefined && size !== expected.size) {
        throw new PieceStoreError(
          PieceStoreErrorCode.DigestMismatch,
          `upload is ${size} bytes, declared ${expected.size}`,
        );
      }
      const streamed = await hasher.finish();
      await file.sync();
      await file.close();
      file = undefined;
      const pieceLength = this.#pieceLengthFor(size);
      // Size unknown up front and the guess was wrong: hash the pieces again from disk.
      const pieces =
        pieceLength === guessedPieceLength
          ? streamed.pieces
          : (
              await hashFilePieces(staged.dataPath, {
                pieceLength,
                pool: this.#options.pool,
                ...this.#inFlight(),
              })
            ).pieces;
      return await this.#commit(staged, request.name, size, pieceLength, pieces, streamed.sha256!, {
        expectedSha256: expected.sha256,
        signal,
      });
    } catch (error) {
      await hasher.abort(error).catch(() => {});
      await writes?.settle();
      await file?.close().catch(() => {});
      if (staged !== undefined) await store.discard(staged);
      throw toIngestError(error);
    } finally {
      reservation.release();
    }
  }

  /**
   * Stores a copy of a file below the configured ingest root. The copy is hashed (not the
   * original), so a file changed during the copy cannot give a torrent that lies.
   */
  async ingestPath(
    path: string,
    request: Omit<IngestRequest, 'expectedSize'>,
    signal?: AbortSignal,
  ): Promise<IngestResult> {
    const source = await this.#checkedSource(path);
    const name = request.name === '' ? basename(source) : request.name;
    const expected = checkRequest({ ...request, name });
    const { store, budget } = this.#options;
    const size = (await lstat(source)).size;
    if (size === 0) {
      throw new PieceStoreError(PieceStoreErrorCode.InvalidArgument, `${path} is empty`);
    }
    const reservation = await budget.reserve(size);
    let staged: StagedObject | undefined;
    try {
      staged = await store.stage();
      await copyFile(source, staged.dataPath, constants.COPYFILE_EXCL);
      const copy = await open(staged.dataPath, 'r+');
      try {
        await copy.sync();
      } finally {
        await copy.close();
      }
      const pieceLength = this.#pieceLengthFor((await lstat(staged.dataPath)).size);
      const hashes = await hashFilePieces(staged.dataPath, {
        pieceLength,
        sha256: true,
        pool: this.#options.pool,
        ...this.#inFlight(),
        ...(signal === undefined ? {} : { signal }),
      });
      if (signal?.aborted) throw cancelled(signal.reason);
      return await this.#commit(
        staged,
        name,
        hashes.length,
        pieceLength,
        hashes.pieces,
        hashes.sha256!,
        {
          expectedSha256: expected.sha256,
          signal,
        },
      );
    } catch (error) {
      if (staged !== undefined) await store.discard(staged);
      throw toIngestError(error);
    } finally {
      reservation.release();
    }
  }

  async #commit(
    staged: StagedObject,
    name: string,
    size: number,
    pieceLength: number,
    pieces: Uint8Array,
    sha256: Uint8Array,
    checks: { expectedSha256: Uint8Array | undefined; signal: AbortSignal | undefined },
  ): Promise<IngestResult> {
    const digest = bytesToHex(sha256);
    if (checks.expectedSha256 !== undefined && bytesToHex(checks.expectedSha256) !== digest) {
      throw new PieceStoreError(
        PieceStoreErrorCode.DigestMismatch,
        `content SHA-256 is ${digest}, expected ${bytesToHex(checks.expectedSha256)}`,
      );
    }
    const { announceUrl } = this.#options;
    const built = createTorrent({
      name,
      length: size,
      pieceLength,
      pieces,
      sha256,
      createdBy: 'shoal piece-store',
      ...(announceUrl === undefined ? {} : { announce: announceUrl }),
    });
    // Last chance for a cancelled client: after the commit the artifact exists.
    if (checks.signal?.aborted) throw cancelled(checks.signal.reason);
    const { record, created } = await this.#options.store.commit(staged, built.torrent, {
      infoHash: built.infoHashHex,
      name,
      sha256: digest,
      size,
      pieceLength,
    });
    const torrent = created
      ? built.torrent
      : await this.#options.store.readTorrent(record.infoHash);
    const result = { record, torrent, magnet: magnetFromMetainfo(parseTorrent(torrent)), created };
    if (created) this.#options.onStored?.(result);
    return result;
  }

  async #checkedSource(path: string): Promise<string> {
    const root = this.#options.ingestRoot;
    if (root === undefined) {
      throw new PieceStoreError(
        PieceStoreErrorCode.PermissionDenied,
        'IngestPath is disabled: set SHOAL_INGEST_ROOT to allow it',
      );
    }
    if (path === '' || path.includes('\u0000')) {
      throw new PieceStoreError(PieceStoreErrorCode.InvalidArgument, 'path is empty or has NUL');
    }
    let real: string;
    let realRoot: string;
    try {
      realRoot = await realpath(root);
      real = await realpath(resolve(realRoot, path));
    } catch (cause) {
      throw new PieceStoreError(PieceStoreErrorCode.NotFound, `cannot resolve ${path}`, { cause });
    }
    const inside = relative(realRoot, real);
    if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw new PieceStoreError(
        PieceStoreErrorCode.PermissionDenied,
        `${path} is outside the ingest root`,
      );
    }
    const stats = await lstat(real);
    if (!stats.isFile()) {
      throw new PieceStoreError(
        PieceStoreErrorCode.InvalidArgument,
        `${path} is not a regular file`,
      );
    }
    return real;
  }

  #inFlight(): { maxInFlightBytes?: number } {
    const bytes = this.#options.maxInFlightBytes;
    return bytes === undefined ? {} : { maxInFlightBytes: bytes };
  }
}

function checkRequest(request: IngestRequest): { sha256?: Uint8Array; size?: number } {
  try {
    checkPathComponent(request.name, 'name');
  } catch (error) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidArgument,
      `artifact name refused: ${(error as Error).message}`,
    );
  }
  const sha256 = request.expectedSha256;
  if (sha256 !== undefined && sha256.length !== 0 && sha256.length !== 32) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidArgument,
      `expected_sha256 must be 32 bytes, got ${sha256.length}`,
    );
  }
  const size = request.expectedSize;
  if (size !== undefined && !(Number.isSafeInteger(size) && size >= 0 && size <= MAX_SIZE)) {
    throw new PieceStoreError(PieceStoreErrorCode.InvalidArgument, `bad expected_size ${size}`);
  }
  return {
    ...(sha256 !== undefined && sha256.length === 32 ? { sha256 } : {}),
    ...(size !== undefined && size > 0 ? { size } : {}),
  };
}

/**
 * Grows by a whole step when that much is free, else by exactly what is needed (evicting for
 * it if it must): a speculative step never evicts anything.
 */
async function growReservation(reservation: Reservation, needed: number): Promise<number> {
  if (needed < RESERVE_STEP && reservation.tryGrow(RESERVE_STEP)) return RESERVE_STEP;
  await reservation.grow(needed);
  return needed;
}

/**
 * Positional writes of consecutive chunks with a few in flight, so the disk's latency overlaps
 * the next chunk's arrival; `push` waits while the window is full. The first failure is thrown
 * by the next `push` or by `drain`.
 */
class WriteWindow {
  readonly #file: FileHandle;
  readonly #limit: number;
  readonly #pending: Promise<void>[] = [];
  #failure: unknown;

  constructor(file: FileHandle, limit: number) {
    this.#file = file;
    this.#limit = limit;
  }

  async push(chunk: Uint8Array, position: number): Promise<void> {
    if (this.#failure !== undefined) throw this.#failure;
    const write = writeAll(this.#file, chunk, position).catch((error: unknown) => {
      this.#failure ??= error;
    });
    this.#pending.push(write);
    if (this.#pending.length >= this.#limit) await this.#pending.shift();
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits for every write; throws the first failure. */
  async drain(): Promise<void> {
    await this.settle();
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits for every write, ignoring failures (before closing the file on an error path). */
  async settle(): Promise<void> {
    await Promise.all(this.#pending.splice(0));
  }
}

async function writeAll(file: FileHandle, chunk: Uint8Array, position: number): Promise<void> {
  // Bounded: each pass writes at least one byte or throws.
  for (let done = 0; done < chunk.length; ) {
    const { bytesWritten } = await file.write(chunk, done, chunk.length - done, position + done);
    done += bytesWritten;
  }
}

function cancelled(cause: unknown): PieceStoreError {
  return new PieceStoreError(PieceStoreErrorCode.Cancelled, 'the upload was cancelled', { cause });
}

function toIngestError(error: unknown): unknown {
  if (isNoSpaceError(error)) {
    return new PieceStoreError(PieceStoreErrorCode.NoSpace, 'the disk is full', { cause: error });
  }
  if (error instanceof MetainfoError) {
    return new PieceStoreError(PieceStoreErrorCode.InvalidArgument, error.message, {
      cause: error,
    });
  }
  return error;
}
