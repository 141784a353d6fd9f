// A standard BitTorrent swarm on the test network: opentracker and an aria2c seed on the origin
// host, aria2c on every other host, a .torrent made by mktorrent with shoal's piece length.
// DHT, LPD and PEX are off, so peers come only from the tracker, as in shoal. Every leecher keeps
// seeding after it completes (as shoal's nodes do) until all are done. A leecher is done when
// aria2 runs its `--on-bt-download-complete` hook (every piece checked against its SHA-1); the
// hook touches a marker whose mtime is the completion time.
import { chmod, link, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bdecode, choosePieceLength, isBDict, parseTorrent } from '@shoal/protocol';
import { aria2SwarmOptions, type ManagedProcess, requireExecutable, waitFor } from '@shoal/testkit';
import {
  type ContenderRun,
  cpuOf,
  type RunContext,
  RunWindow,
  saveLogs,
  verifyCopies,
} from '../contender.ts';
import { BenchError, BenchErrorCode } from '../errors.ts';

const PORTS = { tracker: 6970, trackerUdp: 6970, rpc: 6800, wire: 6881 } as const;
const MARKER = '.done';

/** Options every aria2c gets: the shared swarm options, one wire port, no seeding ratio. */
function common(dir: string, extra: readonly string[]): string[] {
  return [...aria2SwarmOptions(dir), `--listen-port=${PORTS.wire}`, '--seed-ratio=0.0', ...extra];
}

