// Loopback benchmark: 1 origin + N leechers, each a separate process, one artifact.
// Measures time until every leecher holds every piece verified, what the origin sent, and
// peak RSS per node. SHOAL_BENCH_BYTES (default 256 MiB), SHOAL_BENCH_LEECHERS (default 8).
// Not a test: it reports numbers, on a machine that may be shared.
import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFilePieces } from '@shoal/hashing';
import { choosePieceLength, createTorrent } from '@shoal/protocol';
import type { FromNode, ToNode } from './node-process.ts';

const bytes = Number(process.env.SHOAL_BENCH_BYTES ?? 256 * 1024 * 1024);
const leecherCount = Number(process.env.SHOAL_BENCH_LEECHERS ?? 8);
const TIMEOUT_MS = Number(process.env.SHOAL_BENCH_TIMEOUT_MS ?? 600_000);
if (
  !Number.isSafeInteger(bytes) ||
  bytes <= 0 ||
  !Number.isInteger(leecherCount) ||
  leecherCount < 1
) {
  throw new Error('SHOAL_BENCH_BYTES and SHOAL_BENCH_LEECHERS must be positive integers');
}

interface Child {
  name: string;
  process: ChildProcess;
  port: number;
  messages: FromNode[];
  waiters: (() => void)[];
}

function startChild(name: string, args: string[]): Child {
  const child: Child = {
    name,
    process: fork(new URL('./node-process.ts', import.meta.url), args, {
      execArgv: [
        '--conditions=source',
        ...(process.env.SHOAL_BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? []),
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
    port: 0,
    messages: [],
    waiters: [],
  };
  child.process.on('message', (message: FromNode) => {
    if (message.type === 'error') console.error(`${name}: ${message.message}`);
    child.messages.push(message);
    for (const wake of child.waiters.splice(0)) wake();
  });
  child.process.on('exit', () => {
    for (const wake of child.waiters.splice(0)) wake();
  });
  return child;
}

async function expect<T extends FromNode['type']>(
  child: Child,
  type: T,
  deadline: number,
): Promise<Extract<FromNode, { type: T }>> {
  for (;;) {
    const at = child.messages.findIndex((m) => m.type === type);
    if (at >= 0) return child.messages.splice(at, 1)[0] as Extract<FromNode, { type: T }>;
    if (child.process.exitCode !== null) throw new Error(`${child.name} exited`);
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`${child.name}: no '${type}' in time`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      child.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const send = (child: Child, message: ToNode) => child.process.send(message);

const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
const children: Child[] = [];
try {
  const blobPath = join(dir, 'artifact.bin');
  const file = await open(blobPath, 'w');
  const chunk = 4 * 1024 * 1024;
  for (let written = 0; written < bytes; written += chunk) {
    await file.write(randomBytes(Math.min(chunk, bytes - written)));
  }
  await file.close();
  const pieceLength = choosePieceLength(bytes);
  const hashes = await hashFilePieces(blobPath, { pieceLength, sha256: true });
  const { torrent } = createTorrent({
    name: 'artifact.bin',
    length: bytes,
    pieceLength,
    pieces: hashes.pieces,
    ...(hashes.sha256 ? { sha256: hashes.sha256 } : {}),
  });
  const torrentPath = join(dir, 'artifact.torrent');
  await writeFile(torrentPath, torrent);

  const setupDeadline = Date.now() + 60_000;
  const origin = startChild('origin', ['origin', torrentPath, blobPath]);
  children.push(origin);
  const leechers = Array.from({ length: leecherCount }, (_, i) =>
    startChild(`leecher${i + 1}`, ['leecher', torrentPath, join(dir, `leecher${i + 1}`)]),
  );
  children.push(...leechers);
  for (const child of children) child.port = (await expect(child, 'ready', setupDeadline)).port;

  const started = Date.now();
  const deadline = started + TIMEOUT_MS;
  for (const leecher of leechers) {
    send(leecher, {
      type: 'peers',
      peers: [
        { host: '127.0.0.1', port: origin.port, origin: true },
        ...leechers
          .filter((other) => other !== leecher)
          .map((other) => ({ host: '127.0.0.1', port: other.port })),
      ],
    });
  }
  const completions = await Promise.all(leechers.map((l) => expect(l, 'complete', deadline)));
  const seconds = (Math.max(...completions.map((c) => c.at)) - started) / 1000;
  const firstSeconds = (Math.min(...completions.map((c) => c.at)) - started) / 1000;

  const statsDeadline = Date.now() + 120_000;
  for (const child of children) send(child, { type: 'stats' });
  const stats: Extract<FromNode, { type: 'stats' }>[] = [];
  for (const child of children) stats.push(await expect(child, 'stats', statsDeadline));
  for (const child of children) send(child, { type: 'close' });
  const rss: number[] = [];
  for (const child of children) rss.push((await expect(child, 'closed', statsDeadline)).maxRssKiB);

  const originSent = stats[0]!.uploaded;
  const mib = (n: number) => (n / 1024 / 1024).toFixed(1);
  const rows = children.map((child, i) => ({
    node: child.name,
    uploadedMiB: mib(stats[i]!.uploaded),
    downloadedMiB: mib(stats[i]!.downloaded),
    fromOriginMiB: mib(stats[i]!.fromOrigin),
    sha256: stats[i]!.sha256ok === null ? '-' : stats[i]!.sha256ok ? 'ok' : 'BAD',
    cpuS: (stats[i]!.cpuMs / 1000).toFixed(2),
    // Leechers: the peak while downloading (the SHA-256 check afterwards is not the engine's).
    peakRssMiB: ((i === 0 ? rss[0]! : completions[i - 1]!.maxRssKiB) / 1024).toFixed(0),
  }));
  console.table(rows);
  const summary = {
    bench: 'swarm-loopback',
    bytes,
    pieceLength,
    leechers: leecherCount,
    seconds,
    firstCompleteSeconds: firstSeconds,
    aggregateMiBps: Number(((bytes * leecherCount) / 1024 / 1024 / seconds).toFixed(1)),
    originSentBytes: originSent,
    originCopies: Number((originSent / bytes).toFixed(3)),
    maxLeecherRssMiB: Math.round(Math.max(...completions.map((c) => c.maxRssKiB)) / 1024),
    originRssMiB: Math.round(rss[0]! / 1024),
    allSha256Ok: stats.slice(1).every((s) => s.sha256ok === true),
    // CPU of every node from ready to the end of the transfer, per MiB delivered: steadier
    // than wall time on a shared machine.
    cpuSeconds: Number((stats.reduce((sum, s) => sum + s.cpuMs, 0) / 1000).toFixed(2)),
    cpuMsPerMiB: Number(
      (stats.reduce((sum, s) => sum + s.cpuMs, 0) / ((bytes * leecherCount) / 1024 / 1024)).toFixed(
        2,
      ),
    ),
    wideRequests: process.env.SHOAL_BENCH_WIDE !== '0',
  };
  console.log(
    `all ${leecherCount} leechers verified ${mib(bytes)} MiB in ${seconds.toFixed(2)} s ` +
      `(first ${firstSeconds.toFixed(2)} s); origin sent ${summary.originCopies} copies`,
  );
  console.log(JSON.stringify(summary));
  if (!summary.allSha256Ok) process.exitCode = 1;
} finally {
  for (const child of children) {
    if (child.process.exitCode === null) child.process.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
}
