// Reused block buffers for serving uploads: a request is read into a pooled buffer, written
// to the socket, and the buffer comes back once the socket is done with it.

export class BufferPool {
  readonly size: number;
  readonly #maxFree: number;
  readonly #free: Uint8Array[] = [];

  constructor(size: number, maxFree: number) {
    this.size = size;
    this.#maxFree = maxFree;
  }

  acquire(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(this.size);
  }

  release(buffer: Uint8Array): void {
    if (buffer.byteLength === this.size && this.#free.length < this.#maxFree) {
      this.#free.push(buffer);
    }
  }
}

/**
 * Reused piece buffers for downloads. Why pooled: a fresh 256 KiB-4 MiB buffer per piece lives
 * long enough to be promoted, and V8 answers that much promoted external memory with full
 * mark-compact collections; in the 8-node loopback benchmark those cost about as much CPU as
 * the transfer itself. Why not SharedArrayBuffers: copying a block into one is ~7x slower
 * (V8 copies into shared memory with relaxed atomics), so pieces are transferred to the hash
 * worker and back instead.
 */
export class PieceBufferPool {
  readonly #maxIdleBytes: number;
  readonly #idle = new Map<number, Uint8Array[]>();
  #idleBytes = 0;

  constructor(maxIdleBytes: number) {
    this.#maxIdleBytes = maxIdleBytes;
  }

  /** A zero-filled buffer is not promised: callers overwrite every byte before reading. */
  acquire(length: number): Uint8Array {
    const reused = this.#idle.get(length)?.pop();
    if (reused) {
      this.#idleBytes -= length;
      return reused;
    }
    return new Uint8Array(length);
  }

  /** Gives a buffer back; kept for reuse while the idle total stays under the cap. */
  release(buffer: Uint8Array): void {
    // Only whole, attached buffers (a buffer lent to a worker is detached: byteLength 0).
    if (buffer.byteOffset !== 0 || buffer.byteLength === 0) return;
    if (buffer.byteLength !== buffer.buffer.byteLength) return;
    if (this.#idleBytes + buffer.byteLength > this.#maxIdleBytes) return;
    let list = this.#idle.get(buffer.byteLength);
    if (!list) {
      list = [];
      this.#idle.set(buffer.byteLength, list);
    }
    if (list.includes(buffer)) return;
    list.push(buffer);
    this.#idleBytes += buffer.byteLength;
  }

  get idleBytes(): number {
    return this.#idleBytes;
  }
}
