// Piece hashing throughput against sha1sum and openssl over one file with a hot page cache.
// Size: SHOAL_BENCH_BYTES (default 1 GiB). Prints a table and one JSON line.
// Ours runs on the default pool, as a long-lived service would; starting that pool (worker
// threads) is timed once on its own and reported as poolStartMs.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hashFilePieces } from '../src/index.ts';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const RUNS = 3;
const PIECE_LENGTH = 4 * MiB;

function benchBytes(): number {
  const raw = process.env.SHOAL_BENCH_BYTES;
  if (raw === undefined || raw === '') return 1024 * MiB;
  const bytes = Number(raw);
  if (!Number.isSafeInteger(bytes) || bytes < 1 || bytes > 64 * 1024 * MiB) {
    throw new Error(`SHOAL_BENCH_BYTES must be an integer from 1 to 64 GiB, got ${raw}`);
  }
  return bytes;
}

/** A repeated random 1 MiB block with its index written in, so no two blocks are equal. */
async function writeBenchFile(path: string, size: number): Promise<void> {
  const block = randomBytes(MiB);
  const batch = Buffer.alloc(16 * MiB);
  const handle = await open(path, 'w');
  try {
    for (let written = 0, index = 0; written < size; ) {
      const length = Math.min(batch.length, size - written);
      for (let offset = 0; offset < length; offset += MiB, index++) {
        block.copy(batch, offset);
        batch.writeUInt32LE(index, offset);
      }
      await handle.write(batch, 0, length, written);
      written += length;
    }
    // Written back now, so no flusher thread competes for the cores during the timed runs.
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Reads the file once so every contender starts from a hot page cache. */
async function warm(path: string): Promise<void> {
  const buffer = Buffer.alloc(16 * MiB);
  const handle = await open(path, 'r');
  try {
    for (let position = 0; ; ) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
      if (bytesRead === 0) return;
      position += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

async function seconds(run: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await run();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Contender {
  tool: string;
  /** Tools that only give a reference point, not the baseline for ratios. */
  role: 'baseline' | 'ours' | 'reference';
  run: (file: string) => Promise<unknown>;
}

const contenders: Contender[] = [
  { tool: 'sha1sum', role: 'baseline', run: (file) => execFileAsync('sha1sum', [file]) },
  {
    tool: 'openssl dgst -sha1',
    role: 'baseline',
    run: (file) => execFileAsync('openssl', ['dgst', '-sha1', file]),
  },
  {
    tool: 'shoal pieces (4 MiB)',
    role: 'ours',
    run: (file) => hashFilePieces(file, { pieceLength: PIECE_LENGTH }),
  },
  {
    tool: 'shoal pieces + sha256',
    role: 'ours',
    run: (file) => hashFilePieces(file, { pieceLength: PIECE_LENGTH, sha256: true }),
  },
  {
    tool: 'openssl dgst -sha256',
    role: 'reference',
    run: (file) => execFileAsync('openssl', ['dgst', '-sha256', file]),
  },
];

async function main(): Promise<void> {
  const size = benchBytes();
  const dir = await mkdtemp(join(tmpdir(), 'shoal-hash-bench-'));
  try {
    const file = join(dir, 'bench.bin');
    await writeBenchFile(file, size);
    await warm(file);
    const tiny = join(dir, 'tiny.bin');
    await writeFile(tiny, 'x');
    const poolStart = await seconds(() =>
      hashFilePieces(tiny, { pieceLength: PIECE_LENGTH, sha256: true }),
    );
    const times = new Map<string, number[]>(contenders.map((c) => [c.tool, []]));
    // Interleaved rounds, so noise from other processes spreads over every contender.
    for (let round = 0; round < RUNS; round++) {
      for (const contender of contenders) {
        times.get(contender.tool)!.push(await seconds(() => contender.run(file)));
      }
    }
    const rows = contenders.map((c) => {
      const all = times.get(c.tool)!;
      const s = median(all);
      return { tool: c.tool, role: c.role, seconds: s, mbPerSecond: size / 1e6 / s, runs: all };
    });
    const baseline = Math.min(...rows.filter((r) => r.role === 'baseline').map((r) => r.seconds));
    const table = rows.map((r) => ({
      tool: r.tool,
      seconds: r.seconds.toFixed(3),
      'MB/s': r.mbPerSecond.toFixed(0),
      'vs best baseline': `${(baseline / r.seconds).toFixed(2)}x`,
    }));
    console.log(
      `${(size / MiB).toFixed(0)} MiB, median of ${RUNS} hot-cache runs;` +
        ` pool start-up ${(poolStart * 1000).toFixed(0)} ms (not in the table)`,
    );
    console.table(table);
    console.log(
      JSON.stringify({
        bench: 'hashing',
        bytes: size,
        pieceLength: PIECE_LENGTH,
        runs: RUNS,
        poolStartMs: Math.round(poolStart * 1000),
        results: rows.map((r) => ({
          tool: r.tool,
          seconds: Number(r.seconds.toFixed(4)),
          mbPerSecond: Math.round(r.mbPerSecond),
          ratioVsBestBaseline: Number((baseline / r.seconds).toFixed(3)),
          runs: r.runs.map((s) => Number(s.toFixed(4))),
        })),
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
