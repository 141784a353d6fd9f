// Standard BitTorrent clients and a peer-node in one swarm, meeting only through the shoal
// tracker (aria2 and libtorrent announce over HTTP, the peer-node over NATS):
// an aria2c seed feeds a peer-node (and a second one that has only a magnet link, so it takes
// the metadata over BEP 9), then, with that seed gone, an aria2c leecher and a
// python3-libtorrent leecher download from the peer-node.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { scrapeOverNats } from '@shoal/bus';
import {
  aria2SwarmOptions,
  freePort,
  onCleanup,
  requireExecutable,
  startProcess,
  waitFor,
} from '@shoal/testkit';
import {
  fetchAll,
  randomFile,
  sha256OfFile,
  startCluster,
  startPeerNode,
  tempDir,
  writeTorrentFor,
} from './helpers.ts';

const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';

function aria2Args(
  dir: string,
  listenPort: number,
  dhtPort: number,
  torrent: string,
  extra: string[],
) {
  return [
    ...aria2SwarmOptions(dir),
    `--dht-listen-port=${dhtPort}`,
    `--listen-port=${listenPort}`,
    ...extra,
    torrent,
  ];
}

// Downloads `torrent` into `dir`; DHT, LSD and UPnP off so the tracker is the only source. All
// peers are on 127.0.0.1, so several connections to one IP must be allowed.
const LIBTORRENT_LEECHER = `
import sys, time, libtorrent as lt
torrent, target, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
session = lt.session({
  'listen_interfaces': '127.0.0.1:%d' % port,
  'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
  'allow_multiple_connections_per_ip': True, 'enable_outgoing_utp': False, 'enable_incoming_utp': False,
  'alert_mask': lt.alert.category_t.error_notification,
})
handle = session.add_torrent({'ti': lt.torrent_info(torrent), 'save_path': target})
deadline = time.time() + 50
while time.time() < deadline:
  status = handle.status()
  if status.is_seeding:
    print('libtorrent done', status.total_wanted, flush=True)
    sys.exit(0)
  time.sleep(0.2)
print('libtorrent timed out at', handle.status().progress, flush=True)
sys.exit(1)
`;

test('aria2c seeds a peer-node; aria2c and libtorrent download from a peer-node', {
  timeout: 110_000,
}, async (t) => {
  const aria2c = requireExecutable('aria2c', 'aria2');
  requireExecutable('python3', 'python3-libtorrent');
  const cluster = await startCluster(t);
  const work = await tempDir(t);
  const seedDir = join(work, 'seed');
  await mkdir(seedDir);
  const file = await randomFile(join(seedDir, 'gamma.bin'), 6 * MiB + 321);
  const torrentPath = join(work, 'gamma.torrent');
  const made = await writeTorrentFor(file, {
    name: 'gamma.bin',
    pieceLength: 256 * 1024,
    announce: cluster.announceUrl,
    torrentPath,
  });

  const nc = await connect({ servers: cluster.natsUrl });
  onCleanup(t, () => nc.close());
  const swarm = async () =>
    (await scrapeOverNats(nc, { infoHashes: [made.infoHashHex] })).swarms[0]!;

  // 1. aria2c seeds (it checks the file first), announcing to the tracker over HTTP.
  const seed = await startProcess(
    aria2c,
    aria2Args(seedDir, await freePort(), await freePort(), torrentPath, [
      '--check-integrity=true',
      '--seed-ratio=0.0',
      '--bt-tracker-interval=2',
    ]),
    { name: 'aria2c-seed', env: { HOME: work }, t },
  );
  await waitFor(async () => (await swarm()).complete >= 1, {
    timeoutMs: 20_000,
    intervalMs: 200,
    description: 'aria2c to announce as a seeder',
  });

  // 2. A peer-node fetches it with only the aria2c seed in the swarm.
  const node = await startPeerNode(t, { name: 'interop', cluster });
  const events = await fetchAll(
    node.client,
    { torrent: made.torrent, destination: join(work, 'node') },
    40_000,
  );
  const last = events.at(-1)!;
  assert.equal(last.state, 'complete', seed.logs());
  assert.equal(last.bytesFromPeers, file.size, 'every byte came from the aria2c seed');
  assert.equal(await sha256OfFile(join(work, 'node', 'gamma.bin')), file.sha256);

  // 2b. A second peer-node knows only the magnet link. There is no piece-store here, so it gets
  // the info dict over BEP 9 from the swarm (aria2c and the first peer-node), checks its SHA-1,
  // then downloads.
  const second = await startPeerNode(t, { name: 'interop-2', cluster });
  const magnet = `magnet:?xt=urn:btih:${made.infoHashHex}&dn=gamma.bin`;
  const viaMagnet = await fetchAll(
    second.client,
    { magnet, destination: join(work, 'node-2') },
    40_000,
  );
  assert.equal(viaMagnet.at(-1)!.state, 'complete');
  assert.ok(viaMagnet.some((event) => event.state === 'metadata'));
  assert.equal(await sha256OfFile(join(work, 'node-2', 'gamma.bin')), file.sha256);
  assert.match(second.proc.logs(), /"from":"swarm".*"msg":"metadata resolved"/);
  await second.proc.stop();
  await seed.stop();

  // 3. With the aria2c seed gone, aria2c and libtorrent download from the peer-node.
  const ariaDir = join(work, 'aria-leech');
  const leech = await startProcess(
    aria2c,
    aria2Args(ariaDir, await freePort(), await freePort(), torrentPath, [
      '--seed-time=0',
      '--bt-stop-timeout=40',
    ]),
    { name: 'aria2c-leech', env: { HOME: work }, t },
  );
  const libtorrentDir = join(work, 'lt-leech');
  await mkdir(libtorrentDir);
  const lt = await startProcess(
    PYTHON,
    ['-c', LIBTORRENT_LEECHER, torrentPath, libtorrentDir, String(await freePort())],
    {
      name: 'libtorrent',
      t,
    },
  );
  const within = <T>(promise: Promise<T>) =>
    Promise.race([
      promise,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 50_000).unref()),
    ]);
  const [ariaExit, ltExit] = await Promise.all([within(leech.exited), within(lt.exited)]);
  assert.deepEqual(ariaExit, { code: 0, signal: null }, `aria2c:\n${leech.logs()}`);
  assert.equal(await sha256OfFile(join(ariaDir, 'gamma.bin')), file.sha256);
  assert.deepEqual(ltExit, { code: 0, signal: null }, `libtorrent:\n${lt.logs()}`);
  assert.equal(await sha256OfFile(join(libtorrentDir, 'gamma.bin')), file.sha256);
  assert.ok((await swarm()).downloaded >= 3, 'the tracker counted three completions');
});
