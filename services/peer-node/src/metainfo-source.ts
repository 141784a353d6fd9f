// Where a fetch's .torrent comes from: the bytes given, else the piece-store's metainfo lookup
// over NATS, else BEP 9 from swarm peers. Whatever the source, the info dict's SHA-1 must be the
// infohash asked for.
import { BusError, BusErrorCode, isHexId } from '@shoal/bus';
import {
  MagnetError,
  type Metainfo,
  MetainfoError,
  parseMagnet,
  parseTorrent,
} from '@shoal/protocol';
import type { PeerAddress } from '@shoal/swarm';
import { PeerNodeError, PeerNodeErrorCode } from './errors.ts';

/** What a Fetch names: exactly one of these. */
export type FetchSource =
  | { readonly kind: 'torrent'; readonly torrent: Uint8Array }
  | { readonly kind: 'infoHash'; readonly infoHash: string }
  | { readonly kind: 'magnet'; readonly magnet: string };

/** A request's source, checked: the infohash it names and any peers a magnet lists. */
export interface ParsedSource {
  readonly infoHash: string;
  /** Set when the request carried the .torrent itself. */
  readonly metainfo?: Metainfo;
  readonly torrent?: Uint8Array;
  /** `x.pe` peers of a magnet link. */
  readonly peers: readonly PeerAddress[];
}

/** Validates a request's source without any I/O. Throws `PeerNodeError(InvalidArgument)`. */
export function parseSource(source: FetchSource): ParsedSource {
  switch (source.kind) {
    case 'torrent': {
      const metainfo = parseTorrentOrThrow(source.torrent);
      return {
        infoHash: metainfo.infoHashHex,
        metainfo,
        torrent: new Uint8Array(source.torrent),
        peers: [],
      };
    }
    case 'infoHash': {
      const infoHash = source.infoHash.trim().toLowerCase();
      if (!isHexId(infoHash)) {
        throw new PeerNodeError(
          PeerNodeErrorCode.InvalidArgument,
          `info_hash must be 40 hex characters (for base32, send a magnet link), got ${JSON.stringify(source.infoHash.slice(0, 80))}`,
        );
      }
      return { infoHash, peers: [] };
    }
    case 'magnet': {
      try {
        const link = parseMagnet(source.magnet);
        return { infoHash: link.infoHashHex, peers: link.peers.map(toPeerAddress) };
      } catch (error) {
        if (error instanceof MagnetError) {
          throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `magnet: ${error.message}`, {
            cause: error,
          });
        }
        throw error;
      }
    }
  }
}

export function parseTorrentOrThrow(bytes: Uint8Array): Metainfo {
  try {
    return parseTorrent(bytes);
  } catch (error) {
    if (error instanceof MetainfoError) {
      throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `torrent: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** How the node looks a .torrent up; injected so the order and validation are testable. */
export interface MetainfoLookups {
  /** The piece-store's lookup: torrent bytes, or `undefined` when it does not know the infohash. */
  pieceStore(infoHash: string): Promise<Uint8Array | undefined>;
  /** Peers of the swarm, from the tracker. */
  swarmPeers(infoHash: string): Promise<PeerAddress[]>;
  /** BEP 9 from these peers. */
  fetchMetadata(
    infoHash: string,
    peers: readonly PeerAddress[],
    signal: AbortSignal,
  ): Promise<Metainfo>;
}

export interface ResolvedMetainfo {
  readonly metainfo: Metainfo;
  /** The bytes to keep: the .torrent, or for BEP 9 a torrent wrapping the fetched info dict. */
  readonly torrent: Uint8Array;
  readonly from: 'request' | 'piece-store' | 'swarm';
}

/**
 * Gets the metainfo for `source`, trying the piece-store once and then the swarm every
 * `retryMs` until `signal` aborts (the caller's metadata timeout). Rejects with
 * `PeerNodeError(NotFound)` when nothing gave it in time.
 */
export async function resolveMetainfo(
  source: ParsedSource,
  lookups: MetainfoLookups,
  options: { signal: AbortSignal; retryMs?: number; onNote?: (note: string) => void },
): Promise<ResolvedMetainfo> {
  if (source.metainfo !== undefined && source.torrent !== undefined) {
    return { metainfo: source.metainfo, torrent: source.torrent, from: 'request' };
  }
  const { signal } = options;
  const notes: string[] = [];
  const note = (text: string) => {
    notes.push(text);
    options.onNote?.(text);
  };
  try {
    const bytes = await lookups.pieceStore(source.infoHash);
    if (bytes !== undefined) {
      const metainfo = checkInfoHash(parseTorrentOrThrow(bytes), source.infoHash, 'piece-store');
      return { metainfo, torrent: bytes, from: 'piece-store' };
    }
    note('the piece-store does not hold it');
  } catch (error) {
    if (error instanceof PeerNodeError && error.code === PeerNodeErrorCode.InvalidArgument) {
      note(`the piece-store's torrent was refused: ${error.message}`);
    } else {
      note(`piece-store lookup failed: ${describe(error)}`);
    }
  }
  const retryMs = options.retryMs ?? 2000;
  // Bounded by `signal`: the caller aborts it at its metadata deadline.
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const fromTracker = await lookups.swarmPeers(source.infoHash);
      const peers = dedupePeers([...source.peers, ...fromTracker]);
      if (peers.length > 0) {
        const metainfo = await lookups.fetchMetadata(source.infoHash, peers, signal);
        checkInfoHash(metainfo, source.infoHash, 'swarm');
        return { metainfo, torrent: wrapInfo(metainfo.infoBytes), from: 'swarm' };
      }
      if (attempt === 1) note('no peers in the swarm yet');
    } catch (error) {
      if (attempt === 1 || !signal.aborted) note(`BEP 9 attempt ${attempt}: ${describe(error)}`);
    }
    await sleep(retryMs, signal);
  }
  throw new PeerNodeError(
    PeerNodeErrorCode.NotFound,
    `no metadata for ${source.infoHash}: ${[...new Set(notes)].slice(-4).join('; ')}`,
  );
}

/** A .torrent holding just `info` (`d4:info<info>e`), byte-exact so its infohash is unchanged. */
function wrapInfo(infoBytes: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode('d4:info');
  const out = new Uint8Array(head.length + infoBytes.length + 1);
  out.set(head);
  out.set(infoBytes, head.length);
  out[out.length - 1] = 0x65; // 'e'
  return out;
}

function checkInfoHash(metainfo: Metainfo, infoHash: string, from: string): Metainfo {
  if (metainfo.infoHashHex !== infoHash) {
    throw new PeerNodeError(
      PeerNodeErrorCode.InvalidArgument,
      `the ${from} gave a torrent whose info hashes to ${metainfo.infoHashHex}, not ${infoHash}`,
    );
  }
  return metainfo;
}

function dedupePeers(peers: readonly PeerAddress[]): PeerAddress[] {
  const seen = new Map<string, PeerAddress>();
  for (const peer of peers) seen.set(`${peer.host}:${peer.port}`, peer);
  return [...seen.values()];
}

function toPeerAddress(text: string): PeerAddress {
  const colon = text.lastIndexOf(':');
  const host = text.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(text.slice(colon + 1)) };
}

function describe(error: unknown): string {
  if (error instanceof BusError && error.code === BusErrorCode.RequestFailed) {
    return 'no answer over NATS';
  }
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
