// Piece selection, pure: state in, decision out. The ordering is written down in ../NOTES.md.
import { SwarmError, SwarmErrorCode } from './errors.ts';

/** What the torrent knows when a peer has free request slots and no started piece to continue. */
export interface PickContext {
  readonly pieceCount: number;
  /** The peer has piece `index` (or it is allowed-fast while we are choked). */
  readonly peerHas: (index: number) => boolean;
  /** We still need piece `index` and nobody is fetching it yet (not verified, not started). */
  readonly needed: (index: number) => boolean;
  /** How many connected peers have each piece. */
  readonly availability: ArrayLike<number>;
  /** The peer is an origin (piece-store): use it only for pieces no other source offers. */
  readonly peerIsOrigin: boolean;
  /** A non-origin peer that is unchoking us has piece `index`. */
  readonly availableFromPeers: (index: number) => boolean;
  /** Uniform in [0, 1); injected so tests are deterministic. */
  readonly random: () => number;
}

/** A named piece-selection strategy. */
export interface PiecePicker {
  readonly name: PiecePickerName;
  /** The piece to start next from this peer, or undefined if it has nothing we may take. */
  nextPiece(context: PickContext): number | undefined;
}

/** Whether piece `index` may be started from the peer at all (shared by every strategy). */
export function eligible(context: PickContext, index: number): boolean {
  if (!context.peerHas(index) || !context.needed(index)) return false;
  // Origin offload: the origin should send about one copy, so a piece another peer can give
  // us is never taken from the origin.
  return !(context.peerIsOrigin && context.availableFromPeers(index));
}

/**
 * How many of the tied rarest pieces (the lowest indexes) the random tie-break chooses from.
 * A window, not the whole file: downloads then advance roughly front to back, so the
 * whole-file SHA-256 (in-order-digest.ts) hashes most pieces from memory as they arrive, while
 * peers still pick different pieces among the window and rarity still comes first.
 */
export const RAREST_TIE_WINDOW = 32;

/**
 * Pieces held by this many connected peers or more count as equally common: among them the
 * tie window (front to back) decides, so a piece that became common early is not left for the
 * very end, where it would hold back the whole-file SHA-256. Rarer pieces still come first.
 */
export const COMMON_AVAILABILITY = 3;

/**
 * Rarest first: the eligible piece held by the fewest connected peers, ties broken uniformly
 * at random among the first RAREST_TIE_WINDOW of them (reservoir sampling, one pass, no
 * allocation).
 */
export const rarestFirst: PiecePicker = {
  name: 'rarest-first',
  nextPiece(context) {
    let best: number | undefined;
    let bestAvailability = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (let index = 0; index < context.pieceCount; index++) {
      if (!eligible(context, index)) continue;
      const availability = Math.min(context.availability[index] ?? 0, COMMON_AVAILABILITY);
      if (availability < bestAvailability) {
        best = index;
        bestAvailability = availability;
        ties = 1;
      } else if (availability === bestAvailability && ties < RAREST_TIE_WINDOW) {
        ties++;
        if (context.random() * ties < 1) best = index;
      }
    }
    return best;
  },
};

/**
 * A missing piece this many pieces behind the highest verified one is started before the
 * picker's choice. Rarest first alone leaves a piece that became common while we fetched
 * others for the very end, and the whole-file SHA-256 (in-order-digest.ts) cannot pass it:
 * with 1 GiB on 8 nodes such pieces arrived 20 s after their neighbours.
 */
export const FRONT_LAG_PIECES = 64;
/** At most this many pieces are looked at per search (from the lowest missing one). */
export const FRONT_SCAN_PIECES = 256;

/**
 * The lowest eligible piece from `lowestMissing` on, if it is FRONT_LAG_PIECES or more behind
 * `highestVerified`; undefined otherwise.
 */
export function stragglerBehindFront(
  context: PickContext,
  lowestMissing: number,
  highestVerified: number,
): number | undefined {
  const end = Math.min(
    highestVerified - FRONT_LAG_PIECES + 1,
    lowestMissing + FRONT_SCAN_PIECES,
    context.pieceCount,
  );
  for (let index = Math.max(0, lowestMissing); index < end; index++) {
    if (eligible(context, index)) return index;
  }
  return undefined;
}

/** Lowest index first: for streaming and for tests that need a predictable order. */
export const sequential: PiecePicker = {
  name: 'sequential',
  nextPiece(context) {
    for (let index = 0; index < context.pieceCount; index++) {
      if (eligible(context, index)) return index;
    }
    return undefined;
  },
};

export const PIECE_PICKERS = { 'rarest-first': rarestFirst, sequential } as const;
export type PiecePickerName = keyof typeof PIECE_PICKERS;

/** The strategy called `name`; an unknown name fails at start-up, not mid-download. */
export function createPiecePicker(name: string): PiecePicker {
  if (!Object.hasOwn(PIECE_PICKERS, name)) {
    throw new SwarmError(
      SwarmErrorCode.InvalidOptions,
      `unknown piece picker "${name}"; known: ${Object.keys(PIECE_PICKERS).join(', ')}`,
    );
  }
  return PIECE_PICKERS[name as PiecePickerName];
}

/** A started piece as the picker sees it. */
export interface PartialPiece {
  readonly index: number;
  /** Blocks nobody has been asked for yet. */
  readonly unrequested: number;
  readonly availability: number;
}

/**
 * Order in which started pieces are continued: closest to done first (a finished piece is
 * verified and offered to others sooner, and its buffer freed), then rarest, then index.
 */
export function comparePartialPieces(a: PartialPiece, b: PartialPiece): number {
  return a.unrequested - b.unrequested || a.availability - b.availability || a.index - b.index;
}

/** A block requested from some peer and not received yet. */
export interface OutstandingBlock {
  readonly index: number;
  readonly begin: number;
  /** Peers it is requested from. */
  readonly requesters: number;
}

/**
 * Endgame (every missing block is requested somewhere): which outstanding blocks to ask this
 * peer for as well. Blocks asked of the fewest peers first; at most `max`; never a block the
 * peer lacks, is already asked for, or that `maxRequesters` peers are already fetching.
 */
export function pickEndgameBlocks(
  outstanding: readonly OutstandingBlock[],
  options: {
    readonly peerHas: (index: number) => boolean;
    readonly requestedFromPeer: (index: number, begin: number) => boolean;
    readonly max: number;
    readonly maxRequesters: number;
  },
): OutstandingBlock[] {
  const candidates = outstanding.filter(
    (block) =>
      block.requesters < options.maxRequesters &&
      options.peerHas(block.index) &&
      !options.requestedFromPeer(block.index, block.begin),
  );
  candidates.sort((a, b) => a.requesters - b.requesters || a.index - b.index || a.begin - b.begin);
  return candidates.slice(0, Math.max(0, options.max));
}
