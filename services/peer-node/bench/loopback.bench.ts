// One origin to 8 machines on loopback, shoal against a standard swarm in the same run:
//   shoal: nats-server, tracker, 1 piece-store, 8 peer-nodes; one `distribute` command over NATS,
//          timed until every node reports the artifact complete (pieces and SHA-256 verified).
//   aria2: opentracker, 1 aria2c seed, 8 aria2c leechers, timed until every leecher has exited
//          with the download complete (aria2 checks every piece's SHA-1).
// Reported per system: wall time, bytes the origin sent (in copies of the file), peak RSS
// (VmHWM) of each downloading process. Prints a table and one `BENCH_JSON {...}` line.
// Run: pnpm --filter @shoal/peer-node bench   (SHOAL_BENCH_BYTES, default 1 GiB;
//      SHOAL_BENCH_SHOAL_ONLY=1 skips aria2)
import { execFileSync } from 'node:child_process';
import { chmod, link, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import {
  createFleetSubjects,
  decodeFleetProgress,
  encodeDistributeCommand,
  type FleetProgress,
} from '@shoal/bus';
import { hashFilePieces } from '@shoal/hashing';
import { choosePieceLength, createTorrent } from '@shoal/protocol';
import {
  type AfterHook,
  aria2SwarmOptions,
  freePort,
  type ManagedProcess,
  onCleanup,
  requireExecutable,
  startProcess,
  treeCpuSeconds,
  waitFor,
} from '@shoal/testkit';
import { randomFile, startCluster, startPeerNode, startPieceStore } from '../test/helpers.ts';

const MiB = 1024 * 1024;
const BYTES = Number(process.env.SHOAL_BENCH_BYTES ?? 1024 * MiB);
const NODES = 8;
/**
 * V8 flags the peer-nodes run with, as `pnpm start` and the README recommend: a 1 MiB young
 * generation instead of 16 MiB keeps garbage buffers from piling up between scavenges.
 */
const PEER_NODE_NODE_OPTIONS = process.env.SHOAL_BENCH_NODE_OPTIONS ?? '--max-semi-space-size=1';

/**
 * The services run as the images run them, from compiled dist/ (SHOAL_BENCH_SOURCE=1: from
 * the .ts sources, which costs each process ~17 MB more for type stripping).
 */
const RUN_BUILT = process.env.SHOAL_BENCH_SOURCE !== '1';
/** SHOAL_BENCH_SHOAL_ONLY=1: shoal's row alone, for quick iterations on the engine (no ratio). */
const SHOAL_ONLY = process.env.SHOAL_BENCH_SHOAL_ONLY === '1';

/** Progress on stderr, so stdout keeps only the results. */
function step(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
/** Generous: 5 MB/s per node would be a failure anyway. */
const TIMEOUT_MS = 120_000 + (BYTES / (5 * MiB)) * 1000;

interface Result {
  system: string;
  seconds: number;
  originBytes: number;
  originCopies: number;
  peakRssMiB: number[];
  /** CPU (user + system, every process of the system) from the start to the end of the transfer. */
  cpuSeconds: number;
}

/**
 * CPU used by a set of processes from now on: sampled every 100 ms (a process that exits is
 * counted up to its last sample), read out by `stop()`.
 */
function cpuMeter(pids: () => readonly number[]): { stop: () => Promise<number> } {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  const sample = async () => {
    // A process that is gone reads as 0 and is skipped: its last sample stands.
    for (const [pid, cpu] of await treeCpuSeconds(pids())) {
      if (cpu.total === 0 && last.has(pid)) continue;
      if (!first.has(pid)) first.set(pid, cpu.total);
      last.set(pid, cpu.total);
    }
  };
  void sample();
  const timer = setInterval(() => void sample(), 100);
  return {
    stop: async () => {
      clearInterval(timer);
      await sample();
      let total = 0;
      for (const [pid, seconds] of last) total += seconds - (first.get(pid) ?? seconds);
      return total;
    },
  };
}

async function vmHwmKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  if (match === null) throw new Error(`no VmHWM for ${pid}`);
  return Number(match[1]);
}

async function runShoal(hook: AfterHook, file: string): Promise<Result> {
  const cluster = await startCluster(hook);
  const store = await startPieceStore(hook, cluster);
  const nodes = await Promise.all(
    Array.from({ length: NODES }, (_, i) =>
      startPeerNode(hook, {
        name: `bench-${i}`,
        cluster,
        env: {
          SHOAL_LABELS: 'role=bench',
          // The service's defaults, not the quicker test settings of startPeerNode.
          SHOAL_PROGRESS_INTERVAL_MS: '1000',
          SHOAL_RESUME_INTERVAL_S: '5',
          SHOAL_PRESENCE_INTERVAL_S: '10',
          NODE_OPTIONS: PEER_NODE_NODE_OPTIONS,
        },
      }),
    ),
  );
  const artifact = await store.client.ingestFile(file, { name: 'artifact.bin' });
  step(`shoal: ingested ${artifact.infoHash}; distributing to ${NODES} peer-nodes`);
  const nc = await connect({ servers: cluster.natsUrl });
  onCleanup(hook, () => nc.close());
  const subjects = createFleetSubjects();
  const commandId = `bench-${Date.now()}`;
  const finished = new Map<string, FleetProgress>();
  // Per node, seconds from the command: first bytes, every piece verified, complete (after the
  // whole-file SHA-256): where the time goes.
  const timeline = new Map<
    string,
    { firstBytes?: number; allPieces?: number; complete?: number }
  >();
  let started = performance.now();
  const sub = nc.subscribe(subjects.progress(commandId), {
    callback: (_error, msg) => {
      const report = decodeFleetProgress(msg.data);
      const now = (performance.now() - started) / 1000;
      const marks = timeline.get(report.nodeId) ?? {};
      timeline.set(report.nodeId, marks);
      if (report.bytesDone > 0) marks.firstBytes ??= now;
      if (report.bytesTotal > 0 && report.bytesDone === report.bytesTotal) marks.allPieces ??= now;
      if (report.state === 'complete') marks.complete ??= now;
      if (report.state === 'complete' || report.state === 'failed')
        finished.set(report.nodeId, report);
    },
  });
  onCleanup(hook, () => sub.unsubscribe());
  await nc.flush();
  const cpu = cpuMeter(() => [
    ...nodes.map((node) => node.proc.pid),
    store.proc.pid,
    cluster.tracker.pid,
  ]);
  started = performance.now();
  nc.publish(
    subjects.distribute,
    encodeDistributeCommand({
      commandId,
      infoHash: artifact.infoHash,
      selector: 'role=bench',
      at: Date.now(),
    }),
  );
  await waitFor(() => finished.size === NODES, {
    timeoutMs: TIMEOUT_MS,
    intervalMs: 20,
    description: 'every peer-node to finish',
  });
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = await cpu.stop();
  step(`shoal: every node finished in ${seconds.toFixed(2)} s`);
  const spread = (key: 'firstBytes' | 'allPieces' | 'complete') => {
    const values = [...timeline.values()].map((marks) => marks[key] ?? Number.NaN);
    return `${Math.min(...values).toFixed(1)}-${Math.max(...values).toFixed(1)} s`;
  };
  step(
    `shoal timeline (first-last node): first bytes ${spread('firstBytes')}, every piece ${spread('allPieces')}, complete ${spread('complete')}`,
  );
  // Each node's own account of its last piece ('torrent complete': how far the streamed SHA-256
  // was) and of its finish ('download complete': the fsync and the rest of the SHA-256).
  const logged = (node: (typeof nodes)[number], message: string): Record<string, unknown> => {
    const line = node.proc
      .logs()
      .split('\n')
      .find((text) => text.includes(`"msg":"${message}"`));
    return line === undefined ? {} : (JSON.parse(line) as Record<string, unknown>);
  };
  const digestAtLastPiece = nodes.map((node) => logged(node, 'torrent complete').sha256);
  step(`shoal whole-file SHA-256 at each node's last piece: ${JSON.stringify(digestAtLastPiece)}`);
  const finishTimings = nodes.map((node) => {
    const finish = logged(node, 'download complete');
    return { flushMs: Number(finish.flushMs), sha256Ms: Number(finish.sha256Ms) };
  });
  const range = (values: number[]) =>
    `${(Math.min(...values) / 1000).toFixed(1)}-${(Math.max(...values) / 1000).toFixed(1)} s`;
  step(
    `shoal finish (first-last node): fsync ${range(finishTimings.map((t) => t.flushMs))}, whole-file SHA-256 ${range(finishTimings.map((t) => t.sha256Ms))}`,
  );
  const failed = [...finished.values()].filter((report) => report.state !== 'complete');
  if (failed.length > 0) throw new Error(`peer-nodes failed: ${JSON.stringify(failed)}`);
  const originBytes = [...finished.values()].reduce(
    (sum, report) => sum + report.bytesFromOrigin,
    0,
  );
  const peakRssMiB = await Promise.all(
    nodes.map(async (node) => (await vmHwmKiB(node.proc.pid)) / 1024),
  );
  for (const node of nodes) await node.proc.stop();
  await store.proc.stop();
  await cluster.tracker.stop();
  return {
    system: 'shoal',
    seconds,
    originBytes,
    originCopies: originBytes / BYTES,
    peakRssMiB,
    cpuSeconds,
  };
}

async function aria2Rpc(port: number, method: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${port}/jsonrpc`, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: '1', method, params: [] }),
    signal: AbortSignal.timeout(5000),
  });
  return ((await response.json()) as { result: unknown }).result;
}

function aria2Args(
  directory: string,
  listenPort: number,
  dhtPort: number,
  extra: string[],
): string[] {
  return [
    ...aria2SwarmOptions(directory),
    `--dht-listen-port=${dhtPort}`,
    `--listen-port=${listenPort}`,
    ...extra,
  ];
}

async function runAria2(hook: AfterHook, dir: string, file: string): Promise<Result> {
  const aria2c = requireExecutable('aria2c', 'aria2');
  const opentracker = requireExecutable('opentracker');
  const pieceLength = choosePieceLength(BYTES);
  const hashes = await hashFilePieces(file, { pieceLength, workers: 2 });
  const trackerDir = join(dir, 'opentracker');
  await mkdir(trackerDir);
  await chmod(trackerDir, 0o755);
  const trackerPort = await freePort();
  const made = createTorrent({
    name: 'artifact.bin',
    length: BYTES,
    pieceLength,
    pieces: hashes.pieces,
    announce: `http://127.0.0.1:${trackerPort}/announce`,
  });
  const torrent = join(dir, 'artifact.torrent');
  await writeFile(torrent, made.torrent);
  await writeFile(join(trackerDir, 'whitelist'), `${made.infoHashHex}\n`);
  // opentracker refuses to run as root: it chroots into its folder and drops to `nobody`.
  const tracker = await startProcess(
    opentracker,
    [
      '-i',
      '127.0.0.1',
      '-p',
      String(trackerPort),
      '-P',
      String(await freePort()),
      '-d',
      trackerDir,
      '-w',
      '/whitelist',
      '-u',
      'nobody',
    ],
    { name: 'opentracker', t: hook },
  );

  const rpcPort = await freePort();
  const seedDir = join(dir, 'aria-seed');
  await mkdir(seedDir);
  await link(file, join(seedDir, 'artifact.bin'));
  const seed = await startProcess(
    aria2c,
    [
      ...aria2Args(seedDir, await freePort(), await freePort(), [
        '--check-integrity=true',
        '--seed-ratio=0.0',
        '--enable-rpc=true',
        `--rpc-listen-port=${rpcPort}`,
      ]),
      torrent,
    ],
    { name: 'aria2c-seed', env: { HOME: dir }, t: hook },
  );
  // Seeding once its integrity check has passed and it has announced.
  await waitFor(
    async () => {
      const active = (await aria2Rpc(rpcPort, 'aria2.tellActive')) as {
        completedLength: string;
        seeder?: string;
      }[];
      return active[0]?.seeder === 'true' && Number(active[0].completedLength) === BYTES;
    },
    { timeoutMs: 120_000, intervalMs: 200, description: 'the aria2c seed to check its file' },
  );
  await new Promise((resolve) => setTimeout(resolve, 1500));

  step(`aria2: seed ready; starting ${NODES} leechers`);
  const leechers: ManagedProcess[] = [];
  const cpu = cpuMeter(() => [seed.pid, tracker.pid, ...leechers.map((leecher) => leecher.pid)]);
  const started = performance.now();
  for (let i = 0; i < NODES; i++) {
    const leechDir = join(dir, `aria-leech-${i}`);
    leechers.push(
      await startProcess(
        aria2c,
        [
          ...aria2Args(leechDir, await freePort(), await freePort(), [
            '--seed-time=0',
            '--bt-stop-timeout=600',
          ]),
          torrent,
        ],
        { name: `aria2c-leech-${i}`, env: { HOME: dir }, t: hook },
      ),
    );
  }
  const peaks = new Map<number, number>();
  const sampler = setInterval(() => {
    for (const leecher of leechers) {
      if (leecher.exitStatus() !== undefined) continue;
      vmHwmKiB(leecher.pid).then(
        (kib) => peaks.set(leecher.pid, Math.max(peaks.get(leecher.pid) ?? 0, kib)),
        () => {},
      );
    }
  }, 100);
  const exits = await Promise.all(
    leechers.map((leecher) =>
      Promise.race([
        leecher.exited,
        new Promise<undefined>((resolve) =>
          setTimeout(() => resolve(undefined), TIMEOUT_MS).unref(),
        ),
      ]),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const cpuSeconds = await cpu.stop();
  step(`aria2: every leecher exited after ${seconds.toFixed(2)} s`);
  clearInterval(sampler);
  exits.forEach((exit, i) => {
    if (exit?.code !== 0)
      throw new Error(`aria2c leecher ${i} did not finish: ${leechers[i]!.logs()}`);
  });
  for (let i = 0; i < NODES; i++) {
    const size = (await stat(join(dir, `aria-leech-${i}`, 'artifact.bin'))).size;
    if (size !== BYTES) throw new Error(`aria2c leecher ${i} holds ${size} bytes`);
  }
  const active = (await aria2Rpc(rpcPort, 'aria2.tellActive')) as { uploadLength: string }[];
  const originBytes = Number(active[0]?.uploadLength ?? Number.NaN);
  return {
    system: 'aria2c + opentracker',
    seconds,
    originBytes,
    originCopies: originBytes / BYTES,
    peakRssMiB: leechers.map((leecher) => (peaks.get(leecher.pid) ?? 0) / 1024),
    cpuSeconds,
  };
}

function table(results: Result[]): string {
  const rows = [
    [
      'system',
      'time (s)',
      'origin sent (copies)',
      'peak RSS per node (MiB): max / mean',
      'CPU s (ms per MiB delivered)',
    ],
    ...results.map((r) => [
      r.system,
      r.seconds.toFixed(2),
      `${(r.originBytes / MiB).toFixed(0)} MiB (${r.originCopies.toFixed(2)})`,
      `${Math.max(...r.peakRssMiB).toFixed(0)} / ${(r.peakRssMiB.reduce((a, b) => a + b, 0) / r.peakRssMiB.length).toFixed(0)}`,
      `${r.cpuSeconds.toFixed(1)} (${((r.cpuSeconds * 1000) / ((BYTES * NODES) / MiB)).toFixed(2)})`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
  return rows
    .map((row) => `| ${row.map((cell, c) => cell.padEnd(widths[c]!)).join(' | ')} |`)
    .join('\n');
}

/** Cleanups of one phase (a fresh hook: testkit runs each hook's cleanups once). */
function phase(): { hook: AfterHook; end: () => Promise<void> } {
  const steps: (() => unknown)[] = [];
  return {
    hook: { after: (fn) => steps.push(fn) },
    end: async () => {
      for (const fn of steps.splice(0).reverse()) {
        try {
          await fn();
        } catch (error) {
          console.error(error);
        }
      }
    },
  };
}

async function main(): Promise<void> {
  if (RUN_BUILT) {
    step('building dist/ (turbo, cached after the first time)');
    execFileSync('pnpm', ['turbo', 'run', 'build', '--output-logs=errors-only'], {
      cwd: new URL('../../..', import.meta.url),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    process.env.SHOAL_RUN_BUILT = '1';
  }
  const dir = await mkdtemp(join(tmpdir(), 'shoal-bench-'));
  const shoalPhase = phase();
  const aria2Phase = phase();
  try {
    step(`writing ${BYTES} random bytes`);
    const file = (await randomFile(join(dir, 'artifact.bin'), BYTES)).path;
    const shoal = await runShoal(shoalPhase.hook, file);
    // Free the CPU the shoal run used before the next one.
    await shoalPhase.end();
    if (SHOAL_ONLY) {
      console.log(
        `\n${table([shoal])}\nBENCH_JSON ${JSON.stringify({ bench: 'peer-node-loopback', bytes: BYTES, nodes: NODES, built: RUN_BUILT, results: [shoal] })}`,
      );
      return;
    }
    const aria2 = await runAria2(aria2Phase.hook, dir, file);
    await aria2Phase.end();
    const results = [shoal, aria2];
    console.log(
      `\n${NODES} nodes, ${(BYTES / MiB).toFixed(0)} MiB on loopback; services from ${RUN_BUILT ? 'dist/' : 'sources'}; peer-nodes with NODE_OPTIONS=${PEER_NODE_NODE_OPTIONS}\n`,
    );
    console.log(table(results));
    const ratio = shoal.seconds / aria2.seconds;
    const verdict = {
      fasterThanAria2: ratio <= 1,
      originCopiesAtMost1_5: shoal.originCopies <= 1.5,
      rssUnder150MiB: Math.max(...shoal.peakRssMiB) < 150,
    };
    console.log(`\nshoal / aria2 time: ${ratio.toFixed(2)}; targets: ${JSON.stringify(verdict)}`);
    console.log(
      `BENCH_JSON ${JSON.stringify({ bench: 'peer-node-loopback', bytes: BYTES, nodes: NODES, built: RUN_BUILT, peerNodeNodeOptions: PEER_NODE_NODE_OPTIONS, results, timeRatio: ratio, targets: verdict })}`,
    );
  } finally {
    step('cleaning up');
    await shoalPhase.end();
    await aria2Phase.end();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