export async function runAria2(context: RunContext): Promise<ContenderRun> {
  const { network, artifact, workDir } = context;
  const origin = network.origin;
  const hosts = network.hosts.slice(1);
  const aria2c = requireExecutable('aria2c', 'aria2');
  const opentracker = requireExecutable('opentracker');
  const mktorrent = requireExecutable('mktorrent');
  const started: ManagedProcess[] = [];
  let measuring: RunWindow | undefined;
  try {
    const pieceLength = choosePieceLength(artifact.bytes);
    const torrentFile = join(workDir, 'artifact.torrent');
    const announce = `http://${origin.ip}:${PORTS.tracker}/announce`;
    const made = await network.exec(
      origin,
      mktorrent,
      [
        '-l',
        String(Math.log2(pieceLength)),
        '-a',
        announce,
        '-n',
        artifact.name,
        '-o',
        torrentFile,
        artifact.path,
      ],
      { timeoutMs: 600_000 },
    );
    if (made.code !== 0) {
      throw new BenchError(BenchErrorCode.ContenderFailed, `mktorrent failed: ${made.stderr}`);
    }
    const torrent = parseTorrent(await readFile(torrentFile));
    if (torrent.pieceLength !== pieceLength) {
      throw new BenchError(BenchErrorCode.ContenderFailed, 'mktorrent used another piece length');
    }

    // opentracker chroots into its folder and drops to `nobody`: the folder must be readable.
    const trackerDir = join(workDir, 'opentracker');
    await mkdir(trackerDir, { recursive: true });
    await chmod(trackerDir, 0o755);
    await writeFile(join(trackerDir, 'whitelist'), `${torrent.infoHashHex}\n`, { mode: 0o644 });
    const tracker = await network.spawn(
      origin,
      opentracker,
      [
        '-i',
        origin.ip,
        '-p',
        String(PORTS.tracker),
        '-P',
        String(PORTS.trackerUdp),
        '-d',
        trackerDir,
        '-w',
        '/whitelist',
        '-u',
        'nobody',
      ],
      { name: 'opentracker' },
    );
    started.push(tracker);

    const seedDir = join(workDir, 'seed');
    await mkdir(seedDir, { recursive: true });
    await link(artifact.path, join(seedDir, artifact.name));
    const seed = await network.spawn(
      origin,
      aria2c,
      [
        ...common(seedDir, [
          '--check-integrity=true',
          '--enable-rpc=true',
          '--rpc-listen-all=true',
          `--rpc-listen-port=${PORTS.rpc}`,
        ]),
        torrentFile,
      ],
      { name: 'aria2c-seed', env: { HOME: workDir } },
    );
    started.push(seed);
    const rpc = `http://${origin.ip}:${PORTS.rpc}/jsonrpc`;
    // Seeding once its check of the file has passed and the tracker counts it as complete.
    await waitFor(
      async () => {
        const active = (await aria2Rpc(rpc, 'aria2.tellActive')) as { seeder?: string }[];
        return active[0]?.seeder === 'true' && (await scrapeComplete(announce, torrent.infoHash));
      },
      { timeoutMs: 300_000, intervalMs: 250, description: 'the aria2c seed to be announced' },
    );
    context.log(`  aria2: seeding ${torrent.infoHashHex} (piece ${pieceLength} B)`);

    const hook = join(workDir, 'on-complete.sh');
    // aria2 passes GID, number of files and the first file's path.
    await writeFile(hook, `#!/bin/sh\ntouch "$3${MARKER}"\n`, { mode: 0o755 });
    const leechDirs = hosts.map((host) => join(workDir, `host-${host.index}`));
    for (const dir of leechDirs) await mkdir(dir, { recursive: true });

    const originPids = [tracker.pid, seed.pid];
    measuring = await RunWindow.begin(network, originPids);
    const startedMs = Date.now();
    const leechers = await Promise.all(
      hosts.map((host, i) =>
        network.spawn(
          host,
          aria2c,
          [...common(leechDirs[i]!, [`--on-bt-download-complete=${hook}`]), torrentFile],
          { name: `aria2c@h${host.index}`, env: { HOME: workDir } },
        ),
      ),
    );
    started.push(...leechers);
    const markers = leechDirs.map((dir) => join(dir, `${artifact.name}${MARKER}`));
    const doneMs = await waitFor(
      async () => {
        const exited = leechers.find((leecher) => leecher.exitStatus() !== undefined);
        if (exited !== undefined) {
          throw new BenchError(
            BenchErrorCode.ContenderFailed,
            `${exited.name} exited early: ${exited.logs().slice(-2000)}`,
          );
        }
        const times = await Promise.all(
          markers.map((marker) =>
            stat(marker).then(
              (s) => s.mtimeMs,
              () => undefined,
            ),
          ),
        );
        return times.every((time) => time !== undefined) ? (times as number[]) : undefined;
      },
      { timeoutMs: context.timeoutMs, intervalMs: 100, description: 'every aria2c to complete' },
    ).catch((error: unknown) => {
      throw error instanceof BenchError
        ? error
        : new BenchError(BenchErrorCode.ContenderFailed, `aria2: ${(error as Error).message}`, {
            cause: error,
          });
    });
    const hostPids = leechers.map((leecher) => leecher.pid);
    const measured = await measuring.end([...originPids, ...hostPids]);
    const spent = measured.cpu;
    const seedStatus = (await aria2Rpc(rpc, 'aria2.tellActive')) as { uploadLength?: string }[];
    const hostSeconds = doneMs.map((ms) => Math.max(0, (ms - startedMs) / 1000));

    for (const leecher of leechers) await leecher.stop(5000);
    await verifyCopies(
      artifact,
      leechDirs.map((dir) => join(dir, artifact.name)),
    );
    return {
      contender: 'aria2',
      seconds: Math.max(...hostSeconds),
      hostSeconds,
      originTxBytes: measured.originTxBytes,
      sentBytes: measured.sentBytes,
      sentPackets: measured.sentPackets,
      timeline: measured.timeline,
      originPayloadBytes: Number(seedStatus[0]?.uploadLength ?? Number.NaN),
      cpuSeconds: {
        origin: cpuOf(spent, originPids),
        hosts: cpuOf(spent, hostPids),
        hostsInKernel: cpuOf(spent, hostPids, 'system'),
      },
      details: { infoHash: torrent.infoHashHex, pieceLength },
    };
  } catch (error) {
    await saveLogs(join(context.logsDir, 'aria2'), started).catch(() => {});
    throw error;
  } finally {
    measuring?.abandon();
    for (const child of [...started].reverse()) await child.stop(5000);
  }
}

async function aria2Rpc(url: string, method: string): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    body: JSON.stringify({ jsonrpc: '2.0', id: '1', method, params: [] }),
    signal: AbortSignal.timeout(5000),
  });
  return ((await response.json()) as { result: unknown }).result;
}

/** Whether the tracker counts a complete peer (the seed) for this infohash (BEP 48 scrape). */
async function scrapeComplete(announce: string, infoHash: Uint8Array): Promise<boolean> {
  const escaped = [...infoHash].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
  const url = `${announce.replace(/\/announce$/, '/scrape')}?info_hash=${escaped}`;
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body = bdecode(new Uint8Array(await response.arrayBuffer()), { strict: false });
  const files = isBDict(body) ? body.get('files') : undefined;
  const entry = isBDict(files) ? [...files.values()][0] : undefined;
  const complete = isBDict(entry) ? entry.get('complete') : undefined;
  return typeof complete === 'number' && complete > 0;
}
