// The pure parts: peer handout policies, BEP 3/23/7/48 query parsing and replies, addresses,
// rate limiting, the swarm cache, configuration.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AnnounceRequest,
  AnnounceResponse,
  BusError,
  bytesToHex,
  decodeMessage,
  MAX_NUMWANT_ACCEPTED,
  MAX_TRACKER_REQUEST_BYTES,
  type PeerLabels,
} from '@shoal/bus';
import { type BDict, type BValue, bdecode, bencode } from '@shoal/protocol';
import fc from 'fast-check';
import { loadTrackerConfig } from '../src/config.ts';
import { TrackerError } from '../src/errors.ts';
import {
  localityHandout,
  localityTier,
  type PeerCandidate,
  randomHandout,
  type Scope,
  viewOf,
} from '../src/handout.ts';
import {
  compactPeer,
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  parseAnnounceQuery,
  parseRawQuery,
  parseScrapeQuery,
  percentDecode,
} from '../src/http-codec.ts';
import { canonicalPeerIp, ipv6Bytes } from '../src/ip.ts';
import { RateLimiter } from '../src/rate-limit.ts';
import { type PeerRecord, SwarmCache } from '../src/swarm-cache.ts';
import {
  type AnnounceResult,
  announceResultJson,
  refreshAfterMs,
  type SwarmWriter,
  Tracker,
} from '../src/tracker.ts';
import { decodeAnnounce, quickAnnounce, StoredPeer, storedPeer } from '../src/validate.ts';
import { escapeBytes } from './helpers.ts';

const hex = (n: number) => n.toString(16).padStart(40, '0');

function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function peer(n: number, left: number, labels?: PeerLabels): PeerCandidate {
  return { peerId: hex(n), ip: `10.0.${n >> 8}.${n & 255}`, port: 6881, left, labels };
}

