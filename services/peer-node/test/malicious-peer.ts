// A tiny hostile peer written with @shoal/protocol's codec: it claims every piece, unchokes
// everyone at once and answers every request with random bytes. It announces itself to the
// tracker over NATS as a seeder so peer-nodes find it, and never dials anyone.
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import { announceOverNats, bytesToHex } from '@shoal/bus';
import {
  encodeHandshake,
  encodeMessage,
  type Metainfo,
  reservedBytes,
  WireDecoder,
} from '@shoal/protocol';

export interface MaliciousPeer {
  readonly host: string;
  readonly port: number;
  /** Blocks of garbage sent. */
  readonly blocksSent: () => number;
  close(): Promise<void>;
}

export async function startMaliciousPeer(options: {
  host: string;
  metainfo: Metainfo;
  nc: NatsConnection;
}): Promise<MaliciousPeer> {
  const { metainfo, host } = options;
  const peerId = new Uint8Array(randomBytes(20));
  const sockets = new Set<Socket>();
  let blocks = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const decoder = new WireDecoder();
    socket.on('data', (chunk: Buffer) => {
      let events: ReturnType<WireDecoder['push']>;
      try {
        events = decoder.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const event of events) {
        if (event.type === 'handshake') {
          socket.write(
            encodeHandshake({ reserved: reservedBytes([]), infoHash: metainfo.infoHash, peerId }),
          );
          const all = new Uint8Array(Math.ceil(metainfo.pieceCount / 8)).fill(0xff);
          const spare = all.length * 8 - metainfo.pieceCount;
          if (spare > 0) all[all.length - 1] = (0xff << spare) & 0xff;
          socket.write(encodeMessage({ type: 'bitfield', bitfield: all }));
          socket.write(encodeMessage({ type: 'unchoke' }));
        } else if (event.type === 'request') {
          blocks++;
          socket.write(
            encodeMessage({
              type: 'piece',
              index: event.index,
              begin: event.begin,
              block: new Uint8Array(randomBytes(event.length)),
            }),
          );
        }
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;

  // Stay listed as a seeder in the tracker while the test runs.
  const announce = (event?: 'started') =>
    announceOverNats(options.nc, {
      infoHash: metainfo.infoHashHex,
      peerId: bytesToHex(peerId),
      ip: host,
      port,
      uploaded: 0,
      downloaded: 0,
      left: 0,
      ...(event === undefined ? {} : { event }),
    }).catch(() => undefined);
  await announce('started');
  const timer = setInterval(() => void announce(), 2000);
  timer.unref();

  return {
    host,
    port,
    blocksSent: () => blocks,
    close: async () => {
      clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
