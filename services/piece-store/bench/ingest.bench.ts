// Ingest throughput of one large artifact over gRPC from another process, next to a plain
// `cat file > copy && sha256sum copy` on the same file in the same run, and the piece-store's
// peak RSS (VmHWM from /proc) while it ingests. Size: SHOAL_BENCH_BYTES (default 2 GiB).
// Prints a table and one JSON line. Targets: at least 60% of the baseline's throughput, peak
// RSS under 200 MB.
//
// The piece-store runs as deployed: the built JavaScript (`pnpm build` runs first) with the
// recommended `--max-semi-space-size=1` (README). SHOAL_BENCH_MODE=source runs src/main.ts
// with --conditions=source instead, where each of its threads also carries Node's TypeScript
// stripper (about 15 MB each).
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createPieceStoreClient } from '@shoal/piece-store-client';
import { type ManagedProcess, startNatsServer, startProcess } from '@shoal/testkit';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const serviceDir = fileURLToPath(new URL('..', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
const mode = process.env.SHOAL_BENCH_MODE === 'source' ? 'source' : 'built';
/** Rounds of each contender, alternated. */
const ROUNDS = 2;

/** The piece-store command line for `mode`, building the JavaScript first when needed. */
async function pieceStoreArgs(): Promise<string[]> {
  if (mode === 'source') return ['--conditions=source', join(serviceDir, 'src/main.ts')];
  await execFileAsync(
    'pnpm',
    [
      'exec',
      'turbo',
      'run',
      'build',
      '--filter=@shoal/piece-store...',
      '--output-logs=errors-only',
    ],
    { cwd: repoRoot, timeout: 10 * 60_000 },
  );
  return ['--max-semi-space-size=1', join(serviceDir, 'dist/main.js')];
}

function benchBytes(): number {
  const raw = process.env.SHOAL_BENCH_BYTES;
  if (raw === undefined || raw === '') return 2048 * MiB;
  const bytes = Number(raw);
  if (!Number.isSafeInteger(bytes) || bytes < MiB || bytes > 64 * 1024 * MiB) {
    throw new Error(`SHOAL_BENCH_BYTES must be an integer from 1 MiB to 64 GiB, got ${raw}`);
  }
  return bytes;
}

/** Distinct 1 MiB blocks (a random block with its index written in), fsynced. */
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
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function memoryKb(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** Baseline: a plain copy and a SHA-256 of it, as one shell pipeline would do. */
async function baselineRun(source: string, copy: string): Promise<{ ms: number; digest: string }> {
  const started = performance.now();
  const { stdout } = await execFileAsync('sh', [
    '-c',
    'cat "$1" > "$2" && sha256sum "$2"',
    'sh',
    source,
    copy,
  ]);
  const ms = performance.now() - started;
  await rm(copy);
  return { ms, digest: stdout.split(' ')[0]! };
}

/** One upload from a process of its own; the time is measured inside the uploader. */
async function ingestRun(
  grpcPort: number,
  source: string,
): Promise<{ ms: number; sha256: string; size: number; infoHash: string }> {
  const uploader = await startProcess(
    process.execPath,
    ['--conditions=source', join(serviceDir, 'bench/upload.ts'), `127.0.0.1:${grpcPort}`, source],
    { name: 'uploader' },
  );
  try {
    const line = await uploader.waitForLine(/^\{"ms"/, 30 * 60_000);
    return JSON.parse(line) as { ms: number; sha256: string; size: number; infoHash: string };
  } finally {
    await uploader.stop();
  }
}

async function main(): Promise<void> {
  const size = benchBytes();
  const storeArgs = await pieceStoreArgs();
  const dir = await mkdtemp(join(tmpdir(), 'shoal-ingest-bench-'));
  let store: ManagedProcess | undefined;
  const nats = await startNatsServer({ jetstream: false });
  try {
    const source = join(dir, 'artifact.bin');
    const copy = join(dir, 'copy.bin');
    await writeBenchFile(source, size);

    store = await startProcess(process.execPath, storeArgs, {
      name: 'piece-store',
      env: {
        SHOAL_DATA_DIR: join(dir, 'store'),
        SHOAL_NATS_URL: nats.url,
        SHOAL_PIECE_STORE_GRPC_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_GRPC_PORT: '0',
        SHOAL_PIECE_STORE_HTTP_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_HTTP_PORT: '0',
        SHOAL_PIECE_STORE_WIRE_HOST: '127.0.0.1',
        SHOAL_PIECE_STORE_WIRE_PORT: '0',
        SHOAL_PIECE_STORE_ADVERTISE_IP: '127.0.0.1',
      },
      ready: /"msg":"piece-store ready"/,
      readyTimeoutMs: 30_000,
    });
    const pid = store.pid;
    const ready = JSON.parse(await store.waitForLine(/"msg":"piece-store ready"/, 1000)) as {
      grpcPort: number;
    };
    const client = createPieceStoreClient(`127.0.0.1:${ready.grpcPort}`);
    const idle = await memoryKb(pid);
    let peakRss = 0;
    const sampler = setInterval(() => {
      memoryKb(pid).then(
        (m) => {
          peakRss = Math.max(peakRss, m.rss);
        },
        () => {},
      );
    }, 50);

    // Rounds alternate the contenders so that a burst of load from other work on the machine
    // does not fall on one of them only; each is reported by its best round.
    const baselineMs: number[] = [];
    const ingestMs: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const baseline = await baselineRun(source, copy);
        baselineMs.push(baseline.ms);
        const upload = await ingestRun(ready.grpcPort, source);
        if (upload.sha256 !== baseline.digest || upload.size !== size) {
          throw new Error(`digest or size mismatch: ${upload.sha256} vs ${baseline.digest}`);
        }
        ingestMs.push(upload.ms);
        // Deleted so the next round stores it again rather than finding a duplicate.
        await client.delete(upload.infoHash);
      }
    } finally {
      clearInterval(sampler);
      client.close();
    }
    const after = await memoryKb(pid);

    const mbps = (ms: number) => size / MiB / (ms / 1000);
    const bestBaseline = Math.min(...baselineMs);
    const bestIngest = Math.min(...ingestMs);
    const ratio = mbps(bestIngest) / mbps(bestBaseline);
    const peakMb = Math.max(after.hwm, peakRss) / 1024;
    const rows = [
      ['cat > copy && sha256sum copy', bestBaseline, mbps(bestBaseline), baselineMs],
      ['piece-store Ingest over gRPC', bestIngest, mbps(bestIngest), ingestMs],
    ] as const;
    process.stdout.write(
      `\ningest of ${(size / MiB).toFixed(0)} MiB (piece-store ${mode}), best of ${ROUNDS} rounds\n`,
    );
    process.stdout.write(
      `${'contender'.padEnd(34)}${'seconds'.padStart(10)}${'MiB/s'.padStart(10)}   rounds (s)\n`,
    );
    for (const [name, ms, rate, all] of rows) {
      process.stdout.write(
        `${name.padEnd(34)}${(ms / 1000).toFixed(2).padStart(10)}${rate.toFixed(0).padStart(10)}   ${all.map((x) => (x / 1000).toFixed(2)).join(' ')}\n`,
      );
    }
    process.stdout.write(
      `throughput ratio ${(ratio * 100).toFixed(0)}% of baseline (target >= 60%); piece-store RSS idle ${(idle.rss / 1024).toFixed(0)} MB, peak ${peakMb.toFixed(0)} MB (target < 200 MB)\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'piece-store-ingest',
        mode,
        bytes: size,
        rounds: ROUNDS,
        baselineMs: baselineMs.map(Math.round),
        ingestMs: ingestMs.map(Math.round),
        baselineMiBps: Math.round(mbps(bestBaseline)),
        ingestMiBps: Math.round(mbps(bestIngest)),
        ratio: Number(ratio.toFixed(3)),
        idleRssMb: Math.round(idle.rss / 1024),
        peakRssMb: Math.round(peakMb),
        meetsThroughput: ratio >= 0.6,
        meetsRss: peakMb < 200,
      })}\n`,
    );
  } finally {
    await store?.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