describe('locality handout', () => {
  const requester = { ...peer(0, 100), labels: { zone: 'a', rack: 'r1', host: 'h0' } };

  test('tiers: same rack, then same zone, then elsewhere', () => {
    assert.equal(localityTier({ zone: 'a', rack: 'r1' }, { zone: 'a', rack: 'r1' }), 0);
    assert.equal(localityTier({ zone: 'a', rack: 'r1' }, { zone: 'a', rack: 'r2' }), 1);
    // The same rack name in another zone is another rack.
    assert.equal(localityTier({ zone: 'a', rack: 'r1' }, { zone: 'b', rack: 'r1' }), 2);
    assert.equal(localityTier({ zone: 'a' }, undefined), 2);
    assert.equal(localityTier(undefined, undefined), 2);
  });

  test('orders by rack, zone, other and never returns the requester', () => {
    const candidates = [
      requester,
      peer(1, 0, { zone: 'b', rack: 'r1' }),
      peer(2, 50, { zone: 'a', rack: 'r2' }),
      peer(3, 0, { zone: 'a', rack: 'r1' }),
      peer(4, 10),
      peer(5, 70, { zone: 'a', rack: 'r1' }),
      peer(6, 0, { zone: 'a', rack: 'r3' }),
    ];
    const chosen = localityHandout(requester, viewOf(candidates), 50, seededRandom(1));
    const tiers = chosen.map((c) => localityTier(requester.labels, c.labels));
    assert.deepEqual(tiers, [0, 0, 1, 1, 2, 2]);
    assert.ok(!chosen.some((c) => c.peerId === requester.peerId));
    // Within a tier the seeder comes first, then a leecher.
    assert.deepEqual(
      chosen.slice(0, 2).map((c) => c.left === 0),
      [true, false],
    );
  });

  test('a leecher gets seeders and leechers mixed, not only seeders', () => {
    const candidates = Array.from({ length: 200 }, (_, i) => peer(i + 1, i < 150 ? 0 : 5));
    const chosen = localityHandout(requester, viewOf(candidates), 20, seededRandom(2));
    assert.equal(chosen.length, 20);
    assert.equal(chosen.filter((c) => c.left === 0).length, 10);
    assert.equal(chosen.filter((c) => c.left > 0).length, 10);
  });

  test('a seeder gets leechers first, then seeders only if room is left', () => {
    const seeder = { ...requester, left: 0 };
    const candidates = [peer(1, 0), peer(2, 5), peer(3, 0), peer(4, 7)];
    const two = localityHandout(seeder, viewOf(candidates), 2, seededRandom(3));
    assert.deepEqual(two.map((c) => c.peerId).sort(), [hex(2), hex(4)]);
    const all = localityHandout(seeder, viewOf(candidates), 50, seededRandom(3));
    assert.deepEqual(
      all.slice(0, 2).map((c) => c.left > 0),
      [true, true],
    );
    assert.deepEqual(all.map((c) => c.peerId).sort(), [hex(1), hex(2), hex(3), hex(4)]);
  });

  test('a peer at the requester’s own address and port is the requester', () => {
    const twin = { ...peer(9, 5), ip: requester.ip, port: requester.port };
    assert.deepEqual(localityHandout(requester, viewOf([twin]), 10, Math.random), []);
  });

  test('property: at most numWant distinct peers, never the requester, tiers never go back', () => {
    const labels = fc.option(
      fc.record({ zone: fc.constantFrom('a', 'b'), rack: fc.constantFrom('r1', 'r2') }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), labels), { maxLength: 80 }),
        fc.nat(100),
        fc.integer(),
        (specs, numWant, seed) => {
          const candidates = specs.map(([left, l], i) => peer(i + 1, left, l));
          candidates.push(requester);
          const chosen = localityHandout(
            requester,
            viewOf(candidates),
            numWant,
            seededRandom(seed),
          );
          assert.ok(chosen.length <= numWant);
          assert.equal(new Set(chosen.map((c) => c.peerId)).size, chosen.length);
          assert.ok(!chosen.includes(requester));
          const tiers = chosen.map((c) => localityTier(requester.labels, c.labels));
          for (let i = 1; i < tiers.length; i++) assert.ok(tiers[i]! >= tiers[i - 1]!);
          // Everyone eligible is handed out when there is room.
          if (numWant >= candidates.length) assert.equal(chosen.length, candidates.length - 1);
        },
      ),
    );
  });

  test('large swarms are sampled, not scanned, with the same guarantees', () => {
    // One seeder (the origin) among 5000 leechers spread over 3 zones and 30 racks.
    const candidates = [peer(1, 0, { zone: 'a', rack: 'r9' })];
    for (let n = 2; n <= 5001; n++) {
      candidates.push(peer(n, 100, { zone: ['a', 'b', 'c'][n % 3]!, rack: `r${n % 10}` }));
    }
    const random = seededRandom(5);
    for (let round = 0; round < 20; round++) {
      const chosen = localityHandout(requester, viewOf(candidates), 50, random);
      assert.equal(chosen.length, 50);
      assert.equal(new Set(chosen).size, 50);
      const tiers = chosen.map((c) => localityTier(requester.labels, c.labels));
      // 5001 / 30 racks: about 166 in the requester's rack, more than enough for 50.
      assert.ok(tiers.every((tier) => tier === 0));
    }
    // The only seeder is in the zone but not the rack: it comes first in the zone tier.
    const far = { ...requester, labels: { zone: 'a', rack: 'elsewhere' } };
    const chosen = localityHandout(far, viewOf(candidates), 10, random);
    assert.equal(chosen[0]?.peerId, hex(1));
    assert.ok(chosen.slice(1).every((c) => c.left > 0 && c.labels?.zone === 'a'));
  });

  test('random handout picks uniformly-ish and excludes the requester', () => {
    const candidates = [requester, ...Array.from({ length: 10 }, (_, i) => peer(i + 1, 5))];
    const counts = new Map<string, number>();
    const random = seededRandom(4);
    for (let round = 0; round < 2000; round++) {
      for (const c of randomHandout(requester, viewOf(candidates), 3, random)) {
        counts.set(c.peerId, (counts.get(c.peerId) ?? 0) + 1);
      }
    }
    assert.equal(counts.has(requester.peerId), false);
    assert.equal(counts.size, 10);
    for (const count of counts.values()) assert.ok(count > 450 && count < 750, `count ${count}`);
  });
});

