// Three real piece-store processes with R=2 behind one nats-server: ingests end on their
// owners, a killed replica's artifacts return to two live copies by peer-to-peer copies, any
// replica answers metainfo lookups for artifacts it does not hold, and a delete is fleet-wide.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { lookupMetainfoOverNats } from '@shoal/bus';
import { startNatsServer } from '@shoal/testkit';
import {
  type Artifact,
  downloadOverWire,
  eventually,
  randomContent,
  type StoreProcess,
  startStore,
} from './helpers.ts';

/** infohash -> ids of the replicas (among `stores`) that list it. */
async function holders(stores: StoreProcess[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  for (const store of stores) {
    for (const artifact of await store.client.list()) {
      map.set(artifact.infoHash, [...(map.get(artifact.infoHash) ?? []), store.replicaId].sort());
    }
  }
  return map;
}

test('three replicas, R=2: kill one and every artifact returns to two live copies', async (t) => {
  const nats = await startNatsServer({ t, jetstream: false });
  const env = { SHOAL_PIECE_STORE_REPLICAS: '2' };
  const stores = await Promise.all(
    ['a', 'b', 'c'].map((id) =>
      startStore(t, {
        natsUrl: nats.url,
        name: `piece-store-${id}`,
        env: { ...env, SHOAL_PIECE_STORE_REPLICA_ID: `ps-${id}` },
      }),
    ),
  );
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  await eventually(async () => {
    const metrics = await Promise.all(
      stores.map(async (s) => (await fetch(`http://127.0.0.1:${s.httpPort}/metrics`)).text()),
    );
    return metrics.every((text) => /shoal_piece_store_live_replicas\{[^}]*\} 3/.test(text));
  }, 'every replica to see three live replicas');

  const contents = new Map<string, Uint8Array>();
  const artifacts: Artifact[] = [];
  for (let i = 0; i < 8; i++) {
    const bytes = randomContent(500_000 + i * 1000);
    const artifact = await stores[i % 3]!.client.ingest({ name: `build-${i}.tar` }, [bytes]);
    contents.set(artifact.infoHash, bytes);
    artifacts.push(artifact);
  }
  await eventually(async () => {
    const map = await holders(stores);
    return artifacts.every((a) => (map.get(a.infoHash)?.length ?? 0) >= 2);
  }, 'every artifact on at least two replicas after ingest');

  await t.test('any replica answers a metainfo lookup, holder or not', async () => {
    for (const artifact of artifacts) {
      for (let i = 0; i < 3; i++) {
        const found = await lookupMetainfoOverNats(nc, artifact.infoHash);
        assert.ok(Buffer.from(found.torrent).equals(artifact.torrent));
      }
    }
  });

  let victim: StoreProcess = stores[0]!;
  let survivors: StoreProcess[] = [];
  let atRisk: Artifact[] = [];
  await t.test(
    'after a replica is killed its artifacts are copied back to two live replicas',
    async () => {
      const before = await holders(stores);
      // The victim is the replica holding the most artifacts that have only two copies.
      const exposed = (id: string) =>
        artifacts.filter((a) => {
          const list = before.get(a.infoHash) ?? [];
          return list.length === 2 && list.includes(id);
        });
      victim = [...stores].sort(
        (x, y) => exposed(y.replicaId).length - exposed(x.replicaId).length,
      )[0]!;
      atRisk = exposed(victim.replicaId);
      assert.ok(atRisk.length > 0, 'some artifact must have exactly two copies, one on the victim');
      victim.proc.kill('SIGKILL');
      await victim.proc.exited;
      survivors = stores.filter((s) => s !== victim);
      await eventually(
        async () => {
          const map = await holders(survivors);
          return artifacts.every((a) => (map.get(a.infoHash)?.length ?? 0) === 2);
        },
        'every artifact on both survivors',
        30_000,
      );
      for (const artifact of atRisk) {
        const stat = await survivors[0]!.client.stat(artifact.infoHash);
        assert.deepEqual(stat.replicas, survivors.map((s) => s.replicaId).sort());
      }
      // The copies are real: download one from the replica that did not have it before.
      const copied = atRisk[0]!;
      const newHolder = survivors.find(
        (s) => !(before.get(copied.infoHash) ?? []).includes(s.replicaId),
      )!;
      const bytes = await downloadOverWire(t, copied.torrent, [
        { host: '127.0.0.1', port: newHolder.wirePort },
      ]);
      assert.ok(Buffer.from(bytes).equals(contents.get(copied.infoHash)!));
      assert.match(newHolder.proc.logs(), /"msg":"copy stored"/);
    },
  );

  await t.test('a delete on one replica removes every copy', async () => {
    const target = atRisk[0]!;
    assert.equal(await survivors[0]!.client.delete(target.infoHash), true);
    assert.equal((await holders(survivors)).get(target.infoHash), undefined);
    // A reconcile pass later, it has not come back.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.equal((await holders(survivors)).get(target.infoHash), undefined);
  });

  await t.test(
    'a replica that was down during the delete drops its copy when it returns',
    async () => {
      const target = atRisk[0]!;
      const revived = await startStore(t, {
        natsUrl: nats.url,
        dataDir: victim.dataDir,
        name: 'piece-store-revived',
        env: { ...env, SHOAL_PIECE_STORE_REPLICA_ID: victim.replicaId },
      });
      const all = [...survivors, revived];
      await eventually(
        async () => (await holders(all)).get(target.infoHash) === undefined,
        'the revived replica to drop the artifact deleted while it was down',
        15_000,
      );
      assert.match(revived.proc.logs(), /deleted elsewhere while away/);
      const map = await holders(all);
      for (const artifact of artifacts) {
        if (artifact === target) continue;
        assert.ok((map.get(artifact.infoHash)?.length ?? 0) >= 2, artifact.infoHash);
      }
    },
  );
});
