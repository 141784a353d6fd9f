import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { HashingError, HashingErrorCode } from './errors.ts';
import type { FromWorker, ToWorker } from './messages.ts';

/** Hard cap on SHA-1 workers in one pool, whatever is asked. */
export const MAX_WORKERS = 64;

// Under `--conditions=source` this module is .ts and so is its worker; built output is .js.
const workerUrl = new URL(
  import.meta.url.endsWith('.ts') ? './hash-worker.ts' : './hash-worker.js',
  import.meta.url,
);

export interface HashPoolOptions {
  /** SHA-1 piece workers. Default: `os.availableParallelism()`. A SHA-256 worker is added on first use. */
  workers?: number;
}

/** What the pool needs from a job: its replies, and a way to fail it. */
export interface PoolJob {
  onMessage(message: FromWorker): void;
  fail(error: Error): void;
}

interface PooledWorker {
  readonly worker: Worker;
  /** Tasks posted and not answered yet; the worker holds the process open only while > 0. */
  pending: number;
}

/**
 * A set of hash worker threads that jobs share. Idle workers never keep the process alive;
 * `close()` terminates them. A pool whose worker dies fails its jobs and closes itself.
 */
export class HashPool {
  readonly #sha1Workers: PooledWorker[];
  #sha256Worker: PooledWorker | undefined;
  readonly #jobs = new Map<number, PoolJob>();
  #nextJobId = 1;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: HashPoolOptions = {}) {
    const count = options.workers ?? availableParallelism();
    if (!Number.isInteger(count) || count < 1 || count > MAX_WORKERS) {
      throw new HashingError(
        HashingErrorCode.InvalidOptions,
        `workers must be an integer from 1 to ${MAX_WORKERS}, got ${count}`,
      );
    }
    this.#sha1Workers = Array.from({ length: count }, () => this.#spawn());
  }

  /** Number of SHA-1 piece workers. */
  get size(): number {
    return this.#sha1Workers.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Terminates every worker; jobs still running fail with `HASH_POOL_CLOSED`. */
  close(): Promise<void> {
    return this.#shutdown(
      new HashingError(HashingErrorCode.PoolClosed, 'the hash pool was closed'),
    );
  }

  /** @internal Registers a job and shares its ring with the workers that will read it. */
  register(job: PoolJob, ring: SharedArrayBuffer, sha256: boolean): number {
    if (this.#closed) {
      throw new HashingError(HashingErrorCode.PoolClosed, 'the hash pool is closed');
    }
    const id = this.#nextJobId++;
    this.#jobs.set(id, job);
    const attach: ToWorker = { type: 'attach', job: id, ring };
    for (const pooled of this.#sha1Workers) pooled.worker.postMessage(attach);
    if (sha256) {
      this.#sha256Worker ??= this.#spawn();
      this.#sha256Worker.worker.postMessage(attach);
    }
    return id;
  }

  /** @internal Forgets a job; workers drop its ring and any task of it still queued. */
  unregister(id: number): void {
    if (!this.#jobs.delete(id) || this.#closed) return;
    const detach: ToWorker = { type: 'detach', job: id };
    for (const pooled of this.#sha1Workers) pooled.worker.postMessage(detach);
    this.#sha256Worker?.worker.postMessage(detach);
  }

  /** @internal SHA-1 of each piece in a block, on the least busy worker. */
  hashPieces(message: Extract<ToWorker, { type: 'pieces' }>): void {
    let best = this.#sha1Workers[0]!;
    for (const pooled of this.#sha1Workers) if (pooled.pending < best.pending) best = pooled;
    this.#post(best, message);
  }

  /** @internal Sequential SHA-256 work always goes to the one SHA-256 worker, in order. */
  hashSha256(message: Extract<ToWorker, { type: 'sha256-update' | 'sha256-digest' }>): void {
    if (this.#sha256Worker === undefined) throw new Error('job registered without sha256');
    this.#post(this.#sha256Worker, message);
  }

  #post(pooled: PooledWorker, message: ToWorker): void {
    if (pooled.pending++ === 0) pooled.worker.ref();
    pooled.worker.postMessage(message);
  }

  #spawn(): PooledWorker {
    const worker = new Worker(workerUrl);
    const pooled: PooledWorker = { worker, pending: 0 };
    worker.unref();
    worker.on('message', (message: FromWorker) => {
      if (--pooled.pending === 0) worker.unref();
      this.#jobs.get(message.job)?.onMessage(message);
    });
    worker.on('error', (cause) => {
      void this.#shutdown(
        new HashingError(HashingErrorCode.WorkerFailed, 'a hash worker failed', { cause }),
      );
    });
    worker.on('exit', (code) => {
      if (this.#closed) return;
      void this.#shutdown(
        new HashingError(HashingErrorCode.WorkerFailed, `a hash worker exited with code ${code}`),
      );
    });
    return pooled;
  }

  #shutdown(reason: HashingError): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    const jobs = [...this.#jobs.values()];
    this.#jobs.clear();
    for (const job of jobs) job.fail(reason);
    const workers = [...this.#sha1Workers, ...(this.#sha256Worker ? [this.#sha256Worker] : [])];
    this.#closing = Promise.all(workers.map((pooled) => pooled.worker.terminate())).then(
      () => undefined,
    );
    return this.#closing;
  }
}

export function createHashPool(options: HashPoolOptions = {}): HashPool {
  return new HashPool(options);
}

let defaultPool: HashPool | undefined;

/**
 * The process-wide pool used by calls that name neither `pool` nor `workers`, so one-off calls
 * do not pay for starting threads (about 50 ms each here). Made on first use with one worker per
 * core; its idle workers never keep the process alive. Closing it is allowed: the next call
 * that needs it makes a new one.
 */
export function defaultHashPool(): HashPool {
  if (defaultPool === undefined || defaultPool.closed) defaultPool = new HashPool();
  return defaultPool;
}
