// Ingest throughput of one large artifact over gRPC from another process, next to a plain
// `cat file > copy && sha256sum copy` on the same file in the same run, and the piece-store's
// peak RSS (VmHWM from /proc) while it ingests. Size: SHOAL_BENCH_BYTES (default 2 GiB).
// Prints a table and one JSON line. Targets: at least 60% of the baseline's throughput, peak
// RSS under 200 MB.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ManagedProcess, startNatsServer, startProcess } from '@shoal/testkit';

const execFileAsync = promisify(execFile);
const MiB = 1024 * 1024;
const serviceDir = fileURLToPath(new URL('..', import.meta.url));

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

async function main(): Promise<void> {
  const size = benchBytes();
  const dir = await mkdtemp(join(tmpdir(), 'shoal-ingest-bench-'));
  const started: ManagedProcess[] = [];
  const nats = await startNatsServer({ jetstream: false });
  try {
    const source = join(dir, 'artifact.bin');
    await writeBenchFile(source, size);

    // Baseline: a plain copy and a SHA-256 of it, as one shell pipeline would do.
    const copy = join(dir, 'copy.bin');
    const baselineStart = performance.now();
    const { stdout } = await execFileAsync('sh', [
      '-c',
      'cat "$1" > "$2" && sha256sum "$2"',
      'sh',
      source,
      copy,
    ]);
    const baselineMs = performance.now() - baselineStart;
    const baselineDigest = stdout.split(' ')[0]!;
    await rm(copy);

    const store = await startProcess(
      process.execPath,
      ['--conditions=source', join(serviceDir, 'src/main.ts')],
      {
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
      },
    );
    started.push(store);
    const ready = JSON.parse(await store.waitForLine(/"msg":"piece-store ready"/, 1000)) as {
      grpcPort: number;
    };
    const idle = await memoryKb(store.pid);

    let peakRss = 0;
    const sampler = setInterval(() => {
      memoryKb(store.pid).then(
        (m) => {
          peakRss = Math.max(peakRss, m.rss);
        },
        () => {},
      );
    }, 50);
    const uploader = await startProcess(
      process.execPath,
      [
        '--conditions=source',
        join(serviceDir, 'bench/upload.ts'),
        `127.0.0.1:${ready.grpcPort}`,
        source,
      ],
      { name: 'uploader' },
    );
    started.push(uploader);
    const line = await uploader.waitForLine(/^\{"ms"/, 30 * 60_000);
    clearInterval(sampler);
    const after = await memoryKb(store.pid);
    const upload = JSON.parse(line) as { ms: number; sha256: string; size: number };
    if (upload.sha256 !== baselineDigest || upload.size !== size) {
      throw new Error(`digest or size mismatch: ${upload.sha256} vs ${baselineDigest}`);
    }

    const mbps = (ms: number) => size / MiB / (ms / 1000);
    const ratio = mbps(upload.ms) / mbps(baselineMs);
    const peakMb = Math.max(after.hwm, peakRss) / 1024;
    const rows = [
      ['cat > copy && sha256sum copy', baselineMs, mbps(baselineMs)],
      ['piece-store Ingest over gRPC', upload.ms, mbps(upload.ms)],
    ] as const;
    process.stdout.write(`\ningest of ${(size / MiB).toFixed(0)} MiB\n`);
    process.stdout.write(
      `${'contender'.padEnd(34)}${'seconds'.padStart(10)}${'MiB/s'.padStart(10)}\n`,
    );
    for (const [name, ms, rate] of rows) {
      process.stdout.write(
        `${name.padEnd(34)}${(ms / 1000).toFixed(2).padStart(10)}${rate.toFixed(0).padStart(10)}\n`,
      );
    }
    process.stdout.write(
      `throughput ratio ${(ratio * 100).toFixed(0)}% of baseline (target >= 60%); piece-store RSS idle ${(idle.rss / 1024).toFixed(0)} MB, peak ${peakMb.toFixed(0)} MB (target < 200 MB)\n`,
    );
    process.stdout.write(
      `${JSON.stringify({
        bench: 'piece-store-ingest',
        bytes: size,
        baselineMs: Math.round(baselineMs),
        ingestMs: Math.round(upload.ms),
        baselineMiBps: Math.round(mbps(baselineMs)),
        ingestMiBps: Math.round(mbps(upload.ms)),
        ratio: Number(ratio.toFixed(3)),
        idleRssMb: Math.round(idle.rss / 1024),
        peakRssMb: Math.round(peakMb),
        meetsThroughput: ratio >= 0.6,
        meetsRss: peakMb < 200,
      })}\n`,
    );
  } finally {
    for (const proc of started.reverse()) await proc.stop();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
