// Publish: stream a local file to the piece-store's Ingest, hashing it on the way, and check
// that what the piece-store committed is exactly what was read (size, SHA-256, infohash).
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { basename, isAbsolute } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { type Artifact, createPieceStoreClient } from '@shoal/piece-store-client';
import { checkPathComponent, type Metainfo, MetainfoError } from '@shoal/protocol';
import { PeerNodeError, PeerNodeErrorCode } from './errors.ts';
import { parseTorrentOrThrow } from './metainfo-source.ts';

const CHUNK_BYTES = 1024 * 1024;
/** Deadline of an ingest: a minute plus the time to send the file at 5 MiB/s. */
const INGEST_BASE_DEADLINE_MS = 60_000;
const INGEST_MIN_RATE = 5 * 1024 * 1024;

export interface PublishedFile {
  readonly artifact: Artifact;
  readonly metainfo: Metainfo;
  readonly torrent: Uint8Array;
  readonly sha256Hex: string;
  readonly size: number;
}

interface CheckedFile {
  path: string;
  name: string;
  size: number;
  mtimeNs: bigint;
}

/** Checks a Publish request: an absolute path to a non-empty regular file and a safe name. */
async function checkPublishRequest(path: string, name: string): Promise<CheckedFile> {
  if (!isAbsolute(path)) {
    throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `path must be absolute: ${path}`);
  }
  const chosen = name === '' ? basename(path) : name;
  try {
    checkPathComponent(chosen, 'name');
  } catch (error) {
    if (error instanceof MetainfoError) {
      throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, error.message, { cause: error });
    }
    throw error;
  }
  let stats: Awaited<ReturnType<typeof statBig>>;
  try {
    stats = await statBig(path);
  } catch (error) {
    throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `cannot read ${path}`, {
      cause: error,
    });
  }
  if (!stats.isFile()) {
    throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `not a regular file: ${path}`);
  }
  if (stats.size === 0n) {
    throw new PeerNodeError(PeerNodeErrorCode.InvalidArgument, `${path} is empty`);
  }
  return { path, name: chosen, size: Number(stats.size), mtimeNs: stats.mtimeNs };
}

function statBig(path: string) {
  return stat(path, { bigint: true });
}

/** Streams `path` to the piece-store at `address` and returns the committed artifact. */
export async function publishToPieceStore(options: {
  address: string;
  path: string;
  name: string;
}): Promise<PublishedFile> {
  const file = await checkPublishRequest(options.path, options.name);
  const client = createPieceStoreClient(options.address, {
    ingestDeadlineMs: INGEST_BASE_DEADLINE_MS + (file.size / INGEST_MIN_RATE) * 1000,
  });
  const hash = createHash('sha256');
  let artifact: Artifact;
  try {
    artifact = await client.ingest(
      { name: file.name, expectedSize: file.size },
      readHashing(file.path, hash),
    );
  } catch (error) {
    throw fromIngestError(error);
  } finally {
    client.close();
  }
  const sha256Hex = hash.digest('hex');
  const after = await statBig(file.path);
  if (Number(after.size) !== file.size || after.mtimeNs !== file.mtimeNs) {
    throw new PeerNodeError(
      PeerNodeErrorCode.FailedPrecondition,
      `${file.path} changed while it was being published`,
    );
  }
  if (artifact.sha256 !== sha256Hex || artifact.size !== file.size) {
    throw new PeerNodeError(
      PeerNodeErrorCode.Internal,
      `the piece-store committed ${artifact.size} bytes with SHA-256 ${artifact.sha256}, but ${file.size} bytes with SHA-256 ${sha256Hex} were sent`,
    );
  }
  const torrent = new Uint8Array(artifact.torrent);
  const metainfo = parseTorrentOrThrow(torrent);
  if (metainfo.infoHashHex !== artifact.infoHash || metainfo.totalLength !== file.size) {
    throw new PeerNodeError(
      PeerNodeErrorCode.Internal,
      `the piece-store's torrent does not describe the artifact it reported (${artifact.infoHash})`,
    );
  }
  return { artifact, metainfo, torrent, sha256Hex, size: file.size };
}

/** The file in fresh chunks (gRPC keeps each until sent), each fed to `hash` on the way. */
async function* readHashing(
  path: string,
  hash: ReturnType<typeof createHash>,
): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  try {
    // Bounded by the file's length: each pass reads at least one byte or stops.
    for (let position = 0; ; ) {
      const chunk = new Uint8Array(CHUNK_BYTES);
      const { bytesRead } = await file.read(chunk, 0, CHUNK_BYTES, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      const data = chunk.subarray(0, bytesRead);
      hash.update(data);
      yield data;
    }
  } finally {
    await file.close();
  }
}

function fromIngestError(error: unknown): PeerNodeError {
  const grpcError = error as Partial<grpc.ServiceError>;
  if (typeof grpcError.code !== 'number') {
    return new PeerNodeError(PeerNodeErrorCode.Internal, `publishing failed: ${error}`, {
      cause: error,
    });
  }
  const message = `piece-store Ingest: ${grpcError.details || grpcError.message}`;
  switch (grpcError.code) {
    case grpc.status.INVALID_ARGUMENT:
      return new PeerNodeError(PeerNodeErrorCode.InvalidArgument, message, { cause: error });
    case grpc.status.UNAVAILABLE:
    case grpc.status.DEADLINE_EXCEEDED:
      return new PeerNodeError(PeerNodeErrorCode.Unavailable, message, { cause: error });
    case grpc.status.RESOURCE_EXHAUSTED:
      return new PeerNodeError(PeerNodeErrorCode.ResourceExhausted, message, { cause: error });
    default:
      return new PeerNodeError(PeerNodeErrorCode.Internal, message, { cause: error });
  }
}
