// Hostile and broken requests get a clear error and change nothing; floods are rate limited;
// a bad configuration stops the process at start with every problem listed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Kvm } from '@nats-io/kv';
import {
  announceOverNats,
  BusError,
  BusErrorCode,
  createSubjects,
  ErrorReply,
  SERVICE_ERROR_CODE_HEADER,
  scrapeOverNats,
} from '@shoal/bus';
import { type BDict, bdecode } from '@shoal/protocol';
import { startNatsServer, startProcess, TestkitError } from '@shoal/testkit';
import { announce, escapeHex, id, MAIN, natsClient, startTracker } from './helpers.ts';

const encoder = new TextEncoder();

async function failureReason(url: string): Promise<string | undefined> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  const body = bdecode(new Uint8Array(await response.arrayBuffer())) as BDict;
  const reason = body.get('failure reason');
  return reason instanceof Uint8Array ? new TextDecoder().decode(reason) : undefined;
}

test('bad requests are refused with a reason and leave no trace', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const tracker = await startTracker(nats.url, t);
  const nc = await natsClient(nats.url, t);
  const swarm = id(0xabcdef, 4);
  const subjects = createSubjects();
  const good = announce(swarm, 1);

  await t.test('NATS: every bad field is a 400 naming the field', async () => {
    const cases: [string, string, RegExp][] = [
      [
        '39-char infohash',
        JSON.stringify({ ...good, infoHash: swarm.slice(1) }),
        /infoHash: must be 40 lowercase hex/,
      ],
      [
        'upper-case infohash',
        JSON.stringify({ ...good, infoHash: swarm.toUpperCase() }),
        /infoHash/,
      ],
      [
        'short peer id',
        JSON.stringify({ ...good, peerId: 'abcd' }),
        /peerId: must be 40 lowercase hex/,
      ],
      ['port 0', JSON.stringify({ ...good, port: 0 }), /port: /],
      ['port 65536', JSON.stringify({ ...good, port: 65536 }), /port: /],
      ['huge numWant', JSON.stringify({ ...good, numWant: 10 ** 9 }), /numWant: /],
      ['unknown event', JSON.stringify({ ...good, event: 'exploded' }), /event: /],
      [
        'not an address',
        JSON.stringify({ ...good, ip: 'example.com' }),
        /ip: must be an IPv4 or IPv6 address/,
      ],
      [
        'unspecified address',
        JSON.stringify({ ...good, ip: '0.0.0.0' }),
        /not a reachable unicast address/,
      ],
      ['negative left', JSON.stringify({ ...good, left: -1 }), /left: /],
      ['bad label', JSON.stringify({ ...good, labels: { rack: 'a b' } }), /labels.rack: /],
      ['not JSON', '{"infoHash":', /not UTF-8 JSON/],
      ['an array', '[]', /message: /],
      [
        'oversized',
        JSON.stringify({ ...good, padding: 'x'.repeat(9000) }),
        /over the 8192-byte limit/,
      ],
    ];
    for (const [name, body, message] of cases) {
      const reply = await nc.request(subjects.trackerAnnounce, encoder.encode(body), {
        timeout: 2000,
      });
      assert.equal(reply.headers?.get(SERVICE_ERROR_CODE_HEADER), '400', name);
      const error = ErrorReply.parse(JSON.parse(new TextDecoder().decode(reply.data)));
      assert.equal(error.error.code, 'bad_request', name);
      assert.match(error.error.message, message, name);
    }
    const scrape = await nc.request(subjects.trackerScrape, encoder.encode('{"infoHashes":[]}'));
    assert.equal(scrape.headers?.get(SERVICE_ERROR_CODE_HEADER), '400');
  });

  await t.test(
    'the client helper refuses to send a bad request and surfaces error replies',
    async () => {
      await assert.rejects(
        announceOverNats(nc, { ...good, port: 70000 }),
        (error: unknown) => error instanceof BusError && error.code === BusErrorCode.InvalidMessage,
      );
      await assert.rejects(
        announceOverNats(nc, { ...good, ip: '224.0.0.1' }),
        (error: unknown) =>
          error instanceof BusError &&
          error.code === BusErrorCode.RemoteError &&
          error.status === 400 &&
          error.remoteCode === 'bad_request',
      );
    },
  );

  await t.test('HTTP: every bad parameter is a failure reason', async () => {
    const base = `info_hash=${escapeHex(swarm)}&peer_id=${escapeHex(id(1))}&port=6881&uploaded=0&downloaded=0&left=5`;
    const cases: [string, string, RegExp][] = [
      [
        'short info_hash',
        base.replace(/info_hash=[^&]+/, 'info_hash=%01%02'),
        /info_hash must be 20 bytes, got 2/,
      ],
      [
        'long peer_id',
        base.replace(/peer_id=[^&]+/, `peer_id=${'a'.repeat(40)}`),
        /peer_id must be 20 bytes, got 40/,
      ],
      ['no port', base.replace('&port=6881', ''), /missing port/],
      ['port 0', base.replace('port=6881', 'port=0'), /port must be from 1 to 65535/],
      [
        'port 99999',
        base.replace('port=6881', 'port=99999'),
        /port must be an integer from 0 to 65535/,
      ],
      ['huge numwant', `${base}&numwant=99999999999`, /numwant must be an integer from 0 to 1000/],
      ['unknown event', `${base}&event=exploded`, /unknown event/],
      ['too many parameters', `${base}${'&k=v'.repeat(300)}`, /more than \d+ parameters/],
      ['bad escape', `${base}&key=%g0`, /malformed percent-encoding/],
      ['empty scrape', '', /full scrapes are disabled/],
    ];
    for (const [name, query, message] of cases) {
      const path = name === 'empty scrape' ? '/scrape' : '/announce';
      assert.match(
        (await failureReason(`${tracker.url}${path}?${query}`)) ?? '(none)',
        message,
        name,
      );
    }
    assert.equal((await fetch(`${tracker.url}/announce?${'a'.repeat(9000)}`)).status, 414);
  });

  await t.test('nothing was stored', async () => {
    const scrape = await scrapeOverNats(nc, { infoHashes: [swarm] });
    assert.deepEqual(scrape.swarms[0], {
      infoHash: swarm,
      complete: 0,
      incomplete: 0,
      downloaded: 0,
    });
    const kv = await new Kvm(nc).open('shoal-tracker-peers');
    const keys: string[] = [];
    for await (const key of await kv.keys()) keys.push(key);
    assert.deepEqual(keys, []);
  });
});

