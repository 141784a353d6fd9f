import assert from 'node:assert/strict';
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  createHashPool,
  defaultHashPool,
  HashingError,
  HashingErrorCode,
  type HashPool,
  hashFilePieces,
  hashFilesPieces,
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

describe('hashFilePieces matches node:crypto, sha1sum and sha256sum', () => {
  const pieceLength = 16 * KiB;
  const sizes = [0, 1, pieceLength - 1, pieceLength, pieceLength + 1, 5 * pieceLength + 123];
  for (const size of sizes) {
    test(`${size} bytes, 16 KiB pieces`, async (t) => {
      const file = join(await tempDir(t), 'data.bin');
      const data = await writeRandomFile(file, size);
      const result = await hashFilePieces(file, { pieceLength, sha256: true, pool });
      assert.equal(result.length, size);
      assert.equal(result.pieces.length, Math.ceil(size / pieceLength) * 20);
      assert.equal(hex(result.pieces), hex(cryptoPieces(data, pieceLength)));
      assert.equal(hex(result.pieces), hex(await sha1sumPieces(file, pieceLength)));
      assert.equal(hex(result.sha256), hex(cryptoSha256(data)));
      assert.equal(hex(result.sha256), hex(await sha256sum(file)));
    });
  }

  test('many blocks through a two-slot ring, odd piece length, private pool', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    const pieceLength = 100_003;
    const data = await writeRandomFile(file, 3 * MiB + 17);
    const result = await hashFilePieces(file, {
      pieceLength,
      sha256: true,
      workers: 2,
      maxInFlightBytes: 256 * KiB,
    });
    assert.equal(hex(result.pieces), hex(await sha1sumPieces(file, pieceLength)));
    assert.equal(hex(result.sha256), hex(await sha256sum(file)));
    assert.equal(hex(result.pieces), hex(cryptoPieces(data, pieceLength)));
  });

  test('blocks of many pieces (4 MiB of 16 KiB pieces) with a short last block', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    const pieceLength = 16 * KiB;
    await writeRandomFile(file, 9 * MiB + 5);
    const result = await hashFilePieces(file, { pieceLength, pool });
    assert.equal(result.sha256, undefined);
    assert.equal(hex(result.pieces), hex(await sha1sumPieces(file, pieceLength)));
  });

  test('progress reaches the file size and never goes backwards', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    await writeRandomFile(file, 2 * MiB + 3);
    const seen: number[] = [];
    await hashFilePieces(file, {
      pieceLength: 64 * KiB,
      sha256: true,
      pool,
      maxInFlightBytes: 512 * KiB,
      onProgress: ({ bytesHashed, totalBytes }) => {
        assert.equal(totalBytes, 2 * MiB + 3);
        seen.push(bytesHashed);
      },
    });
    assert.ok(seen.length >= 8, `only ${seen.length} progress calls`);
    assert.deepEqual(
      seen,
      [...seen].sort((a, b) => a - b),
    );
    assert.equal(seen.at(-1), 2 * MiB + 3);
  });
});

