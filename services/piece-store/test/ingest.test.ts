// One piece-store process, real nats-server, real disk: ingest over gRPC (streamed and by
// path), re-download over the wire protocol, duplicates, refusals that leave nothing behind,
// the metainfo lookup over NATS, List/Stat/Delete and the HTTP endpoints.
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { BusError, lookupMetainfoOverNats } from '@shoal/bus';
import { choosePieceLength, parseTorrent } from '@shoal/protocol';
import { startNatsServer, startProcess } from '@shoal/testkit';
import {
  chunked,
  diskState,
  downloadOverWire,
  hex,
  randomContent,
  serviceDir,
  sha256,
  startStore,
  tempDir,
} from './helpers.ts';

function grpcCode(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

test('one replica: ingest, download, duplicates, refusals, lookup, list/stat/delete', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const ingestRoot = await tempDir(t, 'shoal-ingest-root-');
  const store = await startStore(t, {
    natsUrl: nats.url,
    env: { SHOAL_PIECE_STORE_INGEST_ROOT: ingestRoot },
  });
  const { client } = store;
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());

  const content = randomContent(3 * 1024 * 1024 + 12345);
  const digest = sha256(content);
  let infoHash = '';

  await t.test(
    'a streamed upload is stored, described and downloadable byte for byte',
    async () => {
      const artifact = await client.ingest(
        { name: 'build.tar', expectedSha256: digest, expectedSize: content.length },
        chunked(content, 256 * 1024),
      );
      infoHash = artifact.infoHash;
      assert.match(infoHash, /^[0-9a-f]{40}$/);
      assert.equal(artifact.sha256, hex(digest));
      assert.equal(artifact.size, content.length);
      assert.equal(artifact.name, 'build.tar');
      assert.equal(artifact.pieceLength, choosePieceLength(content.length));
      assert.deepEqual(artifact.replicas, [store.replicaId]);
      assert.ok(artifact.magnet.startsWith(`magnet:?xt=urn:btih:${infoHash}`), artifact.magnet);
      const metainfo = parseTorrent(artifact.torrent);
      assert.equal(metainfo.infoHashHex, infoHash);
      assert.equal(metainfo.totalLength, content.length);
      assert.equal(hex(metainfo.sha256!), hex(digest));

      const downloaded = await downloadOverWire(t, artifact.torrent, [
        { host: '127.0.0.1', port: store.wirePort },
      ]);
      assert.equal(downloaded.length, content.length);
      assert.ok(Buffer.from(downloaded).equals(content), 'downloaded bytes differ from the upload');
      const metrics = await (await fetch(`http://127.0.0.1:${store.httpPort}/metrics`)).text();
      const uploaded = Number(/shoal_piece_store_uploaded_bytes\{[^}]*\} (\d+)/.exec(metrics)?.[1]);
      assert.ok(uploaded >= content.length, `the origin reports ${uploaded} bytes uploaded`);
    },
  );

  await t.test(
    'the same content again (any chunking, no declared size) is stored once',
    async () => {
      const again = await client.ingest({ name: 'build.tar' }, chunked(content, 1_000_003));
      assert.equal(again.infoHash, infoHash);
      assert.deepEqual((await diskState(store.dataDir)).objects, [infoHash]);
    },
  );

  await t.test('refused uploads leave nothing visible and say why', async () => {
    const other = randomContent(700_000);
    const wrongDigest = sha256(randomContent(10));
    await assert.rejects(
      client.ingest({ name: 'x.bin', expectedSha256: wrongDigest }, chunked(other, 65536)),
      (error) => grpcCode(error) === status.DATA_LOSS && /SHA-256/.test(String(error)),
    );
    await assert.rejects(
      client.ingest({ name: 'x.bin', expectedSize: other.length + 1 }, chunked(other, 65536)),
      (error) => grpcCode(error) === status.DATA_LOSS,
    );
    await assert.rejects(
      client.ingest({ name: 'x.bin', expectedSize: 10 }, chunked(other, 65536)),
      (error) => grpcCode(error) === status.DATA_LOSS && /longer/.test(String(error)),
    );
    for (const name of ['../escape', 'a/b', '', '..']) {
      await assert.rejects(
        client.ingest({ name }, [other]),
        (error) => grpcCode(error) === status.INVALID_ARGUMENT,
        `name ${JSON.stringify(name)}`,
      );
    }
    await assert.rejects(
      client.ingest({ name: 'empty.bin' }, []),
      (error) => grpcCode(error) === status.INVALID_ARGUMENT,
    );
    await assert.rejects(
      client.ingest({ name: 'x.bin', expectedSha256: new Uint8Array(5) }, [other]),
      (error) => grpcCode(error) === status.INVALID_ARGUMENT,
    );
    const state = await diskState(store.dataDir);
    assert.deepEqual(state.objects, [infoHash]);
    assert.deepEqual(state.tmp, []);
  });

  await t.test('a client that cancels mid-upload gets CANCELLED and leaves nothing', async () => {
    const controller = new AbortController();
    async function* slowUpload(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 200; i++) {
        if (i === 20) controller.abort();
        yield randomContent(64 * 1024);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    await assert.rejects(
      client.ingest({ name: 'cancelled.bin' }, slowUpload(), { signal: controller.signal }),
      (error) => grpcCode(error) === status.CANCELLED,
    );
    await waitForEmptyTmp(store.dataDir);
    assert.deepEqual((await diskState(store.dataDir)).objects, [infoHash]);
  });

  await t.test('a client process killed mid-upload leaves nothing', async () => {
    const uploader = await startProcess(
      process.execPath,
      [
        '--conditions=source',
        join(serviceDir, 'test/fixtures/endless-upload.ts'),
        `127.0.0.1:${store.grpcPort}`,
      ],
      { name: 'endless-upload', ready: /uploading/, t },
    );
    assert.equal((await diskState(store.dataDir)).tmp.length, 1, 'the upload is staged in tmp/');
    uploader.kill('SIGKILL');
    await uploader.exited;
    await waitForEmptyTmp(store.dataDir);
    assert.deepEqual((await diskState(store.dataDir)).objects, [infoHash]);
  });

  await t.test(
    'IngestPath stores a file below the ingest root and refuses anything else',
    async () => {
      const file = join(ingestRoot, 'nested', 'tool.bin');
      await mkdir(join(ingestRoot, 'nested'));
      const bytes = randomContent(400_000);
      await writeFile(file, bytes);
      const artifact = await client.ingestPath('nested/tool.bin', {});
      assert.equal(artifact.name, 'tool.bin');
      assert.equal(artifact.sha256, hex(sha256(bytes)));
      const same = await client.ingest({ name: 'tool.bin' }, [bytes]);
      assert.equal(same.infoHash, artifact.infoHash, 'by path and by stream give one artifact');

      const outside = join(await tempDir(t), 'secret');
      await writeFile(outside, 'secret');
      await symlink(outside, join(ingestRoot, 'link'));
      for (const path of [outside, '../secret', 'link', 'missing.bin', 'nested']) {
        await assert.rejects(
          client.ingestPath(path, {}),
          (error) => {
            const code = grpcCode(error);
            return (
              code === status.PERMISSION_DENIED ||
              code === status.NOT_FOUND ||
              code === status.INVALID_ARGUMENT
            );
          },
          path,
        );
      }
      await client.delete(artifact.infoHash);
    },
  );

  await t.test('metainfo lookup over NATS returns the .torrent; unknown is not_found', async () => {
    const stat = await client.stat(infoHash);
    const found = await lookupMetainfoOverNats(nc, infoHash);
    assert.equal(found.replicaId, store.replicaId);
    assert.ok(Buffer.from(found.torrent).equals(stat.torrent));
    const unknown = 'ab'.repeat(20);
    await assert.rejects(
      lookupMetainfoOverNats(nc, unknown),
      (error) => error instanceof BusError && error.remoteCode === 'not_found',
    );
  });

  await t.test('List, Stat, Delete', async () => {
    const listed = await client.list();
    assert.deepEqual(
      listed.map((artifact) => artifact.infoHash),
      [infoHash],
    );
    await assert.rejects(client.stat('zz'), (error) => grpcCode(error) === status.INVALID_ARGUMENT);
    await assert.rejects(
      client.stat('cd'.repeat(20)),
      (error) => grpcCode(error) === status.NOT_FOUND,
    );
    assert.equal(await client.delete(infoHash), true);
    assert.equal(await client.delete(infoHash), false);
    assert.deepEqual(await client.list(), []);
    assert.deepEqual((await diskState(store.dataDir)).objects, []);
    await assert.rejects(
      lookupMetainfoOverNats(nc, infoHash),
      (error) => error instanceof BusError && error.remoteCode === 'not_found',
    );
    const back = await client.ingest({ name: 'build.tar' }, [content]);
    assert.equal(back.infoHash, infoHash, 'an explicit ingest after a delete stores it again');
  });

  await t.test('/healthz, /readyz and /metrics answer', async () => {
    const base = `http://127.0.0.1:${store.httpPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /shoal_piece_store_artifacts\{replica="[^"]+"\} 1/);
    assert.doesNotMatch(store.proc.logs(), /cannot tune HTTP\/2 sessions/);
    assert.match(metrics, /shoal_piece_store_ingests_total\{[^}]*outcome="stored"[^}]*\} [1-9]/);
    assert.match(
      metrics,
      /shoal_piece_store_ingests_total\{[^}]*outcome="PIECE_STORE_DIGEST_MISMATCH"/,
    );
  });
});

async function waitForEmptyTmp(dataDir: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  // Bounded by the deadline: the server cleans up once it sees the cancellation.
  while ((await diskState(dataDir)).tmp.length > 0) {
    if (Date.now() > deadline) assert.fail('tmp/ still has entries 10 s after the cancel');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
