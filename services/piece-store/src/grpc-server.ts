// The gRPC edge API (shoal.v1.PieceStore): thin handlers that validate the call's shape, run
// the operation on the node and report failures with the status their error code maps to.
import type { EventEmitter } from 'node:events';
import type { ServerHttp2Session } from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import {
  type Artifact,
  type IngestChunk__Output,
  type PieceStoreHandlers,
  pieceStoreProto,
} from '@shoal/proto';
import type { Logger } from '@shoal/service-kit';
import { grpcStatusOf, PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import type { PieceStoreNode } from './service.ts';

/**
 * HTTP/2 settings for uploads. Node's defaults (64 KiB receive window, 16 KiB frames) make a
 * client stream wait for a WINDOW_UPDATE every 64 KiB and cost one JavaScript callback per
 * 16 KiB; 1 MiB frames and windows cut the CPU per uploaded byte by about a fifth.
 */
const UPLOAD_SESSION_SETTINGS = { initialWindowSize: 1024 * 1024, maxFrameSize: 1024 * 1024 };
const CONNECTION_WINDOW_BYTES = 4 * 1024 * 1024;

/** Largest gRPC message accepted: upload chunks up to 4 MiB plus framing. */
export const MAX_GRPC_MESSAGE_BYTES = 4 * 1024 * 1024 + 64 * 1024;

export interface GrpcService {
  port: number;
  /** Stops taking calls, waits up to `graceMs` for running ones, then cuts them. */
  close(graceMs: number): Promise<void>;
}

export async function startGrpcServer(options: {
  node: PieceStoreNode;
  host: string;
  port: number;
  logger: Logger;
}): Promise<GrpcService> {
  const { node, logger } = options;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  const fail = (method: string, error: unknown): grpc.ServiceError => {
    const code = grpcStatusOf(error);
    if (code === grpc.status.INTERNAL) logger.error({ err: error, method }, 'grpc call failed');
    else
      logger.info(
        { method, code: grpc.status[code], reason: (error as Error).message },
        'grpc call refused',
      );
    const message = code === grpc.status.INTERNAL ? 'internal error' : (error as Error).message;
    return Object.assign(new Error(message), {
      code,
      details: message,
      metadata: new grpc.Metadata(),
    });
  };
  const unary =
    <Req, Res>(method: string, run: (request: Req, signal: AbortSignal) => Promise<Res>) =>
    (call: grpc.ServerUnaryCall<Req, Res>, callback: grpc.sendUnaryData<Res>): void => {
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort(new Error('the client cancelled')));
      run(call.request, controller.signal).then(
        (response) => callback(null, response),
        (error: unknown) => callback(fail(method, error)),
      );
    };

  const handlers: PieceStoreHandlers = {
    Ingest: (call, callback) => {
      const controller = new AbortController();
      call.on('cancelled', () => controller.abort(new Error('the client cancelled')));
      ingestUpload(node, call, controller.signal).then(
        (artifact) => callback(null, artifact),
        (error: unknown) => {
          // A cancelled call has nobody to answer; the error is only logged.
          callback(fail('Ingest', controller.signal.aborted ? cancelledError(error) : error));
        },
      );
    },
    IngestPath: unary('IngestPath', (request, signal) =>
      node.ingestPath(
        request.path,
        { name: request.name, expectedSha256: request.expectedSha256 },
        signal,
      ),
    ),
    List: unary('List', async () => ({ artifacts: await node.list() })),
    Stat: unary('Stat', (request) => node.stat(request.infoHash)),
    Delete: unary('Delete', async (request) => ({ deleted: await node.delete(request.infoHash) })),
    Verify: unary('Verify', (request) =>
      node.verify({ infoHash: request.infoHash, full: request.full }),
    ),
  };
  server.addService(pieceStoreProto.PieceStore.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${options.host}:${options.port}`,
      grpc.ServerCredentials.createInsecure(),
      (error, bound) => (error ? reject(error) : resolve(bound)),
    ),
  );
  tuneUploadSessions(server, logger);
  return {
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

/**
 * grpc-js applies no HTTP/2 flow-control option on the server (grpc/grpc-node#3058 adds
 * `grpc-node.flow_control_window` there), so its HTTP/2 servers are reached here to send each
 * new session UPLOAD_SESSION_SETTINGS. Only a throughput tweak: if grpc-js internals change,
 * uploads still work, slower, and a warning says so.
 */
function tuneUploadSessions(server: grpc.Server, logger: Logger): void {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) {
    logger.warn('cannot tune HTTP/2 sessions for uploads: grpc-js internals changed');
    return;
  }
  for (const http2Server of servers.keys() as Iterable<EventEmitter>) {
    http2Server.on('session', (session: ServerHttp2Session) => {
      session.settings(UPLOAD_SESSION_SETTINGS);
      session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
  }
}

/** Reads the header message, then streams the data messages into the node's ingest. */
async function ingestUpload(
  node: PieceStoreNode,
  call: grpc.ServerReadableStream<IngestChunk__Output, Artifact>,
  signal: AbortSignal,
): Promise<Artifact> {
  const messages = call[Symbol.asyncIterator]() as AsyncIterator<IngestChunk__Output>;
  const first = await messages.next();
  if (first.done === true || first.value.part !== 'header' || !first.value.header) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidArgument,
      'the first Ingest message must carry the header',
    );
  }
  const header = first.value.header;
  async function* data(): AsyncGenerator<Uint8Array> {
    // Bounded by the client's stream; each pass consumes one message.
    for (;;) {
      const next = await messages.next();
      if (next.done === true) return;
      if (next.value.part !== 'data' || next.value.data === undefined) {
        throw new PieceStoreError(
          PieceStoreErrorCode.InvalidArgument,
          'only the first Ingest message may carry a header',
        );
      }
      yield next.value.data;
    }
  }
  return node.ingestStream(
    {
      name: header.name,
      expectedSha256: header.expectedSha256,
      expectedSize: header.expectedSize,
    },
    data(),
    signal,
  );
}

function cancelledError(cause: unknown): PieceStoreError {
  return cause instanceof PieceStoreError && cause.code === PieceStoreErrorCode.Cancelled
    ? cause
    : new PieceStoreError(PieceStoreErrorCode.Cancelled, 'the client cancelled the upload', {
        cause,
      });
}
