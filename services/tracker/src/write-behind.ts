import {
  createInbox,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

const decoder = new TextDecoder();

/** A JetStream publish that the server refused, never acknowledged, or that was not taken. */
export class PublishError extends Error {
  override readonly name = 'PublishError';
  readonly code:
    | 'PUBLISH_REFUSED'
    | 'PUBLISH_TIMEOUT'
    | 'PUBLISH_NO_RESPONDERS'
    | 'PUBLISH_CLOSED'
    | 'PUBLISH_BACKLOG';

  constructor(code: PublishError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

/** The writes of one event-loop turn, acknowledged together. */
export interface WriteBatch<T> {
  /** What the caller attached to each write, handed to `onFailure` if the batch fails. */
  readonly tags: T[];
}

interface Batch<T> extends WriteBatch<T> {
  token: string;
  count: number;
  sentAt: number;
  /** `null` once acknowledged, the error once failed, `undefined` while open or in flight. */
  outcome: PublishError | null | undefined;
  waiters: { resolve: () => void; reject: (error: PublishError) => void }[] | undefined;
}

export interface WriteBehindOptions<T> {
  /** A batch not acknowledged within this is failed (default 5000 ms). */
  timeoutMs?: number;
  /** Writes published but not yet acknowledged beyond which `write` refuses (default 10 000). */
  maxUnacknowledged?: number;
  /** Called with the tags of every write of a batch that JetStream refused or never acknowledged. */
  onFailure?: (tags: T[], error: PublishError) => void;
}

/**
 * JetStream publishes (KV puts and deletes) written behind: `write` returns at once and the
 * caller answers without waiting for JetStream. The writes of one event-loop turn go out in
 * order at the end of the turn (`setImmediate`, so requests read from many sockets in one turn
 * share a batch; `sendSoon` sends at the end of the current microtask run instead), and only
 * the last one asks for an acknowledgement: JetStream stores one connection's messages to a
 * stream in order, so that one acknowledgement stands for the whole batch (a KV put with no
 * expectations is refused only when the stream itself is unusable, which the last write would
 * meet too). This saves the server one message and the tracker one parse per write. A batch
 * refused or not acknowledged within `timeoutMs` is reported to `onFailure`; writes beyond
 * `maxUnacknowledged` are refused (back-pressure when JetStream falls behind).
 */
export class WriteBehind<T> {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #sub: Subscription;
  readonly #timeoutMs: number;
  readonly #maxUnacknowledged: number;
  readonly #onFailure: (tags: T[], error: PublishError) => void;
  /** Batches sent and awaiting their acknowledgement, in sending order. */
  readonly #inflight = new Map<string, Batch<T>>();
  readonly #sweeper: NodeJS.Timeout;
  #open: Batch<T> | undefined;
  // The latest write of the open batch, held back so it can go last with the reply subject.
  #heldSubject = '';
  #heldData: Uint8Array = new Uint8Array(0);
  #heldHeaders: MsgHdrs | undefined;
  #unacknowledged = 0;
  #next = 0;
  #closed = false;
  #immediate: NodeJS.Immediate | undefined;
  #soon = false;
  #drainWaiters: (() => void)[] = [];

  constructor(nc: NatsConnection, options: WriteBehindOptions<T> = {}) {
    this.#nc = nc;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxUnacknowledged = options.maxUnacknowledged ?? 10_000;
    this.#onFailure = options.onFailure ?? (() => undefined);
    this.#inbox = createInbox();
    this.#sub = nc.subscribe(`${this.#inbox}.*`, {
      callback: (_error, msg) => {
        const batch = this.#inflight.get(msg.subject.slice(this.#inbox.length + 1));
        if (batch === undefined) return;
        if (msg.data.length === 0) {
          this.#settle(
            batch,
            new PublishError('PUBLISH_NO_RESPONDERS', 'no JetStream stream took the message'),
          );
          return;
        }
        const ack = JSON.parse(decoder.decode(msg.data)) as {
          seq?: number;
          error?: { description?: string };
        };
        this.#settle(
          batch,
          typeof ack.seq === 'number'
            ? null
            : new PublishError('PUBLISH_REFUSED', ack.error?.description ?? 'publish refused'),
        );
      },
    });
    this.#sweeper = setInterval(() => this.#sweep(), Math.min(1000, this.#timeoutMs));
    this.#sweeper.unref();
  }

  /** Writes published or queued and not yet acknowledged. */
  get unacknowledged(): number {
    return this.#unacknowledged;
  }

  /**
   * Queues a publish for the end of this event-loop turn and returns its batch. Throws
   * `PublishError` (`PUBLISH_BACKLOG`, `PUBLISH_CLOSED`) instead of queueing when it cannot.
   */
  write(subject: string, data: Uint8Array, headers?: MsgHdrs): WriteBatch<T> {
    if (this.#closed) throw new PublishError('PUBLISH_CLOSED', 'swarm state store closed');
    if (this.#unacknowledged >= this.#maxUnacknowledged) {
      throw new PublishError(
        'PUBLISH_BACKLOG',
        `${this.#unacknowledged} writes await JetStream acknowledgement`,
      );
    }
    let batch = this.#open;
    if (batch === undefined) {
      batch = {
        token: (this.#next++).toString(36),
        count: 0,
        sentAt: 0,
        tags: [],
        outcome: undefined,
        waiters: undefined,
      };
      this.#open = batch;
      this.#immediate = setImmediate(this.#send);
    } else {
      this.#publishHeld(undefined);
    }
    this.#heldSubject = subject;
    this.#heldData = data;
    this.#heldHeaders = headers;
    batch.count++;
    this.#unacknowledged++;
    return batch;
  }

  /**
   * Sends the open batch at the end of the current microtask run instead of after this turn's
   * I/O callbacks. A NATS request handler calls this so that its writes and its replies leave in
   * the same socket write; requests from other sockets (HTTP) are better batched per turn.
   */
  sendSoon(): void {
    if (this.#open === undefined || this.#soon) return;
    this.#soon = true;
    queueMicrotask(this.#send);
  }

  /** Resolves once `batch` is acknowledged; rejects with its `PublishError` if it failed. */
  acknowledged(batch: WriteBatch<T>): Promise<void> {
    const b = batch as Batch<T>;
    if (b.outcome === null) return Promise.resolve();
    if (b.outcome !== undefined) return Promise.reject(b.outcome);
    return new Promise((resolve, reject) => {
      b.waiters ??= [];
      b.waiters.push({ resolve, reject });
    });
  }

  /**
   * Sends what is queued and waits until every write so far is acknowledged or failed, at most
   * `timeoutMs`. Resolves true when nothing is left unacknowledged.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    this.#send();
    if (this.#inflight.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.#drainWaiters.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return this.#inflight.size === 0;
  }

  readonly #send = (): void => {
    const batch = this.#open;
    if (batch === undefined) return;
    this.#open = undefined;
    this.#soon = false;
    if (this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
    batch.sentAt = Date.now();
    this.#inflight.set(batch.token, batch);
    this.#publishHeld(`${this.#inbox}.${batch.token}`);
  };

  #publishHeld(reply: string | undefined): void {
    const headers = this.#heldHeaders;
    this.#nc.publish(
      this.#heldSubject,
      this.#heldData,
      reply === undefined
        ? headers === undefined
          ? undefined
          : { headers }
        : headers === undefined
          ? { reply }
          : { reply, headers },
    );
  }

  #settle(batch: Batch<T>, outcome: PublishError | null): void {
    if (batch.outcome !== undefined) return;
    batch.outcome = outcome;
    this.#inflight.delete(batch.token);
    this.#unacknowledged -= batch.count;
    if (outcome !== null) this.#onFailure(batch.tags, outcome);
    for (const waiter of batch.waiters ?? []) {
      if (outcome === null) waiter.resolve();
      else waiter.reject(outcome);
    }
    batch.waiters = undefined;
    if (this.#inflight.size === 0 && this.#open === undefined) {
      for (const resolve of this.#drainWaiters.splice(0)) resolve();
    }
  }

  #sweep(): void {
    const cutoff = Date.now() - this.#timeoutMs;
    for (const batch of this.#inflight.values()) {
      // Insertion order is sending order, so the first young batch ends the scan.
      if (batch.sentAt > cutoff) break;
      this.#settle(
        batch,
        new PublishError('PUBLISH_TIMEOUT', `no acknowledgement within ${this.#timeoutMs} ms`),
      );
    }
  }

  /** Fails whatever is still unacknowledged (call `drain` first to give it a chance). */
  close(): void {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#send();
    for (const batch of [...this.#inflight.values()]) {
      this.#settle(batch, new PublishError('PUBLISH_CLOSED', 'swarm state store closed'));
    }
    this.#sub.unsubscribe();
  }
}