describe('HTTP announce parsing', () => {
  const infoHash = Uint8Array.from({ length: 20 }, (_, i) => (i * 37 + 200) & 255);
  const peerId = new TextEncoder().encode('-TR3000-abcdefghijkl');
  const base = `info_hash=${escapeBytes(infoHash)}&peer_id=${escapeBytes(peerId)}&port=51413&uploaded=1&downloaded=2&left=3`;

  test('decodes binary ids byte for byte (URLSearchParams would not)', () => {
    const parsed = parseAnnounceQuery(
      parseRawQuery(`${base}&event=started&numwant=80&compact=1`),
      '10.1.2.3',
    );
    assert.deepEqual(parsed.request, {
      infoHash: bytesToHex(infoHash),
      peerId: bytesToHex(peerId),
      ip: '10.1.2.3',
      port: 51413,
      uploaded: 1,
      downloaded: 2,
      left: 3,
      numWant: 80,
      event: 'started',
    });
    assert.equal(parsed.compact, true);
    const mangled = new URLSearchParams(base).get('info_hash')!;
    assert.notEqual(new TextEncoder().encode(mangled).length, 20);
  });

  test('unescaped id characters and literal + are kept as bytes', () => {
    const params = parseRawQuery('info_hash=abcdefghij%2B%2b+-._~12345&x');
    assert.deepEqual(
      new TextDecoder().decode(params.get('info_hash')![0]),
      'abcdefghij+++-._~12345',
    );
    assert.deepEqual(params.get('x'), [new Uint8Array()]);
  });

  test('defaults: compact, 50 peers; paused is a regular announce; no_peer_id', () => {
    const parsed = parseAnnounceQuery(
      parseRawQuery(`${base}&event=paused&no_peer_id=1&compact=0`),
      '::1',
    );
    assert.equal(parsed.request.event, undefined);
    assert.equal(parsed.request.numWant, 50);
    assert.equal(parsed.compact, false);
    assert.equal(parsed.noPeerId, true);
    assert.equal(parseAnnounceQuery(parseRawQuery(base), '1.2.3.4').compact, true);
  });

  const bad: [string, string, RegExp][] = [
    [
      'short info_hash',
      base.replace(/info_hash=[^&]+/, 'info_hash=abc'),
      /info_hash must be 20 bytes, got 3/,
    ],
    [
      'long peer_id',
      base.replace(/peer_id=[^&]+/, `peer_id=${'x'.repeat(21)}`),
      /peer_id must be 20 bytes, got 21/,
    ],
    ['missing peer_id', base.replace(/&peer_id=[^&]+/, ''), /missing peer_id/],
    ['port 0', base.replace('port=51413', 'port=0'), /port must be from 1 to 65535/],
    [
      'port 65536',
      base.replace('port=51413', 'port=65536'),
      /port must be an integer from 0 to 65535/,
    ],
    ['negative left', base.replace('left=3', 'left=-3'), /left must be an integer/],
    [
      'huge numwant',
      `${base}&numwant=${MAX_NUMWANT_ACCEPTED + 1}`,
      /numwant must be an integer from 0 to 1000/,
    ],
    ['400-digit numwant', `${base}&numwant=${'9'.repeat(400)}`, /numwant must be an integer/],
    ['unknown event', `${base}&event=exploded`, /unknown event "exploded"/],
    [
      'two info_hash',
      `${base}&info_hash=${escapeBytes(infoHash)}`,
      /info_hash is given more than once/,
    ],
    ['bad escape', `${base}&key=%zz`, /malformed percent-encoding/],
  ];
  for (const [name, query, message] of bad) {
    test(`refuses ${name}`, () => {
      assert.throws(
        () => parseAnnounceQuery(parseRawQuery(query), '10.0.0.1'),
        (error: unknown) =>
          error instanceof TrackerError &&
          error.code === 'bad_request' &&
          message.test(error.message),
      );
    });
  }

  test('percentDecode rejects raw spaces and non-ASCII', () => {
    assert.throws(() => percentDecode('a b'), TrackerError);
    assert.throws(() => percentDecode('é'), TrackerError);
    assert.deepEqual(percentDecode('%00%ff'), Uint8Array.from([0, 255]));
  });

  test('scrape: repeated info_hash, deduplicated, bounded', () => {
    const one = escapeBytes(infoHash);
    assert.deepEqual(parseScrapeQuery(parseRawQuery(`info_hash=${one}&info_hash=${one}`)), [
      bytesToHex(infoHash),
    ]);
    assert.throws(() => parseScrapeQuery(parseRawQuery('')), /full scrapes are disabled/);
    const many = Array.from({ length: 101 }, () => `info_hash=${one}`).join('&');
    assert.throws(() => parseScrapeQuery(parseRawQuery(many)), /at most 100 info_hash/);
  });
});