test('per-source rate limits: token buckets per IP (HTTP) and per peer (NATS)', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const tracker = await startTracker(nats.url, t, {
    env: {
      SHOAL_TRACKER_HTTP_RATE_PER_IP: '1',
      SHOAL_TRACKER_HTTP_BURST_PER_IP: '3',
      SHOAL_TRACKER_NATS_RATE_PER_PEER: '1',
      SHOAL_TRACKER_NATS_BURST_PER_PEER: '2',
    },
  });
  const nc = await natsClient(nats.url, t);
  const swarm = id(2, 4);
  const url = `${tracker.url}/announce?info_hash=${escapeHex(swarm)}&peer_id=${escapeHex(id(9))}&port=6881&left=1`;
  const reasons = [];
  for (let i = 0; i < 4; i++) reasons.push(await failureReason(url));
  assert.deepEqual(reasons.slice(0, 3), [undefined, undefined, undefined]);
  assert.match(reasons[3] ?? '', /too many requests/);
  const limited = bdecode(new Uint8Array(await (await fetch(url)).arrayBuffer())) as BDict;
  assert.equal(limited.get('retry in'), 1);

  const natsSwarm = id(3, 4);
  await announceOverNats(nc, announce(natsSwarm, 1));
  await announceOverNats(nc, announce(natsSwarm, 1));
  await assert.rejects(
    announceOverNats(nc, announce(natsSwarm, 1)),
    (error: unknown) =>
      error instanceof BusError && error.status === 429 && error.remoteCode === 'rate_limited',
  );
  // Neither another peer nor the same peer in another swarm is held back by that flood.
  const other = await announceOverNats(nc, announce(natsSwarm, 2));
  assert.equal(other.incomplete, 2);
  const elsewhere = await announceOverNats(nc, announce(id(4, 4), 1));
  assert.equal(elsewhere.incomplete, 1);
});

test('a bad configuration stops the tracker at start with every problem listed', async () => {
  await assert.rejects(
    startProcess(process.execPath, ['--conditions=source', MAIN], {
      env: {
        SHOAL_NATS_URL: 'localhost:4222',
        SHOAL_ANNOUNCE_INTERVAL_S: '0',
        SHOAL_TRACKER_HANDOUT_POLICY: 'closest',
      },
      ready: /tracker ready/,
    }),
    (error: unknown) =>
      error instanceof TestkitError &&
      /code 2/.test(error.message) &&
      /3 problems/.test(error.message) &&
      /SHOAL_NATS_URL/.test(error.message) &&
      /SHOAL_ANNOUNCE_INTERVAL_S: must be at least 1 \(got "0"\)/.test(error.message) &&
      /SHOAL_TRACKER_HANDOUT_POLICY: must be one of locality, random/.test(error.message),
  );
});
