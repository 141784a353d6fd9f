import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { InOrderDigest, type InOrderDigestSource } from '../src/index.ts';

/** Pieces of `data` in memory; reads take a turn of the event loop, like a file read. */
function source(data: Uint8Array, pieceLength: number, verified: Set<number>) {
  const pieceCount = Math.ceil(data.length / pieceLength);
  const piece = (index: number) =>
    data.subarray(index * pieceLength, Math.min(data.length, (index + 1) * pieceLength));
  let buffersOut = 0;
  const reads: number[] = [];
  const src: InOrderDigestSource & { failAt?: number } = {
    pieceCount,
    pieceLength: (index) => piece(index).length,
    isVerified: (index) => verified.has(index),
    readPiece: async (index, target) => {
      await tick();
      if (src.failAt === index) throw new Error('disk on fire');
      reads.push(index);
      target.set(piece(index));
    },
    acquire: (length) => {
      buffersOut++;
      return new Uint8Array(length).fill(0xee);
    },
    release: () => {
      buffersOut--;
    },
  };
  return { src, piece, reads, buffersOut: () => buffersOut };
}

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());

test('in-order digest: any arrival order gives the SHA-256 of the whole, each byte hashed once (property)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 64 }),
      fc.integer({ min: 0, max: 63 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      fc.array(fc.boolean(), { maxLength: 40 }),
      async (pieces, pieceLength, lastShort, shuffle, awaits) => {
        const length = Math.max(1, pieces * pieceLength - (lastShort % pieceLength));
        const data = randomBytes(length);
        const verified = new Set<number>();
        const { src, piece, buffersOut } = source(data, pieceLength, verified);
        const order = Array.from({ length: src.pieceCount }, (_, i) => i);
        for (const [i, r] of shuffle.entries()) {
          const j = i % order.length;
          const k = r % order.length;
          [order[j], order[k]] = [order[k]!, order[j]!];
        }
        const digest = new InOrderDigest(src);
        const pending: Promise<void>[] = [];
        for (const [step, index] of order.entries()) {
          // As the torrent does: offer from memory, then mark verified, then catch up.
          digest.offer(index, piece(index));
          verified.add(index);
          pending.push(digest.catchUp());
          if (awaits[step]) await tick();
        }
        const result = await digest.digest();
        await Promise.all(pending);
        assert.deepEqual(result, sha256(data));
        assert.equal(digest.counts.fromMemory + digest.counts.readBack, data.length);
        assert.equal(digest.hashedPieces, src.pieceCount);
        assert.equal(buffersOut(), 0, 'every read-back buffer returned');
      },
    ),
    { numRuns: 150 },
  );
});

test('in-order digest: pieces in order are hashed from memory, none read back', async () => {
  const data = randomBytes(10 * 1000 + 7);
  const verified = new Set<number>();
  const { src, piece, reads } = source(data, 1000, verified);
  const digest = new InOrderDigest(src);
  for (let index = 0; index < src.pieceCount; index++) {
    digest.offer(index, piece(index));
    verified.add(index);
    await digest.catchUp();
  }
  assert.deepEqual(await digest.digest(), sha256(data));
  assert.equal(digest.counts.fromMemory, data.length);
  assert.deepEqual(reads, []);
});

test('in-order digest: a failed read-back, a missing piece, a wrong length and a stop are errors', async () => {
  const data = randomBytes(4000);
  const verified = new Set([0, 1, 2, 3]);
  const failing = source(data, 1000, verified);
  failing.src.failAt = 2;
  await assert.rejects(
    new InOrderDigest(failing.src).digest(),
    /reading piece 2 back for the whole-file digest failed/,
  );
  assert.equal(failing.buffersOut(), 0);

  const gap = source(data, 1000, new Set([0, 2, 3]));
  await assert.rejects(new InOrderDigest(gap.src).digest(), /piece 1 is not verified/);

  const short = source(data, 1000, new Set());
  assert.throws(() => new InOrderDigest(short.src).offer(0, new Uint8Array(10)), /expected 1000/);

  const stopped = new InOrderDigest(source(data, 1000, verified).src);
  const running = stopped.catchUp();
  stopped.stop();
  await running;
  await assert.rejects(stopped.digest(), /stopped/);
});