describe('bencoded replies', () => {
  const reply: AnnounceResponse = {
    interval: 60,
    minInterval: 15,
    complete: 2,
    incomplete: 1,
    downloaded: 7,
    peers: [
      { peerId: hex(1), ip: '10.0.0.1', port: 6881, seeder: true },
      { peerId: hex(2), ip: '2001:db8::1', port: 51413, seeder: false },
      { peerId: hex(3), ip: '192.168.1.200', port: 65535, seeder: true },
    ],
  };

  test('BEP 23 compact peers and BEP 7 peers6', () => {
    const dict = bdecode(encodeAnnounceReply(reply, { compact: true, noPeerId: false })) as BDict;
    assert.equal(dict.get('interval'), 60);
    assert.equal(dict.get('min interval'), 15);
    assert.equal(dict.get('complete'), 2);
    assert.equal(dict.get('incomplete'), 1);
    assert.deepEqual(
      dict.get('peers'),
      Uint8Array.from([10, 0, 0, 1, 0x1a, 0xe1, 192, 168, 1, 200, 0xff, 0xff]),
    );
    assert.deepEqual(
      dict.get('peers6'),
      Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, ...new Array(11).fill(0), 1, 0xc8, 0xd5]),
    );
  });

  test('compact replies are byte for byte what bencode writes', () => {
    const compactOf = (peers: AnnounceResponse['peers']) =>
      new Map<string, BValue>([
        ['interval', 60],
        ['min interval', 15],
        ['complete', 2],
        ['incomplete', 1],
        ['downloaded', 7],
        [
          'peers',
          Buffer.concat(
            peers.filter((p) => !p.ip.includes(':')).map((p) => compactPeer(p.ip, p.port)),
          ),
        ],
        [
          'peers6',
          Buffer.concat(
            peers.filter((p) => p.ip.includes(':')).map((p) => compactPeer(p.ip, p.port)),
          ),
        ],
      ]);
    for (const peers of [reply.peers, [], reply.peers.slice(1, 2)]) {
      assert.deepEqual(
        Buffer.from(encodeAnnounceReply({ ...reply, peers }, { compact: true, noPeerId: false })),
        Buffer.from(bencode(compactOf(peers))),
      );
    }
  });

  test('non-compact peer dictionaries, with and without peer id', () => {
    const dict = bdecode(encodeAnnounceReply(reply, { compact: false, noPeerId: false })) as BDict;
    const peers = dict.get('peers') as BDict[];
    assert.equal(peers.length, 3);
    assert.equal(new TextDecoder().decode(peers[1]!.get('ip') as Uint8Array), '2001:db8::1');
    assert.equal(peers[1]!.get('port'), 51413);
    assert.equal(bytesToHex(peers[0]!.get('peer id') as Uint8Array), hex(1));
    const bare = bdecode(encodeAnnounceReply(reply, { compact: false, noPeerId: true })) as BDict;
    assert.equal((bare.get('peers') as BDict[])[0]!.has('peer id'), false);
  });

  test('BEP 48 scrape keyed by raw infohash; failure reason with retry in', () => {
    const files = (
      bdecode(
        encodeScrapeReply([
          { infoHash: 'ff'.repeat(20), complete: 1, incomplete: 2, downloaded: 3 },
        ]),
      ) as BDict
    ).get('files') as BDict;
    const entry = files.get('\xff'.repeat(20)) as BDict;
    assert.deepEqual([...entry.entries()], [
      ['complete', 1],
      ['downloaded', 3],
      ['incomplete', 2],
    ] as [string, BValue][]);
    const failure = bdecode(encodeFailure('slow down', 1)) as BDict;
    assert.equal(
      new TextDecoder().decode(failure.get('failure reason') as Uint8Array),
      'slow down',
    );
    assert.equal(failure.get('retry in'), 1);
  });
});

