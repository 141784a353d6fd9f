import type { PeerLabels } from '@shoal/bus';
import {
  type PeerCandidate,
  type Scope,
  type SwarmView,
  scopeKey,
  scopesOf,
  selfKey,
} from './handout.ts';
import { compactPeer } from './http-codec.ts';

/** What the tracker stores per peer (JSON in the KV value under `<infohash>.<peerid>`). */
export interface PeerRecord {
  ip: string;
  port: number;
  left: number;
  uploaded: number;
  downloaded: number;
  labels?: PeerLabels | undefined;
}

/** A peer as the cache holds it, with its entry in NATS announce replies pre-serialised. */
export interface CachedPeer extends PeerCandidate {
  infoHash: string;
  /** `AnnouncedPeer` as UTF-8 JSON, built once per write instead of once per reply listing it. */
  json: Uint8Array;
  /** BEP 23 / BEP 7 compact form, likewise built once per write. */
  compact: Uint8Array;
  /** KV revision of the record; 0 while this replica's own write has not come back yet. */
  revision: number;
  /** When the record was written (ms); it expires `ttlMs` later, as the KV message does. */
  writtenAt: number;
  /**
   * The KV value this replica wrote for the peer and has not yet seen come back through the
   * watch (`undefined` once it has, or for records learnt from the watch).
   */
  pending: Uint8Array | undefined;
  /** Keys of the scopes the peer belongs to (`scopeKey`), shared by peers with equal labels. */
  scopes: readonly string[];
  /** Where the peer sits in its swarm's index lists, for removal in constant time. */
  memberships: Membership[];
}

interface Membership {
  key: string;
  list: CachedPeer[];
  index: number;
}

interface IndexLists {
  seeders: CachedPeer[];
  leechers: CachedPeer[];
}

interface Swarm {
  /** In write order (a rewrite moves the peer to the end), so the oldest come first. */
  peers: Map<string, CachedPeer>;
  /** Seeders and leechers by scope (`scopeKey`): everyone, per zone, per rack. */
  lists: Map<string, IndexLists>;
  view: SwarmView<CachedPeer>;
  seeders: number;
  leechers: number;
  bytesLeft: number;
  completions: number;
  completionsRevision: number;
}

export interface SwarmSummary {
  seeders: number;
  leechers: number;
  completions: number;
  /** Sum of every leecher's `left`. */
  bytesLeft: number;
}

export interface SwarmSnapshot extends SwarmSummary {
  /** Live peers, indexed; valid until the cache next changes. */
  view: SwarmView<CachedPeer>;
}

const NO_PEERS: readonly CachedPeer[] = [];
const ALL_ONLY: readonly string[] = [scopeKey({ kind: 'all' })];
const EMPTY_VIEW: SwarmView<CachedPeer> = { list: () => NO_PEERS };
const utf8 = new TextEncoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * This replica's copy of the swarm state, fed by the KV watch and by its own writes. Every
 * change carries the KV revision, and an older revision never overwrites a newer one, so the
 * two feeds can arrive in any order. The KV bucket expires records by age without telling
 * watchers; peers are kept in write order, so each read first drops the expired ones from the
 * front, and counts are kept up to date on every change: no read scans the whole swarm.
 *
 * This replica's own writes go in at once (`putOwn`), before KV has them, marked pending with
 * the value written. The watch delivers in stream order, so until that value comes back every
 * other change the watch delivers for the peer is older and is ignored; when it comes back the
 * record just takes its revision, with nothing to decode.
 */
