// Piece verification: a piece is trusted only once its SHA-1 matches the torrent's.
import { createHash } from 'node:crypto';
import { Bitfield } from './bitfield.ts';
import type { PieceStorage } from './storage.ts';

export interface PieceGeometry {
  readonly pieceLength: number;
  readonly pieceCount: number;
  readonly totalLength: number;
  /** Concatenated 20-byte SHA-1 digests. */
  readonly pieces: Uint8Array;
}

/** Length of piece `index` (the last one may be short). */
export function pieceSize(geometry: Omit<PieceGeometry, 'pieces'>, index: number): number {
  return index === geometry.pieceCount - 1
    ? geometry.totalLength - index * geometry.pieceLength
    : geometry.pieceLength;
}

export interface PieceHashResult {
  readonly digest: Uint8Array;
  /** The piece's bytes: the same view, or a new view of the same memory. */
  readonly piece: Uint8Array;
}

/**
 * SHA-1 of a piece. An implementation may lend the piece's memory to another thread: use
 * the returned `piece`, not the one passed in, once it settles.
 */
export type PieceHashFunction = (piece: Uint8Array) => Promise<PieceHashResult>;

/** SHA-1 on the calling thread: for tools and tests; the engine uses PieceHashWorkers. */
export const inlineHashFunction: PieceHashFunction = async (piece) => ({
  digest: new Uint8Array(createHash('sha1').update(piece).digest()),
  piece,
});

/** Checks piece `index` against the torrent's digest; returns the verdict and the bytes. */
export async function verifyPiece(
  hash: PieceHashFunction,
  geometry: PieceGeometry,
  index: number,
  data: Uint8Array,
): Promise<{ good: boolean; piece: Uint8Array }> {
  const { digest, piece } = await hash(data);
  const expected = geometry.pieces.subarray(index * 20, index * 20 + 20);
  return { good: digest.length === 20 && Buffer.compare(digest, expected) === 0, piece };
}

/**
 * Reads every piece back from storage and returns the ones that match their hash: what a
 * node trusts after a restart when it has no (or no trustworthy) resume record.
 */
export async function verifyStoredPieces(
  storage: PieceStorage,
  geometry: PieceGeometry,
  hash: PieceHashFunction,
): Promise<Bitfield> {
  const have = new Bitfield(geometry.pieceCount);
  let buffer: Uint8Array = new Uint8Array(geometry.pieceLength);
  for (let index = 0; index < geometry.pieceCount; index++) {
    const data = buffer.subarray(0, pieceSize(geometry, index));
    try {
      await storage.read(index, 0, data);
    } catch {
      continue;
    }
    const { good, piece } = await verifyPiece(hash, geometry, index, data);
    buffer = new Uint8Array(piece.buffer, 0, geometry.pieceLength);
    if (good) have.set(index);
  }
  return have;
}
