// Socket reads into one buffer that every connection of a node shares (net's `onread`),
// instead of Node allocating a fresh buffer per read.
//
// Why: at a few hundred MB/s those per-read buffers are external memory that V8 counts
// before any young-generation collection frees them, and it answers with full mark-compact
// collections several times a second. One process receiving 512 MiB over loopback used half
// the CPU with `onread` (and no full collection) as with 'data' events (three).
// One buffer is enough: reads are delivered one at a time on the main thread and each
// connection consumes its read (WireDecoder.pushTransient) before the next one happens.
import { Socket, type SocketConstructorOpts } from 'node:net';

/** Largest single socket read. */
export const SHARED_READ_BYTES = 256 * 1024;

export interface ReadSink {
  /** `bytes` is only valid during the call; false pauses the socket. */
  onRead(bytes: Uint8Array): boolean;
}

export interface OnRead {
  readonly buffer: Uint8Array;
  readonly callback: (bytesRead: number, buffer: Uint8Array) => boolean;
}

export class SharedReadBuffer {
  readonly #buffer = new Uint8Array(SHARED_READ_BYTES);

  /** The `onread` option for a socket whose reads go to `sink()` (set once it exists). */
  onread(sink: () => ReadSink | undefined): OnRead {
    return {
      buffer: this.#buffer,
      callback: (bytesRead, buffer) => sink()?.onRead(buffer.subarray(0, bytesRead)) ?? false,
    };
  }

  /**
   * An accepted socket (from a server created with `pauseOnConnect`) re-wrapped to read into
   * the shared buffer; net offers `onread` only to sockets it constructs. Undefined (and the
   * socket untouched) when this Node's socket internals do not look as expected: the caller
   * then resumes the original socket and reads through 'data' events.
   */
  adopt(socket: Socket, sink: () => ReadSink | undefined): Socket | undefined {
    const internals = socket as unknown as { _handle: unknown };
    const handle = internals._handle as {
      readStart?: unknown;
      readStop?: unknown;
      useUserBuffer?: unknown;
    } | null;
    if (
      handle === null ||
      typeof handle !== 'object' ||
      typeof handle.readStart !== 'function' ||
      typeof handle.readStop !== 'function' ||
      typeof handle.useUserBuffer !== 'function'
    ) {
      return undefined;
    }
    // The old wrapper lets go of the handle; destroying it then only updates the server's
    // connection count, so server.close() still completes.
    internals._handle = null;
    socket.destroy();
    const options = { handle, onread: this.onread(sink), readable: true, writable: true };
    return new Socket(options as SocketConstructorOpts);
  }
}
