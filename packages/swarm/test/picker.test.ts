import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  COMMON_AVAILABILITY,
  comparePartialPieces,
  createPiecePicker,
  FRONT_LAG_PIECES,
  FRONT_SCAN_PIECES,
  type PickContext,
  pickEndgameBlocks,
  RAREST_TIE_WINDOW,
  rarestFirst,
  SwarmError,
  sequential,
  stragglerBehindFront,
} from '../src/index.ts';

function context(overrides: Partial<PickContext> & { availability: number[] }): PickContext {
  return {
    pieceCount: overrides.availability.length,
    peerHas: () => true,
    needed: () => true,
    peerIsOrigin: false,
    availableFromPeers: () => false,
    random: Math.random,
    ...overrides,
  };
}

/** A seeded linear congruential generator: deterministic and uniform enough for tests. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test('rarest first picks the eligible piece held by the fewest peers', () => {
  const availability = [5, 3, 1, 4, 1, 2];
  const picked = rarestFirst.nextPiece(
    context({ availability, peerHas: (i) => i !== 2, random: () => 0.99 }),
  );
  assert.equal(picked, 4);
  assert.equal(rarestFirst.nextPiece(context({ availability, peerHas: () => false })), undefined);
  assert.equal(rarestFirst.nextPiece(context({ availability, needed: (i) => i === 0 })), 0);
  // Common pieces (COMMON_AVAILABILITY holders or more) are alike: 6 holders tie with 3.
  const common = [COMMON_AVAILABILITY + 3, COMMON_AVAILABILITY, COMMON_AVAILABILITY + 6];
  assert.equal(rarestFirst.nextPiece(context({ availability: common, random: () => 0.99 })), 0);
  assert.equal(rarestFirst.nextPiece(context({ availability: common, random: () => 0 })), 2);
});

test('rarest first: always a rarest eligible piece (common ones alike), for any state (property)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(10), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 200 }),
      fc.integer(),
      (pieces, seed) => {
        const availability = pieces.map(([a]) => a);
        // At COMMON_AVAILABILITY holders and above a piece is as good as any other common one.
        const rarity = (a: number) => Math.min(a, COMMON_AVAILABILITY);
        const picked = rarestFirst.nextPiece(
          context({
            availability,
            peerHas: (i) => pieces[i]![1],
            needed: (i) => pieces[i]![2],
            random: seededRandom(seed),
          }),
        );
        const eligible = pieces.flatMap(([a, has, needed], i) => (has && needed ? [{ i, a }] : []));
        if (eligible.length === 0) return picked === undefined;
        const min = Math.min(...eligible.map((e) => rarity(e.a)));
        return (
          picked !== undefined &&
          pieces[picked]![1] &&
          pieces[picked]![2] &&
          rarity(availability[picked]!) === min
        );
      },
    ),
  );
});

test('rarest first breaks ties uniformly at random', () => {
  const availability = [2, 1, 1, 1, 1, 3];
  const counts = new Map<number, number>();
  const random = seededRandom(42);
  const trials = 4_000;
  for (let i = 0; i < trials; i++) {
    const picked = rarestFirst.nextPiece(context({ availability, random }))!;
    counts.set(picked, (counts.get(picked) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), [1, 2, 3, 4]);
  for (const count of counts.values()) {
    // Each of 4 tied pieces expects 1000; a fair picker stays well within ±15 %.
    assert.ok(count > 850 && count < 1150, `tie share ${count} of ${trials}`);
  }
});

test('rarest first: ties are drawn from the lowest-indexed window of them, evenly', () => {
  // Every other piece is tied at the lowest availability; more of them than the window.
  const availability: number[] = Array.from({ length: 4 * RAREST_TIE_WINDOW }, (_, i) =>
    i % 2 === 0 ? 1 : 2,
  );
  const tied = availability.flatMap((a, i) => (a === 1 ? [i] : []));
  const window = tied.slice(0, RAREST_TIE_WINDOW);
  const counts = new Map<number, number>();
  const random = seededRandom(7);
  const trials = 200 * RAREST_TIE_WINDOW;
  for (let i = 0; i < trials; i++) {
    const picked = rarestFirst.nextPiece(context({ availability, random }))!;
    counts.set(picked, (counts.get(picked) ?? 0) + 1);
  }
  assert.deepEqual(
    [...counts.keys()].sort((a, b) => a - b),
    window,
    'only the first RAREST_TIE_WINDOW tied pieces, each of them',
  );
  for (const count of counts.values()) {
    assert.ok(count > 140 && count < 260, `tie share ${count} of ${trials}`);
  }
  // Rarity still comes first: a rarer piece beyond the window wins outright.
  const rarerLate = [...availability];
  rarerLate[rarerLate.length - 1] = 0;
  assert.equal(
    rarestFirst.nextPiece(context({ availability: rarerLate, random })),
    rarerLate.length - 1,
  );
});

test('the origin is used only for pieces no unchoking peer offers', () => {
  const availability = [1, 1, 1];
  const fromPeers = (i: number) => i !== 2;
  assert.equal(
    rarestFirst.nextPiece(
      context({ availability, peerIsOrigin: true, availableFromPeers: fromPeers }),
    ),
    2,
  );
  assert.equal(
    rarestFirst.nextPiece(
      context({ availability, peerIsOrigin: true, availableFromPeers: () => true }),
    ),
    undefined,
  );
  // A non-origin peer is not restricted.
  assert.notEqual(
    rarestFirst.nextPiece(context({ availability, availableFromPeers: () => true })),
    undefined,
  );
});

test('sequential picks the lowest eligible index; unknown strategy names fail', () => {
  assert.equal(sequential.nextPiece(context({ availability: [0, 9, 9], needed: (i) => i > 0 })), 1);
  assert.equal(createPiecePicker('rarest-first'), rarestFirst);
  assert.throws(() => createPiecePicker('fastest'), SwarmError);
  assert.throws(() => createPiecePicker('toString'), SwarmError);
});

test('started pieces continue closest to done first, then rarest', () => {
  const partials = [
    { index: 0, unrequested: 5, availability: 1 },
    { index: 1, unrequested: 2, availability: 3 },
    { index: 2, unrequested: 2, availability: 1 },
  ];
  assert.deepEqual(
    [...partials].sort(comparePartialPieces).map((p) => p.index),
    [2, 1, 0],
  );
});

test('endgame duplicates: fewest requesters first, never beyond the cap or twice to one peer', () => {
  const outstanding = [
    { index: 0, begin: 0, requesters: 2 },
    { index: 0, begin: 16384, requesters: 1 },
    { index: 1, begin: 0, requesters: 1 },
    { index: 2, begin: 0, requesters: 1 },
    { index: 3, begin: 0, requesters: 1 },
  ];
  const picks = pickEndgameBlocks(outstanding, {
    peerHas: (i) => i !== 2,
    requestedFromPeer: (i) => i === 3,
    max: 5,
    maxRequesters: 2,
  });
  assert.deepEqual(
    picks.map((b) => [b.index, b.begin]),
    [
      [0, 16384],
      [1, 0],
    ],
  );
  assert.equal(
    pickEndgameBlocks(outstanding, {
      peerHas: () => true,
      requestedFromPeer: () => false,
      max: 1,
      maxRequesters: 3,
    }).length,
    1,
  );
});

test('stragglers: the lowest eligible piece far enough behind the front, within the scan', () => {
  const pieceCount = 4 * FRONT_SCAN_PIECES;
  const availability = new Array<number>(pieceCount).fill(5);
  const missing = new Set([3, 10, 700]);
  const base = context({ availability, needed: (i) => missing.has(i) });
  // Front at 3 + FRONT_LAG_PIECES - 1: piece 3 is not behind enough yet.
  assert.equal(stragglerBehindFront(base, 3, 3 + FRONT_LAG_PIECES - 1), undefined);
  assert.equal(stragglerBehindFront(base, 3, 3 + FRONT_LAG_PIECES), 3);
  // Not from a peer that lacks it, nor from the origin when a peer offers it: the next one.
  assert.equal(stragglerBehindFront({ ...base, peerHas: (i) => i !== 3 }, 3, 500), 10);
  assert.equal(
    stragglerBehindFront(
      { ...base, peerIsOrigin: true, availableFromPeers: (i) => i === 3 },
      3,
      500,
    ),
    10,
  );
  // The scan ends FRONT_SCAN_PIECES after the lowest missing piece.
  assert.equal(
    stragglerBehindFront({ ...base, needed: (i) => i === 700 }, 11, pieceCount - 1),
    undefined,
  );
  assert.equal(
    stragglerBehindFront({ ...base, needed: (i) => i === 700 }, 600, pieceCount - 1),
    700,
  );
  // Nothing verified yet, or nothing missing: nothing to do.
  assert.equal(stragglerBehindFront(base, 0, -1), undefined);
  assert.equal(
    stragglerBehindFront({ ...base, needed: () => false }, 0, pieceCount - 1),
    undefined,
  );
});
