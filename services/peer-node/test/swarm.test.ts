// One piece-store and five peer-nodes, every one a real process: artifacts reach every node
// byte-exact through gRPC Fetch on each node's Unix socket (by infohash, magnet and .torrent)
// and through a fleet `distribute` command over NATS followed by one caller.
import assert from 'node:assert/strict';
import { access, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import {
  createFleetSubjects,
  decodeFleetProgress,
  decodeNodePresence,
  encodeDistributeCommand,
  type FleetProgress,
  matchesSelector,
  type NodePresence,
} from '@shoal/bus';
import type {
  FetchRequest,
  ListTorrentsResponse__Output,
  PublishResponse__Output,
} from '@shoal/proto';
import { onCleanup, waitFor } from '@shoal/testkit';
import {
  fetchAll,
  metric,
  type PeerNodeProcess,
  randomFile,
  sha256OfFile,
  startCluster,
  startPeerNode,
  startPieceStore,
  status,
  tempDir,
  unary,
} from './helpers.ts';

const MiB = 1024 * 1024;

test('1 piece-store + 5 peer-nodes: Fetch over gRPC and distribute over NATS, all byte-exact', {
  timeout: 90_000,
}, async (t) => {
  const cluster = await startCluster(t);
  const store = await startPieceStore(t, cluster);
  const nodes: PeerNodeProcess[] = await Promise.all(
    [0, 1, 2, 3, 4].map((i) =>
      startPeerNode(t, {
        name: `node-${i}`,
        cluster,
        env: {
          SHOAL_ZONE: 'z1',
          SHOAL_RACK: i < 3 ? 'r1' : 'r2',
          SHOAL_LABELS: 'role=test',
          SHOAL_PIECE_STORE_ADDRESS: store.grpcAddress,
          // node-2 seeds for two seconds only; the others keep the default.
          ...(i === 2 ? { SHOAL_SEEDING_POLICY: 'time:2' } : {}),
        },
      }),
    ),
  );
  const work = await tempDir(t);

  // --- Fetch over gRPC: every node, each naming the artifact a different way.
  const a = await randomFile(join(work, 'alpha.bin'), 12 * MiB + 12_345);
  const artifact = await store.client.ingestFile(a.path, { name: 'alpha.bin' });
  assert.equal(artifact.sha256, a.sha256);
  const requests: FetchRequest[] = [
    { infoHash: artifact.infoHash },
    { infoHash: artifact.infoHash.toUpperCase() },
    { magnet: artifact.magnet },
    { torrent: artifact.torrent },
    { infoHash: artifact.infoHash },
  ];
  const results = await Promise.all(
    nodes.map((node, i) =>
      fetchAll(node.client, { ...requests[i], destination: join(work, `dest-${i}`) }, 60_000),
    ),
  );
  let fromPeers = 0;
  for (const [i, events] of results.entries()) {
    const last = events.at(-1)!;
    assert.equal(last.state, 'complete', `node-${i} ends complete`);
    assert.equal(last.infoHash, artifact.infoHash);
    assert.equal(last.bytesDone, a.size);
    assert.equal(last.bytesTotal, a.size);
    const finalPath = join(work, `dest-${i}`, 'alpha.bin');
    assert.equal(last.path, finalPath);
    assert.equal(await sha256OfFile(finalPath), a.sha256, `node-${i} holds the exact bytes`);
    // Nothing but the final file is left in the destination (the partial folder is gone).
    assert.deepEqual(await readdir(join(work, `dest-${i}`)), ['alpha.bin']);
    assert.ok(
      events.some((e) => e.state === 'downloading'),
      `node-${i} streamed progress`,
    );
    assert.ok(last.bytesFromOrigin + last.bytesFromPeers >= a.size);
    fromPeers += last.bytesFromPeers;
  }
  assert.ok(fromPeers > 0, 'peer-nodes served each other, not only the origin');

  // A second Fetch of a held artifact answers at once with the final path.
  const again = await fetchAll(
    nodes[0]!.client,
    { infoHash: artifact.infoHash, destination: join(work, 'dest-0') },
    10_000,
  );
  assert.equal(again.length, 1);
  assert.equal(again[0]!.state, 'complete');
  const seeding = await status(nodes[0]!.client);
  assert.equal(seeding.nodeId, 'node-0');
  assert.equal(seeding.labels.rack, 'r1');
  assert.equal(seeding.labels.role, 'test');
  const torrent = seeding.torrents.find((x) => x.infoHash === artifact.infoHash)!;
  assert.equal(torrent.seeding, true);
  assert.match(torrent.seedingReason, /^while-needed: /);

  // --- distribute over NATS: only rack r2 (node-3, node-4) takes it; one caller follows them.
  const b = await randomFile(join(work, 'beta.bin'), 6 * MiB);
  const beta = await store.client.ingestFile(b.path, { name: 'beta.bin' });
  const nc = await connect({ servers: cluster.natsUrl });
  onCleanup(t, () => nc.close());
  const subjects = createFleetSubjects();
  const selector = 'rack=r2,zone=z1';

  // Who matches: every node answers a presence query.
  const presences: NodePresence[] = [];
  const inbox = `_INBOX.presence.${Date.now()}`;
  const replies = nc.subscribe(inbox, {
    callback: (_error, msg) => {
      presences.push(decodeNodePresence(msg.data));
    },
  });
  nc.publish(subjects.presenceQuery, new Uint8Array(), { reply: inbox });
  await waitFor(() => presences.length === 5, { timeoutMs: 5000, description: 'five presences' });
  replies.unsubscribe();
  const expected = presences
    .filter((p) => matchesSelector(p.labels, selector))
    .map((p) => p.nodeId);
  assert.deepEqual(expected.sort(), ['node-3', 'node-4']);

  const commandId = `cmd-${Date.now()}`;
  const reports: FleetProgress[] = [];
  const sub = nc.subscribe(subjects.progress(commandId), {
    callback: (_error, msg) => {
      reports.push(decodeFleetProgress(msg.data));
    },
  });
  onCleanup(t, () => sub.unsubscribe());
  nc.publish(
    subjects.distribute,
    encodeDistributeCommand({ commandId, infoHash: beta.infoHash, selector, at: Date.now() }),
  );
  const done = await waitFor(
    () => {
      const finished = new Map<string, FleetProgress>();
      for (const report of reports) {
        if (report.state === 'complete' || report.state === 'failed')
          finished.set(report.nodeId, report);
      }
      return finished.size === expected.length ? finished : undefined;
    },
    { timeoutMs: 45_000, description: 'every selected node to report the end' },
  );
  for (const nodeId of expected) {
    const report = done.get(nodeId)!;
    assert.equal(report.state, 'complete', `${nodeId}: ${report.error}`);
    assert.equal(report.bytesDone, b.size);
    assert.equal(await sha256OfFile(report.path!), b.sha256, `${nodeId} holds beta byte-exact`);
  }
  const byNode = (id: string) => reports.filter((r) => r.nodeId === id).map((r) => r.state);
  assert.equal(byNode('node-3')[0], 'accepted');
  assert.ok(
    reports.every((r) => expected.includes(r.nodeId)),
    'only selected nodes report',
  );
  // Unselected nodes never started it.
  for (const node of nodes.slice(0, 3)) {
    const s = await status(node.client);
    assert.ok(
      !s.torrents.some((x) => x.infoHash === beta.infoHash),
      `${node.name} did not fetch beta`,
    );
  }
  // The distributed copy lands under the node's distribute directory.
  await access(join(nodes[3]!.dataDir, 'artifacts', 'beta.bin'));

  // --- node-2's policy (time:2) stopped its seeding; it still holds the file.
  const stopped = await waitFor(
    async () => {
      const torrent = (await status(nodes[2]!.client)).torrents.find(
        (x) => x.infoHash === artifact.infoHash,
      );
      return torrent?.seeding === false ? torrent : undefined;
    },
    { timeoutMs: 10_000, description: 'node-2 to stop seeding' },
  );
  assert.equal(stopped.seeding, false);
  assert.equal(stopped.state, 'complete');
  assert.equal(stopped.seedingReason, 'time:2: seeded 2 s after completion');
  assert.equal(stopped.path, join(work, 'dest-2', 'alpha.bin'));

  // --- Publish on node-0: the piece-store ingests it, node-0 seeds it in place, node-1 fetches it.
  const c = await randomFile(join(work, 'gamma.bin'), 2 * MiB + 7);
  const published = await unary<PublishResponse__Output>((cb) =>
    nodes[0]!.client.Publish({ path: c.path, name: 'gamma-v1.bin' }, cb),
  );
  assert.equal(published.sha256, c.sha256);
  assert.equal(published.size, c.size);
  assert.equal((await store.client.stat(published.infoHash)).sha256, c.sha256);
  const held = (await status(nodes[0]!.client)).torrents.find(
    (x) => x.infoHash === published.infoHash,
  )!;
  assert.equal(held.seeding, true);
  assert.equal(held.path, c.path);
  const gamma = await fetchAll(
    nodes[1]!.client,
    { magnet: published.magnet, destination: join(work, 'dest-1') },
    30_000,
  );
  assert.equal(await sha256OfFile(gamma.at(-1)!.path), c.sha256);
  assert.equal(gamma.at(-1)!.path, join(work, 'dest-1', 'gamma-v1.bin'));

  // --- Remove with delete_data: the torrent and its bytes are gone.
  const removed = await unary<{ removed: boolean }>((cb) =>
    nodes[1]!.client.Remove({ infoHash: published.infoHash, deleteData: true }, cb),
  );
  assert.equal(removed.removed, true);
  await assert.rejects(access(join(work, 'dest-1', 'gamma-v1.bin')));
  const list = await unary<ListTorrentsResponse__Output>((cb) => nodes[1]!.client.List({}, cb));
  assert.deepEqual(list.torrents.map((x) => x.infoHash).sort(), [artifact.infoHash]);

  // --- Health and metrics.
  const ready = await fetch(`http://127.0.0.1:${nodes[1]!.httpPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.equal(
    await metric(nodes[3]!.httpPort, 'shoal_peer_node_fetches_total', 'outcome="complete"'),
    2,
  );
  const origin = await metric(
    nodes[3]!.httpPort,
    'shoal_peer_node_downloaded_bytes_total',
    'source="origin"',
  );
  const peers = await metric(
    nodes[3]!.httpPort,
    'shoal_peer_node_downloaded_bytes_total',
    'source="peer"',
  );
  assert.ok(origin + peers >= a.size + b.size);
});
