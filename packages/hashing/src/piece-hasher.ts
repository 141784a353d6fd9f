import { HashingError, HashingErrorCode } from './errors.ts';
import {
  abortError,
  acquirePool,
  HashJob,
  type HashOptions,
  type PieceHashes,
  validateOptions,
} from './job.ts';
import type { HashPool } from './pool.ts';

export interface StreamHashes extends PieceHashes {
  /** SHA-256 of everything written, when `sha256` was asked for. */
  sha256?: Uint8Array;
}

/**
 * Push-style hashing of a stream whose length is not known up front (an upload arriving in
 * chunks): gives the same digests as `hashFilePieces` over the same bytes, with the same
 * bounded memory. Each `update` copies the chunk into the ring shared with the workers and
 * resolves once it is copied; it waits while the ring is full, so awaiting it is the
 * back-pressure. Updates called without awaiting are queued in call order, and each chunk must
 * stay unchanged until its promise resolves.
 */
export class PieceHasher {
  readonly #job: HashJob;
  readonly #pool: HashPool;
  readonly #ownsPool: boolean;
  #tail: Promise<void> = Promise.resolve();
  #slot: number | undefined;
  /** Where the current slot's block starts in the ring. */
  #blockStart = 0;
  #filled = 0;
  #block = 0;
  #bytesWritten = 0;
  #state: 'open' | 'finishing' | 'closed' = 'open';
  /** Set once the hasher starts releasing its job and pool; resolves when they are released. */
  #closing: Promise<void> | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    if (this.#signal) void this.#abortWith(abortError(this.#signal));
  };

  constructor(options: HashOptions) {
    validateOptions(options);
    if (options.signal?.aborted) throw abortError(options.signal);
    const { pool, owned } = acquirePool(options);
    this.#pool = pool;
    this.#ownsPool = owned;
    try {
      // The hasher watches the signal itself so that an abort also frees its workers.
      const jobOptions = { ...options, signal: undefined };
      this.#job = new HashJob(pool, jobOptions, [Number.POSITIVE_INFINITY], undefined);
    } catch (error) {
      if (owned) void pool.close();
      throw error;
    }
    this.#signal = options.signal;
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Bytes accepted by `update` so far (copied into the ring). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  update(chunk: Uint8Array): Promise<void> {
    if (this.#job.failure) return Promise.reject(this.#job.failure);
    if (this.#state !== 'open') {
      return Promise.reject(
        new HashingError(HashingErrorCode.InvalidState, 'update() after finish() or abort()'),
      );
    }
    const written = this.#tail.then(() => this.#write(chunk));
    // Keep the queue going; the failure reaches the caller through `written` and `finish()`.
    this.#tail = written.catch(() => {});
    return written;
  }

  /** Hashes what is left and resolves with the digests; the hasher is spent afterwards. */
  async finish(): Promise<StreamHashes> {
    if (this.#job.failure) {
      // Resources are released by the time a failed hasher reports its failure here.
      await this.#stop();
      throw this.#job.failure;
    }
    if (this.#state !== 'open') {
      throw new HashingError(
        HashingErrorCode.InvalidState,
        'finish() called twice or after abort()',
      );
    }
    this.#state = 'finishing';
    try {
      await this.#tail;
      if (this.#job.failure) throw this.#job.failure;
      if (this.#slot !== undefined) this.#submit(this.#slot);
      const { pieces, sha256 } = await this.#job.finish();
      const digest = sha256[0];
      const length = this.#bytesWritten;
      return digest === undefined ? { pieces, length } : { pieces, length, sha256: digest };
    } finally {
      await this.#close();
    }
  }

  /** Stops hashing: pending and later calls reject with `HASH_ABORTED` (so does a signal). */
  abort(reason?: unknown): Promise<void> {
    return this.#abortWith(
      new HashingError(HashingErrorCode.Aborted, 'hashing was aborted', { cause: reason }),
    );
  }

  #abortWith(error: HashingError): Promise<void> {
    this.#job.fail(error);
    return this.#stop();
  }

  /** Lets queued updates settle (they fail fast once the job has failed), then closes. */
  #stop(): Promise<void> {
    if (this.#state === 'open') {
      this.#state = 'finishing';
      this.#closing = this.#tail.then(() => this.#close());
    }
    return this.#closing ?? Promise.resolve();
  }

  async #write(chunk: Uint8Array): Promise<void> {
    const { blockBytes, view } = this.#job;
    // Bounded: each pass copies at least one byte.
    for (let offset = 0; offset < chunk.length; ) {
      if (this.#job.failure) throw this.#job.failure;
      if (this.#slot === undefined) {
        this.#slot = await this.#job.acquireSlot();
        this.#blockStart = this.#job.placeBlock(this.#slot, this.#bytesWritten);
      }
      const count = Math.min(blockBytes - this.#filled, chunk.length - offset);
      view.set(chunk.subarray(offset, offset + count), this.#blockStart + this.#filled);
      this.#filled += count;
      this.#bytesWritten += count;
      offset += count;
      if (this.#filled === blockBytes) this.#submit(this.#slot);
    }
  }

  #submit(slot: number): void {
    this.#job.submit(this.#block++, slot, this.#filled);
    this.#slot = undefined;
    this.#filled = 0;
  }

  #close(): Promise<void> {
    if (this.#state !== 'closed') {
      this.#state = 'closed';
      this.#signal?.removeEventListener('abort', this.#onAbort);
      this.#job.dispose();
      this.#closing = this.#ownsPool ? this.#pool.close() : Promise.resolve();
    }
    return this.#closing ?? Promise.resolve();
  }
}
