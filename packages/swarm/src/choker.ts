// Choking decisions, pure: which interested peers get upload slots.

export interface ChokeCandidate<Id> {
  readonly id: Id;
  readonly interested: boolean;
  /** Bytes/s: from the peer to us while we download, from us to the peer once we seed. */
  readonly rate: number;
}

/**
 * Regular unchoke (every 10 s): the `slots` interested peers with the best rate. Ties keep
 * the input order, so a caller that lists currently unchoked peers first avoids churn.
 */
export function regularUnchoke<Id>(
  candidates: readonly ChokeCandidate<Id>[],
  slots: number,
): Set<Id> {
  const ranked = candidates
    .map((candidate, order) => ({ candidate, order }))
    .filter(({ candidate }) => candidate.interested)
    .sort((a, b) => b.candidate.rate - a.candidate.rate || a.order - b.order);
  return new Set(ranked.slice(0, Math.max(0, slots)).map(({ candidate }) => candidate.id));
}

/**
 * Optimistic unchoke (rotated every 30 s): one interested peer outside the regular set,
 * chosen uniformly at random, so newcomers get a chance to show their rate.
 */
export function pickOptimistic<Id>(
  candidates: readonly ChokeCandidate<Id>[],
  regular: ReadonlySet<Id>,
  random: () => number,
): Id | undefined {
  const pool = candidates.filter((c) => c.interested && !regular.has(c.id));
  if (pool.length === 0) return undefined;
  return pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))]!.id;
}
