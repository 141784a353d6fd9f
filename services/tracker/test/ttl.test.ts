// Peers that stop announcing age out of the KV bucket and out of every answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import { announceOverNats, scrapeOverNats } from '@shoal/bus';
import { startNatsServer, waitFor } from '@shoal/testkit';
import { announce, id, natsClient, startTracker } from './helpers.ts';

test('a silent peer expires after the TTL; an announcing one stays', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  await startTracker(nats.url, t, {
    env: { SHOAL_ANNOUNCE_INTERVAL_S: '1', SHOAL_PEER_TTL_S: '2' },
  });
  const nc = await natsClient(nats.url, t);
  const swarm = id(1, 3);
  const first = await announceOverNats(nc, announce(swarm, 1));
  assert.equal(first.interval, 1);
  const started = Date.now();
  const kv = await new Kvm(nc).open('shoal-tracker-peers');
  assert.notEqual(await kv.get(`${swarm}.${id(1, 0xbeef)}`), null);

  // Peer 2 keeps announcing every interval while peer 1 stays silent.
  let reply = await announceOverNats(nc, announce(swarm, 2));
  assert.deepEqual(
    reply.peers.map((p) => p.peerId),
    [id(1, 0xbeef)],
  );
  reply = await waitFor(
    async () => {
      const r = await announceOverNats(nc, announce(swarm, 2));
      return r.peers.length === 0 ? r : undefined;
    },
    { timeoutMs: 6000, intervalMs: 1000, description: 'peer 1 to expire' },
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1900, `expired after ${elapsed} ms, before the 2 s TTL`);
  assert.equal(reply.incomplete, 1);
  assert.equal(await kv.get(`${swarm}.${id(1, 0xbeef)}`), null);
  assert.notEqual(await kv.get(`${swarm}.${id(2, 0xbeef)}`), null);
  const scrape = await scrapeOverNats(nc, { infoHashes: [swarm] });
  assert.equal(scrape.swarms[0]?.incomplete, 1);
});
