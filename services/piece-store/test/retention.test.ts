// The byte budget with least-recently-used eviction, on two real replicas with R=1: the full
// replica evicts its least recently used surplus copies (the owner confirmed it holds them),
// never a copy it owns, and refuses an ingest once only owned copies are left.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { choosePieceLength, createTorrent } from '@shoal/protocol';
import { startNatsServer } from '@shoal/testkit';
import { rendezvousOwners } from '../src/placement.ts';
import { eventually, randomContent, type StoreProcess, startStore } from './helpers.ts';

const SIZE = 400_000;

/** The infohash the piece-store gives `content` named `name` (the info dict is deterministic). */
function infoHashOf(name: string, content: Uint8Array): string {
  const pieceLength = choosePieceLength(content.length);
  const pieces = new Uint8Array(Math.ceil(content.length / pieceLength) * 20);
  for (let i = 0; i * pieceLength < content.length; i++) {
    const piece = content.subarray(i * pieceLength, (i + 1) * pieceLength);
    pieces.set(createHash('sha1').update(piece).digest(), i * 20);
  }
  const sha256 = new Uint8Array(createHash('sha256').update(content).digest());
  return createTorrent({ name, length: content.length, pieceLength, pieces, sha256 }).infoHashHex;
}

/** Random content whose single owner (R=1) among `ids` is `owner`. */
function contentOwnedBy(owner: string, ids: string[], name: string): Uint8Array {
  for (let attempt = 0; attempt < 200; attempt++) {
    const content = randomContent(SIZE);
    if (rendezvousOwners(infoHashOf(name, content), ids, 1)[0] === owner) return content;
  }
  throw new Error('no content found for the owner in 200 attempts');
}

async function listed(store: StoreProcess): Promise<string[]> {
  return (await store.client.list()).map((a) => a.name).sort();
}

test('a full replica evicts least recently used surplus copies, never below R', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const ids = ['ps-a', 'ps-b'];
  const [a, b] = (await Promise.all([
    startStore(t, {
      natsUrl: nats.url,
      name: 'piece-store-a',
      env: {
        SHOAL_PIECE_STORE_REPLICA_ID: 'ps-a',
        SHOAL_PIECE_STORE_REPLICAS: '1',
        SHOAL_PIECE_STORE_MAX_BYTES: String(2 * SIZE + SIZE / 2),
      },
    }),
    startStore(t, {
      natsUrl: nats.url,
      name: 'piece-store-b',
      env: { SHOAL_PIECE_STORE_REPLICA_ID: 'ps-b', SHOAL_PIECE_STORE_REPLICAS: '1' },
    }),
  ])) as [StoreProcess, StoreProcess];
  await eventually(async () => {
    const text = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
    return /shoal_piece_store_live_replicas\{[^}]*\} 2/.test(text);
  }, 'ps-a to see ps-b');

  const ingestOnA = async (name: string, content: Uint8Array) => {
    const artifact = await a.client.ingest({ name }, [content]);
    assert.equal(artifact.infoHash, infoHashOf(name, content), 'the test predicts the infohash');
  };
  const onB = (name: string) =>
    eventually(async () => (await listed(b)).includes(name), `${name} on ps-b`);

  // Three artifacts owned by ps-b, ingested on ps-a: ps-a keeps surplus copies.
  await ingestOnA('b1', contentOwnedBy('ps-b', ids, 'b1'));
  await onB('b1');
  await ingestOnA('b2', contentOwnedBy('ps-b', ids, 'b2'));
  await onB('b2');
  assert.deepEqual(await listed(a), ['b1', 'b2']);
  // b1 is used again, so b2 becomes the least recently used.
  await a.client.stat((await a.client.list()).find((x) => x.name === 'b1')!.infoHash);

  await ingestOnA('b3', contentOwnedBy('ps-b', ids, 'b3'));
  assert.deepEqual(await listed(a), ['b1', 'b3'], 'b2, least recently used, was evicted');
  await onB('b3');

  // Artifacts ps-a owns push out the remaining surplus copies, then fill the budget.
  await ingestOnA('a1', contentOwnedBy('ps-a', ids, 'a1'));
  assert.deepEqual(await listed(a), ['a1', 'b3']);
  await ingestOnA('a2', contentOwnedBy('ps-a', ids, 'a2'));
  assert.deepEqual(await listed(a), ['a1', 'a2']);
  await assert.rejects(
    a.client.ingest({ name: 'a3' }, [contentOwnedBy('ps-a', ids, 'a3')]),
    (error) => (error as { code?: number }).code === status.RESOURCE_EXHAUSTED,
  );
  assert.deepEqual(await listed(a), ['a1', 'a2'], 'owned copies are never evicted');
  assert.deepEqual(await listed(b), ['b1', 'b2', 'b3'], 'the owner kept every copy');
  const metrics = await (await fetch(`http://127.0.0.1:${a.httpPort}/metrics`)).text();
  assert.match(metrics, /shoal_piece_store_evictions_total\{[^}]*\} 3/);
});