describe('hashFilesPieces over several files as one stream', () => {
  test('pieces span file ends, empty files included, per-file SHA-256', async (t) => {
    const dir = await tempDir(t);
    const pieceLength = 16 * KiB;
    // Ends inside a piece, exactly on a piece end, empty files, a file smaller than a piece.
    const sizes = [
      pieceLength + 100,
      pieceLength - 100,
      0,
      3 * pieceLength + 7,
      0,
      10,
      2 * pieceLength,
    ];
    const paths = sizes.map((_, i) => join(dir, `file-${i}.bin`));
    const contents: Uint8Array[] = [];
    for (const [i, size] of sizes.entries()) contents.push(await writeRandomFile(paths[i]!, size));
    const whole = join(dir, 'whole.bin');
    const concatenated = new Uint8Array(Buffer.concat(contents));
    await writeFile(whole, concatenated);

    const result = await hashFilesPieces(paths, {
      pieceLength,
      sha256: true,
      pool,
      maxInFlightBytes: 64 * KiB,
    });
    assert.equal(result.length, concatenated.length);
    assert.equal(hex(result.pieces), hex(await sha1sumPieces(whole, pieceLength)));
    assert.equal(hex(result.pieces), hex(cryptoPieces(concatenated, pieceLength)));
    assert.equal(result.files.length, sizes.length);
    for (const [i, file] of result.files.entries()) {
      assert.equal(file.path, paths[i]);
      assert.equal(file.length, sizes[i]);
      assert.equal(hex(file.sha256), hex(await sha256sum(paths[i]!)), `sha256 of file ${i}`);
    }
  });

  test('no files and only empty files give no pieces', async (t) => {
    const dir = await tempDir(t);
    const empty = [join(dir, 'a'), join(dir, 'b')];
    for (const path of empty) await writeFile(path, '');
    const none = await hashFilesPieces([], { pieceLength: 16 * KiB, pool });
    assert.equal(none.pieces.length, 0);
    assert.deepEqual(none.files, []);
    const blanks = await hashFilesPieces(empty, { pieceLength: 16 * KiB, sha256: true, pool });
    assert.equal(blanks.pieces.length, 0);
    for (const file of blanks.files)
      assert.equal(hex(file.sha256), hex(cryptoSha256(new Uint8Array())));
  });
});

describe('failures', () => {
  test('a missing file rejects with HASH_FILE_NOT_FOUND naming it', async (t) => {
    const dir = await tempDir(t);
    const present = join(dir, 'present.bin');
    await writeRandomFile(present, 1000);
    const missing = join(dir, 'missing.bin');
    const ports = liveMessagePorts();
    await assert.rejects(hashFilePieces(missing, { pieceLength: 16 * KiB }), (error) => {
      assert.ok(error instanceof HashingError);
      assert.equal(error.name, 'HashingError');
      assert.equal(error.code, HashingErrorCode.FileNotFound);
      assert.equal(error.path, missing);
      return true;
    });
    await assert.rejects(hashFilesPieces([present, missing], { pieceLength: 16 * KiB, pool }), {
      code: HashingErrorCode.FileNotFound,
      path: missing,
    });
    assert.equal(liveMessagePorts(), ports, 'a worker was left running');
  });

  test('a directory rejects with HASH_NOT_A_FILE', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, 'sub'));
    await assert.rejects(hashFilePieces(join(dir, 'sub'), { pieceLength: 16 * KiB, pool }), {
      code: HashingErrorCode.NotAFile,
    });
  });

  test('aborting mid-file rejects with HASH_ABORTED and stops every private worker', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    await writeRandomFile(file, 32 * MiB);
    const ports = liveMessagePorts();
    const controller = new AbortController();
    let progressCalls = 0;
    await assert.rejects(
      hashFilePieces(file, {
        pieceLength: 256 * KiB,
        sha256: true,
        workers: 2,
        signal: controller.signal,
        maxInFlightBytes: 2 * MiB,
        onProgress: () => {
          progressCalls++;
          controller.abort(new Error('stop'));
        },
      }),
      (error) => {
        assert.ok(error instanceof HashingError);
        assert.equal(error.code, HashingErrorCode.Aborted);
        assert.equal((error.cause as Error).message, 'stop');
        return true;
      },
    );
    assert.equal(progressCalls, 1, 'progress went on after the abort');
    assert.equal(liveMessagePorts(), ports, 'a worker was left running');
  });

  test('an already aborted signal rejects before any work; a shared pool survives aborts', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    const data = await writeRandomFile(file, 8 * MiB);
    await assert.rejects(
      hashFilePieces(file, { pieceLength: 16 * KiB, pool, signal: AbortSignal.abort() }),
      { code: HashingErrorCode.Aborted },
    );
    const controller = new AbortController();
    const aborted = hashFilePieces(file, {
      pieceLength: 16 * KiB,
      pool,
      signal: controller.signal,
    });
    controller.abort();
    await assert.rejects(aborted, { code: HashingErrorCode.Aborted });
    const result = await hashFilePieces(file, { pieceLength: 16 * KiB, pool });
    assert.equal(hex(result.pieces), hex(cryptoPieces(data, 16 * KiB)));
  });

  test('a file that shrinks while hashed rejects with HASH_FILE_CHANGED', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    await writeRandomFile(file, 4 * MiB);
    let truncated = false;
    await assert.rejects(
      hashFilePieces(file, {
        pieceLength: 64 * KiB,
        pool,
        maxInFlightBytes: 256 * KiB,
        onProgress: () => {
          if (truncated) return;
          truncated = true;
          void truncate(file, 1000);
        },
      }),
      { code: HashingErrorCode.FileChanged, path: file },
    );
  });

  test('invalid options are rejected by name', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    await writeRandomFile(file, 10);
    for (const pieceLength of [0, -1, 1.5, Number.NaN, 64 * MiB + 1]) {
      await assert.rejects(hashFilePieces(file, { pieceLength, pool }), {
        code: HashingErrorCode.InvalidOptions,
      });
    }
    await assert.rejects(hashFilePieces(file, { pieceLength: 16 * KiB, pool, workers: 2 }), {
      code: HashingErrorCode.InvalidOptions,
      message: /either pool or workers/,
    });
    await assert.rejects(hashFilePieces(file, { pieceLength: 16 * KiB, workers: 0 }), {
      code: HashingErrorCode.InvalidOptions,
    });
  });
});

