import { type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm } from '@nats-io/kv';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { HexId } from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import { z } from 'zod';
import type { CachedPeer, PeerRecord, SwarmCache } from './swarm-cache.ts';
import { storedPeer } from './validate.ts';
import { type PublishError, WriteBehind } from './write-behind.ts';

/**
 * KV layout (bucket names derive from `SHOAL_KV_BUCKET`, default `shoal-tracker`):
 * - `<base>-peers`, `max_age` = peer TTL: key `<infohash>.<peerid>` (both 40 hex chars), value
 *   a `PeerRecord` as JSON. Each announce rewrites it, which restarts its age; a peer that
 *   stops announcing ages out. `stopped` deletes it.
 * - `<base>-swarms`, `max_age` = swarm retention: key `<infohash>`, value `{"completions":n}`,
 *   incremented with compare-and-set.
 * - `<base>-leases`, `max_age` = 3 stats intervals: key `stats`, the stats publisher's lease.
 */
export function bucketNames(base: string) {
  return { peers: `${base}-peers`, swarms: `${base}-swarms`, leases: `${base}-leases` };
}

const StoredSwarm = z.object({ completions: z.number().int().min(0) });
const PEER_KEY = /^([0-9a-f]{40})\.([0-9a-f]{40})$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

function decodeJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    return undefined;
  }
}

/**
 * Opens a KV bucket with `max_age` = `ttlMs`, creating it if needed. An existing bucket with a
 * different `max_age` is updated (the newest configuration wins), so a changed announce
 * interval takes effect on deploy.
 */
async function openBucket(
  kvm: Kvm,
  jsm: JetStreamManager,
  name: string,
  ttlMs: number,
  logger: Logger,
): Promise<KV> {
  const kv = await kvm.create(name, { ttl: ttlMs, history: 1 });
  const status = await kv.status();
  if (status.ttl !== ttlMs) {
    const info = await jsm.streams.info(status.streamInfo.config.name);
    logger.warn({ bucket: name, from: status.ttl, to: ttlMs }, 'updating bucket max_age');
    await jsm.streams.update(info.config.name, { ...info.config, max_age: ttlMs * 1_000_000 });
  }
  return kv;
}

export interface SwarmStoreOptions {
  bucketBase: string;
  peerTtlMs: number;
  swarmRetentionMs: number;
  leaseTtlMs: number;
  cache: SwarmCache;
  logger: Logger;
  /** Peer writes sent but not yet acknowledged beyond which announces are refused. */
  maxUnacknowledged?: number;
  now?: () => number;
}

/**
 * The swarm state in JetStream KV, and the watches that keep this replica's `SwarmCache`
 * current. Peer writes go into the cache at once and to KV written behind (`WriteBehind`: sent
 * at the end of the event-loop turn, one acknowledgement per batch); reads come from the cache.
 */
export class SwarmStore {
  readonly peers: KV;
  readonly swarms: KV;
  readonly leases: KV;
  readonly #cache: SwarmCache;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #writer: WriteBehind<CachedPeer | undefined>;
  readonly #peersSubject: string;
  #watches: { stop(): void }[] = [];
  #loaded = false;
  #closed = false;
  #onLoaded: (() => void) | undefined;

