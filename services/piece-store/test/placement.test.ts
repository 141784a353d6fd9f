import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { rendezvousOwners, rendezvousScore } from '../src/placement.ts';

const infoHash = fc.stringMatching(/^[0-9a-f]{40}$/);
const replicaIds = fc.uniqueArray(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), {
  minLength: 1,
  maxLength: 12,
});

test('owners are R distinct live replicas, the same whatever the order of the live set', () => {
  fc.assert(
    fc.property(infoHash, replicaIds, fc.integer({ min: 1, max: 5 }), (hash, ids, r) => {
      const owners = rendezvousOwners(hash, ids, r);
      assert.equal(owners.length, Math.min(r, ids.length));
      assert.equal(new Set(owners).size, owners.length);
      for (const owner of owners) assert.ok(ids.includes(owner));
      assert.deepEqual(rendezvousOwners(hash, [...ids].reverse(), r), owners);
    }),
  );
});

test('removing a replica moves only the artifacts it owned', () => {
  fc.assert(
    fc.property(
      infoHash,
      replicaIds,
      fc.nat(),
      fc.integer({ min: 1, max: 4 }),
      (hash, ids, pick, r) => {
        fc.pre(ids.length >= 2);
        const gone = ids[pick % ids.length]!;
        const before = rendezvousOwners(hash, ids, r);
        const after = rendezvousOwners(
          hash,
          ids.filter((id) => id !== gone),
          r,
        );
        if (!before.includes(gone)) {
          assert.deepEqual(after, before);
        } else {
          // The survivors keep their place; exactly one newcomer fills the gap when one exists.
          assert.deepEqual(
            after.slice(0, before.length - 1),
            before.filter((id) => id !== gone),
          );
        }
      },
    ),
  );
});

test('adding a replica only ever makes it an owner, never reshuffles the others', () => {
  fc.assert(
    fc.property(infoHash, replicaIds, fc.integer({ min: 1, max: 4 }), (hash, ids, r) => {
      fc.pre(!ids.includes('newcomer'));
      const before = rendezvousOwners(hash, ids, r);
      const after = rendezvousOwners(hash, [...ids, 'newcomer'], r);
      assert.deepEqual(
        after.filter((id) => id !== 'newcomer'),
        before.slice(0, after.filter((id) => id !== 'newcomer').length),
      );
    }),
  );
});

test('load spreads evenly: each of 5 replicas owns about 2/5 of 5000 artifacts with R=2', () => {
  const ids = ['a', 'b', 'c', 'd', 'e'];
  const counts = new Map(ids.map((id) => [id, 0]));
  for (let i = 0; i < 5000; i++) {
    const hash = i.toString(16).padStart(40, '0');
    for (const owner of rendezvousOwners(hash, ids, 2)) counts.set(owner, counts.get(owner)! + 1);
  }
  for (const [id, count] of counts) {
    assert.ok(count > 1800 && count < 2200, `${id} owns ${count} of 5000 (expected about 2000)`);
  }
});

test('golden vector: the score is the first 8 bytes of SHA-256("<infohash>\\0<replica id>")', () => {
  const hash = '0123456789abcdef0123456789abcdef01234567';
  // printf '0123456789abcdef0123456789abcdef01234567\0ps-a' | sha256sum  ->  94b9c61e28af82e2...
  assert.equal(rendezvousScore(hash, 'ps-a'), 0x94b9c61e28af82e2n);
  assert.deepEqual(rendezvousOwners(hash, ['ps-a', 'ps-b', 'ps-c', 'ps-d'], 2), ['ps-d', 'ps-c']);
  assert.throws(() => rendezvousOwners(hash, ['x'], 0), RangeError);
});
