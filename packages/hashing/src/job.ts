import { HashingError, HashingErrorCode } from './errors.ts';
import type { FromWorker } from './messages.ts';
import { createHashPool, defaultHashPool, type HashPool, type PoolJob } from './pool.ts';

export const SHA1_LENGTH = 20;
export const MAX_PIECE_LENGTH = 64 * 1024 * 1024;
/** 2^24 pieces is 320 MiB of SHA-1 digests: anything larger is a mistaken piece length. */
export const MAX_PIECES = 2 ** 24;
/** Pieces are batched into blocks of about this size: one read, one worker task. */
const TARGET_BLOCK_BYTES = 4 * 1024 * 1024;
/** Default ring size is capped here whatever the pool size, so memory stays bounded. */
const MAX_DEFAULT_RING_BYTES = 256 * 1024 * 1024;
export const MAX_IN_FLIGHT_BYTES = 1024 * 1024 * 1024;
const PAGE = 4096;
const WASM_PAGE = 65536;
/**
 * Where a block lands in its slot relative to the page offset of its source. Kernel copies
 * (`rep movsb`) on AMD Zen run about 5x slower when the destination sits 1 to 31 bytes past the
 * source modulo 4096, which is exactly where malloc puts large buffers (16 bytes in); measured
 * here: 1.5 GB/s instead of 7 GB/s from the page cache. Half a page apart is far from that.
 */
const READ_ALIGNMENT_SKEW = 2048;

// Not in the ES lib this package compiles against; only the shared memory constructor is used.
declare const WebAssembly: {
  Memory: new (descriptor: {
    initial: number;
    maximum: number;
    shared: true;
  }) => { readonly buffer: SharedArrayBuffer };
};

export interface HashProgress {
  /** Bytes whose hashing is complete (every digest they feed has consumed them). */
  bytesHashed: number;
  /** Total bytes to hash, when known up front (files); `undefined` for a PieceHasher. */
  totalBytes: number | undefined;
}

export interface HashOptions {
  /** Bytes per piece (the last piece may be shorter). An integer from 1 to 64 MiB. */
  pieceLength: number;
  /** Also compute the whole-file SHA-256 (sequential, on its own worker). Default: false. */
  sha256?: boolean;
  /**
   * Run on a private pool of this many SHA-1 workers, made for this call and closed at its end.
   * Not with `pool`. Default: neither, which means the shared `defaultHashPool()`.
   */
  workers?: number;
  /** A pool to run on; it stays open afterwards. Default: `defaultHashPool()`. */
  pool?: HashPool;
  /** Aborting rejects with `HASH_ABORTED` and stops reading. */
  signal?: AbortSignal;
  /** Called as bytes finish hashing. An exception thrown here fails the hashing. */
  onProgress?: (progress: HashProgress) => void;
  /**
   * Bytes of data held at once: the ring shared with the workers, cut into blocks of whole
   * pieces, up to 4 MiB each and at least two of them (so at least two pieces, whatever this
   * says). Default: two 4 MiB blocks per worker plus two, at most 256 MiB.
   */
  maxInFlightBytes?: number;
}

export interface PieceHashes {
  /** Concatenated 20-byte SHA-1 digests, one per piece. */
  pieces: Uint8Array;
  /** Bytes hashed. */
  length: number;
}

export function validateOptions(options: HashOptions): void {
  const fail = (message: string): never => {
    throw new HashingError(HashingErrorCode.InvalidOptions, message);
  };
  const { pieceLength, maxInFlightBytes } = options;
  if (!Number.isInteger(pieceLength) || pieceLength < 1 || pieceLength > MAX_PIECE_LENGTH) {
    fail(`pieceLength must be an integer from 1 to ${MAX_PIECE_LENGTH}, got ${pieceLength}`);
  }
  if (options.pool !== undefined && options.workers !== undefined) {
    fail('give either pool or workers, not both: a shared pool has its own worker count');
  }
  if (
    maxInFlightBytes !== undefined &&
    !(
      Number.isSafeInteger(maxInFlightBytes) &&
      maxInFlightBytes > 0 &&
      maxInFlightBytes <= MAX_IN_FLIGHT_BYTES
    )
  ) {
    fail(
      `maxInFlightBytes must be an integer from 1 to ${MAX_IN_FLIGHT_BYTES}, got ${maxInFlightBytes}`,
    );
  }
}

export function abortError(signal: AbortSignal): HashingError {
  return new HashingError(HashingErrorCode.Aborted, 'hashing was aborted', {
    cause: signal.reason,
  });
}

