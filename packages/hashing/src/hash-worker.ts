// Runs in a worker thread: hashes byte ranges of rings shared by the main thread.
import { createHash, type Hash, hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './messages.ts';

const SHA1_BYTES = 20;

const port = parentPort;
if (port === null) throw new Error('hash-worker.ts must run in a worker thread');

const rings = new Map<number, Uint8Array>();
/** Running SHA-256 states, by job then stream; fed in order because a port is FIFO. */
const sha256Streams = new Map<number, Map<number, Hash>>();

/** Tasks always precede their job's detach (one FIFO port), so a missing ring is a bug. */
function ringOf(job: number): Uint8Array {
  const ring = rings.get(job);
  if (ring === undefined) throw new Error(`hash-worker: task for unknown job ${job}`);
  return ring;
}

function reply(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(message, transfer);
}

function sha256Stream(job: number, stream: number): Hash {
  let streams = sha256Streams.get(job);
  if (streams === undefined) {
    streams = new Map();
    sha256Streams.set(job, streams);
  }
  let state = streams.get(stream);
  if (state === undefined) {
    state = createHash('sha256');
    streams.set(stream, state);
  }
  return state;
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'attach':
      rings.set(message.job, new Uint8Array(message.ring));
      return;
    case 'detach':
      rings.delete(message.job);
      sha256Streams.delete(message.job);
      return;
    case 'pieces': {
      const ring = ringOf(message.job);
      const { offset, length, pieceLength } = message;
      const count = Math.ceil(length / pieceLength);
      const digests = new Uint8Array(count * SHA1_BYTES);
      for (let i = 0; i < count; i++) {
        const start = offset + i * pieceLength;
        const end = Math.min(start + pieceLength, offset + length);
        digests.set(hash('sha1', ring.subarray(start, end), 'buffer'), i * SHA1_BYTES);
      }
      reply(
        { type: 'pieces', job: message.job, slot: message.slot, block: message.block, digests },
        [digests.buffer],
      );
      return;
    }
    case 'sha256-update': {
      const ring = ringOf(message.job);
      sha256Stream(message.job, message.stream).update(
        ring.subarray(message.offset, message.offset + message.length),
      );
      reply({ type: 'sha256-updated', job: message.job, slot: message.slot });
      return;
    }
    case 'sha256-digest': {
      ringOf(message.job);
      const digest = new Uint8Array(sha256Stream(message.job, message.stream).digest());
      sha256Streams.get(message.job)?.delete(message.stream);
      reply({ type: 'sha256', job: message.job, stream: message.stream, digest }, [digest.buffer]);
      return;
    }
  }
});
