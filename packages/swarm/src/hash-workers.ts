// SHA-1 of pieces on worker threads, so verification never blocks the event loop.
//
// A piece on an ArrayBuffer (the engine's pooled piece buffers) is transferred to a worker
// and back with the digest; one on a SharedArrayBuffer is read in place and only the digest
// comes back. No copy either way, and no memory left in the worker. (@shoal/hashing's pool
// is built for streaming whole files: each of its jobs shares a new ring with the workers,
// which a worker only frees when it next collects garbage; one job per piece grew RSS by
// ~0.5 MiB per piece, to about 1 GiB, in our measurements. So piece verification has its own small pool.)
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { SwarmError, SwarmErrorCode } from './errors.ts';
import type { PieceHashFunction, PieceHashResult } from './verify.ts';

export interface ToHashWorker {
  readonly id: number;
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly offset: number;
  readonly length: number;
}

export interface FromHashWorker {
  readonly id: number;
  readonly digest: Uint8Array;
  /** The transferred ArrayBuffer coming back; absent for a SharedArrayBuffer. */
  readonly buffer?: ArrayBuffer;
}

/** Most worker threads in one pool. */
export const MAX_HASH_WORKERS = 16;

// Under `--conditions=source` this module is .ts and so is its worker; built output is .js.
const workerUrl = new URL(
  import.meta.url.endsWith('.ts') ? './piece-hash-worker.ts' : './piece-hash-worker.js',
  import.meta.url,
);

interface Pending {
  /** The piece as lent: a SharedArrayBuffer view is handed back as it is. */
  readonly piece: Uint8Array;
  /** Taken before the transfer detaches the view (a detached view reports 0 for both). */
  readonly offset: number;
  readonly length: number;
  readonly resolve: (result: PieceHashResult) => void;
  readonly reject: (error: Error) => void;
}

interface HashWorker {
  worker: Worker;
  readonly pending: Map<number, Pending>;
}

export class PieceHashWorkers {
  readonly #workers: HashWorker[];
  #nextId = 1;
  #closed = false;

  constructor(options: { workers?: number } = {}) {
    const count = options.workers ?? Math.min(2, availableParallelism());
    if (!Number.isInteger(count) || count < 1 || count > MAX_HASH_WORKERS) {
      throw new SwarmError(
        SwarmErrorCode.InvalidOptions,
        `hash workers must be an integer from 1 to ${MAX_HASH_WORKERS}, got ${count}`,
      );
    }
    this.#workers = Array.from({ length: count }, () => {
      const slot: HashWorker = { worker: undefined as unknown as Worker, pending: new Map() };
      this.#spawn(slot);
      return slot;
    });
  }

  /**
   * SHA-1 of `piece`. Its memory is lent to a worker thread: `piece` is unusable until the
   * promise settles, and the bytes come back as the result's `piece` (a new view of them).
   */
  readonly hash: PieceHashFunction = (piece) => {
    if (this.#closed) {
      return Promise.reject(new SwarmError(SwarmErrorCode.Stopped, 'the hash workers are closed'));
    }
    let least = this.#workers[0]!;
    for (const slot of this.#workers) if (slot.pending.size < least.pending.size) least = slot;
    const id = this.#nextId++;
    return new Promise<PieceHashResult>((resolve, reject) => {
      if (least.pending.size === 0) least.worker.ref();
      least.pending.set(id, {
        piece,
        offset: piece.byteOffset,
        length: piece.length,
        resolve,
        reject,
      });
      const message: ToHashWorker = {
        id,
        buffer: piece.buffer,
        offset: piece.byteOffset,
        length: piece.length,
      };
      try {
        least.worker.postMessage(
          message,
          piece.buffer instanceof ArrayBuffer ? [piece.buffer] : [],
        );
      } catch (error) {
        least.pending.delete(id);
        if (least.pending.size === 0) least.worker.unref();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  };

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const error = new SwarmError(SwarmErrorCode.Stopped, 'the hash workers were closed');
    for (const slot of this.#workers) this.#failAll(slot, error);
    await Promise.all(this.#workers.map((slot) => slot.worker.terminate()));
  }

  #spawn(slot: HashWorker): void {
    const worker = new Worker(workerUrl);
    slot.worker = worker;
    worker.unref();
    worker.on('message', (reply: FromHashWorker) => {
      const pending = slot.pending.get(reply.id);
      if (!pending) return;
      slot.pending.delete(reply.id);
      if (slot.pending.size === 0) worker.unref();
      pending.resolve({
        digest: reply.digest,
        piece: reply.buffer
          ? new Uint8Array(reply.buffer, pending.offset, pending.length)
          : pending.piece,
      });
    });
    worker.on('error', (cause) => {
      this.#failAll(
        slot,
        new SwarmError(SwarmErrorCode.Stopped, 'a hash worker failed', { cause }),
      );
    });
    worker.on('exit', () => {
      if (this.#closed || slot.worker !== worker) return;
      // A crashed worker takes its pieces with it (they are downloaded again); replace it.
      this.#failAll(slot, new SwarmError(SwarmErrorCode.Stopped, 'a hash worker exited'));
      this.#spawn(slot);
    });
  }

  #failAll(slot: HashWorker, error: Error): void {
    const pending = [...slot.pending.values()];
    slot.pending.clear();
    slot.worker.unref();
    for (const entry of pending) entry.reject(error);
  }
}
