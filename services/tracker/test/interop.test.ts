// Real BitTorrent clients against the HTTP endpoint: transmission-cli seeds a torrent made by
// mktorrent, aria2c finds it only through the tracker (DHT, LPD and PEX off) and downloads it.
// transmission never dials 127.x peers learned from a tracker, so it is the seed and aria2c,
// which does dial, is the leecher.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { scrapeOverNats } from '@shoal/bus';
import { type BDict, bdecode, bencode } from '@shoal/protocol';
import {
  aria2SwarmOptions,
  freePort,
  onCleanup,
  requireExecutable,
  startNatsServer,
  startProcess,
  waitFor,
} from '@shoal/testkit';
import { natsClient, startTracker } from './helpers.ts';

const run = promisify(execFile);

test('transmission-cli seeds, aria2c downloads, both through the shoal tracker', {
  timeout: 80_000,
}, async (t) => {
  const mktorrent = requireExecutable('mktorrent');
  const transmission = requireExecutable('transmission-cli', 'transmission-cli');
  const aria2c = requireExecutable('aria2c', 'aria2');

  const dir = await mkdtemp(join(tmpdir(), 'shoal-interop-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const seedDir = join(dir, 'seed');
  const leechDir = join(dir, 'leech');
  const transmissionConfig = join(dir, 'transmission');
  for (const d of [seedDir, leechDir, transmissionConfig]) await mkdir(d);
  const payload = randomBytes(3 * 1024 * 1024 + 12_345);
  await writeFile(join(seedDir, 'payload.bin'), payload);

  const nats = await startNatsServer({ jetstream: true, t });
  const tracker = await startTracker(nats.url, t);
  const nc = await natsClient(nats.url, t);

  const torrent = join(dir, 'payload.torrent');
  await run(
    mktorrent,
    ['-a', `${tracker.url}/announce`, '-l', '16', '-o', torrent, join(seedDir, 'payload.bin')],
    { timeout: 20_000 },
  );
  const info = (bdecode(new Uint8Array(await readFile(torrent))) as BDict).get('info') as BDict;
  const infoHash = createHash('sha1').update(bencode(info)).digest('hex');

  const seedPort = await freePort();
  await writeFile(
    join(transmissionConfig, 'settings.json'),
    JSON.stringify({
      'dht-enabled': false,
      'lpd-enabled': false,
      'pex-enabled': false,
      'utp-enabled': false,
      'port-forwarding-enabled': false,
      'peer-port': seedPort,
      encryption: 0,
      'ratio-limit-enabled': false,
      'speed-limit-up-enabled': false,
    }),
  );
  const seed = await startProcess(
    transmission,
    ['-g', transmissionConfig, '-w', seedDir, '-p', String(seedPort), '-et', '-M', torrent],
    { name: 'transmission-cli', env: { HOME: dir }, t },
  );
  await waitFor(
    async () => (await scrapeOverNats(nc, { infoHashes: [infoHash] })).swarms[0]?.complete === 1,
    {
      timeoutMs: 20_000,
      intervalMs: 200,
      description: `transmission to announce as a seeder; its output:\n${seed.logs()}`,
    },
  );

  const leech = await startProcess(
    aria2c,
    [
      ...aria2SwarmOptions(leechDir),
      `--dht-listen-port=${await freePort()}`,
      `--listen-port=${await freePort()}`,
      '--seed-time=0',
      '--bt-stop-timeout=60',
      torrent,
    ],
    { name: 'aria2c', env: { HOME: dir }, t },
  );
  const exit = await Promise.race([
    leech.exited,
    new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 60_000).unref()),
  ]);
  assert.deepEqual(
    exit,
    { code: 0, signal: null },
    `aria2c did not finish:\n${leech.logs()}\ntransmission:\n${seed.logs().slice(-2000)}`,
  );
  assert.ok(
    payload.equals(await readFile(join(leechDir, 'payload.bin'))),
    'downloaded bytes differ',
  );

  // aria2c reported its completion to the tracker.
  const counts = await waitFor(
    async () => {
      const swarm = (await scrapeOverNats(nc, { infoHashes: [infoHash] })).swarms[0];
      return swarm !== undefined && swarm.downloaded === 1 ? swarm : undefined;
    },
    { timeoutMs: 5000, description: 'the completion to be counted' },
  );
  assert.equal(counts.complete >= 1, true);
  await seed.stop();
});
