// Two tracker replicas behind one NATS: load sharing, a replica crash, a full restart, and a
// NATS server restart, all through the real interfaces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import { announceOverNats, scrapeOverNats, TRACKER_SERVICE_NAME } from '@shoal/bus';
import { type BDict, bdecode } from '@shoal/protocol';
import { startNatsServer, waitFor } from '@shoal/testkit';
import { announce, escapeHex, id, natsClient, startTracker } from './helpers.ts';

/** Announce requests each replica has served, by replica id, from service discovery. */
async function announcesByReplica(nc: NatsConnection): Promise<Map<string, number>> {
  const client = new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).client();
  const counts = new Map<string, number>();
  for await (const stats of await client.stats(TRACKER_SERVICE_NAME)) {
    const endpoint = stats.endpoints?.find((e) => e.name === 'announce');
    counts.set(stats.metadata?.replica ?? stats.id, endpoint?.num_requests ?? 0);
  }
  return counts;
}

async function httpScrape(url: string, infoHash: string): Promise<BDict> {
  const response = await fetch(`${url}/scrape?info_hash=${escapeHex(infoHash)}`);
  const files = (bdecode(new Uint8Array(await response.arrayBuffer())) as BDict).get(
    'files',
  ) as BDict;
  return files.get(Buffer.from(infoHash, 'hex').toString('latin1')) as BDict;
}

test('two replicas share announces, survive a crash and a full restart', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const [a, b] = await Promise.all([
    startTracker(nats.url, t, { replicaId: 'replica-a' }),
    startTracker(nats.url, t, { replicaId: 'replica-b' }),
  ]);
  const nc = await natsClient(nats.url, t);
  const swarm = id(1, 1);
  const peers = 100;
  for (let batch = 0; batch < peers; batch += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => announceOverNats(nc, announce(swarm, batch + i))),
    );
  }

  const counts = await announcesByReplica(nc);
  assert.deepEqual([...counts.keys()].sort(), ['replica-a', 'replica-b']);
  assert.ok(
    counts.get('replica-a')! > 0 && counts.get('replica-b')! > 0,
    JSON.stringify([...counts]),
  );
  assert.equal(counts.get('replica-a')! + counts.get('replica-b')!, peers);

  // Both replicas answer from the same state, whichever wrote it.
  for (const replica of [a, b]) {
    await waitFor(async () => (await httpScrape(replica.url, swarm)).get('incomplete') === peers, {
      timeoutMs: 5000,
      description: `${replica.replicaId} to see all ${peers} peers`,
    });
  }

  await a.kill();
  const afterCrash = await announceOverNats(nc, announce(swarm, 1000, { numWant: 200 }));
  assert.equal(afterCrash.incomplete, peers + 1);
  assert.equal(afterCrash.peers.length, peers);
  assert.ok(!afterCrash.peers.some((p) => p.peerId === id(1000, 0xbeef)));

  await b.stop();
  const [a2, b2] = await Promise.all([
    startTracker(nats.url, t, { replicaId: 'replica-a2' }),
    startTracker(nats.url, t, { replicaId: 'replica-b2' }),
  ]);
  const scraped = await scrapeOverNats(nc, { infoHashes: [swarm] });
  assert.deepEqual(scraped.swarms, [
    { infoHash: swarm, complete: 0, incomplete: peers + 1, downloaded: 0 },
  ]);
  for (const replica of [a2, b2]) {
    assert.equal((await httpScrape(replica.url, swarm)).get('incomplete'), peers + 1);
  }
  const afterRestart = await announceOverNats(nc, announce(swarm, 2000, { numWant: 200, left: 0 }));
  assert.equal(afterRestart.peers.length, peers + 1);
  assert.equal(afterRestart.complete, 1);
});

test('replicas recover after the NATS server restarts', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const tracker = await startTracker(nats.url, t);
  const nc = await natsClient(nats.url, t);
  const swarm = id(2, 1);
  await announceOverNats(nc, announce(swarm, 1));

  await nats.restart({ hard: true });
  // Announces during the outage may time out; once NATS is back the replica serves again.
  const reply = await waitFor(() => announceOverNats(nc, announce(swarm, 2), { timeoutMs: 500 }), {
    timeoutMs: 15_000,
    intervalMs: 100,
    description: 'an announce after the NATS restart',
  });
  assert.equal(reply.incomplete, 2);
  assert.deepEqual(
    reply.peers.map((p) => p.peerId),
    [id(1, 0xbeef)],
  );
  // Writes after the restart reach the replica's cache through the restarted watch.
  await announceOverNats(nc, announce(swarm, 3));
  await waitFor(async () => (await httpScrape(tracker.url, swarm)).get('incomplete') === 3, {
    timeoutMs: 5000,
    description: 'the replica to see the post-restart peer',
  });
});
