// Interoperability with aria2 (a BitTorrent client nobody here wrote), both directions.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { type BDict, bencode } from '@shoal/protocol';
import { Bitfield, BlobStorage, FileLayoutStorage } from '../src/index.ts';
import { freePort, makeContent, startNode, tempDir, waitForEvent } from './helpers.ts';

const ARIA2C = 'aria2c';
const aria2Version = spawnSync(ARIA2C, ['--version'], { encoding: 'utf8' });
if (aria2Version.status !== 0) {
  throw new Error(
    `aria2c is required for the interop tests and was not found: ${aria2Version.error}`,
  );
}

/** A test-only HTTP tracker: answers every announce with a compact list of `peers()`. */
async function startTracker(t: TestContext, peers: () => { host: string; port: number }[]) {
  const announces: URLSearchParams[] = [];
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://tracker');
    announces.push(url.searchParams);
    const list = peers();
    const compact = new Uint8Array(list.length * 6);
    list.forEach(({ host, port }, i) => {
      compact.set(host.split('.').map(Number), i * 6);
      compact[i * 6 + 4] = port >> 8;
      compact[i * 6 + 5] = port & 0xff;
    });
    const body: BDict = new Map<string, number | Uint8Array>([
      ['interval', 30],
      ['peers', compact],
    ]);
    response.writeHead(200, { 'content-type': 'text/plain' });
    response.end(bencode(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}/announce`, announces };
}

function runAria2(
  t: TestContext,
  args: string[],
): { child: ChildProcess; output: () => string; exit: Promise<number | null> } {
  const child = spawn(ARIA2C, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8000);
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return { child, output: () => output, exit };
}

const COMMON_ARGS = [
  '--enable-dht=false',
  '--bt-enable-lpd=false',
  '--enable-peer-exchange=false',
  '--file-allocation=none',
  '--console-log-level=warn',
  '--summary-interval=0',
  '--bt-tracker-connect-timeout=5',
  '--bt-tracker-timeout=5',
];

test('aria2c downloads from a shoal origin', async (t) => {
  const dir = await tempDir(t);
  const seedNode = await startNode(t);
  const tracker = await startTracker(t, () => [{ host: '127.0.0.1', port: seedNode.port }]);
  const content = await makeContent(dir, {
    pieceLength: 64 * 1024,
    length: 3 * 1024 * 1024 + 4321,
    name: 'to-aria2.bin',
    announce: tracker.url,
  });
  const { metainfo } = content;
  const storage = await BlobStorage.open(content.blobPath, metainfo, { readOnly: true });
  t.after(() => storage.close());
  const seed = seedNode.addTorrent({
    metainfo,
    storage,
    have: Bitfield.full(metainfo.pieceCount),
    role: 'origin',
  });
  const torrentPath = join(dir, 'to-aria2.torrent');
  await writeFile(torrentPath, content.torrent);
  const downloadDir = join(dir, 'aria2-download');
  const aria2 = runAria2(t, [
    ...COMMON_ARGS,
    '--seed-time=0',
    `--dir=${downloadDir}`,
    `--listen-port=${await freePort()}`,
    torrentPath,
  ]);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), 40_000);
  });
  const code = await Promise.race([aria2.exit, timeout]);
  clearTimeout(timer);
  assert.equal(code, 0, `aria2c did not finish cleanly (${code}):\n${aria2.output()}`);
  const bytes = await readFile(join(downloadDir, metainfo.name));
  assert.ok(Buffer.from(content.data).equals(bytes), 'aria2c got different bytes');
  assert.ok(seed.stats().uploaded >= metainfo.totalLength, 'the bytes came from the shoal seed');
  assert.ok(tracker.announces.length > 0);
});

test('a shoal leecher downloads from an aria2c seed', async (t) => {
  const dir = await tempDir(t);
  const tracker = await startTracker(t, () => []);
  const content = await makeContent(dir, {
    pieceLength: 32 * 1024,
    length: 2 * 1024 * 1024 + 17,
    name: 'from-aria2.bin',
    announce: tracker.url,
  });
  const { metainfo } = content;
  const seedDir = join(dir, 'aria2-seed');
  await mkdir(seedDir);
  await writeFile(join(seedDir, metainfo.name), content.data);
  const torrentPath = join(dir, 'from-aria2.torrent');
  await writeFile(torrentPath, content.torrent);
  const aria2Port = await freePort();
  const aria2 = runAria2(t, [
    ...COMMON_ARGS,
    '-V',
    '--seed-ratio=0.0',
    '--seed-time=2',
    `--dir=${seedDir}`,
    `--listen-port=${aria2Port}`,
    torrentPath,
  ]);

  const leecherNode = await startNode(t, { reconnectBaseMs: 200 });
  const storage = await FileLayoutStorage.open(join(dir, 'shoal-download'), metainfo);
  t.after(() => storage.close());
  const leecher = leecherNode.addTorrent({ metainfo, storage });
  const complete = waitForEvent(leecher, 'complete', 40_000);
  leecher.addPeers([{ host: '127.0.0.1', port: aria2Port, seeder: true }]);
  try {
    await complete;
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; stats ${JSON.stringify(leecher.stats())}\n${aria2.output()}`,
    );
  }
  const bytes = await readFile(join(dir, 'shoal-download', metainfo.name));
  assert.ok(Buffer.from(content.data).equals(bytes), 'the shoal leecher got different bytes');
  assert.equal(leecher.stats().downloadedFromPeers, leecher.stats().downloaded);
});