describe('addresses', () => {
  test('canonical peer addresses', () => {
    assert.equal(canonicalPeerIp('::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(canonicalPeerIp('::FFFF:7f00:1'), '127.0.0.1');
    assert.equal(canonicalPeerIp('2001:DB8::1'), '2001:db8::1');
    assert.equal(canonicalPeerIp('10.1.2.3'), '10.1.2.3');
    for (const bad of [
      '0.0.0.0',
      '224.0.0.1',
      '::',
      'ff02::1',
      'fe80::1%eth0',
      'host',
      '1.2.3.256',
      '',
    ]) {
      assert.equal(canonicalPeerIp(bad), undefined, bad);
    }
  });

  test('ipv6Bytes expands :: and dotted tails', () => {
    assert.deepEqual([...ipv6Bytes('::1')], [...new Array(15).fill(0), 1]);
    assert.deepEqual([...ipv6Bytes('1::')], [0, 1, ...new Array(14).fill(0)]);
    assert.deepEqual(
      [...ipv6Bytes('::ffff:1.2.3.4')],
      [...new Array(10).fill(0), 255, 255, 1, 2, 3, 4],
    );
    assert.deepEqual(
      [...ipv6Bytes('1:2:3:4:5:6:7:8')],
      [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8],
    );
  });
});

describe('rate limiter', () => {
  test('token bucket per key, refilled over time', () => {
    let now = 0;
    const limiter = new RateLimiter({ ratePerSecond: 2, burst: 3, now: () => now });
    assert.deepEqual(
      [1, 2, 3, 4].map(() => limiter.take('a')),
      [true, true, true, false],
    );
    assert.equal(limiter.take('b'), true);
    now = 500;
    assert.deepEqual([limiter.take('a'), limiter.take('a')], [true, false]);
  });

  test('0 turns it off; the key table stays bounded', () => {
    const off = new RateLimiter({ ratePerSecond: 0, burst: 1 });
    assert.ok(Array.from({ length: 100 }, () => off.take('x')).every(Boolean));
    const limiter = new RateLimiter({ ratePerSecond: 1, burst: 1, maxKeys: 10, now: () => 0 });
    for (let i = 0; i < 100; i++) limiter.take(`k${i}`);
    assert.ok(limiter.size <= 10);
  });
});

describe('swarm cache', () => {
  const record = (left: number) => ({ ip: '10.0.0.1', port: 1, left, uploaded: 0, downloaded: 0 });

  test('newer revisions win whatever the arrival order; records expire by age', () => {
    let now = 1000;
    const cache = new SwarmCache({ ttlMs: 100, now: () => now });
    const ih = hex(1);
    cache.putPeer(ih, hex(2), record(5), 10, now);
    cache.putPeer(ih, hex(2), record(9), 9, now); // older write arriving late
    assert.equal(cache.peer(ih, hex(2))?.left, 5);
    cache.deletePeer(ih, hex(2), 8); // an older delete does not remove a newer record
    assert.equal(cache.summary(ih).leechers, 1);
    cache.putPeer(ih, hex(3), record(0), 11, now);
    assert.deepEqual(cache.summary(ih), { seeders: 1, leechers: 1, completions: 0, bytesLeft: 5 });
    cache.deletePeer(ih, hex(2), 12);
    assert.equal(cache.peer(ih, hex(2)), undefined);
    now += 100;
    assert.deepEqual(cache.snapshot(ih).view.list(false, { kind: 'all' }), []);
    assert.deepEqual([...cache.activeSwarms()], []);
    cache.sweep();
    assert.equal(cache.peerCount, 0);
    assert.equal(cache.swarmCount, 0);
  });

  test('property: the index lists always match the live peers', () => {
    const labels = fc.option(
      fc.record(
        { zone: fc.constantFrom('a', 'b'), rack: fc.constantFrom('r1', 'r2') },
        { requiredKeys: [] },
      ),
      { nil: undefined },
    );
    const op = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), peer: fc.nat(15), left: fc.nat(2), labels }),
      fc.record({ kind: fc.constant('delete' as const), peer: fc.nat(15) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.nat(60) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        let now = 0;
        let revision = 0;
        const cache = new SwarmCache({ ttlMs: 100, now: () => now });
        const model = new Map<number, { peer: PeerCandidate; at: number }>();
        for (const o of ops) {
          if (o.kind === 'tick') now += o.ms;
          else if (o.kind === 'put') {
            const p = { ...peer(o.peer, o.left, o.labels), ip: '10.0.0.1', port: 1 };
            cache.putPeer(hex(7), p.peerId, { ...p, uploaded: 0, downloaded: 0 }, ++revision, now);
            model.set(o.peer, { peer: p, at: now });
          } else {
            cache.deletePeer(hex(7), hex(o.peer), ++revision);
            model.delete(o.peer);
          }
          const live = [...model.values()].filter((m) => now - m.at < 100).map((m) => m.peer);
          const snapshot = cache.snapshot(hex(7));
          const expected = viewOf(live);
          const scopes: Scope[] = [
            { kind: 'all' },
            { kind: 'zone', zone: 'a' },
            { kind: 'zone', zone: 'b' },
            { kind: 'rack', zone: 'a', rack: 'r1' },
            { kind: 'rack', zone: undefined, rack: 'r2' },
          ];
          for (const scope of scopes) {
            for (const seeders of [true, false]) {
              const ids = (list: readonly PeerCandidate[]) => list.map((p) => p.peerId).sort();
              assert.deepEqual(
                ids(snapshot.view.list(seeders, scope)),
                ids(expected.list(seeders, scope)),
              );
            }
          }
          assert.equal(snapshot.seeders, live.filter((p) => p.left === 0).length);
          assert.equal(snapshot.leechers, live.filter((p) => p.left > 0).length);
          assert.equal(
            snapshot.bytesLeft,
            live.reduce((sum, p) => sum + p.left, 0),
          );
        }
      }),
    );
  });

  test('NATS replies assembled from cached fragments are valid AnnounceResponse JSON', () => {
    const cache = new SwarmCache({ ttlMs: 1000 });
    const ih = hex(9);
    cache.putPeer(
      ih,
      hex(1),
      { ...record(0), ip: '2001:db8::7', labels: { zone: 'a', rack: 'r1' } },
      1,
      Date.now(),
    );
    cache.putPeer(ih, hex(2), record(40), 2, Date.now());
    const snapshot = cache.snapshot(ih);
    const peers = localityHandout(
      { ...peer(3, 5), labels: { zone: 'a' } },
      snapshot.view,
      50,
      seededRandom(6),
    );
    const json = announceResultJson({
      interval: 60,
      minInterval: 15,
      complete: 1,
      incomplete: 1,
      downloaded: 0,
      peers,
    });
    assert.deepEqual(AnnounceResponse.parse(JSON.parse(json)), {
      interval: 60,
      minInterval: 15,
      complete: 1,
      incomplete: 1,
      downloaded: 0,
      peers: [
        {
          peerId: hex(1),
          ip: '2001:db8::7',
          port: 1,
          seeder: true,
          labels: { zone: 'a', rack: 'r1' },
        },
        { peerId: hex(2), ip: '10.0.0.1', port: 1, seeder: false },
      ],
    });
    assert.equal(
      announceResultJson({
        interval: 1,
        minInterval: 1,
        complete: 0,
        incomplete: 0,
        downloaded: 0,
        peers: [],
      }),
      '{"interval":1,"minInterval":1,"complete":0,"incomplete":0,"downloaded":0,"peers":[]}',
    );
  });

  test('own writes: in at once, older watched changes ignored until the write comes back', () => {
    let now = 1000;
    const cache = new SwarmCache({ ttlMs: 100, now: () => now });
    const ih = hex(1);
    const encode = (r: PeerRecord) => new TextEncoder().encode(JSON.stringify(r));
    const decode = (v: Uint8Array) => JSON.parse(new TextDecoder().decode(v)) as PeerRecord;
    const created = () => now;
    const ours = record(5);
    const mine = cache.putOwn(ih, hex(2), ours, encode(ours), now);
    assert.equal(cache.peer(ih, hex(2))?.left, 5);
    assert.equal(mine.revision, 0);
    // Another replica's earlier write and delete arrive first: both precede ours in the stream.
    cache.watchedPut(ih, hex(2), 7, encode(record(9)), created, decode);
    cache.deletePeer(ih, hex(2), 8);
    assert.equal(cache.peer(ih, hex(2))?.left, 5);
    // Ours comes back: it only takes its revision (nothing is decoded).
    let decoded = 0;
    cache.watchedPut(ih, hex(2), 9, encode(ours), created, (v) => {
      decoded++;
      return decode(v);
    });
    assert.equal(decoded, 0);
    assert.equal(cache.peer(ih, hex(2)), mine);
    assert.equal(mine.revision, 9);
    assert.equal(mine.pending, undefined);
    // Later changes apply as usual.
    cache.watchedPut(ih, hex(2), 10, encode(record(3)), created, decode);
    assert.equal(cache.peer(ih, hex(2))?.left, 3);
    cache.deletePeer(ih, hex(2), 11);
    assert.equal(cache.peer(ih, hex(2)), undefined);

    // A write KV never took is dropped, unless it was replaced or confirmed since.
    const lost = cache.putOwn(ih, hex(3), ours, encode(ours), now);
    cache.dropOwn(ih, lost);
    assert.equal(cache.peer(ih, hex(3)), undefined);
    const first = cache.putOwn(ih, hex(4), ours, encode(ours), now);
    const second = cache.putOwn(ih, hex(4), record(6), encode(record(6)), now);
    cache.dropOwn(ih, first);
    assert.equal(cache.peer(ih, hex(4)), second);

    // After a watch restart the replay decides, even if ours never comes back.
    cache.forgetPending();
    cache.watchedPut(ih, hex(4), 20, encode(record(1)), created, decode);
    assert.equal(cache.peer(ih, hex(4))?.left, 1);
    now += 100;
    assert.equal(cache.peer(ih, hex(4)), undefined);
  });

  test('the handout never returns the requester from cached peers (keyed self check)', () => {
    const cache = new SwarmCache({ ttlMs: 1000 });
    const ih = hex(5);
    for (let n = 1; n <= 300; n++) {
      cache.putPeer(
        ih,
        hex(n),
        { ...record(n % 3), ip: `10.0.${n >> 8}.${n & 255}` },
        n,
        Date.now(),
      );
    }
    // The requester's own record, and another peer at the requester's address and port.
    cache.putPeer(ih, hex(1000), { ...record(1), ip: '10.9.9.9', port: 7 }, 400, Date.now());
    cache.putPeer(ih, hex(1001), { ...record(1), ip: '10.9.9.9', port: 7 }, 401, Date.now());
    const requester = { peerId: hex(1000), ip: '10.9.9.9', port: 7, left: 1 };
    for (const policy of [localityHandout, randomHandout]) {
      const chosen = policy(requester, cache.snapshot(ih).view, 302, seededRandom(9));
      assert.equal(chosen.length, 300);
      assert.ok(!chosen.some((p) => p.peerId === hex(1000) || p.peerId === hex(1001)));
    }
  });

  test('peers with equal labels share one labels object', () => {
    const cache = new SwarmCache({ ttlMs: 1000 });
    const labels = () => ({ zone: 'a', rack: 'r1' });
    cache.putPeer(hex(1), hex(1), { ...record(1), labels: labels() }, 1, Date.now());
    cache.putPeer(hex(2), hex(2), { ...record(1), labels: labels() }, 2, Date.now());
    cache.putPeer(hex(2), hex(3), { ...record(1), labels: { zone: 'a' } }, 3, Date.now());
    assert.equal(cache.peer(hex(1), hex(1))?.labels, cache.peer(hex(2), hex(2))?.labels);
    assert.deepEqual(cache.peer(hex(2), hex(3))?.labels, { zone: 'a' });
  });

  test('completions keep the highest revision', () => {
    const cache = new SwarmCache({ ttlMs: 100 });
    cache.setCompletions(hex(1), 3, 5);
    cache.setCompletions(hex(1), 2, 4);
    assert.equal(cache.summary(hex(1)).completions, 3);
  });
});

