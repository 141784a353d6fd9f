import type { PeerLabels } from '@shoal/bus';

/** A peer the tracker could hand out, as the policy sees it. */
export interface PeerCandidate {
  peerId: string;
  ip: string;
  port: number;
  /** Bytes the peer still needs; 0 means it is a seeder. */
  left: number;
  labels?: PeerLabels | undefined;
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
    (candidate.ip === requester.ip && candidate.port === requester.port)
  );
}

/**
 * Up to `want` members of `lists` (taken as one concatenated list) that `accept` takes,
 * uniformly at random, in random order. A short list is read whole; a long one is sampled at
 * random positions (bounded attempts), read whole only when sampling came up short.
 */
function draw<P>(
  lists: readonly (readonly P[])[],
  accept: (peer: P) => boolean,
  want: number,
  random: () => number,
): P[] {
  let total = 0;
  for (const list of lists) total += list.length;
  if (want <= 0 || total === 0) return [];
  if (total > 4 * want + 32) {
    const at = (i: number): P => {
      for (const list of lists) {
        if (i < list.length) return list[i]!;
        i -= list.length;
      }
      throw new RangeError('index past the lists');
    };
    const seen = new Set<P>();
    const out: P[] = [];
    for (let attempt = 0; attempt < 8 * want + 32 && out.length < want; attempt++) {
      const peer = at(Math.floor(random() * total));
      if (seen.has(peer)) continue;
      seen.add(peer);
      if (accept(peer)) out.push(peer);
    }
    if (out.length >= want) return out;
  }
  // Exact: a partial Fisher-Yates shuffle, stopped as soon as enough were accepted.
  const pool = lists.length === 1 ? lists[0]!.slice() : ([] as P[]).concat(...lists);
  const out: P[] = [];
  for (let i = 0; i < pool.length && out.length < want; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    const peer = pool[j]!;
    pool[j] = pool[i]!;
    if (accept(peer)) out.push(peer);
  }
  return out;
}

/**
 * `locality`: same rack first, then same zone, then anywhere. A seeder gets leechers first (it
 * needs nothing from other seeders), then seeders if room is left: a client that announces
 * `left=0` while it still fetches metadata from a magnet (aria2 does) must find somebody. A leecher gets, within each tier, seeders and leechers
 * alternately, seeder first: it always sees whole copies and partial peers both, so load
 * spreads over the swarm instead of piling on the origin. Peers are chosen at random within a
 * tier so that different requesters get different peers. The work grows with `numWant`, not
 * with the swarm.
 */
export const localityHandout: HandoutPolicy = <P extends PeerCandidate>(
  requester: HandoutRequester,
  swarm: SwarmView<P>,
  numWant: number,
  random: () => number,
): P[] => {
  if (numWant <= 0) return [];
  const { zone, rack } = requester.labels ?? {};
  const tiers: [Scope, 0 | 1 | 2][] = [];
  if (rack !== undefined) tiers.push([{ kind: 'rack', zone, rack }, 0]);
  if (zone !== undefined) tiers.push([{ kind: 'zone', zone }, 1]);
  tiers.push([{ kind: 'all' }, 2]);
  const out: P[] = [];
  for (const [scope, tier] of tiers) {
    const room = numWant - out.length;
    if (room <= 0) break;
    const accept = (peer: P) =>
      localityTier(requester.labels, peer.labels) === tier && !isSelf(requester, peer);
    const seeders =
      requester.left === 0 ? [] : draw([swarm.list(true, scope)], accept, room, random);
    const leechers = draw([swarm.list(false, scope)], accept, room, random);
    let s = 0;
    let l = 0;
    while (out.length < numWant && (s < seeders.length || l < leechers.length)) {
      if (s < seeders.length) out.push(seeders[s++]!);
      if (out.length < numWant && l < leechers.length) out.push(leechers[l++]!);
    }
  }
  if (requester.left === 0 && out.length < numWant) {
    const fill = draw(
      [swarm.list(true, { kind: 'all' })],
      (peer) => !isSelf(requester, peer),
      numWant - out.length,
      random,
    );
    out.push(...fill);
  }
  return out;
};

/** `random`: any peers but the requester, uniformly; the baseline to compare locality with. */
export const randomHandout: HandoutPolicy = <P extends PeerCandidate>(
  requester: HandoutRequester,
  swarm: SwarmView<P>,
  numWant: number,
  random: () => number,
): P[] => {
  if (numWant <= 0) return [];
  const all = [swarm.list(true, { kind: 'all' }), swarm.list(false, { kind: 'all' })];
  return draw(all, (peer) => !isSelf(requester, peer), numWant, random);
};

/** Policies by the name `SHOAL_TRACKER_HANDOUT_POLICY` selects. */
export const HANDOUT_POLICIES = {
  locality: localityHandout,
  random: randomHandout,
} as const satisfies Record<string, HandoutPolicy>;
export type HandoutPolicyName = keyof typeof HANDOUT_POLICIES;
