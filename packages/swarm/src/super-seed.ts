// The origin's BEP 16-style super-seeding, adapted to a datacenter: decisions only, pure.
//
// The origin does not show peers a full bitfield. It shows each peer a small window of
// pieces (HAVEs), chosen among those it has handed out least and that the fewest peers
// hold, and tops the window up as the peer reports pieces (its own HAVEs). So the first
// copies of different pieces go to different peers, who then trade them among themselves,
// and the origin sends about one copy in total.

export interface AdvertiseContext {
  readonly pieceCount: number;
  /** Times the origin has advertised each piece to some peer. */
  readonly advertised: ArrayLike<number>;
  /** Connected peers holding each piece. */
  readonly availability: ArrayLike<number>;
  /** The piece is already advertised to this peer, or the peer has it. */
  readonly skip: (index: number) => boolean;
  readonly random: () => number;
}

/**
 * How many of the tied least-spread pieces (the lowest indexes) the random tie-break chooses
 * from. Handing out first copies roughly front to back lets every downloader's whole-file
 * SHA-256 (in-order-digest.ts) keep up with its download; within the window, different peers
 * still get different pieces.
 */
export const ADVERTISE_TIE_WINDOW = 32;

/**
 * The next piece to advertise to a peer: lowest `advertised + availability` (the piece least
 * spread so far), ties broken uniformly at random among the first ADVERTISE_TIE_WINDOW of
 * them; undefined when every piece is skipped.
 */
export function nextAdvertisement(context: AdvertiseContext): number | undefined {
  let best: number | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  let ties = 0;
  for (let index = 0; index < context.pieceCount; index++) {
    if (context.skip(index)) continue;
    const score = (context.advertised[index] ?? 0) + (context.availability[index] ?? 0);
    if (score < bestScore) {
      best = index;
      bestScore = score;
      ties = 1;
    } else if (score === bestScore && ties < ADVERTISE_TIE_WINDOW) {
      ties++;
      if (context.random() * ties < 1) best = index;
    }
  }
  return best;
}

/**
 * How many advertised-but-not-yet-held pieces a peer may have outstanding: `k` normally;
 * everything for another origin, or when this peer has been the only downloader for a
 * while (a lone downloader gains nothing from rationing and loses pipeline depth).
 */
export function advertiseWindow(options: {
  readonly k: number;
  readonly pieceCount: number;
  readonly peerIsOrigin: boolean;
  readonly aloneForAWhile: boolean;
}): number {
  return options.peerIsOrigin || options.aloneForAWhile ? options.pieceCount : options.k;
}
