import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import {
  createHashPool,
  HashingError,
  HashingErrorCode,
  type HashPool,
  hashFilePieces,
  PieceHasher,
} from '../src/index.ts';
import {
  cryptoPieces,
  cryptoSha256,
  hex,
  liveMessagePorts,
  sha1sumPieces,
  sha256sum,
  tempDir,
  writeRandomFile,
} from './helpers.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

let pool: HashPool;
before(() => {
  pool = createHashPool({ workers: 2 });
});
after(() => pool.close());

/** Cuts `data` at the given sizes (cycled), the way chunks of an upload arrive. */
function chunked(data: Uint8Array, sizes: number[]): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = sizes[i % sizes.length]!;
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

describe('PieceHasher', () => {
  test('random chunk sizes give the digests node:crypto gives', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 1, max: 70_000 }),
        fc.array(fc.integer({ min: 0, max: 50_000 }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 300_000 }),
        fc.boolean(),
        async (size, pieceLength, sizes, maxInFlightBytes, sha256) => {
          if (!sizes.some((s) => s > 0)) sizes.push(1);
          const data = new Uint8Array(randomBytes(size));
          const hasher = new PieceHasher({ pieceLength, sha256, pool, maxInFlightBytes });
          for (const chunk of chunked(data, sizes)) await hasher.update(chunk);
          const result = await hasher.finish();
          assert.equal(result.length, size);
          assert.equal(hex(result.pieces), hex(cryptoPieces(data, pieceLength)));
          assert.equal(hex(result.sha256), sha256 ? hex(cryptoSha256(data)) : 'undefined');
        },
      ),
      { numRuns: 60 },
    );
  });

  test('gives what hashFilePieces and sha1sum/sha256sum give for the same bytes', async (t) => {
    const file = join(await tempDir(t), 'upload.bin');
    const pieceLength = 256 * KiB;
    const data = await writeRandomFile(file, 9 * MiB + 333);
    const hasher = new PieceHasher({ pieceLength, sha256: true, pool });
    for (const chunk of chunked(data, [65_536, 1, 4 * MiB + 3, 77_777])) await hasher.update(chunk);
    const streamed = await hasher.finish();
    const fromFile = await hashFilePieces(file, { pieceLength, sha256: true, pool });
    assert.equal(hex(streamed.pieces), hex(fromFile.pieces));
    assert.equal(hex(streamed.sha256), hex(fromFile.sha256));
    assert.equal(hex(streamed.pieces), hex(await sha1sumPieces(file, pieceLength)));
    assert.equal(hex(streamed.sha256), hex(await sha256sum(file)));
  });

  test('updates not awaited are applied in call order', async () => {
    const data = new Uint8Array(randomBytes(3 * MiB + 11));
    const hasher = new PieceHasher({
      pieceLength: 32 * KiB,
      sha256: true,
      pool,
      maxInFlightBytes: 128 * KiB,
    });
    const writes = chunked(data, [10_000, 70_000, 3]).map((chunk) => hasher.update(chunk));
    const result = await hasher.finish();
    await Promise.all(writes);
    assert.equal(hex(result.pieces), hex(cryptoPieces(data, 32 * KiB)));
    assert.equal(hex(result.sha256), hex(cryptoSha256(data)));
  });

  test('back-pressure: written minus hashed never exceeds the in-flight budget', async () => {
    const maxInFlightBytes = 256 * KiB;
    let hashed = 0;
    let worst = 0;
    const hasher = new PieceHasher({
      pieceLength: 16 * KiB,
      sha256: true,
      pool,
      maxInFlightBytes,
      onProgress: ({ bytesHashed, totalBytes }) => {
        assert.equal(totalBytes, undefined);
        hashed = bytesHashed;
      },
    });
    const chunk = new Uint8Array(randomBytes(100_000));
    for (let i = 0; i < 80; i++) {
      await hasher.update(chunk);
      worst = Math.max(worst, hasher.bytesWritten - hashed);
    }
    const result = await hasher.finish();
    assert.equal(result.length, 80 * chunk.length);
    assert.equal(hashed, result.length);
    assert.ok(worst <= maxInFlightBytes, `${worst} bytes in flight, budget ${maxInFlightBytes}`);
    // The budget is used, not bypassed: the producer did get ahead of the workers.
    assert.ok(worst > 0);
  });

  test('update after finish, and finish twice, reject with HASH_INVALID_STATE', async () => {
    const hasher = new PieceHasher({ pieceLength: 16 * KiB, pool });
    await hasher.update(new Uint8Array(10));
    const result = await hasher.finish();
    assert.equal(result.pieces.length, 20);
    await assert.rejects(hasher.update(new Uint8Array(1)), { code: HashingErrorCode.InvalidState });
    await assert.rejects(hasher.finish(), { code: HashingErrorCode.InvalidState });
  });

  test('an empty stream has no pieces and the SHA-256 of nothing', async () => {
    const hasher = new PieceHasher({ pieceLength: 16 * KiB, sha256: true, pool });
    await hasher.update(new Uint8Array(0));
    const result = await hasher.finish();
    assert.equal(result.pieces.length, 0);
    assert.equal(hex(result.sha256), hex(cryptoSha256(new Uint8Array(0))));
  });

  test('abort() rejects waiting and later calls and stops its private workers', async () => {
    const ports = liveMessagePorts();
    const hasher = new PieceHasher({
      pieceLength: 16 * KiB,
      sha256: true,
      workers: 1,
      maxInFlightBytes: 64 * KiB,
    });
    // Far more than the ring holds: this update must wait for workers, so abort catches it.
    const pending = hasher.update(new Uint8Array(8 * MiB));
    await hasher.abort(new Error('client went away'));
    await assert.rejects(pending, (error) => {
      assert.ok(error instanceof HashingError);
      assert.equal(error.code, HashingErrorCode.Aborted);
      assert.equal((error.cause as Error).message, 'client went away');
      return true;
    });
    await assert.rejects(hasher.update(new Uint8Array(1)), { code: HashingErrorCode.Aborted });
    await assert.rejects(hasher.finish(), { code: HashingErrorCode.Aborted });
    assert.equal(liveMessagePorts(), ports, 'a worker was left running');
  });

  test('an aborted signal fails updates and frees the private pool', async () => {
    const ports = liveMessagePorts();
    const controller = new AbortController();
    const hasher = new PieceHasher({
      pieceLength: 16 * KiB,
      workers: 1,
      signal: controller.signal,
      maxInFlightBytes: 64 * KiB,
    });
    const pending = hasher.update(new Uint8Array(8 * MiB));
    controller.abort();
    await assert.rejects(pending, { code: HashingErrorCode.Aborted });
    // finish() reports the abort once the private pool is closed.
    await assert.rejects(hasher.finish(), { code: HashingErrorCode.Aborted });
    assert.equal(liveMessagePorts(), ports, 'a worker was left running');
  });
});
