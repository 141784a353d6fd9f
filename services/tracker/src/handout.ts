import type { PeerLabels } from '@shoal/bus';

/** A peer the tracker could hand out, as the policy sees it. */
export interface PeerCandidate {
  peerId: string;
  ip: string;
  port: number;
  /** Bytes the peer still needs; 0 means it is a seeder. */
  left: number;
  labels?: PeerLabels | undefined;
  /**
   * `selfKey(peerId, ip, port)`, if the holder computed it (the cache does, once per write):
   * lets the policy see that a peer is not the requester without reading its id and address,
   * which for a large swarm are mostly not in the CPU cache.
   */
  selfKey?: number | undefined;
}

/**
 * A 31-bit hash of a peer's id and of its address: two peers with different keys differ in
 * both, so neither can be the other (`isSelf` compares the strings only when keys match).
 */
export function selfKey(peerId: string, ip: string, port: number): number {
  let id = 0x811c9dc5;
  for (let i = 0; i < peerId.length; i++) id = Math.imul(id ^ peerId.charCodeAt(i), 0x01000193);
  let address = Math.imul(0x811c9dc5 ^ port, 0x01000193);
  for (let i = 0; i < ip.length; i++) address = Math.imul(address ^ ip.charCodeAt(i), 0x01000193);
  // Low 16 bits from each: equal ids or equal addresses give equal halves.
  return (((id >>> 16) & 0x7fff) << 16) | (address >>> 16);
}

/** The peer asking. */
export interface HandoutRequester {
  peerId: string;
  ip: string;
  port: number;
  left: number;
  labels?: PeerLabels | undefined;
}

/** Which peers of a swarm a list holds: everyone, one zone, or one rack (in its zone). */
export type Scope =
  | { kind: 'all' }
  | { kind: 'zone'; zone: string }
  | { kind: 'rack'; zone: string | undefined; rack: string };

/**
 * A swarm's live peers, split into seeders and leechers and indexed by zone and rack (the
 * cache keeps these lists current), so a policy samples what it needs without scanning a swarm
 * of thousands on every announce.
 */
export interface SwarmView<P extends PeerCandidate> {
  list(seeders: boolean, scope: Scope): readonly P[];
}

/**
 * Chooses up to `numWant` peers of `swarm` for `requester`, best first. Must never return the
 * requester itself. `random` returns a number in [0, 1), injected for tests.
 */
export type HandoutPolicy = <P extends PeerCandidate>(
  requester: HandoutRequester,
  swarm: SwarmView<P>,
  numWant: number,
  random: () => number,
) => P[];

/** The key of a scope's list; rack names are only unique within a zone. */
export function scopeKey(scope: Scope): string {
  if (scope.kind === 'all') return '';
  if (scope.kind === 'zone') return `z\u0000${scope.zone}`;
  return `r\u0000${scope.zone ?? ''}\u0000${scope.rack}`;
}

/** The scopes a peer belongs to. */
export function scopesOf(labels: PeerLabels | undefined): Scope[] {
  const scopes: Scope[] = [{ kind: 'all' }];
  if (labels?.zone !== undefined) scopes.push({ kind: 'zone', zone: labels.zone });
  if (labels?.rack !== undefined)
    scopes.push({ kind: 'rack', zone: labels.zone, rack: labels.rack });
  return scopes;
}

/** A `SwarmView` over a plain list (lists filtered on each call), for tests. */
export function viewOf<P extends PeerCandidate>(peers: readonly P[]): SwarmView<P> {
  return {
    list: (seeders, scope) =>
      peers.filter(
        (p) =>
          (p.left === 0) === seeders &&
          scopesOf(p.labels).some((own) => scopeKey(own) === scopeKey(scope)),
      ),
  };
}

