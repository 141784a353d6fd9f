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
