import type { PeerLabels } from '@shoal/bus';
import { type PeerCandidate, type Scope, type SwarmView, scopeKey, scopesOf } from './handout.ts';
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
  /** `AnnouncedPeer` as JSON, built once per write instead of once per reply that lists it. */
  json: string;
  /** BEP 23 / BEP 7 compact form, likewise built once per write. */
  compact: Uint8Array;
  revision: number;
  /** When the record was written (ms); it expires `ttlMs` later, as the KV message does. */
  writtenAt: number;
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
const EMPTY_VIEW: SwarmView<CachedPeer> = { list: () => NO_PEERS };

/**
 * This replica's copy of the swarm state, fed by the KV watch and by its own writes. Every
 * change carries the KV revision, and an older revision never overwrites a newer one, so the
 * two feeds can arrive in any order. The KV bucket expires records by age without telling
 * watchers; peers are kept in write order, so each read first drops the expired ones from the
 * front, and counts are kept up to date on every change: no read scans the whole swarm.
 */
export class SwarmCache {
  readonly #swarms = new Map<string, Swarm>();
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
    for (const scope of scopesOf(peer.labels)) {
      const key = scopeKey(scope);
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
      if (current.revision >= revision) return;
      this.#remove(swarm, current);
    }
    const announced = {
      peerId,
      ip: record.ip,
      port: record.port,
      seeder: record.left === 0,
      labels: record.labels,
    };
    const peer: CachedPeer = {
      peerId,
      ip: record.ip,
      port: record.port,
      left: record.left,
      labels: record.labels,
      json: JSON.stringify(announced),
      compact: compactPeer(record.ip, record.port),
      revision,
      writtenAt,
      memberships: [],
    };
    swarm.peers.set(peerId, peer);
    this.#index(swarm, peer);
    if (record.left === 0) swarm.seeders++;
    else {
      swarm.leechers++;
      swarm.bytesLeft += record.left;
    }
  }

  deletePeer(infoHash: string, peerId: string, revision: number): void {
    const swarm = this.#swarms.get(infoHash);
    const current = swarm?.peers.get(peerId);
    if (swarm === undefined || current === undefined || current.revision > revision) return;
    this.#remove(swarm, current);
    this.#live(infoHash);
  }

  setCompletions(infoHash: string, completions: number, revision: number): void {
    const swarm = this.#swarm(infoHash);
    if (swarm.completionsRevision >= revision) return;
    swarm.completions = completions;
    swarm.completionsRevision = revision;
  }

  /** The revision this replica holds for a peer (0 if none), to skip re-applying its own writes. */
  revision(infoHash: string, peerId: string): number {
    return this.#swarms.get(infoHash)?.peers.get(peerId)?.revision ?? 0;
  }

  /** The live peer record, if any (used to tell a first `completed` from a repeat). */
  peer(infoHash: string, peerId: string): PeerCandidate | undefined {
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
