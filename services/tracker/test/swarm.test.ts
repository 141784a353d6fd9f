// Peer handout by locality, numwant, events, IPv6 peers, swarm stats and the health endpoints,
// through one real tracker process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  announceOverNats,
  createSubjects,
  decodeSwarmStats,
  type SwarmStats,
  scrapeOverNats,
} from '@shoal/bus';
import { type BDict, bdecode } from '@shoal/protocol';
import { startNatsServer, waitFor } from '@shoal/testkit';
import { localityTier } from '../src/handout.ts';
import { announce, escapeHex, id, natsClient, startTracker } from './helpers.ts';

test('handout, events, stats and health over real NATS and HTTP', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const tracker = await startTracker(nats.url, t, { env: { SHOAL_STATS_INTERVAL_S: '1' } });
  const nc = await natsClient(nats.url, t);

  await t.test('same rack first, then same zone, then others; never the requester', async () => {
    const swarm = id(1, 2);
    const layout = [
      { zone: 'b', rack: 'r1' },
      { zone: 'a', rack: 'r2' },
      { zone: 'a', rack: 'r1' },
      undefined,
      { zone: 'a', rack: 'r3' },
      { zone: 'a', rack: 'r1' },
      { zone: 'c' },
      { zone: 'a', rack: 'r1' },
    ];
    await Promise.all(
      layout.map((labels, n) =>
        announceOverNats(
          nc,
          announce(swarm, n, { left: n % 2 === 0 ? 0 : 500, ...(labels && { labels }) }),
        ),
      ),
    );
    const requester = { zone: 'a', rack: 'r1', host: 'me' };
    const reply = await announceOverNats(nc, announce(swarm, 99, { labels: requester }));
    const tiers = reply.peers.map((p) => localityTier(requester, p.labels));
    assert.deepEqual(tiers, [0, 0, 0, 1, 1, 2, 2, 2]);
    assert.equal(reply.peers.filter((p) => p.peerId === id(99, 0xbeef)).length, 0);
    assert.equal(reply.complete, 4);
    assert.equal(reply.incomplete, 5);
    // Labels travel with the peers so a client can see why they were ordered so.
    assert.deepEqual(reply.peers[0]?.labels?.zone, 'a');
  });

  await t.test(
    'numwant: default 50, cap 200, 0 means none; seeders and leechers mixed',
    async () => {
      const swarm = id(2, 2);
      const total = 230;
      for (let batch = 0; batch < total; batch += 46) {
        await Promise.all(
          Array.from({ length: 46 }, (_, i) =>
            announceOverNats(nc, announce(swarm, batch + i, { left: batch + i < 180 ? 0 : 77 })),
          ),
        );
      }
      const wants: [number | undefined, number][] = [
        [undefined, 50],
        [1000, 200],
        [201, 200],
        [0, 0],
        [7, 7],
      ];
      for (const [numWant, expected] of wants) {
        const request = announce(swarm, 1000, numWant === undefined ? {} : { numWant });
        const reply = await announceOverNats(nc, request);
        assert.equal(reply.peers.length, expected, `numWant ${numWant}`);
      }
      const leecher = await announceOverNats(nc, announce(swarm, 1001, { numWant: 20 }));
      assert.equal(leecher.peers.filter((p) => p.seeder).length, 10);
      assert.equal(leecher.peers.filter((p) => !p.seeder).length, 10);
      // A seeder gets every leecher first (50 plus the two asking above), then seeders.
      const leechers = total - 180 + 2;
      const seeder = await announceOverNats(nc, announce(swarm, 1002, { left: 0, numWant: 200 }));
      assert.equal(seeder.peers.length, 200);
      assert.ok(seeder.peers.slice(0, leechers).every((p) => !p.seeder));
      assert.ok(seeder.peers.slice(leechers).every((p) => p.seeder));

      const query = `info_hash=${escapeHex(swarm)}&peer_id=${escapeHex(id(5000))}&port=7000&uploaded=0&downloaded=0&left=9&numwant=500&compact=1`;
      const body = bdecode(
        new Uint8Array(await (await fetch(`${tracker.url}/announce?${query}`)).arrayBuffer()),
      ) as BDict;
      assert.equal((body.get('peers') as Uint8Array).length, 200 * 6);
    },
  );

  await t.test('completed counts once; stopped removes the peer', async () => {
    const swarm = id(3, 2);
    await announceOverNats(nc, announce(swarm, 1, { event: 'started' }));
    await announceOverNats(nc, announce(swarm, 2, { event: 'started' }));
    await announceOverNats(nc, announce(swarm, 1, { event: 'completed', left: 0 }));
    await announceOverNats(nc, announce(swarm, 1, { event: 'completed', left: 0 }));
    let scrape = await scrapeOverNats(nc, { infoHashes: [swarm] });
    assert.deepEqual(scrape.swarms[0], {
      infoHash: swarm,
      complete: 1,
      incomplete: 1,
      downloaded: 1,
    });
    const stopped = await announceOverNats(nc, announce(swarm, 2, { event: 'stopped' }));
    assert.deepEqual(stopped.peers, []);
    scrape = await waitFor(
      async () => {
        const s = await scrapeOverNats(nc, { infoHashes: [swarm] });
        return s.swarms[0]?.incomplete === 0 ? s : undefined;
      },
      { timeoutMs: 5000, description: 'the stopped peer to disappear' },
    );
    assert.deepEqual(scrape.swarms[0], {
      infoHash: swarm,
      complete: 1,
      incomplete: 0,
      downloaded: 1,
    });
    const reply = await announceOverNats(nc, announce(swarm, 3));
    assert.deepEqual(
      reply.peers.map((p) => p.peerId),
      [id(1, 0xbeef)],
    );
    // A leecher that stops with nothing left finished its download without saying `completed`.
    await announceOverNats(nc, announce(swarm, 3, { event: 'stopped', left: 0 }));
    scrape = await scrapeOverNats(nc, { infoHashes: [swarm] });
    assert.equal(scrape.swarms[0]?.downloaded, 2);
  });

  await t.test(
    'IPv6 peers reach HTTP clients as BEP 7 peers6; non-compact lists both',
    async () => {
      const swarm = id(4, 2);
      await announceOverNats(nc, announce(swarm, 1, { ip: '2001:db8::5', port: 51413, left: 0 }));
      await announceOverNats(nc, announce(swarm, 2, { ip: '10.9.8.7', port: 6881, left: 0 }));
      const base = `info_hash=${escapeHex(swarm)}&peer_id=${escapeHex(id(7000))}&port=7000&uploaded=0&downloaded=0&left=9`;
      const compact = bdecode(
        new Uint8Array(await (await fetch(`${tracker.url}/announce?${base}`)).arrayBuffer()),
      ) as BDict;
      assert.deepEqual(compact.get('peers'), Uint8Array.from([10, 9, 8, 7, 0x1a, 0xe1]));
      assert.deepEqual(
        compact.get('peers6'),
        Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 5, 0xc8, 0xd5]),
      );
      const full = bdecode(
        new Uint8Array(
          await (await fetch(`${tracker.url}/announce?${base}&compact=0`)).arrayBuffer(),
        ),
      ) as BDict;
      const ips = (full.get('peers') as BDict[]).map((p) =>
        new TextDecoder().decode(p.get('ip') as Uint8Array),
      );
      assert.deepEqual(ips.sort(), ['10.9.8.7', '2001:db8::5']);
    },
  );

  await t.test('swarm stats are published on NATS with a demand figure', async () => {
    const swarm = id(5, 2);
    const received: SwarmStats[] = [];
    const sub = nc.subscribe(createSubjects().trackerStats(swarm), {
      callback: (_error, msg) => {
        received.push(decodeSwarmStats(msg.data));
      },
    });
    t.after(() => sub.unsubscribe());
    await announceOverNats(nc, announce(swarm, 1, { left: 0 }));
    await announceOverNats(nc, announce(swarm, 2, { left: 100 }));
    await announceOverNats(nc, announce(swarm, 3, { left: 300 }));
    await announceOverNats(nc, announce(swarm, 4, { left: 600, event: 'completed' }));
    const stats = await waitFor(() => received.find((s) => s.leechers === 3), {
      timeoutMs: 5000,
      description: 'a stats message counting all peers',
    });
    assert.equal(stats.infoHash, swarm);
    assert.equal(stats.seeders, 1);
    assert.equal(stats.completions, 1);
    assert.equal(stats.bytesLeft, 1000);
    assert.equal(stats.demand, 3);
  });

  await t.test('/healthz, /readyz, /metrics, and no other routes', async () => {
    assert.equal(await (await fetch(`${tracker.url}/healthz`)).text(), 'ok\n');
    const ready = await fetch(`${tracker.url}/readyz`);
    assert.equal(ready.status, 200);
    const checks = (await ready.json()) as {
      ready: boolean;
      checks: Record<string, { ok: boolean }>;
    };
    assert.deepEqual(Object.keys(checks.checks).sort(), ['kv', 'nats', 'state']);
    const metrics = await (await fetch(`${tracker.url}/metrics`)).text();
    assert.match(
      metrics,
      /shoal_tracker_requests_total\{transport="nats",kind="announce",outcome="ok",replica="[^"]+"\} \d+/,
    );
    assert.match(metrics, /shoal_tracker_stats_leader\{replica="[^"]+"\} 1/);
    assert.match(metrics, /shoal_tracker_process_cpu_seconds_total/);
    assert.equal((await fetch(`${tracker.url}/nope`)).status, 404);
    assert.equal((await fetch(`${tracker.url}/announce`, { method: 'POST' })).status, 405);
  });
});
