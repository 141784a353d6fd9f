// Piece hashing throughput against sha1sum and openssl over one file with a hot page cache.
// Size: SHOAL_BENCH_BYTES (default 1 GiB). Prints a table and one JSON line.
// Ours runs on the default pool, as a long-lived service would; starting that pool (worker
// threads) is timed once on its own and reported as poolStartMs. CPU seconds are reported too:
// on a shared machine wall time swings with other load, CPU per byte much less.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { defaultHashPool, hashFilePieces } from '../src/index.ts';

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

interface Timing {
  seconds: number;
  cpuSeconds: number;
}

/** Runs a command under bash's `time`, which reports the child's own CPU time. */
async function timeCommand(command: string, args: string[]): Promise<Timing> {
  const script = 'TIMEFORMAT="%R %U %S"; { time "$@" > /dev/null; } 2>&1';
  const { stdout } = await execFileAsync('bash', ['-c', script, 'bash', command, ...args]);
  const [real, user, system] = stdout.trim().split(/\s+/).slice(-3).map(Number);
  if (real === undefined || user === undefined || system === undefined || Number.isNaN(real)) {
    throw new Error(`cannot parse the time of ${command}: ${stdout}`);
  }
  return { seconds: real, cpuSeconds: user + system };
}

/** Wall and CPU time of work in this process (every thread, workers included). */
async function timeInProcess(run: () => Promise<unknown>): Promise<Timing> {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  await run();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const used = process.cpuUsage(cpu);
  return { seconds, cpuSeconds: (used.user + used.system) / 1e6 };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

interface Contender {
  tool: string;
  /** Baselines set the ratio; references are shown for context only. */
  role: 'baseline' | 'ours' | 'reference';
  run: (file: string) => Promise<Timing>;
}

const contenders: Contender[] = [
  { tool: 'sha1sum', role: 'baseline', run: (file) => timeCommand('sha1sum', [file]) },
  {
    tool: 'openssl dgst -sha1',
    role: 'baseline',
    run: (file) => timeCommand('openssl', ['dgst', '-sha1', file]),
  },
  {
    tool: 'shoal pieces (4 MiB)',
    role: 'ours',
    run: (file) => timeInProcess(() => hashFilePieces(file, { pieceLength: PIECE_LENGTH })),
  },
  {
    tool: 'shoal pieces + sha256',
    role: 'ours',
    run: (file) =>
      timeInProcess(() => hashFilePieces(file, { pieceLength: PIECE_LENGTH, sha256: true })),
  },
  {
    tool: 'openssl dgst -sha256',
    role: 'reference',
    run: (file) => timeCommand('openssl', ['dgst', '-sha256', file]),
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
    const poolStart = await timeInProcess(() =>
      hashFilePieces(tiny, { pieceLength: PIECE_LENGTH, sha256: true }),
    );
    const timings = new Map<string, Timing[]>(contenders.map((c) => [c.tool, []]));
    // Interleaved rounds, so noise from other processes spreads over every contender.
    for (let round = 0; round < RUNS; round++) {
      for (const contender of contenders)
        timings.get(contender.tool)!.push(await contender.run(file));
    }
    const rows = contenders.map((c) => {
      const runs = timings.get(c.tool)!;
      const seconds = median(runs.map((r) => r.seconds));
      const cpuSeconds = median(runs.map((r) => r.cpuSeconds));
      return {
        tool: c.tool,
        role: c.role,
        seconds,
        cpuSeconds,
        mbPerSecond: size / 1e6 / seconds,
        runs,
      };
    });
    const baseline = Math.min(...rows.filter((r) => r.role === 'baseline').map((r) => r.seconds));
    console.log(
      `${(size / MiB).toFixed(0)} MiB, median of ${RUNS} hot-cache runs;` +
        ` pool start-up ${(poolStart.seconds * 1000).toFixed(0)} ms (not in the table)`,
    );
    console.table(
      rows.map((r) => ({
        tool: r.tool,
        seconds: r.seconds.toFixed(3),
        'MB/s': r.mbPerSecond.toFixed(0),
        'vs best baseline': `${(baseline / r.seconds).toFixed(2)}x`,
        'CPU s': r.cpuSeconds.toFixed(3),
        'CPU ns/byte': ((r.cpuSeconds * 1e9) / size).toFixed(3),
      })),
    );
    console.log(
      JSON.stringify({
        bench: 'hashing',
        bytes: size,
        pieceLength: PIECE_LENGTH,
        runs: RUNS,
        poolStartMs: Math.round(poolStart.seconds * 1000),
        results: rows.map((r) => ({
          tool: r.tool,
          seconds: Number(r.seconds.toFixed(4)),
          mbPerSecond: Math.round(r.mbPerSecond),
          ratioVsBestBaseline: Number((baseline / r.seconds).toFixed(3)),
          cpuSeconds: Number(r.cpuSeconds.toFixed(4)),
          runs: r.runs.map((t) => Number(t.seconds.toFixed(4))),
        })),
      }),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
    await defaultHashPool().close();
  }
}

await main();