/** The pool a call runs on, and whether the call made it (and so must close it). */
export function acquirePool(options: HashOptions): { pool: HashPool; owned: boolean } {
  if (options.pool !== undefined) {
    if (options.pool.closed) {
      throw new HashingError(HashingErrorCode.PoolClosed, 'the hash pool is closed');
    }
    return { pool: options.pool, owned: false };
  }
  if (options.workers === undefined) return { pool: defaultHashPool(), owned: false };
  return { pool: createHashPool({ workers: options.workers }), owned: true };
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * One hashing run over a byte stream cut into blocks (a whole number of pieces each, the last
 * block possibly short). The producer (file reader or PieceHasher) takes a free ring slot, fills
 * it, and submits it; SHA-1 of its pieces goes to any worker, while SHA-256 is fed strictly in
 * stream order. A slot returns to the free list once every task reading it has answered, so at
 * most `slots` blocks are ever in memory.
 *
 * The stream may be several files back to back (`streamEnds`): pieces span them, and each gets
 * its own SHA-256.
 */
export class HashJob implements PoolJob {
  readonly blockBytes: number;
  /** The ring; `placeBlock` says where in it a slot's block goes. */
  readonly view: Uint8Array;
  /** Bytes from one slot's start to the next: a block plus the room to place it (page-aligned). */
  readonly #slotStride: number;
  /** Where in the ring each slot's current block starts. */
  readonly #blockStart: Float64Array;
  readonly #pool: HashPool;
  readonly #id: number;
  readonly #pieceLength: number;
  readonly #piecesPerBlock: number;
  readonly #sha256: boolean;
  readonly #streamEnds: readonly number[];
  readonly #totalBytes: number | undefined;
  readonly #onProgress: ((progress: HashProgress) => void) | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    if (this.#signal) this.fail(abortError(this.#signal));
  };

  readonly #freeSlots: number[];
  readonly #slotWaiters: Waiter<number>[] = [];
  /** Tasks still reading each slot. */
  readonly #slotRefs: Int32Array;
  readonly #slotLength: Float64Array;
  readonly #blockDigests: Uint8Array[] = [];
  /** Submitted blocks whose turn for SHA-256 has not come yet, by block index. */
  readonly #awaitingSha256 = new Map<number, number>();
  #nextSha256Block = 0;
  #sha256Offset = 0;
  #sha256Stream = 0;
  readonly #streamDigests: (Uint8Array | undefined)[];
  /** Messages posted to workers and not yet answered. */
  #inFlight = 0;
  #bytesSubmitted = 0;
  #bytesHashed = 0;
  #finishing = false;
  #done: Waiter<void> | undefined;
  #failure: Error | undefined;
  #disposed = false;

  constructor(
    pool: HashPool,
    options: HashOptions,
    /** Cumulative end offset of each SHA-256 stream; the last may be Infinity (open-ended). */
    streamEnds: readonly number[],
    totalBytes: number | undefined,
  ) {
    this.#pool = pool;
    this.#pieceLength = options.pieceLength;
    // A small in-flight budget also makes blocks smaller, so the ring holds two of them.
    const targetBlock =
      options.maxInFlightBytes === undefined
        ? TARGET_BLOCK_BYTES
        : Math.min(TARGET_BLOCK_BYTES, Math.floor(options.maxInFlightBytes / 2));
    this.#piecesPerBlock = Math.max(1, Math.floor(targetBlock / options.pieceLength));
    this.blockBytes = this.#piecesPerBlock * options.pieceLength;
    const defaultSlots = Math.max(
      2,
      Math.min(pool.size * 2 + 2, Math.floor(MAX_DEFAULT_RING_BYTES / this.blockBytes)),
    );
    const slots =
      options.maxInFlightBytes === undefined
        ? defaultSlots
        : Math.max(2, Math.floor(options.maxInFlightBytes / this.blockBytes));
    this.#slotStride = Math.ceil((this.blockBytes + PAGE) / PAGE) * PAGE;
    // Shared wasm memory is page-aligned, unlike a SharedArrayBuffer, so placement is exact.
    const pages = Math.ceil((slots * this.#slotStride) / WASM_PAGE);
    const ring = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
    this.view = new Uint8Array(ring);
    this.#blockStart = new Float64Array(slots);
    this.#freeSlots = Array.from({ length: slots }, (_, i) => slots - 1 - i);
    this.#slotRefs = new Int32Array(slots);
    this.#slotLength = new Float64Array(slots);
    this.#sha256 = options.sha256 === true;
    this.#streamEnds = streamEnds;
    this.#streamDigests = new Array(streamEnds.length).fill(undefined);
    this.#totalBytes = totalBytes;
    this.#onProgress = options.onProgress;
    this.#signal = options.signal;
    this.#id = pool.register(this, ring, this.#sha256);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    if (this.#signal?.aborted) this.#onAbort();
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  get bytesSubmitted(): number {
    return this.#bytesSubmitted;
  }

  /** A free slot index; waits while every slot is in use (this is the back-pressure). */
  acquireSlot(): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    const slot = this.#freeSlots.pop();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise((resolve, reject) => this.#slotWaiters.push({ resolve, reject }));
  }

  /**
   * Where in `view` the block for `slot` goes, given the position its bytes come from in their
   * file (the page offset matters for read speed, see READ_ALIGNMENT_SKEW).
   */
  placeBlock(slot: number, sourcePosition: number): number {
    const start = slot * this.#slotStride + ((sourcePosition + READ_ALIGNMENT_SKEW) % PAGE);
    this.#blockStart[slot] = start;
    return start;
  }

  /** Hands the filled slot holding block `block` (`length` bytes at `placeBlock`) to the workers. */
  submit(block: number, slot: number, length: number): void {
    if (this.#failure) return;
    const firstPiece = block * this.#piecesPerBlock;
    if (firstPiece + Math.ceil(length / this.#pieceLength) > MAX_PIECES) {
      this.fail(
        new HashingError(
          HashingErrorCode.InvalidOptions,
          `more than ${MAX_PIECES} pieces: pieceLength ${this.#pieceLength} is too small for this data`,
        ),
      );
      return;
    }
    this.#bytesSubmitted += length;
    this.#slotLength[slot] = length;
    // One reference for the SHA-1 task, one placeholder until SHA-256 reaches this block.
    this.#slotRefs[slot] = this.#sha256 ? 2 : 1;
    this.#inFlight++;
    this.#pool.hashPieces({
      type: 'pieces',
      job: this.#id,
      slot,
      block,
      offset: this.#blockStart[slot]!,
      length,
      pieceLength: this.#pieceLength,
    });
    if (this.#sha256) {
      this.#awaitingSha256.set(block, slot);
      this.#feedSha256();
    }
  }

  /** Call once every block is submitted: resolves with the digests when all tasks have answered. */
  async finish(): Promise<{ pieces: Uint8Array; sha256: Uint8Array[] }> {
    if (this.#failure) throw this.#failure;
    this.#finishing = true;
    if (this.#sha256) {
      while (this.#sha256Stream < this.#streamEnds.length) this.#requestDigest();
    }
    if (!this.#isComplete()) {
      await new Promise<void>((resolve, reject) => {
        this.#done = { resolve, reject };
      });
    }
    const pieceCount = Math.ceil(this.#bytesSubmitted / this.#pieceLength);
    const pieces = new Uint8Array(pieceCount * SHA1_LENGTH);
    let offset = 0;
    for (const digests of this.#blockDigests) {
      pieces.set(digests, offset);
      offset += digests.length;
    }
    if (offset !== pieces.length) throw new Error(`internal: ${offset} of ${pieces.length} bytes`);
    return { pieces, sha256: this.#streamDigests.filter((d) => d !== undefined) };
  }

  fail(error: Error): void {
    if (this.#failure) return;
    this.#failure = error;
    for (const waiter of this.#slotWaiters.splice(0)) waiter.reject(error);
    this.#done?.reject(error);
    this.#done = undefined;
  }

  /** Detaches from the pool; call exactly once, when the producer is done (success or not). */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#pool.unregister(this.#id);
  }

  onMessage(message: FromWorker): void {
    this.#inFlight--;
    switch (message.type) {
      case 'pieces':
        this.#blockDigests[message.block] = message.digests;
        this.#release(message.slot);
        break;
      case 'sha256-updated':
        this.#release(message.slot);
        break;
      case 'sha256':
        this.#streamDigests[message.stream] = message.digest;
        break;
    }
    if (this.#done && this.#isComplete()) {
      this.#done.resolve();
      this.#done = undefined;
    }
  }

  #isComplete(): boolean {
    return (
      this.#finishing &&
      this.#inFlight === 0 &&
      this.#awaitingSha256.size === 0 &&
      (!this.#sha256 || this.#streamDigests.every((d) => d !== undefined))
    );
  }

  #release(slot: number): void {
    if (--this.#slotRefs[slot]! > 0) return;
    this.#bytesHashed += this.#slotLength[slot]!;
    const waiter = this.#slotWaiters.shift();
    if (waiter) waiter.resolve(slot);
    else this.#freeSlots.push(slot);
    if (this.#onProgress && !this.#failure) {
      try {
        this.#onProgress({ bytesHashed: this.#bytesHashed, totalBytes: this.#totalBytes });
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** Feeds consecutive submitted blocks to SHA-256, split where one stream (file) ends. */
  #feedSha256(): void {
    for (;;) {
      const slot = this.#awaitingSha256.get(this.#nextSha256Block);
      if (slot === undefined) return;
      this.#awaitingSha256.delete(this.#nextSha256Block);
      const start = this.#sha256Offset;
      const end = start + this.#slotLength[slot]!;
      let segments = 0;
      for (let position = start; position < end; ) {
        while (this.#streamEnds[this.#sha256Stream]! <= position) this.#requestDigest();
        const segmentEnd = Math.min(end, this.#streamEnds[this.#sha256Stream]!);
        this.#inFlight++;
        segments++;
        this.#pool.hashSha256({
          type: 'sha256-update',
          job: this.#id,
          slot,
          stream: this.#sha256Stream,
          offset: this.#blockStart[slot]! + (position - start),
          length: segmentEnd - position,
        });
        position = segmentEnd;
      }
      // Replace the placeholder reference with one per segment posted.
      this.#slotRefs[slot]! += segments - 1;
      this.#sha256Offset = end;
      this.#nextSha256Block++;
    }
  }

  #requestDigest(): void {
    this.#inFlight++;
    this.#pool.hashSha256({ type: 'sha256-digest', job: this.#id, stream: this.#sha256Stream++ });
  }
}