  private constructor(
    nc: NatsConnection,
    peers: KV,
    swarms: KV,
    leases: KV,
    options: SwarmStoreOptions,
  ) {
    this.#writer = new WriteBehind(nc, {
      maxUnacknowledged: options.maxUnacknowledged ?? 10_000,
      onFailure: (peers, error) => this.#writeFailed(peers, error),
    });
    // KV puts are publishes to `$KV.<bucket>.<key>` (the KV layout, ADR-8).
    this.#peersSubject = `$KV.${bucketNames(options.bucketBase).peers}.`;
    this.peers = peers;
    this.swarms = swarms;
    this.leases = leases;
    this.#cache = options.cache;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
  }

  static async open(nc: NatsConnection, options: SwarmStoreOptions): Promise<SwarmStore> {
    const kvm = new Kvm(nc);
    const jsm = await jetstreamManager(nc);
    const names = bucketNames(options.bucketBase);
    const { logger } = options;
    const peers = await openBucket(kvm, jsm, names.peers, options.peerTtlMs, logger);
    const swarms = await openBucket(kvm, jsm, names.swarms, options.swarmRetentionMs, logger);
    const leases = await openBucket(kvm, jsm, names.leases, options.leaseTtlMs, logger);
    return new SwarmStore(nc, peers, swarms, leases, options);
  }

  /** True once the peers watch has delivered everything that was in the bucket at start. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /**
   * (Re)starts both watches from the current state. Called at start and after every NATS
   * reconnect: an ordered consumer would otherwise notice a restarted server only after its
   * 30 s heartbeats go missing. Applying the full state again is harmless (revisions guard it).
   */
  async watch(): Promise<void> {
    for (const watch of this.#watches) watch.stop();
    // The new watch replays the current state: it, not writes still pending here, decides.
    this.#cache.forgetPending();
    const loaded = new Promise<void>((resolve) => {
      this.#onLoaded = resolve;
    });
    const peersWatch = await this.peers.watch();
    const swarmsWatch = await this.swarms.watch();
    this.#watches = [peersWatch, swarmsWatch];
    void this.#consume(peersWatch, (entry) => this.#applyPeer(entry));
    void this.#consume(swarmsWatch, (entry) => this.#applySwarm(entry));
    // An empty bucket delivers nothing, so "loaded" also holds once the bucket reports no values.
    const emptyCheck = async () => {
      // Bounded: 1500 checks, 200 ms apart, is five minutes of an unreachable bucket.
      for (let attempt = 0; attempt < 1500 && !this.#closed; attempt++) {
        if (this.#onLoaded === undefined) return;
        if ((await this.peers.status()).values === 0) this.#markLoaded();
        if (this.#onLoaded === undefined) return;
        await new Promise((resolve) => setTimeout(resolve, 200).unref());
      }
    };
    void emptyCheck().catch((error: unknown) =>
      this.#logger.warn({ err: error }, 'bucket status check failed'),
    );
    await loaded;
  }

  #markLoaded(): void {
    this.#loaded = true;
    this.#onLoaded?.();
    this.#onLoaded = undefined;
  }

  async #consume(
    watch: AsyncIterable<KvEntry & { isUpdate: boolean }>,
    apply: (entry: KvEntry) => void,
  ): Promise<void> {
    try {
      for await (const entry of watch) {
        apply(entry);
        if (this.#onLoaded !== undefined && (entry.delta === 0 || entry.isUpdate)) {
          this.#markLoaded();
        }
      }
    } catch (error) {
      if (!this.#closed) this.#logger.error({ err: error }, 'kv watch failed');
    }
  }

  #applyPeer(entry: KvEntry): void {
    const match = PEER_KEY.exec(entry.key);
    if (match === null) return;
    const [, infoHash, peerId] = match as unknown as [string, string, string];
    if (entry.operation !== 'PUT') {
      this.#cache.deletePeer(infoHash, peerId, entry.revision);
      return;
    }
    this.#cache.watchedPut(
      infoHash,
      peerId,
      entry.revision,
      entry.value,
      () => entry.created.getTime(),
      (value) => {
        const record = storedPeer(decodeJson(value));
        if (record === undefined)
          this.#logger.warn({ key: entry.key }, 'ignoring malformed peer record');
        return record;
      },
    );
  }

  #applySwarm(entry: KvEntry): void {
    if (!HexId.safeParse(entry.key).success || entry.operation !== 'PUT') return;
    const swarm = StoredSwarm.safeParse(decodeJson(entry.value));
    if (swarm.success)
      this.#cache.setCompletions(entry.key, swarm.data.completions, entry.revision);
  }

  /**
   * Records an announce: into the cache at once, to KV written behind. Throws `PublishError`
   * (nothing recorded) when too many writes already await acknowledgement.
   */
  putPeer(infoHash: string, peerId: string, record: PeerRecord): void {
    const value = encoder.encode(JSON.stringify(record));
    const batch = this.#writer.write(`${this.#peersSubject}${infoHash}.${peerId}`, value);
    batch.tags.push(this.#cache.putOwn(infoHash, peerId, record, value, this.#now()));
  }

  /**
   * Removes the peer, in order after this replica's earlier writes, and resolves once JetStream
   * acknowledged it; the cache follows when the watch delivers the delete marker.
   */
  deletePeer(infoHash: string, peerId: string): Promise<void> {
    const marker = headers();
    marker.set('KV-Operation', 'DEL');
    const batch = this.#writer.write(`${this.#peersSubject}${infoHash}.${peerId}`, EMPTY, marker);
    batch.tags.push(undefined);
    return this.#writer.acknowledged(batch);
  }

  /** Peer writes JetStream refused or never acknowledged: the cache must not claim them. */
  #writeFailed(peers: (CachedPeer | undefined)[], error: PublishError): void {
    if (this.#closed) return;
    this.#logger.error(
      { err: error, writes: peers.length },
      'peer records could not be written to KV; dropped from the cache',
    );
    for (const peer of peers) if (peer !== undefined) this.#cache.dropOwn(peer.infoHash, peer);
  }

  /** Sends the queued writes at the end of the current microtask run (see `WriteBehind`). */
  sendSoon(): void {
    this.#writer.sendSoon();
  }

  /** Writes not yet acknowledged by JetStream. */
  get unacknowledged(): number {
    return this.#writer.unacknowledged;
  }

  /** Adds one completed download with compare-and-set, retrying when replicas race. */
  async addCompletion(infoHash: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.swarms.get(infoHash);
      const current =
        entry !== null && entry.operation === 'PUT'
          ? StoredSwarm.safeParse(decodeJson(entry.value))
          : undefined;
      const completions = (current?.success ? current.data.completions : 0) + 1;
      const value = encoder.encode(JSON.stringify({ completions }));
      try {
        const revision =
          entry === null || entry.operation !== 'PUT'
            ? await this.swarms.create(infoHash, value)
            : await this.swarms.update(infoHash, value, entry.revision);
        this.#cache.setCompletions(infoHash, completions, revision);
        return;
      } catch (error) {
        if (!/wrong last sequence|key exists/i.test(String(error))) throw error;
      }
    }
    throw new Error(`could not record a completion for ${infoHash}: too much contention`);
  }

  /**
   * Sends the writes still queued and waits (at most `timeoutMs`) for their acknowledgements,
   * then stops the watches. Resolves false if some writes were never acknowledged.
   */
  async close(timeoutMs = 2000): Promise<boolean> {
    const drained = await this.#writer.drain(timeoutMs);
    this.#closed = true;
    this.#writer.close();
    for (const watch of this.#watches) watch.stop();
    this.#watches = [];
    return drained;
  }
}
