// One peer connection: owns the socket and its WireDecoder, the handshake in both
// directions, keep-alives and timeouts, and the block requests we have outstanding on it.
// It makes no decisions: decoded messages go up to a ConnectionHandler (the torrent).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import {
  type DecodedMessage,
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  type Handshake,
  hasReservedBit,
  ReservedBit,
  reservedBytes,
  WireDecoder,
  WireError,
  type WireMessage,
} from '@shoal/protocol';
import { asError, SwarmError, SwarmErrorCode } from './errors.ts';
import type { TokenBucket } from './rate-limit.ts';

/** Our extended id for ut_metadata (BEP 9): what peers put in front of metadata messages to us. */
export const OUR_UT_METADATA_ID = 1;

/** Both extensions we speak: BEP 10 extension protocol and BEP 6 fast extension. */
export const OUR_RESERVED = reservedBytes([ReservedBit.ExtensionProtocol, ReservedBit.Fast]);

export interface PendingRequest {
  readonly index: number;
  readonly begin: number;
  readonly length: number;
  /** performance.now() when it was sent. */
  readonly sentAt: number;
}

/** What a connection reports upward once its handshake is done. */
export interface ConnectionHandler {
  /** Both handshakes are exchanged: send the first messages (extended handshake, bitfield). */
  onOpen(connection: PeerConnection): void;
  onMessage(connection: PeerConnection, message: DecodedMessage): void;
  /** The connection is gone; `pending` are our requests it will never answer. */
  onClose(connection: PeerConnection, reason: SwarmError, pending: PendingRequest[]): void;
}

export interface PeerConnectionTimeouts {
  /** From socket creation to the peer's handshake (covers connecting). Default 10 s. */
  handshakeTimeoutMs?: number;
  /** No bytes at all from the peer for this long closes the connection. Default 180 s. */
  idleTimeoutMs?: number;
  /** Send a keep-alive when we have sent nothing for this long. Default 60 s. */
  keepAliveMs?: number;
}

export interface PeerConnectionOptions extends PeerConnectionTimeouts {
  readonly socket: Socket;
  readonly direction: 'inbound' | 'outbound';
  /** Our 20-byte peer id. */
  readonly peerId: Uint8Array;
  /** Outbound: the torrent we dial for (our handshake goes out at once). */
  readonly infoHash?: Uint8Array;
  /**
   * The peer's handshake arrived: return the handler for the torrent it names (after which
   * an inbound connection answers with our handshake), or undefined to close.
   */
  readonly onHandshake: (
    connection: PeerConnection,
    handshake: Handshake,
  ) => ConnectionHandler | undefined;
  /** Outbound: the address dialled (the socket reports none until it connects). */
  readonly remote?: { host: string; port: number };
  /** Closed before the handshakes completed (refused, timed out, unreachable). */
  readonly onClosedBeforeOpen?: (reason: SwarmError) => void;
  /** Received bytes are charged here; the socket pauses while it is in debt. */
  readonly downloadLimiter?: TokenBucket;
  /** Largest PIECE block the decoder accepts from the peer. Default 16 KiB. */
  readonly maxBlockLength?: number;
  /**
   * The socket reads into a buffer it reuses (net's `onread`) and hands each read to
   * `onRead`; the connection does not listen for 'data'. See shared-read.ts.
   */
  readonly sharedReadBuffer?: boolean;
}

const DEFAULTS = { handshakeTimeoutMs: 10_000, idleTimeoutMs: 180_000, keepAliveMs: 60_000 };

export class PeerConnection {
  readonly direction: 'inbound' | 'outbound';
  readonly remoteHost: string;
  readonly remotePort: number;
  /** The peer's handshake, once received. */
  handshake: Handshake | undefined;
  infoHash: Uint8Array | undefined;
  readonly #socket: Socket;
  readonly #decoder: WireDecoder;
  readonly #peerId: Uint8Array;
  readonly #options: PeerConnectionOptions;
  readonly #timeouts: Required<PeerConnectionTimeouts>;
  readonly #pending = new Map<number, PendingRequest>();
  #pendingBytes = 0;
  #handler: ConnectionHandler | undefined;
  #closed = false;
  #lastReceivedAt = performance.now();
  #lastSentAt = performance.now();
  #handshakeTimer: NodeJS.Timeout;
  #heartbeat: NodeJS.Timeout;
  #drainWaiters: (() => void)[] = [];
  #resumeTimer: NodeJS.Timeout | undefined;
  bytesReceived = 0;
  bytesSent = 0;

