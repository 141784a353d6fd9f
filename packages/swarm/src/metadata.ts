// BEP 9: get a torrent's info dict from peers that have it, knowing only the infohash
// (a magnet link). Serving it is the torrent's job (torrent.ts, 'metadata-request').
import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import {
  type DecodedMessage,
  METADATA_PIECE_LENGTH,
  type Metainfo,
  metadataPieceCount,
  parseInfo,
  UT_METADATA,
} from '@shoal/protocol';
import { asError, SwarmError, SwarmErrorCode } from './errors.ts';
import { OUR_UT_METADATA_ID, PeerConnection, randomPeerId } from './peer-connection.ts';
import type { PeerAddress } from './torrent.ts';

/** Largest info dict we fetch: 16 MiB is ~800,000 piece hashes, far beyond our torrents. */
export const MAX_FETCHED_METADATA_SIZE = 16 * 1024 * 1024;

export interface FetchMetadataOptions {
  /** Our peer id; default random. */
  peerId?: Uint8Array;
  /** Per peer: connect, handshakes and the whole transfer. Default 15 s. */
  peerTimeoutMs?: number;
  /** Largest metadata_size accepted. Default MAX_FETCHED_METADATA_SIZE. */
  maxMetadataSize?: number;
  /** Peers tried at most, in the order given. Default 20. */
  maxPeers?: number;
  signal?: AbortSignal;
}

/**
 * Asks the peers in turn for the info dict of `infoHash` (40 hex characters or 20 bytes) over
 * ut_metadata, checks its SHA-1 against the infohash, and returns it parsed. Rejects with
 * SwarmError 'SWARM_METADATA_UNAVAILABLE' when no peer gave a matching one.
 */
export async function fetchMetadata(
  infoHash: string | Uint8Array,
  peers: readonly PeerAddress[],
  options: FetchMetadataOptions = {},
): Promise<Metainfo> {
  const hash = typeof infoHash === 'string' ? parseHexInfoHash(infoHash) : infoHash;
  if (hash.length !== 20) {
    throw new SwarmError(SwarmErrorCode.InvalidOptions, 'infoHash must be 20 bytes');
  }
  const failures: string[] = [];
  for (const peer of peers.slice(0, options.maxPeers ?? 20)) {
    options.signal?.throwIfAborted();
    try {
      const infoBytes = await fetchFromPeer(hash, peer, options);
      return { ...parseInfo(infoBytes), announceList: [] };
    } catch (error) {
      failures.push(`${peer.host}:${peer.port}: ${asError(error).message}`);
    }
  }
  throw new SwarmError(
    SwarmErrorCode.MetadataUnavailable,
    `no peer gave the metadata (${failures.join('; ') || 'no peers'})`,
  );
}

function parseHexInfoHash(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{40}$/.test(hex)) {
    throw new SwarmError(SwarmErrorCode.InvalidOptions, `infoHash ${hex} is not 40 hex characters`);
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function fetchFromPeer(
  infoHash: Uint8Array,
  peer: PeerAddress,
  options: FetchMetadataOptions,
): Promise<Uint8Array> {
  const maxSize = options.maxMetadataSize ?? MAX_FETCHED_METADATA_SIZE;
  const timeoutMs = options.peerTimeoutMs ?? 15_000;
  return new Promise<Uint8Array>((resolve, reject) => {
    let buffer: Uint8Array | undefined;
    let received: boolean[] = [];
    let remaining = 0;
    let settled = false;
    const finish = (error: Error | undefined, result?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      conn.close(new SwarmError(SwarmErrorCode.ConnectionClosed, 'metadata fetch done'));
      if (error) reject(error);
      else resolve(result!);
    };
    const fail = (message: string) =>
      finish(new SwarmError(SwarmErrorCode.ProtocolViolation, message));
    const onAbort = () => finish(asError(options.signal?.reason));
    const onMessage = (connection: PeerConnection, message: DecodedMessage) => {
      if (message.type === 'extended-handshake') {
        const theirId = message.handshake.extensions?.get(UT_METADATA) ?? 0;
        const size = message.handshake.metadataSize;
        if (theirId === 0) return fail('peer does not offer ut_metadata');
        if (size === undefined || size > maxSize) return fail(`metadata_size ${size} refused`);
        if (buffer) return; // a repeated extended handshake changes nothing here
        buffer = new Uint8Array(size);
        remaining = metadataPieceCount(size);
        received = new Array(remaining).fill(false);
        for (let piece = 0; piece < remaining; piece++) {
          connection.send({ type: 'metadata-request', extendedId: theirId, piece });
        }
      } else if (message.type === 'metadata-data') {
        if (!buffer || message.totalSize !== buffer.length) return fail('metadata size changed');
        if (message.piece >= received.length || received[message.piece]) return;
        buffer.set(message.data, message.piece * METADATA_PIECE_LENGTH);
        received[message.piece] = true;
        if (--remaining > 0) return;
        const digest = createHash('sha1').update(buffer).digest();
        if (Buffer.compare(digest, infoHash) !== 0)
          return fail('metadata does not match the infohash');
        finish(undefined, buffer);
      } else if (message.type === 'metadata-reject') {
        fail(`peer rejected metadata piece ${message.piece}`);
      }
    };
    const socket = connect({ host: peer.host, port: peer.port });
    const conn = new PeerConnection({
      socket,
      direction: 'outbound',
      peerId: options.peerId ?? randomPeerId(),
      infoHash,
      remote: { host: peer.host, port: peer.port },
      handshakeTimeoutMs: timeoutMs,
      onHandshake: () => ({
        onOpen: (connection) => {
          if (!connection.extended) return fail('peer does not speak the extension protocol');
          if (connection.fast) connection.send({ type: 'have-none' });
          connection.send({
            type: 'extended-handshake',
            handshake: { extensions: new Map([[UT_METADATA, OUR_UT_METADATA_ID]]) },
          });
        },
        onMessage,
        onClose: (_connection, reason) => finish(reason),
      }),
      onClosedBeforeOpen: (reason) => finish(reason),
    });
    const timer = setTimeout(
      () => finish(new SwarmError(SwarmErrorCode.Timeout, `no metadata within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}
