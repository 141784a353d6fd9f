// Bad input never crashes the node: malformed requests end with a status naming the problem,
// garbage on the wire port and on NATS is dropped, a tracker that is down is retried with
// back-off (the fetch completes once it is back), bad configuration stops start-up.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { connect } from '@nats-io/transport-node';
import { createFleetSubjects } from '@shoal/bus';
import { onCleanup, startNatsServer, startProcess, waitFor } from '@shoal/testkit';
import {
  fetchAll,
  metric,
  randomFile,
  repoRoot,
  sha256OfFile,
  startPeerNode,
  startPieceStore,
  status,
  tempDir,
  unary,
} from './helpers.ts';

const MiB = 1024 * 1024;

test('invalid configuration stops start-up with every problem named', {
  timeout: 20_000,
}, async (t) => {
  const proc = await startProcess(
    process.execPath,
    ['--conditions=source', join(repoRoot, 'services/peer-node/src/main.ts')],
    {
      name: 'bad-config',
      env: { SHOAL_DATA_DIR: 'relative', SHOAL_SEEDING_POLICY: 'sometimes', SHOAL_WIRE_PORT: 'x' },
      t,
    },
  );
  const exit = await proc.exited;
  assert.equal(exit.code, 2);
  for (const name of ['SHOAL_DATA_DIR', 'SHOAL_SEEDING_POLICY', 'SHOAL_WIRE_PORT']) {
    assert.ok(proc.logs().includes(name), `${name} in:\n${proc.logs()}`);
  }
});

