// Restarts, corruption and the byte budget, on a real piece-store process and real disk.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { status } from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { BusError, lookupMetainfoOverNats } from '@shoal/bus';
import { startNatsServer } from '@shoal/testkit';
import {
  type Artifact,
  chunked,
  diskState,
  downloadOverWire,
  eventually,
  randomContent,
  type StoreProcess,
  startStore,
  tempDir,
} from './helpers.ts';

const execFileAsync = promisify(execFile);

/** Flips one byte inside piece `piece` of the stored data file (size unchanged). */
async function corruptPiece(store: StoreProcess, artifact: Artifact, piece: number): Promise<void> {
  const file = await open(join(store.dataDir, 'objects', artifact.infoHash, 'data'), 'r+');
  try {
    const position = piece * artifact.pieceLength + 1000;
    const byte = new Uint8Array(1);
    await file.read(byte, 0, 1, position);
    byte[0] = byte[0]! ^ 0xff;
    await file.write(byte, 0, 1, position);
  } finally {
    await file.close();
  }
}

function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

test('restart keeps everything; corrupt data is quarantined and never served', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const dataDir = await tempDir(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  let store = await startStore(t, { natsUrl: nats.url, dataDir });
  const contents = [randomContent(1_300_000), randomContent(900_000), randomContent(1_100_000)];
  const artifacts: Artifact[] = [];
  for (const [i, bytes] of contents.entries()) {
    artifacts.push(await store.client.ingest({ name: `part-${i}.bin` }, [bytes]));
  }
  const [first, second, third] = artifacts as [Artifact, Artifact, Artifact];

  await t.test('a restart keeps every artifact, its metadata and its seeding', async () => {
    const before = await store.client.list();
    await store.proc.stop();
    store = await startStore(t, { natsUrl: nats.url, dataDir });
    const after = await store.client.list();
    const key = (list: Artifact[]) =>
      list.map((a) => `${a.infoHash} ${a.name} ${a.size} ${a.sha256} ${a.createdUnixMs}`).sort();
    assert.deepEqual(key(after), key(before));
    const bytes = await downloadOverWire(t, second.torrent, [
      { host: '127.0.0.1', port: store.wirePort },
    ]);
    assert.ok(Buffer.from(bytes).equals(contents[1]!));
  });

  await t.test(
    'a piece corrupted on disk while running is caught before it is served',
    async () => {
      await corruptPiece(store, third, 2);
      const stop = new AbortController();
      const attempt = downloadOverWire(
        t,
        third.torrent,
        [{ host: '127.0.0.1', port: store.wirePort }],
        { signal: stop.signal },
      );
      attempt.catch(() => {});
      await eventually(
        () =>
          store.client.stat(third.infoHash).then(
            () => false,
            (e) => grpcCode(e) === status.NOT_FOUND,
          ),
        'the corrupt artifact to be quarantined',
      );
      stop.abort();
      await assert.rejects(attempt, 'the leecher must not complete from corrupt data');
      const quarantine = await readdir(join(dataDir, 'quarantine'));
      assert.ok(
        quarantine.some((entry) => entry.startsWith(third.infoHash)),
        `${quarantine}`,
      );
      const reason = await readFile(
        join(
          dataDir,
          'quarantine',
          quarantine.find((e) => e.startsWith(third.infoHash))!,
          'QUARANTINED',
        ),
        'utf8',
      );
      assert.match(reason, /piece 2/);
    },
  );

  await t.test('start-up verification (full) quarantines a corrupt artifact', async () => {
    await corruptPiece(store, first, 3);
    await store.proc.stop();
    store = await startStore(t, {
      natsUrl: nats.url,
      dataDir,
      env: { SHOAL_PIECE_STORE_VERIFY: 'full' },
    });
    const listed = (await store.client.list()).map((a) => a.infoHash);
    assert.deepEqual(listed, [second.infoHash]);
    assert.match(store.proc.logs(), /artifact quarantined/);
    await assert.rejects(
      lookupMetainfoOverNats(nc, first.infoHash),
      (e) => e instanceof BusError && e.remoteCode === 'not_found',
    );
    await assert.rejects(
      downloadOverWire(t, first.torrent, [{ host: '127.0.0.1', port: store.wirePort }], {
        timeoutMs: 1000,
      }),
    );
  });

  await t.test('Verify over gRPC finds a corruption on request', async () => {
    await corruptPiece(store, second, 0);
    const sample = await store.client.verify({ infoHash: second.infoHash });
    assert.equal(sample.checked, 1);
    assert.deepEqual(sample.quarantined, [second.infoHash], 'piece 0 is always in the sample');
    assert.deepEqual(await store.client.list(), []);
    assert.deepEqual((await diskState(dataDir)).objects, []);
  });
});

test('the byte budget refuses what does not fit, with RESOURCE_EXHAUSTED and nothing left', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const store = await startStore(t, {
    natsUrl: nats.url,
    env: { SHOAL_PIECE_STORE_MAX_BYTES: String(1_500_000) },
  });
  await store.client.ingest({ name: 'fits.bin' }, [randomContent(1_000_000)]);
  await assert.rejects(
    store.client.ingest({ name: 'big.bin', expectedSize: 1_000_000 }, [randomContent(1_000_000)]),
    (e) => grpcCode(e) === status.RESOURCE_EXHAUSTED && /budget/.test(String(e)),
  );
  await assert.rejects(
    store.client.ingest({ name: 'unknown-size.bin' }, [randomContent(1_000_000)]),
    (e) => grpcCode(e) === status.RESOURCE_EXHAUSTED,
  );
  const state = await diskState(store.dataDir);
  assert.equal(state.objects.length, 1);
  assert.deepEqual(state.tmp, []);
});

test('a full disk (ENOSPC) refuses the upload with RESOURCE_EXHAUSTED and leaves nothing', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  // A 3 MiB tmpfs as the data directory: a real filesystem that really fills up. One hook
  // undoes it all in order: the process, the mount, the directory.
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-full-disk-'));
  let store: StoreProcess | undefined;
  let mounted = false;
  t.after(async () => {
    await store?.proc.stop();
    if (mounted) await execFileAsync('umount', [dataDir]);
    await rm(dataDir, { recursive: true, force: true });
  });
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dataDir]).catch(
    (error: unknown) => {
      throw new Error(`mounting a tmpfs needs root (CAP_SYS_ADMIN): ${String(error)}`);
    },
  );
  mounted = true;
  store = await startStore(t, { natsUrl: nats.url, dataDir });
  const fits = await store.client.ingest({ name: 'fits.bin' }, [randomContent(1_000_000)]);
  await assert.rejects(
    store.client.ingest({ name: 'too-big.bin' }, chunked(randomContent(4_000_000), 256 * 1024)),
    (e) => grpcCode(e) === status.RESOURCE_EXHAUSTED && /disk is full/.test(String(e)),
  );
  const state = await diskState(dataDir);
  assert.deepEqual(state.objects, [fits.infoHash]);
  assert.deepEqual(state.tmp, []);
  // The space is back: the next upload that fits is stored.
  await store.client.ingest({ name: 'fits-too.bin' }, [randomContent(1_000_000)]);
});
