// Watches which pieces each peer-node holds by joining the swarm as a silent peer: it connects
// to every node's wire port, handshakes, and reads the BITFIELD, HAVE and HAVE ALL/NONE
// messages the node sends, never asking for data. That tells when every piece exists somewhere
// in the swarm, through the same protocol any BitTorrent client sees.
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { hexToBytes } from '@shoal/bus';
import { encodeHandshake, ReservedBit, reservedBytes, WireDecoder } from '@shoal/protocol';

interface Target {
  name: string;
  host: string;
  port: number;
}

export class PieceObserver {
  readonly #infoHash: Uint8Array;
  readonly #pieceCount: number;
  readonly #have = new Map<string, Uint8Array>();
  readonly #sockets = new Set<Socket>();
  readonly #peerId = new Uint8Array(Buffer.concat([Buffer.from('-SHTEST-'), randomBytes(12)]));
  #closed = false;

  constructor(infoHashHex: string, pieceCount: number, targets: readonly Target[]) {
    this.#infoHash = hexToBytes(infoHashHex);
    this.#pieceCount = pieceCount;
    for (const target of targets) {
      this.#have.set(target.name, new Uint8Array(pieceCount));
      this.#connect(target);
    }
  }

  /** Pieces each node holds. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [name, have] of this.#have)
      counts.set(
        name,
        have.reduce((sum, bit) => sum + bit, 0),
      );
    return counts;
  }

  /** Whether every piece is held by at least one node. */
  covered(): boolean {
    for (let piece = 0; piece < this.#pieceCount; piece++) {
      let found = false;
      for (const have of this.#have.values()) {
        if (have[piece] === 1) {
          found = true;
          break;
        }
      }
      if (!found) return false;
    }
    return true;
  }

  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  #connect(target: Target): void {
    if (this.#closed) return;
    const have = this.#have.get(target.name)!;
    const socket = connect({ host: target.host, port: target.port });
    this.#sockets.add(socket);
    const decoder = new WireDecoder({ maxBlockLength: 128 * 1024 });
    socket.on('connect', () => {
      socket.write(
        encodeHandshake({
          reserved: reservedBytes([ReservedBit.Fast, ReservedBit.ExtensionProtocol]),
          infoHash: this.#infoHash,
          peerId: this.#peerId,
        }),
      );
    });
    socket.on('data', (chunk: Buffer) => {
      let events: ReturnType<WireDecoder['push']>;
      try {
        events = decoder.push(new Uint8Array(chunk));
      } catch {
        socket.destroy();
        return;
      }
      for (const event of events) {
        if (event.type === 'bitfield') {
          for (let piece = 0; piece < this.#pieceCount; piece++) {
            const byte = event.bitfield[piece >> 3] ?? 0;
            if ((byte & (0x80 >> (piece & 7))) !== 0) have[piece] = 1;
          }
        } else if (event.type === 'have' && event.index < this.#pieceCount) {
          have[event.index] = 1;
        } else if (event.type === 'have-all') {
          have.fill(1);
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#sockets.delete(socket);
      // Nodes may drop a peer that wants nothing; come back, bounded by close().
      if (!this.#closed) setTimeout(() => this.#connect(target), 250).unref();
    });
  }
}
