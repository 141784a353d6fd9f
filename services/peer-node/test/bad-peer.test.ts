// Hostile and dead peers in the swarm: one sends garbage for every block, one accepts
// connections and never says a word. The peer-nodes ban the first, time out on the second,
// and still all complete byte-exact from the honest sources.

import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { announceOverNats } from '@shoal/bus';
import { parseTorrent } from '@shoal/protocol';
import { onCleanup } from '@shoal/testkit';
import {
  fetchAll,
  metric,
  randomFile,
  sha256OfFile,
  startCluster,
  startPeerNode,
  startPieceStore,
  tempDir,
} from './helpers.ts';
import { startMaliciousPeer } from './malicious-peer.ts';

const MiB = 1024 * 1024;

/** A peer that accepts connections and never sends a byte; listed in the tracker as a seeder. */
async function startSilentPeer(host: string) {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    accepted: () => accepted,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('a peer sending corrupt blocks is banned and a silent one skipped; every node completes', {
  timeout: 90_000,
}, async (t) => {
  const cluster = await startCluster(t);
  // A slow origin, so the nodes take blocks from the bad peer instead of finishing first.
  const store = await startPieceStore(t, cluster, {
    SHOAL_PIECE_STORE_UPLOAD_RATE_LIMIT: String(3 * MiB),
  });
  const work = await tempDir(t);
  const file = await randomFile(join(work, 'delta.bin'), 8 * MiB);
  const artifact = await store.client.ingestFile(file.path, { name: 'delta.bin' });
  const metainfo = parseTorrent(new Uint8Array(artifact.torrent));

  const nc = await connect({ servers: cluster.natsUrl });
  onCleanup(t, () => nc.close());
  // Their own loopback addresses: the engine bans by IP, and the honest swarm is on 127.0.0.1.
  const bad = await startMaliciousPeer({ host: '127.0.0.2', metainfo, nc });
  onCleanup(t, () => bad.close());
  const silent = await startSilentPeer('127.0.0.3');
  onCleanup(t, () => silent.close());
  // Listed as a seeder for as long as the test runs (tracker entries expire without announces).
  const announceSilent = () =>
    announceOverNats(nc, {
      infoHash: artifact.infoHash,
      peerId: 'ee'.repeat(20),
      ip: '127.0.0.3',
      port: silent.port,
      uploaded: 0,
      downloaded: 0,
      left: 0,
    }).catch(() => undefined);
  await announceSilent();
  const reannounce = setInterval(() => void announceSilent(), 2000);
  onCleanup(t, () => clearInterval(reannounce));

  const nodes = await Promise.all(
    [0, 1, 2].map((i) => startPeerNode(t, { name: `honest-${i}`, cluster })),
  );
  const results = await Promise.all(
    nodes.map((node, i) =>
      fetchAll(
        node.client,
        { infoHash: artifact.infoHash, destination: join(work, `out-${i}`) },
        70_000,
      ),
    ),
  );
  for (const [i, events] of results.entries()) {
    assert.equal(events.at(-1)!.state, 'complete');
    assert.equal(await sha256OfFile(join(work, `out-${i}`, 'delta.bin')), file.sha256);
  }
  assert.ok(bad.blocksSent() > 0, 'the nodes did take blocks from the bad peer');
  assert.ok(silent.accepted() > 0, 'the nodes tried the silent peer too');
  let banned = 0;
  for (const node of nodes)
    banned += await metric(node.httpPort, 'shoal_peer_node_peers_banned_total');
  assert.ok(banned >= 1, `at least one node banned the bad peer (banned ${banned})`);
  const banLines = nodes.flatMap((node) =>
    node.proc
      .logs()
      .split('\n')
      .filter((line) => line.includes('"msg":"peer banned"')),
  );
  assert.ok(banLines.length >= 1);
  for (const line of banLines) {
    assert.equal(JSON.parse(line).host, '127.0.0.2', 'only the bad peer was banned');
  }
  for (const node of nodes)
    assert.equal(node.proc.exitStatus(), undefined, `${node.name} still runs`);
});
