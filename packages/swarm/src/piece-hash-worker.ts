// Runs in a worker thread: SHA-1 of a piece whose memory is lent to it and given back.
import { hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { FromHashWorker, ToHashWorker } from './hash-workers.ts';

const port = parentPort;
if (port === null) throw new Error('piece-hash-worker.ts must run in a worker thread');

port.on('message', (message: ToHashWorker) => {
  const piece = new Uint8Array(message.buffer, message.offset, message.length);
  const digest = new Uint8Array(hash('sha1', piece, 'buffer'));
  if (message.buffer instanceof ArrayBuffer) {
    // The piece's memory goes back to the main thread (whose garbage collector owns it).
    const reply: FromHashWorker = { id: message.id, digest, buffer: message.buffer };
    port.postMessage(reply, [message.buffer, digest.buffer]);
  } else {
    const reply: FromHashWorker = { id: message.id, digest };
    port.postMessage(reply, [digest.buffer]);
  }
});
