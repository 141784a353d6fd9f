// The write-behind publisher against a real JetStream: batches in order with one
// acknowledgement, back-pressure, failures reported with what was attached to the writes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer, waitFor } from '@shoal/testkit';
import { PublishError, WriteBehind } from '../src/write-behind.ts';
import { natsClient } from './helpers.ts';

test('write-behind: ordered batches, one acknowledgement, back-pressure, failures', async (t) => {
  const nats = await startNatsServer({ jetstream: true, t });
  const nc = await natsClient(nats.url, t);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'WB', subjects: ['wb.>'] });
  const failures: { tags: number[]; error: PublishError }[] = [];
  const writer = new WriteBehind<number>(nc, {
    maxUnacknowledged: 100,
    timeoutMs: 2000,
    onFailure: (tags, error) => failures.push({ tags, error }),
  });
  t.after(() => writer.close());
  const encoder = new TextEncoder();

  // One turn's writes form one batch, stored in order.
  let batch = writer.write('wb.a', encoder.encode('0'));
  for (let i = 1; i < 50; i++) {
    const next = writer.write(`wb.${i % 2 === 0 ? 'a' : 'b'}`, encoder.encode(String(i)));
    assert.equal(next, batch);
    next.tags.push(i);
  }
  assert.equal(writer.unacknowledged, 50);
  await writer.acknowledged(batch);
  assert.equal(writer.unacknowledged, 0);
  const info = await jsm.streams.info('WB');
  assert.equal(info.state.messages, 50);
  for (const seq of [1, 2, 50]) {
    const stored = await jsm.streams.getMessage('WB', { seq });
    assert.equal(new TextDecoder().decode(stored?.data), String(seq - 1));
  }

  // Beyond the bound, writes are refused (nothing queued) until acknowledgements arrive.
  for (let i = 0; i < 100; i++) batch = writer.write('wb.c', encoder.encode('x'));
  assert.throws(
    () => writer.write('wb.c', encoder.encode('y')),
    (error: unknown) => error instanceof PublishError && error.code === 'PUBLISH_BACKLOG',
  );
  await writer.acknowledged(batch);
  assert.equal(await writer.drain(1000), true);

  // A batch no stream takes fails, with the tags of every write in it.
  batch = writer.write('nostream.1', encoder.encode('1'));
  batch.tags.push(1);
  writer.write('nostream.2', encoder.encode('2')).tags.push(2);
  await assert.rejects(
    writer.acknowledged(batch),
    (error: unknown) => error instanceof PublishError && error.code === 'PUBLISH_NO_RESPONDERS',
  );
  await waitFor(() => failures.length === 1, { timeoutMs: 2000, description: 'the failure' });
  assert.deepEqual(failures[0]?.tags, [1, 2]);
  assert.equal(writer.unacknowledged, 0);
});