  constructor(options: PeerConnectionOptions) {
    this.#options = options;
    this.#socket = options.socket;
    this.direction = options.direction;
    this.#peerId = options.peerId;
    this.remoteHost = normalizeHost(options.remote?.host ?? options.socket.remoteAddress ?? '');
    this.remotePort = options.remote?.port ?? options.socket.remotePort ?? 0;
    this.#timeouts = {
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
      keepAliveMs: options.keepAliveMs ?? DEFAULTS.keepAliveMs,
    };
    this.#decoder = new WireDecoder({
      utMetadataId: OUR_UT_METADATA_ID,
      maxBlockLength: options.maxBlockLength ?? 16 * 1024,
    });
    this.#socket.setNoDelay(true);
    if (!options.sharedReadBuffer) {
      this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk, false));
    }
    this.#socket.on('error', (error) =>
      this.close(
        new SwarmError(SwarmErrorCode.ConnectionClosed, `socket error: ${error.message}`, {
          cause: error,
        }),
      ),
    );
    this.#socket.on('close', () =>
      this.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'the socket closed')),
    );
    this.#socket.on('drain', () => this.#wakeDrainWaiters());
    this.#handshakeTimer = setTimeout(
      () => this.close(new SwarmError(SwarmErrorCode.Timeout, 'no handshake in time')),
      this.#timeouts.handshakeTimeoutMs,
    ).unref();
    const tick = Math.max(
      50,
      Math.min(this.#timeouts.keepAliveMs, this.#timeouts.idleTimeoutMs) / 2,
    );
    this.#heartbeat = setInterval(() => this.#onHeartbeat(), tick).unref();
    if (options.direction === 'outbound') {
      if (!options.infoHash)
        throw new SwarmError(SwarmErrorCode.InvalidOptions, 'outbound needs infoHash');
      this.infoHash = options.infoHash;
      this.#write(
        encodeHandshake({
          reserved: OUR_RESERVED,
          infoHash: options.infoHash,
          peerId: this.#peerId,
        }),
      );
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  get open(): boolean {
    return this.#handler !== undefined && !this.#closed;
  }

  get remotePeerId(): Uint8Array | undefined {
    return this.handshake?.peerId;
  }

  /** BEP 6 is on when both handshakes set the fast bit. */
  get fast(): boolean {
    return (
      this.handshake !== undefined && hasReservedBit(this.handshake.reserved, ReservedBit.Fast)
    );
  }

  /** BEP 10 is on when both handshakes set the extension bit. */
  get extended(): boolean {
    return (
      this.handshake !== undefined &&
      hasReservedBit(this.handshake.reserved, ReservedBit.ExtensionProtocol)
    );
  }

  /** Bytes queued in the socket and not yet handed to the kernel. */
  get writableLength(): number {
    return this.#socket.writableLength;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** Bytes our outstanding requests ask for. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  pendingRequests(): IterableIterator<PendingRequest> {
    return this.#pending.values();
  }

  send(message: WireMessage): void {
    if (this.#closed) return;
    this.#write(encodeMessage(message));
  }

  /**
   * Runs `writes` with the socket corked, so the many small messages they send (requests,
   * HAVEs) leave in one segment instead of one syscall each.
   */
  batch(writes: () => void): void {
    if (this.#closed) return;
    this.#socket.cork();
    try {
      writes();
    } finally {
      this.#socket.uncork();
    }
  }

  /** Sends a REQUEST and remembers it until the block, a REJECT, a cancel or close. */
  request(index: number, begin: number, length: number): void {
    if (this.#closed) return;
    const key = requestKey(index, begin);
    const previous = this.#pending.get(key);
    if (previous) this.#pendingBytes -= previous.length;
    this.#pending.set(key, { index, begin, length, sentAt: performance.now() });
    this.#pendingBytes += length;
    this.send({ type: 'request', index, begin, length });
  }

  /** Forgets a pending request and sends CANCEL for it; false if it was not pending. */
  cancel(index: number, begin: number): boolean {
    const pending = this.takePending(index, begin);
    if (pending) this.send({ type: 'cancel', index, begin, length: pending.length });
    return pending !== undefined;
  }

  /** Removes and returns the pending request for this block (answered or rejected). */
  takePending(index: number, begin: number): PendingRequest | undefined {
    const key = requestKey(index, begin);
    const pending = this.#pending.get(key);
    if (pending) {
      this.#pending.delete(key);
      this.#pendingBytes -= pending.length;
    }
    return pending;
  }

  /** Sends a PIECE as header + block, without copying the block; `done` once it is written. */
  sendBlock(index: number, begin: number, block: Uint8Array, done: () => void): void {
    if (this.#closed) {
      done();
      return;
    }
    this.#write(encodePieceHeader(index, begin, block.length));
    this.bytesSent += block.length;
    this.#lastSentAt = performance.now();
    this.#socket.write(block, () => done());
  }

  /** Resolves once the socket's write buffer has drained (or the connection closed). */
  drained(): Promise<void> {
    if (this.#closed || this.#socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  close(reason?: SwarmError): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#heartbeat);
    clearTimeout(this.#resumeTimer);
    this.#socket.destroy();
    this.#wakeDrainWaiters();
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    this.#pendingBytes = 0;
    const error = reason ?? new SwarmError(SwarmErrorCode.ConnectionClosed, 'closed by us');
    if (this.#handler) this.#handler.onClose(this, error, pending);
    else this.#options.onClosedBeforeOpen?.(error);
  }

  #write(bytes: Uint8Array): void {
    this.#lastSentAt = performance.now();
    this.#socket.write(bytes);
  }

  #wakeDrainWaiters(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const wake of waiters) wake();
  }

  #onHeartbeat(): void {
    const now = performance.now();
    if (now - this.#lastReceivedAt > this.#timeouts.idleTimeoutMs) {
      this.close(new SwarmError(SwarmErrorCode.Timeout, 'no bytes from the peer in time'));
      return;
    }
    if (this.#handler && now - this.#lastSentAt >= this.#timeouts.keepAliveMs) {
      this.send({ type: 'keep-alive' });
    }
  }

  /**
   * A read from a socket created with `onread` (sharedReadBuffer): `bytes` is only valid
   * during this call. (A download limit pauses the socket itself, so this always says go on.)
   */
  onRead(bytes: Uint8Array): true {
    this.#onData(bytes, true);
    return true;
  }

  #onData(chunk: Uint8Array, transient: boolean): void {
    if (this.#closed) return;
    this.#lastReceivedAt = performance.now();
    this.bytesReceived += chunk.length;
    const limiter = this.#options.downloadLimiter;
    if (limiter && !limiter.unlimited) {
      const wait = limiter.take(chunk.length);
      if (wait > 0) {
        this.#socket.pause();
        this.#resumeTimer = setTimeout(() => {
          if (!this.#closed) this.#socket.resume();
        }, wait).unref();
      }
    }
    let events: ReturnType<WireDecoder['push']>;
    try {
      events = transient ? this.#decoder.pushTransient(chunk) : this.#decoder.push(chunk);
    } catch (error) {
      this.close(protocolError(error));
      return;
    }
    for (const event of events) {
      if (this.#closed) return;
      try {
        if (event.type === 'handshake') this.#onHandshake(event.handshake);
        else if (this.#handler) this.#handler.onMessage(this, event);
      } catch (error) {
        this.close(protocolError(error));
        return;
      }
    }
  }

  #onHandshake(handshake: Handshake): void {
    if (
      this.direction === 'outbound' &&
      Buffer.compare(handshake.infoHash, this.#options.infoHash!) !== 0
    ) {
      throw new SwarmError(
        SwarmErrorCode.ProtocolViolation,
        'the peer answered for another torrent',
      );
    }
    if (Buffer.compare(handshake.peerId, this.#peerId) === 0) {
      throw new SwarmError(SwarmErrorCode.SelfConnection, 'connected to ourselves');
    }
    this.handshake = handshake;
    this.infoHash = handshake.infoHash;
    const handler = this.#options.onHandshake(this, handshake);
    if (this.#closed) return;
    if (!handler) {
      this.close(new SwarmError(SwarmErrorCode.ProtocolViolation, 'torrent refused or unknown'));
      return;
    }
    clearTimeout(this.#handshakeTimer);
    if (this.direction === 'inbound') {
      this.#write(
        encodeHandshake({
          reserved: OUR_RESERVED,
          infoHash: handshake.infoHash,
          peerId: this.#peerId,
        }),
      );
    }
    this.#handler = handler;
    handler.onOpen(this);
  }
}

function requestKey(index: number, begin: number): number {
  // Blocks are 16 KiB aligned in practice, but any begin < 2^32 maps uniquely here.
  return index * 0x1_0000_0000 + begin;
}

function protocolError(error: unknown): SwarmError {
  if (error instanceof SwarmError) return error;
  const cause = asError(error);
  const code =
    error instanceof WireError ? SwarmErrorCode.ProtocolViolation : SwarmErrorCode.ConnectionClosed;
  return new SwarmError(code, cause.message, { cause });
}

/** `::ffff:127.0.0.1` (an IPv4 peer on a dual-stack socket) as `127.0.0.1`. */
export function normalizeHost(host: string): string {
  return host.startsWith('::ffff:') && host.includes('.') ? host.slice(7) : host;
}

/** '-SH0001-' (Azureus-style client tag) followed by 12 random bytes. */
export function randomPeerId(): Uint8Array {
  const id = new Uint8Array(20);
  id.set(new TextEncoder().encode('-SH0001-'));
  id.set(randomBytes(12), 8);
  return id;
}

/** Lowercase hex of `bytes` (peer ids, infohashes). */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
