// A hand-written peer for hostile-input tests: raw TCP and the protocol codec, no engine.
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import {
  type DecodedMessage,
  encodeHandshake,
  encodeMessage,
  type Handshake,
  ReservedBit,
  reservedBytes,
  WireDecoder,
  type WireMessage,
} from '@shoal/protocol';

export class RawPeer {
  readonly socket: Socket;
  readonly closed: Promise<void>;
  handshake: Handshake | undefined;
  /** A fresh peer id per raw peer, so two of them are not taken for one peer. */
  readonly peerId = new Uint8Array([...new TextEncoder().encode('-RAW001-'), ...randomBytes(12)]);
  readonly #decoder = new WireDecoder({ maxBlockLength: 16 * 1024 });
  readonly #messages: DecodedMessage[] = [];
  #waiters: (() => void)[] = [];
  #isClosed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const event of this.#decoder.push(chunk)) {
          if (event.type === 'handshake') this.handshake = event.handshake;
          else this.#messages.push(event);
        }
      } catch {
        socket.destroy();
      }
      this.#wake();
    });
  }

  static async connect(port: number, options: { localAddress?: string } = {}): Promise<RawPeer> {
    const socket = connect({ host: '127.0.0.1', port, ...options });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawPeer(socket);
  }

  get isClosed(): boolean {
    return this.#isClosed;
  }

  sendHandshake(infoHash: Uint8Array, options: { fast?: boolean; extended?: boolean } = {}): void {
    const bits = [];
    if (options.fast ?? true) bits.push(ReservedBit.Fast);
    if (options.extended ?? true) bits.push(ReservedBit.ExtensionProtocol);
    this.socket.write(
      encodeHandshake({ reserved: reservedBytes(bits), infoHash, peerId: this.peerId }),
    );
  }

  send(message: WireMessage): void {
    this.socket.write(encodeMessage(message));
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next received message matching `match` (earlier ones are dropped). */
  async next(match: (message: DecodedMessage) => boolean, ms = 5_000): Promise<DecodedMessage> {
    const deadline = performance.now() + ms;
    for (;;) {
      while (this.#messages.length > 0) {
        const message = this.#messages.shift()!;
        if (match(message)) return message;
      }
      if (this.#isClosed) throw new Error('raw peer: connection closed');
      const left = deadline - performance.now();
      if (left <= 0) throw new Error('raw peer: timed out waiting for a message');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves true once the other side's handshake has arrived, false after `ms` or on close. */
  async handshakeWithin(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    while (!this.handshake && !this.#isClosed && performance.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(1, deadline - performance.now()));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.handshake !== undefined;
  }

  /** Resolves true if the other side closes within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    const result = await Promise.race([this.closed.then(() => true), timeout]);
    clearTimeout(timer);
    return result;
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** A listening raw server; `onPeer` gets each accepted connection. */
export async function rawServer(
  host: string,
  onPeer: (peer: RawPeer) => void,
): Promise<{ server: Server; port: number; connections: number }> {
  const state = { server: createServer(), port: 0, connections: 0 };
  state.server.on('connection', (socket) => {
    state.connections++;
    onPeer(new RawPeer(socket));
  });
  await new Promise<void>((resolve) => state.server.listen(0, host, resolve));
  const address = state.server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  return state;
}