describe('announce validation', () => {
  const good = {
    infoHash: hex(1),
    peerId: hex(2),
    ip: '10.1.2.3',
    port: 6881,
    uploaded: 0,
    downloaded: 5,
    left: 100,
    event: 'started',
    numWant: 50,
    labels: { zone: 'a', rack: 'r-1', host: 'h.example' },
  };
  const variants: unknown[] = [
    good,
    { ...good, event: undefined },
    { ...good, labels: undefined, numWant: undefined, event: undefined },
    { ...good, ip: '2001:db8::1' },
    { ...good, ip: '::ffff:10.0.0.1' },
    { ...good, ip: '010.1.2.3' },
    { ...good, ip: '10.1.2.256' },
    { ...good, ip: 'example.com' },
    { ...good, infoHash: hex(1).toUpperCase() },
    { ...good, peerId: 'ab' },
    { ...good, port: 0 },
    { ...good, port: 65535 },
    { ...good, port: 65536 },
    { ...good, port: 1.5 },
    { ...good, port: '6881' },
    { ...good, left: -1 },
    { ...good, left: 2 ** 53 },
    { ...good, left: Number.MAX_SAFE_INTEGER },
    { ...good, uploaded: null },
    { ...good, numWant: MAX_NUMWANT_ACCEPTED },
    { ...good, numWant: MAX_NUMWANT_ACCEPTED + 1 },
    { ...good, event: 'paused' },
    { ...good, event: null },
    { ...good, labels: {} },
    { ...good, labels: { rack: 'a b' } },
    { ...good, labels: { zone: '' } },
    { ...good, labels: { zone: 'x'.repeat(64) } },
    { ...good, labels: { zone: 'a', extra: 'b' } },
    { ...good, labels: [] },
    { ...good, labels: null },
    { ...good, extra: 1 },
    { ...good, __proto__: { port: 1 } },
    [],
    null,
    'announce',
    42,
  ];

  test('the fast check never accepts what the schema refuses, and outputs what it outputs', () => {
    const check = (value: unknown) => {
      const quick = quickAnnounce(value);
      const parsed = AnnounceRequest.safeParse(value);
      if (quick !== undefined) {
        assert.ok(parsed.success, JSON.stringify(value));
        assert.deepEqual(quick, parsed.data);
        assert.deepEqual(Object.keys(quick), Object.keys(parsed.data));
      }
    };
    for (const value of variants) check(value);
    // The common message is taken by the fast check (that is its point).
    assert.notEqual(quickAnnounce(good), undefined);
    assert.notEqual(quickAnnounce(JSON.parse(JSON.stringify(good))), undefined);
    const field = fc.oneof(
      fc.constantFrom(hex(3), 'A'.repeat(40), '10.0.0.1', '255.255.255.255', '1.2.3', '::1'),
      fc.constantFrom('started', 'completed', 'stopped', 'none', '', 'a', 'z-1.x_y'),
      fc.integer({ min: -2, max: 70_000 }),
      fc.double(),
      fc.constant(null),
      fc.constant(Number.MAX_SAFE_INTEGER + 2),
      fc.dictionary(fc.constantFrom('zone', 'rack', 'host', 'other'), fc.string({ maxLength: 5 })),
    );
    const keys = fc.constantFrom(
      'infoHash',
      'peerId',
      'ip',
      'port',
      'uploaded',
      'downloaded',
      'left',
      'event',
      'numWant',
      'labels',
      'other',
    );
    fc.assert(
      fc.property(fc.dictionary(keys, field), (changes) => check({ ...good, ...changes })),
      { numRuns: 2000 },
    );
  });

  test('decodeAnnounce reads and refuses bytes exactly as decodeMessage does', () => {
    const encoder = new TextEncoder();
    const messages = [
      ...variants.map((v) => JSON.stringify(v) ?? 'undefined'),
      '{"infoHash":',
      JSON.stringify({ ...good, padding: 'x'.repeat(9000) }),
    ].map((text) => encoder.encode(text));
    messages.push(Uint8Array.from([0x7b, 0xff, 0x7d])); // not UTF-8
    const outcome = (decode: () => unknown) => {
      try {
        return { ok: decode() };
      } catch (error) {
        assert.ok(error instanceof BusError);
        return { error: `${error.code}: ${error.message}` };
      }
    };
    for (const bytes of messages) {
      assert.deepEqual(
        outcome(() => decodeAnnounce(bytes)),
        outcome(() => decodeMessage(AnnounceRequest, bytes, MAX_TRACKER_REQUEST_BYTES)),
      );
    }
  });

  test('stored peer records: the fast check agrees with the schema', () => {
    const base = { ip: '10.0.0.1', port: 1, left: 0, uploaded: 0, downloaded: 0 };
    const records: unknown[] = [
      base,
      { ...base, labels: { zone: 'a' } },
      { ...base, ip: '2001:db8::1' },
      { ...base, port: 0 },
      { ...base, left: -1 },
      { ...base, labels: { zone: 'a b' } },
      { ...base, other: 1 },
      { ...base, ip: undefined },
      null,
      [],
    ];
    for (const value of records) {
      const parsed = StoredPeer.safeParse(value);
      assert.deepEqual(storedPeer(value), parsed.success ? parsed.data : undefined);
    }
  });
});

