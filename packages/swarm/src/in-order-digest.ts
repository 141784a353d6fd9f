// The whole-file SHA-256 of a torrent, computed while it downloads instead of in one pass over
// the finished file.
//
// Why: SHA-256 only runs front to back. Hashing the finished file kept every node busy for
// seconds after its last piece (6-9 s for 1 GiB on 8 nodes sharing 2 cores) and read the whole
// file back. Here a verified piece that is next in file order is hashed from memory before its
// buffer is reused; pieces that arrived ahead of a gap are read back from storage as soon as
// the gap closes, so at the end little is left to hash.
import { createHash, type Hash } from 'node:crypto';
import { SwarmError, SwarmErrorCode } from './errors.ts';

/** Bytes read back at once (whole pieces; at least one piece). */
export const READ_BACK_BYTES = 4 * 1024 * 1024;

export interface InOrderDigestSource {
  readonly pieceCount: number;
  pieceLength(index: number): number;
  /** Piece `index` is verified and in storage. */
  isVerified(index: number): boolean;
  /** Reads verified piece `index` whole into `target` (its exact length). */
  readPiece(index: number, target: Uint8Array): Promise<void>;
  /** A buffer of exactly `length` bytes, and its return. */
  acquire(length: number): Uint8Array;
  release(buffer: Uint8Array): void;
}

export class InOrderDigest {
  readonly #source: InOrderDigestSource;
  readonly #hash: Hash = createHash('sha256');
  /** The first piece not yet hashed. */
  #next = 0;
  #catchingUp: Promise<void> | undefined;
  #again = false;
  #failure: Error | undefined;
  #stopped = false;
  /** Bytes hashed from memory and read back from storage (for tests and logs). */
  readonly counts = { fromMemory: 0, readBack: 0 };

  constructor(source: InOrderDigestSource) {
    this.#source = source;
  }

  /** Pieces hashed so far (all of them before the front-to-back gap). */
  get hashedPieces(): number {
    return this.#next;
  }

  /**
   * A piece just verified, still in memory: hashed now if it is next in order and no
   * read-back is running (which keeps the order), otherwise read back later.
   */
  offer(index: number, bytes: Uint8Array): void {
    if (this.#stopped || this.#failure || this.#catchingUp || index !== this.#next) return;
    if (bytes.length !== this.#source.pieceLength(index)) {
      throw new SwarmError(
        SwarmErrorCode.OutOfRange,
        `piece ${index} offered with ${bytes.length} bytes, expected ${this.#source.pieceLength(index)}`,
      );
    }
    this.#hash.update(bytes);
    this.counts.fromMemory += bytes.length;
    this.#next++;
  }

  /** Hashes verified pieces from storage up to the next gap; one run at a time. */
  catchUp(): Promise<void> {
    if (this.#catchingUp) {
      // The run may be past its last check: it looks once more before it ends.
      this.#again = true;
      return this.#catchingUp;
    }
    if (this.#stopped || this.#failure || !this.#readable()) return Promise.resolve();
    this.#catchingUp = (async () => {
      // Bounded: a new pass only when asked during the previous one, and each pass reads
      // verified pieces, of which there are at most pieceCount.
      do {
        this.#again = false;
        await this.#readBack();
      } while (this.#again && !this.#stopped && !this.#failure && this.#readable());
    })().finally(() => {
      this.#catchingUp = undefined;
    });
    return this.#catchingUp;
  }

  /** The digest once every piece is verified; rejects if a read-back failed or it stopped. */
  async digest(): Promise<Uint8Array> {
    // Bounded: each pass hashes at least one piece or ends.
    for (let pass = 0; pass <= this.#source.pieceCount; pass++) {
      await this.catchUp();
      if (this.#failure) throw this.#failure;
      if (this.#stopped) throw new SwarmError(SwarmErrorCode.Stopped, 'the torrent stopped');
      if (this.#next === this.#source.pieceCount) return new Uint8Array(this.#hash.digest());
      if (!this.#readable()) {
        throw new SwarmError(
          SwarmErrorCode.OutOfRange,
          `piece ${this.#next} is not verified: no whole-file digest yet`,
        );
      }
    }
    throw new SwarmError(SwarmErrorCode.OutOfRange, 'the whole-file digest made no progress');
  }

  /** Stops reading back; a running read finishes its piece. */
  stop(): void {
    this.#stopped = true;
  }

  #readable(): boolean {
    return this.#next < this.#source.pieceCount && this.#source.isVerified(this.#next);
  }

  async #readBack(): Promise<void> {
    while (!this.#stopped && !this.#failure && this.#readable()) {
      // Several pieces in flight at once: on a busy machine each read waits a whole event-loop
      // turn, and one piece per turn fell behind the download (25 of its 120 pieces a second).
      const run: { index: number; bytes: Uint8Array }[] = [];
      let runBytes = 0;
      for (let index = this.#next; index < this.#source.pieceCount; index++) {
        const length = this.#source.pieceLength(index);
        if (!this.#source.isVerified(index)) break;
        if (run.length > 0 && runBytes + length > READ_BACK_BYTES) break;
        run.push({ index, bytes: this.#source.acquire(length) });
        runBytes += length;
      }
      try {
        const reads = await Promise.allSettled(
          run.map(({ index, bytes }) => this.#source.readPiece(index, bytes)),
        );
        for (const [i, read] of reads.entries()) {
          if (read.status === 'rejected') {
            this.#failure = new SwarmError(
              SwarmErrorCode.OutOfRange,
              `reading piece ${run[i]!.index} back for the whole-file digest failed`,
              { cause: read.reason },
            );
            return;
          }
        }
        if (this.#stopped) return;
        for (const { bytes } of run) {
          this.#hash.update(bytes);
          this.counts.readBack += bytes.length;
          this.#next++;
        }
      } finally {
        for (const { bytes } of run) this.#source.release(bytes);
      }
    }
  }
}
