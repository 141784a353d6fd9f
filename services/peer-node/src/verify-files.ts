import { hashFilesPieces } from '@shoal/hashing';
import type { Metainfo } from '@shoal/protocol';
import { Bitfield } from '@shoal/swarm';

/** Bytes of the file stream held at once while re-verifying. */
const MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;

/**
 * Which pieces of the torrent the data files (in torrent order, all present and sized) hold
 * intact: every piece hashed again with @shoal/hashing, on a worker of its own that ends with
 * the call, and compared with the torrent's digest. What a node trusts when it has no (or no
 * trustworthy) resume record.
 */
export async function verifyFiles(files: readonly string[], metainfo: Metainfo): Promise<Bitfield> {
  const { pieces } = await hashFilesPieces(files, {
    pieceLength: metainfo.pieceLength,
    workers: 1,
    maxInFlightBytes: Math.max(MAX_IN_FLIGHT_BYTES, 2 * metainfo.pieceLength),
  });
  const have = new Bitfield(metainfo.pieceCount);
  for (let index = 0; index < metainfo.pieceCount; index++) {
    const at = index * 20;
    if (Buffer.compare(pieces.subarray(at, at + 20), metainfo.pieces.subarray(at, at + 20)) === 0) {
      have.set(index);
    }
  }
  return have;
}