/** Closeness of two peers: 0 same rack, 1 same zone, 2 anywhere else. */
export function localityTier(a: PeerLabels | undefined, b: PeerLabels | undefined): 0 | 1 | 2 {
  if (a === undefined || b === undefined) return 2;
  // Rack names are only unique within a zone, so a rack match needs the zones to agree too.
  if (a.rack !== undefined && a.rack === b.rack && a.zone === b.zone) return 0;
  if (a.zone !== undefined && a.zone === b.zone) return 1;
  return 2;
}

function isSelf(requester: HandoutRequester, candidate: PeerCandidate): boolean {
  return (
    candidate.peerId === requester.peerId ||
    (candidate.port === requester.port && candidate.ip === requester.ip)
  );
}

/** Which candidates a draw takes: not the requester, and (unless `tier` is -1) in that tier. */
class Filter {
  readonly requester: HandoutRequester;
  readonly zone: string | undefined;
  readonly rack: string | undefined;
  readonly idHalf: number;
  readonly addressHalf: number;
  tier: -1 | 0 | 1 | 2 = -1;

  constructor(requester: HandoutRequester) {
    this.requester = requester;
    this.zone = requester.labels?.zone;
    this.rack = requester.labels?.rack;
    const key = selfKey(requester.peerId, requester.ip, requester.port);
    this.idHalf = key >>> 16;
    this.addressHalf = key & 0xffff;
  }

  #isSelf(peer: PeerCandidate): boolean {
    const key = peer.selfKey;
    // Different id halves and different address halves: neither the id nor the address match.
    if (key !== undefined && key >>> 16 !== this.idHalf && (key & 0xffff) !== this.addressHalf) {
      return false;
    }
    return isSelf(this.requester, peer);
  }

  /**
   * `localityTier(requester.labels, peer.labels) === tier && !isSelf(requester, peer)`, inlined
   * and in this order: most candidates a draw looks at are refused on their tier, which reads
   * only the labels (objects the cache shares between peers), before any address is compared.
   */
  accept(peer: PeerCandidate): boolean {
    const tier = this.tier;
    if (tier !== -1) {
      const labels = peer.labels;
      let own: 0 | 1 | 2 = 2;
      if (labels !== undefined && this.requester.labels !== undefined) {
        const { zone, rack } = this;
        if (rack !== undefined && labels.rack === rack && labels.zone === zone) own = 0;
        else if (zone !== undefined && labels.zone === zone) own = 1;
      }
      if (own !== tier) return false;
    }
    return !this.#isSelf(peer);
  }
}

const NONE: readonly never[] = [];

/**
 * Members of `list` (and `more`, as if appended) that `filter` accepts, uniformly at random
 * and without repeats, one per `next()` call, so a caller alternating between two lists draws
 * only what it hands out. A short list is shuffled as it is read (a partial Fisher-Yates over a
 * copy); a long one is sampled at random positions for a bounded number of attempts, then read
 * whole (minus what sampling already looked at) if that came up short. The work grows with
 * `want`, not with the list.
 */
class Sampler<P extends PeerCandidate> {
  readonly #list: readonly P[];
  readonly #more: readonly P[];
  readonly #filter: Filter;
  readonly #random: () => number;
  #pool: P[] | undefined;
  #next = 0;
  #seen: Set<P> | undefined;
  #attempts: number;

  constructor(
    list: readonly P[],
    filter: Filter,
    want: number,
    random: () => number,
    more: readonly P[] = NONE,
  ) {
    this.#list = list;
    this.#more = more;
    this.#filter = filter;
    this.#random = random;
    if (list.length + more.length > 4 * want + 32) {
      this.#seen = new Set();
      this.#attempts = 8 * want + 32;
    } else {
      this.#attempts = 0;
    }
  }

