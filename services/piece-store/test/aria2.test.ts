// Interoperability with standard BitTorrent clients: aria2c downloads an ingested artifact
// from the piece-store, finding it through the real tracker's HTTP announce (the piece-store
// announced itself over NATS); libtorrent, given only the magnet link and the piece-store's
// address, fetches the info dict over BEP 9 and then the content.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  aria2SwarmOptions,
  freePort,
  requireExecutable,
  startNatsServer,
  startProcess,
} from '@shoal/testkit';
import { randomContent, repoRoot, serviceDir, startStore, tempDir } from './helpers.ts';

async function aria2(t: Parameters<typeof tempDir>[0], target: string, dir: string): Promise<void> {
  const proc = await startProcess(
    requireExecutable('aria2c'),
    [
      ...aria2SwarmOptions(dir),
      '--seed-time=0',
      `--listen-port=${await freePort()}`,
      `--dht-listen-port=${await freePort()}`,
      '--bt-stop-timeout=20',
      '--bt-save-metadata=false',
      target,
    ],
    { name: 'aria2c', t },
  );
  const exit = await Promise.race([
    proc.exited,
    new Promise<undefined>((resolve) => {
      setTimeout(() => resolve(undefined), 30_000).unref();
    }),
  ]);
  assert.deepEqual(exit, { code: 0, signal: null }, `aria2c failed:\n${proc.logs()}`);
}

test('aria2c downloads an ingested artifact found through the HTTP tracker', async (t) => {
  const nats = await startNatsServer({ t });
  const trackerPort = await freePort();
  await startProcess(
    process.execPath,
    ['--conditions=source', join(repoRoot, 'services/tracker/src/main.ts')],
    {
      name: 'tracker',
      cwd: repoRoot,
      env: {
        SHOAL_NATS_URL: nats.url,
        SHOAL_TRACKER_HTTP_HOST: '127.0.0.1',
        SHOAL_TRACKER_HTTP_PORT: String(trackerPort),
      },
      ready: /"msg":"tracker ready"/,
      readyTimeoutMs: 20_000,
      t,
    },
  );
  const store = await startStore(t, {
    natsUrl: nats.url,
    env: { SHOAL_PIECE_STORE_ANNOUNCE_URL: `http://127.0.0.1:${trackerPort}/announce` },
  });
  const content = randomContent(2 * 1024 * 1024 + 777);
  const artifact = await store.client.ingest({ name: 'release.tar' }, [content]);
  assert.match(artifact.magnet, /&tr=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fannounce/);

  const byTorrent = await tempDir(t, 'shoal-aria2-');
  const torrentPath = join(byTorrent, 'release.torrent');
  await writeFile(torrentPath, artifact.torrent);
  await aria2(t, torrentPath, join(byTorrent, 'out'));
  assert.ok((await readFile(join(byTorrent, 'out', 'release.tar'))).equals(content));
});

test('libtorrent fetches an artifact from a magnet link alone (BEP 9 metadata from the piece-store)', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const store = await startStore(t, { natsUrl: nats.url });
  const content = randomContent(1024 * 1024 + 99);
  const artifact = await store.client.ingest({ name: 'tool.bin' }, [content]);
  const out = await tempDir(t, 'shoal-libtorrent-');
  const proc = await startProcess(
    '/usr/bin/python3',
    [
      join(serviceDir, 'test/fixtures/libtorrent-magnet.py'),
      artifact.magnet,
      '127.0.0.1',
      String(store.wirePort),
      out,
    ],
    { name: 'libtorrent', t },
  );
  const exit = await proc.exited;
  assert.deepEqual(exit, { code: 0, signal: null }, `libtorrent failed:\n${proc.logs()}`);
  assert.match(proc.logs(), /complete tool\.bin/);
  assert.ok((await readFile(join(out, 'tool.bin'))).equals(content));
});
