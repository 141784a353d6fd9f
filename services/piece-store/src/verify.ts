// Checks that stored bytes still match their torrent: a sample of pieces (the first, the last
// and some chosen at random) read with positional reads into one reused buffer, or every piece
// and the whole-file SHA-256 on the hash workers.
import { createHash, randomInt } from 'node:crypto';
import { open } from 'node:fs/promises';
import { bytesToHex } from '@shoal/bus';
import { type HashPool, hashFilePieces } from '@shoal/hashing';
import { type Metainfo, parseTorrent } from '@shoal/protocol';
import type { ArtifactStore } from './store.ts';

export const VerifyMode = {
  /** Sizes only (done by the store when it opens). */
  Size: 'size',
  /** Sizes and a sample of pieces. */
  Sample: 'sample',
  /** Every piece and the whole-file SHA-256. */
  Full: 'full',
} as const;
export type VerifyMode = (typeof VerifyMode)[keyof typeof VerifyMode];

export interface VerifyOutcome {
  infoHash: string;
  ok: boolean;
  /** Why it failed. */
  reason?: string;
  piecesChecked: number;
}

export interface VerifyOptions {
  mode: VerifyMode;
  /** Random pieces checked in Sample mode, besides the first and the last. */
  samplePieces: number;
  pool: HashPool;
  signal?: AbortSignal;
}

/** Verifies one stored artifact against its torrent. Never throws for bad data: it reports it. */
export async function verifyArtifact(
  store: ArtifactStore,
  infoHash: string,
  options: VerifyOptions,
): Promise<VerifyOutcome> {
  const record = store.get(infoHash);
  if (record === undefined) return { infoHash, ok: false, reason: 'not stored', piecesChecked: 0 };
  let metainfo: Metainfo;
  try {
    metainfo = parseTorrent(await store.readTorrent(infoHash));
  } catch (error) {
    return {
      infoHash,
      ok: false,
      reason: `torrent: ${(error as Error).message}`,
      piecesChecked: 0,
    };
  }
  if (metainfo.infoHashHex !== infoHash || metainfo.totalLength !== record.size) {
    return { infoHash, ok: false, reason: 'torrent does not match meta.json', piecesChecked: 0 };
  }
  if (options.mode === VerifyMode.Size) return { infoHash, ok: true, piecesChecked: 0 };
  const path = store.dataPath(infoHash);
  try {
    if (options.mode === VerifyMode.Full) {
      const hashes = await hashFilePieces(path, {
        pieceLength: metainfo.pieceLength,
        sha256: true,
        pool: options.pool,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      const bad = firstMismatch(hashes.pieces, metainfo.pieces);
      if (bad !== undefined) {
        return {
          infoHash,
          ok: false,
          reason: `piece ${bad} hash mismatch`,
          piecesChecked: bad + 1,
        };
      }
      if (bytesToHex(hashes.sha256!) !== record.sha256) {
        return {
          infoHash,
          ok: false,
          reason: 'whole-file SHA-256 mismatch',
          piecesChecked: metainfo.pieceCount,
        };
      }
      return { infoHash, ok: true, piecesChecked: metainfo.pieceCount };
    }
    return await verifySample(path, metainfo, options.samplePieces);
  } catch (error) {
    return {
      infoHash,
      ok: false,
      reason: `read failed: ${(error as Error).message}`,
      piecesChecked: 0,
    };
  }
}

async function verifySample(
  path: string,
  metainfo: Metainfo,
  samplePieces: number,
): Promise<VerifyOutcome> {
  const infoHash = metainfo.infoHashHex;
  const last = metainfo.pieceCount - 1;
  const chosen = new Set([0, last]);
  // Bounded: at most samplePieces draws.
  for (let i = 0; i < samplePieces && chosen.size < metainfo.pieceCount; i++) {
    chosen.add(randomInt(metainfo.pieceCount));
  }
  const buffer = new Uint8Array(metainfo.pieceLength);
  const file = await open(path, 'r');
  try {
    for (const index of [...chosen].sort((a, b) => a - b)) {
      const start = index * metainfo.pieceLength;
      const length = Math.min(metainfo.pieceLength, metainfo.totalLength - start);
      const target = buffer.subarray(0, length);
      // Bounded: each pass reads at least one byte or stops.
      for (let got = 0; got < length; ) {
        const { bytesRead } = await file.read(target, got, length - got, start + got);
        if (bytesRead === 0) {
          return { infoHash, ok: false, reason: `piece ${index} truncated`, piecesChecked: 0 };
        }
        got += bytesRead;
      }
      const digest = createHash('sha1').update(target).digest();
      const expected = metainfo.pieces.subarray(index * 20, index * 20 + 20);
      if (!digest.equals(expected)) {
        return {
          infoHash,
          ok: false,
          reason: `piece ${index} hash mismatch`,
          piecesChecked: chosen.size,
        };
      }
    }
  } finally {
    await file.close();
  }
  return { infoHash, ok: true, piecesChecked: chosen.size };
}

function firstMismatch(actual: Uint8Array, expected: Uint8Array): number | undefined {
  const count = Math.max(actual.length, expected.length) / 20;
  for (let i = 0; i < count; i++) {
    const a = actual.subarray(i * 20, i * 20 + 20);
    const b = expected.subarray(i * 20, i * 20 + 20);
    if (Buffer.compare(a, b) !== 0) return i;
  }
  return undefined;
}
