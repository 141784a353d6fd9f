// The client against a real grpc-js server on loopback: message framing, declared sizes,
// deadlines and cancellation.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type IngestChunk__Output, type PieceStoreHandlers, pieceStoreProto } from '@shoal/proto';
import { createPieceStoreClient, MAX_CHUNK_BYTES } from '../src/index.ts';

async function serve(t: test.TestContext, handlers: Partial<PieceStoreHandlers>): Promise<string> {
  const server = new grpc.Server({ 'grpc.max_receive_message_length': MAX_CHUNK_BYTES + 1024 });
  server.addService(pieceStoreProto.PieceStore.service, handlers as PieceStoreHandlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  t.after(() => server.forceShutdown());
  return `127.0.0.1:${port}`;
}

test('ingest sends the header first, then data in messages of at most 4 MiB', async (t) => {
  const received: IngestChunk__Output[] = [];
  const address = await serve(t, {
    Ingest: (call, callback) => {
      call.on('data', (message: IngestChunk__Output) => received.push(message));
      call.on('end', () => {
        const total = received.slice(1).reduce((sum, m) => sum + (m.data?.length ?? 0), 0);
        callback(null, { name: received[0]?.header?.name ?? '', size: total });
      });
    },
  });
  const client = createPieceStoreClient(address);
  t.after(() => client.close());
  const big = new Uint8Array(MAX_CHUNK_BYTES * 2 + 10).fill(7);
  const artifact = await client.ingest({ name: 'a.bin', expectedSize: big.length }, [big]);
  assert.equal(artifact.size, big.length);
  assert.equal(received[0]?.part, 'header');
  assert.equal(received[0]?.header?.expectedSize, big.length);
  const sizes = received.slice(1).map((m) => m.data?.length);
  assert.deepEqual(sizes, [MAX_CHUNK_BYTES, MAX_CHUNK_BYTES, 10]);

  received.length = 0;
  const dir = await mkdtemp(join(tmpdir(), 'shoal-client-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'f'), new Uint8Array(300_000));
  const fromFile = await client.ingestFile(join(dir, 'f'), { name: 'f' }, { chunkBytes: 100_000 });
  assert.equal(fromFile.size, 300_000);
  assert.equal(received[0]?.header?.expectedSize, 300_000, 'ingestFile declares the size');
  assert.equal(received.length, 4);
});

test('a unary call past its deadline fails with DEADLINE_EXCEEDED', async (t) => {
  const address = await serve(t, { Stat: () => {} });
  const client = createPieceStoreClient(address, { deadlineMs: 200 });
  t.after(() => client.close());
  await assert.rejects(
    client.stat('ab'.repeat(20)),
    (error) => (error as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED,
  );
});

test('aborting an upload cancels the call on both ends', async (t) => {
  let serverSawCancel = false;
  const address = await serve(t, {
    Ingest: (call) => {
      call.on('data', () => {});
      call.on('cancelled', () => {
        serverSawCancel = true;
      });
    },
  });
  const client = createPieceStoreClient(address);
  t.after(() => client.close());
  const controller = new AbortController();
  async function* endless(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 1000; i++) {
      if (i === 5) controller.abort();
      yield new Uint8Array(1024);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
  await assert.rejects(
    client.ingest({ name: 'x' }, endless(), { signal: controller.signal }),
    (error) => (error as grpc.ServiceError).code === grpc.status.CANCELLED,
  );
  const deadline = Date.now() + 5000;
  while (!serverSawCancel && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(serverSawCancel, 'the server saw the cancellation');
});