export class SwarmCache {
  readonly #swarms = new Map<string, Swarm>();
  /**
   * One labels object per distinct (zone, rack, host), shared by the peers that have it, with
   * the keys of its scopes.
   */
  readonly #labels = new Map<string, { labels: PeerLabels; scopes: readonly string[] }>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs: number; now?: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  #swarm(infoHash: string): Swarm {
    let swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) {
      const lists = new Map<string, IndexLists>();
      swarm = {
        peers: new Map(),
        lists,
        view: {
          list: (seeders: boolean, scope: Scope) => {
            const entry = lists.get(scopeKey(scope));
            return entry === undefined ? NO_PEERS : seeders ? entry.seeders : entry.leechers;
          },
        },
        seeders: 0,
        leechers: 0,
        bytesLeft: 0,
        completions: 0,
        completionsRevision: 0,
      };
      this.#swarms.set(infoHash, swarm);
    }
    return swarm;
  }

  /** The live swarm, after dropping its expired peers; forgets a swarm left with nothing. */
  #live(infoHash: string): Swarm | undefined {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined) return undefined;
    const cutoff = this.#now() - this.#ttlMs;
    for (const peer of swarm.peers.values()) {
      // Write order is (nearly) age order; clock skew between writers only delays an expiry.
      if (peer.writtenAt > cutoff) break;
      this.#remove(swarm, peer);
    }
    if (swarm.peers.size === 0 && swarm.completionsRevision === 0) {
      this.#swarms.delete(infoHash);
      return undefined;
    }
    return swarm;
  }

  #index(swarm: Swarm, peer: CachedPeer): void {
    for (const key of peer.scopes) {
      let entry = swarm.lists.get(key);
      if (entry === undefined) {
        entry = { seeders: [], leechers: [] };
        swarm.lists.set(key, entry);
      }
      const list = peer.left === 0 ? entry.seeders : entry.leechers;
      peer.memberships.push({ key, list, index: list.length });
      list.push(peer);
    }
  }

  #remove(swarm: Swarm, peer: CachedPeer): void {
    swarm.peers.delete(peer.peerId);
    for (const { key, list, index } of peer.memberships) {
      // Swap-remove: the last member takes the leaving one's place.
      const last = list.pop()!;
      if (last !== peer) {
        list[index] = last;
        last.memberships.find((m) => m.list === list)!.index = index;
      }
      const entry = swarm.lists.get(key);
      if (entry !== undefined && entry.seeders.length === 0 && entry.leechers.length === 0) {
        swarm.lists.delete(key);
      }
    }
    if (peer.left === 0) swarm.seeders--;
    else {
      swarm.leechers--;
      swarm.bytesLeft -= peer.left;
    }
  }

  putPeer(
    infoHash: string,
    peerId: string,
    record: PeerRecord,
    revision: number,
    writtenAt: number,
  ): void {
    const swarm = this.#swarm(infoHash);
    const current = swarm.peers.get(peerId);
    if (current !== undefined) {
      if (current.pending !== undefined || current.revision >= revision) return;
      this.#remove(swarm, current);
    }
    this.#insert(swarm, infoHash, peerId, record, revision, writtenAt, undefined);
  }

  /**
   * This replica's own write of `value` (the record's KV value), before KV has acknowledged or
   * delivered it: it replaces whatever the cache holds for the peer. Returns the cached peer.
   */
  putOwn(
    infoHash: string,
    peerId: string,
    record: PeerRecord,
    value: Uint8Array,
    writtenAt: number,
  ): CachedPeer {
    const swarm = this.#swarm(infoHash);
    const current = swarm.peers.get(peerId);
    if (current !== undefined) this.#remove(swarm, current);
    return this.#insert(swarm, infoHash, peerId, record, 0, writtenAt, value);
  }

  /**
   * A PUT the KV watch delivered. The replica's own pending write coming back only takes its
   * revision; anything else is decoded (by `decode`, `undefined` for a malformed value) unless
   * the cache holds something newer.
   */
  watchedPut(
    infoHash: string,
    peerId: string,
    revision: number,
    value: Uint8Array,
    createdAt: () => number,
    decode: (value: Uint8Array) => PeerRecord | undefined,
  ): void {
    const current = this.#swarms.get(infoHash)?.peers.get(peerId);
    if (current !== undefined) {
      if (current.pending !== undefined) {
        // Delivered before our own write came back: it is older than ours.
        if (sameBytes(current.pending, value)) {
          current.pending = undefined;
          current.revision = revision;
        }
        return;
      }
      if (current.revision >= revision) return;
    }
    const record = decode(value);
    if (record !== undefined) this.putPeer(infoHash, peerId, record, revision, createdAt());
  }

  /** Forgets an own write that KV refused or never acknowledged, unless it was replaced since. */
  dropOwn(infoHash: string, peer: CachedPeer): void {
    const swarm = this.#swarms.get(infoHash);
    if (swarm === undefined || swarm.peers.get(peer.peerId) !== peer || peer.revision > 0) return;
    this.#remove(swarm, peer);
    this.#live(infoHash);
  }

  /**
   * After the watch restarts it replays the current state, in which an own write may already
   * have been overwritten: stop waiting for any write to come back, and let the replay decide.
   */
  forgetPending(): void {
    for (const swarm of this.#swarms.values()) {
      for (const peer of swarm.peers.values()) peer.pending = undefined;
    }
  }

  /**
   * The shared copy of `labels`. A fleet has few distinct label sets (one per host at most), so
   * the peer handout, which compares labels of many peers per announce, reads a few objects
   * that stay in the CPU cache instead of one object per peer. Bounded; a reset only loses
   * sharing.
   */
  #shared(
    labels: PeerLabels | undefined,
  ): { labels: PeerLabels; scopes: readonly string[] } | undefined {
    if (labels === undefined) return undefined;
    const { zone, rack, host } = labels;
    const key = `${zone ?? ''}\u0000${rack ?? ''}\u0000${host ?? ''}\u0000${(zone === undefined ? 0 : 1) | (rack === undefined ? 0 : 2) | (host === undefined ? 0 : 4)}`;
    let shared = this.#labels.get(key);
    if (shared === undefined) {
      if (this.#labels.size >= 100_000) this.#labels.clear();
      const copy: PeerLabels = {};
      if (zone !== undefined) copy.zone = zone;
      if (rack !== undefined) copy.rack = rack;
      if (host !== undefined) copy.host = host;
      shared = { labels: copy, scopes: scopesOf(copy).map(scopeKey) };
      this.#labels.set(key, shared);
    }
    return shared;
  }

  #insert(
    swarm: Swarm,
    infoHash: string,
    peerId: string,
    record: PeerRecord,
    revision: number,
    writtenAt: number,
    pending: Uint8Array | undefined,
  ): CachedPeer {
    const shared = this.#shared(record.labels);
    const labels = shared?.labels;
    const announced = {
      peerId,
      ip: record.ip,
      port: record.port,
      seeder: record.left === 0,
      labels,
    };
    const peer: CachedPeer = {
      infoHash,
      peerId,
      ip: record.ip,
      port: record.port,
      left: record.left,
      labels,
      json: utf8.encode(JSON.stringify(announced)),
      compact: compactPeer(record.ip, record.port),
      revision,
      writtenAt,
      pending,
      selfKey: selfKey(peerId, record.ip, record.port),
      scopes: shared?.scopes ?? ALL_ONLY,
      memberships: [],
    };
    swarm.peers.set(peerId, peer);
    this.#index(swarm, peer);
    if (record.left === 0) swarm.seeders++;
    else {
      swarm.leechers++;
      swarm.bytesLeft += record.left;
    }
    return peer;
  }

  deletePeer(infoHash: string, peerId: string, revision: number): void {
    const swarm = this.#swarms.get(infoHash);
    const current = swarm?.peers.get(peerId);
    if (swarm === undefined || current === undefined) return;
    // A pending own write is newer than anything delivered before it comes back.
    if (current.pending !== undefined || current.revision > revision) return;
    this.#remove(swarm, current);
    this.#live(infoHash);
  }

  setCompletions(infoHash: string, completions: number, revision: number): void {
    const swarm = this.#swarm(infoHash);
    if (swarm.completionsRevision >= revision) return;
    swarm.completions = completions;
    swarm.completionsRevision = revision;
  }

  /** The live peer record, if any (to tell a first `completed` from a repeat, and fresh records). */
  peer(infoHash: string, peerId: string): CachedPeer | undefined {
    return this.#live(infoHash)?.peers.get(peerId);
  }

  /** Live peers of one swarm and its counts (this runs on every announce: no copying). */
  snapshot(infoHash: string): SwarmSnapshot {
    const swarm = this.#live(infoHash);
    if (swarm === undefined) {
      return { view: EMPTY_VIEW, seeders: 0, leechers: 0, completions: 0, bytesLeft: 0 };
    }
    return {
      view: swarm.view,
      seeders: swarm.seeders,
      leechers: swarm.leechers,
      completions: swarm.completions,
      bytesLeft: swarm.bytesLeft,
    };
  }

  summary(infoHash: string): SwarmSummary {
    const { view: _view, ...summary } = this.snapshot(infoHash);
    return summary;
  }

  /** Peers in a swarm this replica holds, for the swarm size cap. */
  swarmSize(infoHash: string): number {
    return this.#swarms.get(infoHash)?.peers.size ?? 0;
  }

  /** Infohashes with at least one live peer. */
  activeSwarms(): string[] {
    const active: string[] = [];
    for (const infoHash of [...this.#swarms.keys()]) {
      if ((this.#live(infoHash)?.peers.size ?? 0) > 0) active.push(infoHash);
    }
    return active;
  }

  get swarmCount(): number {
    return this.#swarms.size;
  }

  get peerCount(): number {
    let total = 0;
    for (const swarm of this.#swarms.values()) total += swarm.peers.size;
    return total;
  }

  /** Drops expired peers everywhere, and swarms with neither peers nor completions. */
  sweep(): void {
    for (const infoHash of [...this.#swarms.keys()]) this.#live(infoHash);
  }
}
