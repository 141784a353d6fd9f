// A small typed client of the piece-store's gRPC API (shoal.v1.PieceStore), with a deadline on
// every call and a streamed upload that respects the channel's back-pressure.
import { once } from 'node:events';
import { open, stat } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import {
  type Artifact__Output,
  type DeleteResponse__Output,
  type PieceStoreClient as GeneratedClient,
  type IngestChunk,
  type ListArtifactsResponse__Output,
  pieceStoreProto,
  type VerifyResponse__Output,
} from '@shoal/proto';

export type { Artifact__Output as Artifact } from '@shoal/proto';

/** Largest upload chunk the piece-store accepts in one message. */
export const MAX_CHUNK_BYTES = 4 * 1024 * 1024;
const DEFAULT_CHUNK_BYTES = 1024 * 1024;

export interface PieceStoreClientOptions {
  /** Deadline of List, Stat, Delete, IngestPath and Verify calls; default 60 000 ms. */
  deadlineMs?: number;
  /** Deadline of a whole Ingest upload; default 6 hours. */
  ingestDeadlineMs?: number;
  /** Default `grpc.credentials.createInsecure()`. */
  credentials?: grpc.ChannelCredentials;
}

export interface IngestHeader {
  name: string;
  /** Whole-content SHA-256 (32 bytes); the piece-store refuses the upload on a mismatch. */
  expectedSha256?: Uint8Array;
  /** Declared size; lets the piece-store pick the piece length up front. */
  expectedSize?: number;
}

export interface CallOptions {
  signal?: AbortSignal;
  deadlineMs?: number;
}

export interface PieceStoreClient {
  /** Uploads `data` (chunks of at most MAX_CHUNK_BYTES) under `header`. */
  ingest(
    header: IngestHeader,
    data: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    options?: CallOptions,
  ): Promise<Artifact__Output>;
  /** Uploads a local file, declaring its size; the name defaults to nothing: give one. */
  ingestFile(
    path: string,
    header: Omit<IngestHeader, 'expectedSize'>,
    options?: CallOptions & { chunkBytes?: number },
  ): Promise<Artifact__Output>;
  /** Asks the piece-store to ingest a file on its own disk (below its ingest root). */
  ingestPath(
    path: string,
    header: { name?: string; expectedSha256?: Uint8Array },
    options?: CallOptions,
  ): Promise<Artifact__Output>;
  list(options?: CallOptions): Promise<Artifact__Output[]>;
  stat(infoHash: string, options?: CallOptions): Promise<Artifact__Output>;
  /** Deletes the artifact on every live replica; true if a copy existed. */
  delete(infoHash: string, options?: CallOptions): Promise<boolean>;
  verify(
    request: { infoHash?: string; full?: boolean },
    options?: CallOptions,
  ): Promise<VerifyResponse__Output>;
  close(): void;
}

