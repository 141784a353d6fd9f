import { AnnounceRequest, decodeMessage } from '@shoal/bus';
import { localityHandout } from '../src/handout.ts';
import { SwarmCache } from '../src/swarm-cache.ts';
import { announceResultJson, Tracker } from '../src/tracker.ts';
import { id } from '../test/helpers.ts';
const cache = new SwarmCache({ ttlMs: 1e9 });
let rev = 0;
const tracker = new Tracker({ cache, writer: { putPeer: async (ih, p, r) => cache.putPeer(ih, p, r, ++rev, Date.now()), deletePeer: async () => {}, addCompletion: async () => {} }, policy: localityHandout, intervalS: 60, minIntervalS: 15, maxPeersPerSwarm: 1e6, maxSwarms: 1e6, maxInflight: 1e6, isReady: () => true });
const enc = new TextEncoder();
const N = 50000;
const payloads = Array.from({ length: N }, (_, i) => enc.encode(JSON.stringify({ infoHash: id(i % 100, 1), peerId: id(i, 2), ip: `10.0.${(i >> 8) & 255}.${i & 255}`, port: 6881, uploaded: 0, downloaded: 0, left: i % 4 ? 5 : 0, labels: { zone: 'z' + (i % 3), rack: 'r' + (i % 12) } })));
let t = performance.now();
for (let i = 0; i < N; i++) { const req = decodeMessage(AnnounceRequest, payloads[i]!, 8192); enc.encode(announceResultJson(await tracker.announce(req))); }
console.log('fill µs/announce', ((performance.now() - t) * 1000) / N);
t = performance.now();
for (let i = 0; i < N; i++) { const req = decodeMessage(AnnounceRequest, payloads[i]!, 8192); enc.encode(announceResultJson(await tracker.announce(req))); }
console.log('at 500/swarm µs/announce', ((performance.now() - t) * 1000) / N);