describe('tracker core', () => {
  function setup(now: { ms: number }) {
    const cache = new SwarmCache({ ttlMs: 120_000, now: () => now.ms });
    const writes: string[] = [];
    const writer: SwarmWriter = {
      putPeer: (infoHash, peerId, record) => {
        writes.push(peerId);
        const value = new TextEncoder().encode(JSON.stringify(record));
        cache.putOwn(infoHash, peerId, record, value, now.ms);
      },
      deletePeer: async () => undefined,
      addCompletion: async () => undefined,
    };
    const tracker = new Tracker({
      cache,
      writer,
      policy: localityHandout,
      intervalS: 60,
      minIntervalS: 15,
      maxPeersPerSwarm: 100,
      maxSwarms: 100,
      maxInflight: 100,
      refreshAfterMs: refreshAfterMs(120_000, 60_000),
      isReady: () => true,
      now: () => now.ms,
    });
    return { tracker, writes };
  }
  const request = (fields: Partial<AnnounceRequest> = {}): AnnounceRequest => ({
    infoHash: hex(1),
    peerId: hex(2),
    ip: '10.0.0.2',
    port: 6881,
    uploaded: 0,
    downloaded: 0,
    left: 10,
    labels: { zone: 'a' },
    ...fields,
  });

  test('the refresh age leaves a skipped announce time to be followed by a written one', () => {
    assert.equal(refreshAfterMs(120_000, 60_000), 30_000);
    assert.equal(refreshAfterMs(2000, 1000), 500);
    assert.equal(refreshAfterMs(110_000, 100_000), 5000);
  });

  test('a regular announce of an unchanged, fresh record is answered without a write', () => {
    const now = { ms: 1_000_000 };
    const { tracker, writes } = setup(now);
    const first = tracker.announce(request({ event: 'started' })) as AnnounceResult;
    assert.equal(first.incomplete, 1);
    now.ms += 10_000;
    tracker.announce(request()); // fresh and unchanged: skipped
    tracker.announce(request({ uploaded: 500 })); // counters alone do not force a write
    tracker.announce(request({ event: 'started' })); // events are always written
    tracker.announce(request({ left: 5 })); // a changed record is written
    tracker.announce(request({ left: 5, labels: { zone: 'b' } }));
    assert.equal(writes.length, 4);
    now.ms += 30_000; // older than the refresh age: written again, restarting its TTL
    tracker.announce(request({ left: 5, labels: { zone: 'b' } }));
    assert.equal(writes.length, 5);
  });
});

