import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Svcm } from '@nats-io/services';
import { connect } from '@nats-io/transport-node';
import {
  type AnnounceRequest,
  AnnounceResponse,
  announceOverNats,
  BusError,
  BusErrorCode,
  bytesToHex,
  createSubjects,
  decodeMessage,
  decodeSwarmStats,
  encodeMessage,
  encodeSwarmStats,
  hexToBytes,
  MAX_TRACKER_REQUEST_BYTES,
  scrapeOverNats,
  subjectToken,
  TRACKER_QUEUE_GROUP,
} from '@shoal/bus';
import { onCleanup, startNatsServer } from '@shoal/testkit';
import fc from 'fast-check';

const infoHash = 'ab'.repeat(20);
const request: AnnounceRequest = {
  infoHash,
  peerId: '01'.repeat(20),
  ip: '10.0.0.1',
  port: 6881,
  uploaded: 0,
  downloaded: 0,
  left: 10,
  labels: { zone: 'eu-1', rack: 'r12', host: 'node-7.example' },
};

function isBusError(code: BusErrorCode, message?: RegExp) {
  return (error: unknown) =>
    error instanceof BusError &&
    error.code === code &&
    (message === undefined || message.test(error.message));
}

test('subjects live under one validated prefix', () => {
  const subjects = createSubjects();
  assert.equal(subjects.trackerAnnounce, 'shoal.tracker.announce');
  assert.equal(subjects.trackerScrape, 'shoal.tracker.scrape');
  assert.equal(subjects.trackerStats(infoHash), `shoal.tracker.stats.${infoHash}`);
  assert.equal(subjects.trackerStatsAll, 'shoal.tracker.stats.*');
  assert.equal(createSubjects('shoal.prod').trackerAnnounce, 'shoal.prod.tracker.announce');
  for (const bad of ['', 'shoal.', '.shoal', 'a b', 'x.*', 'x.>', 'a..b']) {
    assert.throws(() => createSubjects(bad), isBusError(BusErrorCode.InvalidSubject), bad);
  }
  assert.throws(
    () => subjects.trackerStats('AB'.repeat(20)),
    isBusError(BusErrorCode.InvalidSubject),
  );
  assert.throws(() => subjects.trackerStats('*'), isBusError(BusErrorCode.InvalidSubject));
  assert.equal(subjectToken('node-7_a'), 'node-7_a');
  assert.throws(() => subjectToken('a.b'), isBusError(BusErrorCode.InvalidSubject));
});

test('hex ids round-trip and reject odd input', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      assert.deepEqual(hexToBytes(bytesToHex(bytes)), bytes);
      assert.match(bytesToHex(bytes), /^[0-9a-f]*$/);
    }),
  );
  assert.throws(() => hexToBytes('abc'), RangeError);
  assert.throws(() => hexToBytes('zz'), RangeError);
});

test('messages are validated on encode and decode, naming every bad field', () => {
  const bytes = encodeMessage(
    AnnounceResponse,
    { interval: 60, minInterval: 15, complete: 0, incomplete: 1, downloaded: 0, peers: [] },
    1024,
  );
  assert.equal(decodeMessage(AnnounceResponse, bytes, 1024).incomplete, 1);
  assert.throws(
    () =>
      encodeMessage(
        AnnounceResponse,
        { interval: 0, minInterval: 1, complete: -1, incomplete: 0, downloaded: 0, peers: [] },
        1024,
      ),
    isBusError(BusErrorCode.InvalidMessage, /interval: .*; complete: /),
  );
  assert.throws(
    () => decodeMessage(AnnounceResponse, new TextEncoder().encode('{'), 1024),
    isBusError(BusErrorCode.InvalidMessage, /not UTF-8 JSON/),
  );
  assert.throws(
    () => decodeMessage(AnnounceResponse, Uint8Array.of(0xff, 0xfe), 1024),
    isBusError(BusErrorCode.InvalidMessage),
  );
  assert.throws(
    () => decodeMessage(AnnounceResponse, new Uint8Array(2000), 1024),
    isBusError(BusErrorCode.MessageTooLarge),
  );
  const stats = {
    infoHash,
    seeders: 1,
    leechers: 4,
    completions: 2,
    bytesLeft: 100,
    demand: 4,
    at: 1,
  };
  assert.deepEqual(decodeSwarmStats(encodeSwarmStats(stats)), stats);
});

test('request helpers against a real NATS service: replies, error replies, bad replies, no responders', async (t) => {
  const nats = await startNatsServer({ jetstream: false, t });
  const nc = await connect({ servers: nats.url });
  onCleanup(t, () => nc.close());
  const subjects = createSubjects('test');
  let mode: 'ok' | 'error' | 'garbage' = 'ok';
  const received: unknown[] = [];
  const service = await new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: 'bus-test',
    version: '0.0.1',
    queue: TRACKER_QUEUE_GROUP,
  });
  onCleanup(t, () => service.stop());
  const encoder = new TextEncoder();
  service.addEndpoint('announce', {
    subject: subjects.trackerAnnounce,
    handler: (_error, msg) => {
      received.push(msg.json());
      if (mode === 'ok') {
        msg.respond(
          encoder.encode(
            JSON.stringify({
              interval: 60,
              minInterval: 15,
              complete: 1,
              incomplete: 0,
              downloaded: 3,
              peers: [{ peerId: '02'.repeat(20), ip: '::1', port: 1, seeder: true }],
            }),
          ),
        );
      } else if (mode === 'error') {
        msg.respondError(
          429,
          'slow down',
          encoder.encode(
            JSON.stringify({
              error: { code: 'rate_limited', message: 'peer announces too often' },
            }),
          ),
        );
      } else {
        msg.respond(encoder.encode(JSON.stringify({ interval: 'soon' })));
      }
    },
  });

  const reply = await announceOverNats(nc, request, { prefix: 'test' });
  assert.equal(reply.downloaded, 3);
  assert.deepEqual(received, [request]);

  mode = 'error';
  await assert.rejects(
    announceOverNats(nc, request, { prefix: 'test' }),
    (error: unknown) =>
      error instanceof BusError &&
      error.code === BusErrorCode.RemoteError &&
      error.status === 429 &&
      error.remoteCode === 'rate_limited' &&
      /peer announces too often/.test(error.message),
  );
  mode = 'garbage';
  await assert.rejects(
    announceOverNats(nc, request, { prefix: 'test' }),
    isBusError(BusErrorCode.InvalidMessage, /interval/),
  );

  // Invalid requests never leave the client.
  const before = received.length;
  await assert.rejects(
    announceOverNats(nc, { ...request, infoHash: 'xyz' }, { prefix: 'test' }),
    isBusError(BusErrorCode.InvalidMessage, /infoHash/),
  );
  await assert.rejects(
    announceOverNats(
      nc,
      { ...request, labels: { host: 'h'.repeat(MAX_TRACKER_REQUEST_BYTES) } },
      { prefix: 'test' },
    ),
    isBusError(BusErrorCode.InvalidMessage, /labels.host/),
  );
  assert.equal(received.length, before);

  await assert.rejects(
    scrapeOverNats(nc, { infoHashes: [infoHash] }, { prefix: 'test', timeoutMs: 500 }),
    isBusError(BusErrorCode.RequestFailed, /test\.tracker\.scrape/),
  );
});