  next(): P | undefined {
    const list = this.#list;
    const more = this.#more;
    const seen = this.#seen;
    if (seen !== undefined) {
      const total = list.length + more.length;
      while (this.#attempts > 0) {
        this.#attempts--;
        const i = Math.floor(this.#random() * total);
        const peer = i < list.length ? list[i]! : more[i - list.length]!;
        if (seen.has(peer)) continue;
        seen.add(peer);
        if (this.#filter.accept(peer)) return peer;
      }
      this.#pool = list.concat(more).filter((peer) => !seen.has(peer));
      this.#seen = undefined;
    }
    if (this.#pool === undefined) this.#pool = more.length === 0 ? list.slice() : list.concat(more);
    const pool = this.#pool;
    while (this.#next < pool.length) {
      const i = this.#next++;
      const j = i + Math.floor(this.#random() * (pool.length - i));
      const peer = pool[j]!;
      pool[j] = pool[i]!;
      if (this.#filter.accept(peer)) return peer;
    }
    return undefined;
  }
}

/**
 * `locality`: same rack first, then same zone, then anywhere. A seeder gets leechers first (it
 * needs nothing from other seeders), then seeders if room is left: a client that announces
 * `left=0` while it still fetches metadata from a magnet (aria2 does) must find somebody. A
 * leecher gets, within each tier, seeders and leechers alternately, seeder first: it always
 * sees whole copies and partial peers both, so load spreads over the swarm instead of piling
 * on the origin. Peers are chosen at random within a tier so that different requesters get
 * different peers. The work grows with `numWant`, not with the swarm.
 */
export const localityHandout: HandoutPolicy = <P extends PeerCandidate>(
  requester: HandoutRequester,
  swarm: SwarmView<P>,
  numWant: number,
  random: () => number,
): P[] => {
  const out: P[] = [];
  if (numWant <= 0) return out;
  const filter = new Filter(requester);
  const { zone, rack } = filter;
  const tiers: [Scope, 0 | 1 | 2][] = [];
  if (rack !== undefined) tiers.push([{ kind: 'rack', zone, rack }, 0]);
  if (zone !== undefined) tiers.push([{ kind: 'zone', zone }, 1]);
  tiers.push([ALL, 2]);
  for (const [scope, tier] of tiers) {
    const room = numWant - out.length;
    if (room <= 0) break;
    filter.tier = tier;
    const seeders =
      requester.left === 0 ? undefined : new Sampler(swarm.list(true, scope), filter, room, random);
    const leechers = new Sampler(swarm.list(false, scope), filter, room, random);
    let more = true;
    while (more && out.length < numWant) {
      more = false;
      const seeder = seeders?.next();
      if (seeder !== undefined) {
        out.push(seeder);
        more = true;
      }
      if (out.length >= numWant) break;
      const leecher = leechers.next();
      if (leecher !== undefined) {
        out.push(leecher);
        more = true;
      }
    }
  }
  if (requester.left === 0 && out.length < numWant) {
    filter.tier = -1;
    const fill = new Sampler(swarm.list(true, ALL), filter, numWant - out.length, random);
    while (out.length < numWant) {
      const peer = fill.next();
      if (peer === undefined) break;
      out.push(peer);
    }
  }
  return out;
};

const ALL: Scope = { kind: 'all' };

/** `random`: any peers but the requester, uniformly; the baseline to compare locality with. */
export const randomHandout: HandoutPolicy = <P extends PeerCandidate>(
  requester: HandoutRequester,
  swarm: SwarmView<P>,
  numWant: number,
  random: () => number,
): P[] => {
  const out: P[] = [];
  if (numWant <= 0) return out;
  const seeders = swarm.list(true, ALL);
  const leechers = swarm.list(false, ALL);
  const sampler = new Sampler(seeders, new Filter(requester), numWant, random, leechers);
  while (out.length < numWant) {
    const peer = sampler.next();
    if (peer === undefined) break;
    out.push(peer);
  }
  return out;
};

/** Policies by the name `SHOAL_TRACKER_HANDOUT_POLICY` selects. */
export const HANDOUT_POLICIES = {
  locality: localityHandout,
  random: randomHandout,
} as const satisfies Record<string, HandoutPolicy>;
export type HandoutPolicyName = keyof typeof HANDOUT_POLICIES;