test('bad requests, wire garbage, NATS garbage and a tracker that is down', {
  timeout: 90_000,
}, async (t) => {
  // NATS only: no tracker and no piece-store yet.
  const nats = await startNatsServer({ t });
  const node = await startPeerNode(t, {
    name: 'robust',
    cluster: { natsUrl: nats.url },
    env: { SHOAL_METADATA_TIMEOUT_S: '2' },
  });
  const work = await tempDir(t);
  const { client } = node;
  const expectStatus = async (promise: Promise<unknown>, code: grpc.status, pattern: RegExp) => {
    await assert.rejects(promise, (error: grpc.ServiceError) => {
      assert.equal(error.code, code, error.details);
      assert.match(error.details, pattern);
      return true;
    });
  };

  // Malformed requests.
  const destination = join(work, 'out');
  await expectStatus(
    fetchAll(client, { destination }, 5000),
    grpc.status.INVALID_ARGUMENT,
    /one of info_hash/,
  );
  await expectStatus(
    fetchAll(client, { infoHash: 'xyz', destination }, 5000),
    grpc.status.INVALID_ARGUMENT,
    /40 hex/,
  );
  await expectStatus(
    fetchAll(client, { magnet: 'magnet:?dn=x', destination }, 5000),
    grpc.status.INVALID_ARGUMENT,
    /magnet/,
  );
  await expectStatus(
    fetchAll(
      client,
      { torrent: new TextEncoder().encode('d4:infod4:name1:xee'), destination },
      5000,
    ),
    grpc.status.INVALID_ARGUMENT,
    /torrent/,
  );
  // Names that would leave the destination are refused before anything touches the disk.
  const pieces = `6:pieces20:${'x'.repeat(20)}`;
  for (const info of [
    `d6:lengthi1e4:name2:..12:piece lengthi16384e${pieces}e`,
    `d5:filesld6:lengthi1e4:pathl2:..4:evileee4:name3:dir12:piece lengthi16384e${pieces}e`,
    `d6:lengthi1e4:name5:/etc/12:piece lengthi16384e${pieces}e`,
  ]) {
    await expectStatus(
      fetchAll(client, { torrent: new TextEncoder().encode(`d4:info${info}e`), destination }, 5000),
      grpc.status.INVALID_ARGUMENT,
      /unsafe|refused|separator|absolute/,
    );
  }
  await expectStatus(
    fetchAll(client, { infoHash: 'ab'.repeat(20), destination: 'relative/dir' }, 5000),
    grpc.status.INVALID_ARGUMENT,
    /absolute/,
  );
  await expectStatus(
    unary((cb) => client.Publish({ path: 'not/absolute', name: '' }, cb)),
    grpc.status.FAILED_PRECONDITION,
    /SHOAL_PIECE_STORE_ADDRESS/,
  );
  const removed = await unary<{ removed: boolean }>((cb) =>
    client.Remove({ infoHash: 'cd'.repeat(20), deleteData: true }, cb),
  );
  assert.equal(removed.removed, false);
  // Nobody knows this infohash: NOT_FOUND once the metadata timeout passes.
  const started = Date.now();
  await expectStatus(
    fetchAll(client, { infoHash: 'ef'.repeat(20), destination }, 15_000),
    grpc.status.NOT_FOUND,
    /no metadata/,
  );
  assert.ok(Date.now() - started < 10_000);

  // Garbage on the wire port: a bad handshake, an oversized frame, an unknown infohash.
  const garbage = [
    new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'),
    Uint8Array.from([
      19,
      ...new TextEncoder().encode('BitTorrent protocol'),
      ...new Uint8Array(48),
      0xff,
      0xff,
      0xff,
      0xff,
      5,
    ]),
  ];
  for (const bytes of garbage) {
    await new Promise<void>((resolve) => {
      const socket = tcpConnect({ host: '127.0.0.1', port: node.wirePort }, () =>
        socket.write(bytes),
      );
      socket.on('error', () => resolve());
      socket.on('close', () => resolve());
      socket.setTimeout(12_000, () => socket.destroy());
    });
  }

  // Garbage on the fleet subject.
  const nc = await connect({ servers: nats.url });
  onCleanup(t, () => nc.close());
  const subjects = createFleetSubjects();
  nc.publish(subjects.distribute, new TextEncoder().encode('not json'));
  nc.publish(
    subjects.distribute,
    new TextEncoder().encode('{"commandId":"x","infoHash":"zz","selector":"=","at":0}'),
  );
  await waitFor(
    async () =>
      (await metric(node.httpPort, 'shoal_peer_node_fleet_commands_total', 'outcome="invalid"')) ===
      2,
    { timeoutMs: 5000, description: 'two invalid commands counted' },
  );

  // A real fetch while the tracker is down: announces fail and back off, the node keeps going.
  const file = await randomFile(join(work, 'zeta.bin'), 3 * MiB);
  const store = await startPieceStore(t, { natsUrl: nats.url });
  const artifact = await store.client.ingestFile(file.path, { name: 'zeta.bin' });
  const fetching = fetchAll(client, { torrent: artifact.torrent, destination }, 60_000);
  await waitFor(
    async () => (await metric(node.httpPort, 'shoal_peer_node_announce_failures_total')) >= 1,
    {
      timeoutMs: 10_000,
      description: 'an announce to fail',
    },
  );
  const during = await status(client);
  assert.equal(during.torrents.find((x) => x.infoHash === artifact.infoHash)?.state, 'downloading');

  // The tracker comes up: the back-off retries reach it and the fetch completes.
  await startProcess(
    process.execPath,
    ['--conditions=source', join(repoRoot, 'services/tracker/src/main.ts')],
    {
      name: 'late-tracker',
      env: {
        SHOAL_NATS_URL: nats.url,
        SHOAL_TRACKER_HTTP_HOST: '127.0.0.1',
        SHOAL_TRACKER_HTTP_PORT: '0',
        SHOAL_ANNOUNCE_INTERVAL_S: '4',
        SHOAL_TRACKER_NATS_RATE_PER_PEER: '20',
        SHOAL_TRACKER_NATS_BURST_PER_PEER: '100',
      },
      ready: /"msg":"tracker ready"/,
      readyTimeoutMs: 30_000,
      t,
    },
  );
  const events = await fetching;
  assert.equal(events.at(-1)!.state, 'complete');
  assert.equal(await sha256OfFile(join(destination, 'zeta.bin')), file.sha256);
  assert.equal(node.proc.exitStatus(), undefined, 'the node never crashed');
  assert.match(node.proc.logs(), /announce failed; retrying with back-off/);
  assert.match(node.proc.logs(), /tracker reachable again/);
});
