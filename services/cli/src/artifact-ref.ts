// What a user can name an artifact by (an infohash, a magnet link, a .torrent file), and the
// check that the swarm knows it before a node is asked to fetch it.
import { readFile, stat } from 'node:fs/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { isHexId, lookupMetainfoOverNats, scrapeOverNats } from '@shoal/bus';
import { DEFAULT_MAX_TORRENT_BYTES, parseMagnet, parseTorrent } from '@shoal/protocol';
import { busError } from './clients.ts';
import { CliError, CliErrorCode, oneLine } from './errors.ts';

export type ArtifactRef =
  | { kind: 'infoHash'; infoHash: string }
  | { kind: 'magnet'; infoHash: string; magnet: string }
  | { kind: 'torrent'; infoHash: string; torrent: Uint8Array; name: string; size: number };

/** An infohash as 40 hex characters, either case; returned lowercase. */
export function parseInfoHash(text: string): string | undefined {
  const lower = text.trim().toLowerCase();
  return isHexId(lower) ? lower : undefined;
}

/**
 * Reads `text` as an infohash, a magnet link or the path of a .torrent file. Throws `BadFile`
 * for a missing or invalid .torrent and `Usage` for a malformed infohash or magnet.
 */
export async function parseArtifactRef(text: string): Promise<ArtifactRef> {
  const infoHash = parseInfoHash(text);
  if (infoHash !== undefined) return { kind: 'infoHash', infoHash };
  if (/^magnet:/i.test(text)) {
    try {
      return { kind: 'magnet', infoHash: parseMagnet(text).infoHashHex, magnet: text };
    } catch (error) {
      throw new CliError(CliErrorCode.Usage, `not a valid magnet link: ${oneLine(error)}`, {
        cause: error,
      });
    }
  }
  let size: number;
  try {
    const stats = await stat(text);
    if (!stats.isFile()) throw new CliError(CliErrorCode.BadFile, `${text} is not a file`);
    size = stats.size;
  } catch (error) {
    if (error instanceof CliError) throw error;
    const looksLikeHash = /^[0-9a-fA-F]{20,}$/.test(text);
    throw new CliError(
      looksLikeHash ? CliErrorCode.Usage : CliErrorCode.BadFile,
      looksLikeHash
        ? `${text} is not an infohash (40 hex characters)`
        : `${text}: no such file (expected an infohash, a magnet link or a .torrent file)`,
      { cause: error },
    );
  }
  if (size > DEFAULT_MAX_TORRENT_BYTES) {
    throw new CliError(CliErrorCode.BadFile, `${text} is too large to be a .torrent file`);
  }
  const torrent = new Uint8Array(await readFile(text));
  try {
    const metainfo = parseTorrent(torrent);
    return {
      kind: 'torrent',
      infoHash: metainfo.infoHashHex,
      torrent,
      name: metainfo.name,
      size: metainfo.totalLength,
    };
  } catch (error) {
    throw new CliError(CliErrorCode.BadFile, `${text} is not a valid .torrent: ${oneLine(error)}`, {
      cause: error,
    });
  }
}

/**
 * Makes sure the swarm knows `infoHash`: a piece-store holds it, or the tracker has peers for
 * it. Returns the .torrent when a piece-store sent it. Throws `NotFound` only when the
 * piece-stores answered "not found" and the tracker knows no peer: a piece-store that is down
 * is not proof the artifact is gone.
 */
export async function checkKnown(
  nc: NatsConnection,
  prefix: string,
  infoHash: string,
): Promise<Uint8Array | undefined> {
  let notFound = false;
  try {
    const { torrent } = await lookupMetainfoOverNats(nc, infoHash, { prefix, timeoutMs: 5000 });
    return torrent;
  } catch (error) {
    const mapped = busError('piece-store', error);
    if (mapped.code === CliErrorCode.NotFound) notFound = true;
    else if (mapped.code !== CliErrorCode.Unreachable) throw mapped;
  }
  let peers = 0;
  try {
    const scrape = await scrapeOverNats(
      nc,
      { infoHashes: [infoHash] },
      { prefix, timeoutMs: 5000 },
    );
    for (const swarm of scrape.swarms) peers += swarm.complete + swarm.incomplete;
  } catch (error) {
    // No tracker answer either: nothing proves the artifact unknown, let the node try.
    if (!notFound) return undefined;
    throw busError('tracker', error);
  }
  if (notFound && peers === 0) {
    throw new CliError(
      CliErrorCode.NotFound,
      `unknown infohash ${infoHash}: no piece-store holds it and no peer has it`,
    );
  }
  return undefined;
}
