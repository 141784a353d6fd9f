// Restarts, corruption and the byte budget, on a real piece-store process and real disk.
import assert from 'node:assert/strict';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { BusError, lookupMetainfoOverNats } from '@shoal/bus';
import { startNatsServer } from '@shoal/testkit';
import {
  type Artifact,
  diskState,
  downloadOverWire,
  randomContent,
  type StoreProcess,
  startStore,
  tempDir,
} from './helpers.ts';

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
      await assert.rejects(
        downloadOverWire(t, third.torrent, [{ host: '127.0.0.1', port: store.wirePort }], 3000),
        'the leecher must not complete from corrupt data',
      );
      await assert.rejects(
        store.client.stat(third.infoHash),
        (e) => grpcCode(e) === status.NOT_FOUND,
      );
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
      downloadOverWire(t, first.torrent, [{ host: '127.0.0.1', port: store.wirePort }], 2000),
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