describe('configuration', () => {
  test('defaults', () => {
    const config = loadTrackerConfig({});
    assert.equal(config.intervalS, 60);
    assert.equal(config.peerTtlMs, 120_000);
    assert.equal(config.httpHost, '127.0.0.1');
    assert.equal(config.handoutPolicy, 'locality');
    assert.deepEqual(config.natsServers, ['nats://127.0.0.1:4222']);
  });

  test('every bad variable is reported at once', () => {
    assert.throws(
      () =>
        loadTrackerConfig({
          SHOAL_NATS_URL: 'http://x',
          SHOAL_TRACKER_HTTP_PORT: 'eighty',
          SHOAL_TRACKER_HANDOUT_POLICY: 'nearest',
          SHOAL_TRACKER_HTTP_PROT: '80',
        }),
      (error: unknown) =>
        error instanceof Error &&
        /4 problems/.test(error.message) &&
        /SHOAL_NATS_URL: must be comma-separated nats:\/\/host:port URLs \(got "http:\/\/x"\)/.test(
          error.message,
        ) &&
        /SHOAL_TRACKER_HTTP_PORT: must be an integer/.test(error.message) &&
        /SHOAL_TRACKER_HANDOUT_POLICY: must be one of locality, random/.test(error.message) &&
        /SHOAL_TRACKER_HTTP_PROT: not a known variable/.test(error.message),
    );
  });

  test('a TTL not longer than the interval is refused', () => {
    assert.throws(
      () => loadTrackerConfig({ SHOAL_ANNOUNCE_INTERVAL_S: '10', SHOAL_PEER_TTL_S: '10' }),
      /SHOAL_PEER_TTL_S: must be longer than SHOAL_ANNOUNCE_INTERVAL_S/,
    );
  });
});