describe('HashPool', () => {
  test('runs concurrent jobs, then close() fails running ones and refuses new ones', async (t) => {
    const dir = await tempDir(t);
    const own = createHashPool({ workers: 2 });
    t.after(() => own.close());
    assert.equal(own.size, 2);
    const files = await Promise.all(
      [1, 2, 3].map(async (n) => {
        const path = join(dir, `f${n}.bin`);
        return { path, data: await writeRandomFile(path, n * 300 * KiB + n) };
      }),
    );
    const results = await Promise.all(
      files.map(({ path }) =>
        hashFilePieces(path, { pieceLength: 32 * KiB, sha256: true, pool: own }),
      ),
    );
    for (const [i, result] of results.entries()) {
      assert.equal(hex(result.pieces), hex(cryptoPieces(files[i]!.data, 32 * KiB)));
      assert.equal(hex(result.sha256), hex(cryptoSha256(files[i]!.data)));
    }

    const big = join(dir, 'big.bin');
    await writeRandomFile(big, 16 * MiB);
    const { promise: started, resolve: onStarted } = Promise.withResolvers<void>();
    const running = assert.rejects(
      hashFilePieces(big, { pieceLength: MiB, pool: own, onProgress: () => onStarted() }),
      { code: HashingErrorCode.PoolClosed },
    );
    await started;
    await own.close();
    await running;
    await assert.rejects(hashFilePieces(big, { pieceLength: MiB, pool: own }), {
      code: HashingErrorCode.PoolClosed,
    });
  });

  test('calls naming no pool share the default pool, which is remade after close()', async (t) => {
    const file = join(await tempDir(t), 'data.bin');
    const data = await writeRandomFile(file, 100 * KiB + 1);
    const first = defaultHashPool();
    assert.equal(defaultHashPool(), first);
    const result = await hashFilePieces(file, { pieceLength: 16 * KiB, sha256: true });
    assert.equal(hex(result.pieces), hex(cryptoPieces(data, 16 * KiB)));
    assert.equal(hex(result.sha256), hex(cryptoSha256(data)));
    assert.equal(first.closed, false, 'a call closed the shared pool');
    await first.close();
    t.after(() => defaultHashPool().close());
    const again = await hashFilePieces(file, { pieceLength: 16 * KiB });
    assert.equal(hex(again.pieces), hex(result.pieces));
    assert.notEqual(defaultHashPool(), first);
  });
});