export function createPieceStoreClient(
  address: string,
  options: PieceStoreClientOptions = {},
): PieceStoreClient {
  const client: GeneratedClient = new pieceStoreProto.PieceStore(
    address,
    options.credentials ?? grpc.credentials.createInsecure(),
    { 'grpc.max_receive_message_length': 64 * 1024 * 1024 },
  );
  const deadline = (ms: number | undefined, fallback: number) =>
    new Date(Date.now() + (ms ?? fallback));
  const unaryDeadline = options.deadlineMs ?? 60_000;

  /** Runs a unary call, cancelling it when `signal` aborts. */
  const unary = <T>(
    callOptions: CallOptions | undefined,
    start: (
      metadata: grpc.Metadata,
      call: grpc.CallOptions,
      callback: (error: grpc.ServiceError | null, value?: T) => void,
    ) => grpc.ClientUnaryCall,
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      callOptions?.signal?.throwIfAborted();
      const call = start(
        new grpc.Metadata(),
        { deadline: deadline(callOptions?.deadlineMs, unaryDeadline) },
        (error, value) => (error ? reject(error) : resolve(value as T)),
      );
      callOptions?.signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });

  const ingest: PieceStoreClient['ingest'] = async (header, data, callOptions) => {
    callOptions?.signal?.throwIfAborted();
    let call: grpc.ClientWritableStream<IngestChunk> | undefined;
    const result = new Promise<Artifact__Output>((resolve, reject) => {
      call = client.Ingest(
        new grpc.Metadata(),
        { deadline: deadline(callOptions?.deadlineMs, options.ingestDeadlineMs ?? 6 * 3_600_000) },
        (error, value) => (error ? reject(error) : resolve(value as Artifact__Output)),
      );
    });
    const stream = call!;
    const onAbort = () => stream.cancel();
    callOptions?.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      stream.write({
        header: {
          name: header.name,
          expectedSha256: header.expectedSha256 ?? new Uint8Array(0),
          expectedSize: header.expectedSize ?? 0,
        },
      });
      for await (const chunk of data) {
        if (callOptions?.signal?.aborted) break;
        for (let offset = 0; offset < chunk.length; offset += MAX_CHUNK_BYTES) {
          const part = chunk.subarray(offset, offset + MAX_CHUNK_BYTES);
          if (!stream.write({ data: part })) await drained(stream, result);
        }
      }
      if (!callOptions?.signal?.aborted) stream.end();
    } catch (error) {
      stream.cancel();
      await result.catch(() => {});
      throw error;
    } finally {
      callOptions?.signal?.removeEventListener('abort', onAbort);
    }
    return result;
  };

  return {
    ingest,
    ingestFile: async (path, header, callOptions) => {
      const size = (await stat(path)).size;
      const chunkBytes = Math.min(callOptions?.chunkBytes ?? DEFAULT_CHUNK_BYTES, MAX_CHUNK_BYTES);
      return ingest({ ...header, expectedSize: size }, readChunks(path, chunkBytes), callOptions);
    },
    ingestPath: (path, header, callOptions) =>
      unary(callOptions, (metadata, call, callback) =>
        client.IngestPath(
          {
            path,
            name: header.name ?? '',
            expectedSha256: header.expectedSha256 ?? new Uint8Array(0),
          },
          metadata,
          call,
          (error, value) => callback(error, value),
        ),
      ),
    list: async (callOptions) => {
      const response = await unary<ListArtifactsResponse__Output>(
        callOptions,
        (metadata, call, callback) =>
          client.List({}, metadata, call, (error, value) => callback(error, value)),
      );
      return response?.artifacts ?? [];
    },
    stat: (infoHash, callOptions) =>
      unary(callOptions, (metadata, call, callback) =>
        client.Stat({ infoHash }, metadata, call, (error, value) => callback(error, value)),
      ),
    delete: async (infoHash, callOptions) => {
      const response = await unary<DeleteResponse__Output>(
        callOptions,
        (metadata, call, callback) =>
          client.Delete({ infoHash }, metadata, call, (error, value) => callback(error, value)),
      );
      return response?.deleted ?? false;
    },
    verify: (request, callOptions) =>
      unary(callOptions, (metadata, call, callback) =>
        client.Verify(
          { infoHash: request.infoHash ?? '', full: request.full ?? false },
          metadata,
          call,
          (error, value) => callback(error, value),
        ),
      ),
    close: () => client.close(),
  };
}

/** Waits for the stream to drain; fails as soon as the call itself ends first. */
async function drained(stream: grpc.ClientWritableStream<IngestChunk>, result: Promise<unknown>) {
  const controller = new AbortController();
  const ended = result.then(
    () => {
      throw new Error('the piece-store answered before the upload ended');
    },
    (error: unknown) => {
      throw error;
    },
  );
  try {
    await Promise.race([once(stream, 'drain', { signal: controller.signal }), ended]);
  } finally {
    controller.abort();
  }
}

/** A file in fresh chunks (each is handed to gRPC, which keeps it until sent). */
async function* readChunks(path: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const file = await open(path, 'r');
  try {
    // Bounded by the file's length: each pass reads at least one byte or stops.
    for (let position = 0; ; ) {
      const chunk = new Uint8Array(chunkBytes);
      const { bytesRead } = await file.read(chunk, 0, chunkBytes, position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield chunk.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}
