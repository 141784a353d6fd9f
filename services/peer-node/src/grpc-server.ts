// The local gRPC API: a Unix socket by default (only local users with access to the socket
// file can call it), TCP optionally. Failures end a call with a status that names the problem.
import { chmod, lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import {
  type FetchProgress,
  type FetchRequest__Output,
  type PeerNodeHandlers,
  peerNodeProto,
  type TorrentStatus,
} from '@shoal/proto';
import { DEFAULT_MAX_TORRENT_BYTES } from '@shoal/protocol';
import { asPeerNodeError, PeerNodeError, PeerNodeErrorCode } from './errors.ts';
import type { FetchSource } from './metainfo-source.ts';
import type { PeerNodeService } from './node.ts';
import type { JobProgress, JobState } from './torrent-job.ts';

export interface GrpcServer {
  /** `host:port` of the TCP listener, if one was asked for. */
  readonly tcpAddress: string | undefined;
  close(): Promise<void>;
}

const STATUS_OF: Record<PeerNodeErrorCode, grpc.status> = {
  PEER_NODE_INVALID_CONFIG: grpc.status.INTERNAL,
  PEER_NODE_INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  PEER_NODE_NOT_FOUND: grpc.status.NOT_FOUND,
  PEER_NODE_ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  PEER_NODE_UNAVAILABLE: grpc.status.UNAVAILABLE,
  PEER_NODE_DATA_LOSS: grpc.status.DATA_LOSS,
  PEER_NODE_FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  PEER_NODE_RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  PEER_NODE_CANCELLED: grpc.status.ABORTED,
  PEER_NODE_INTERNAL: grpc.status.INTERNAL,
};

/** A PeerNodeError (or anything thrown) as the status a gRPC call ends with. */
function toStatus(error: unknown): Partial<grpc.StatusObject> {
  const failure = asPeerNodeError(error);
  return { code: STATUS_OF[failure.code], details: failure.message.replace(/[\r\n]+/g, ' ') };
}

/** The FetchProgress `state` names: metadata | downloading | verifying | complete | failed. */
function fetchState(state: JobState): string {
  switch (state) {
    case 'checking':
      return 'downloading';
    case 'seeding':
      return 'complete';
    default:
      return state;
  }
}

function toFetchProgress(progress: JobProgress): FetchProgress {
  return {
    infoHash: progress.infoHash,
    state: fetchState(progress.state),
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal,
    rateBytesPerS: progress.rate,
    peers: progress.peers,
    etaS: progress.etaS ?? -1,
    bytesFromOrigin: progress.bytesFromOrigin,
    bytesFromPeers: progress.bytesFromPeers,
    path: progress.path,
    error: progress.error?.message ?? '',
  };
}

function toTorrentStatus(progress: JobProgress): TorrentStatus {
  return {
    infoHash: progress.infoHash,
    name: progress.name,
    state: progress.state,
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal,
    uploaded: progress.uploaded,
    peers: progress.peers,
    seeding: progress.seeding,
    seedingReason: progress.error
      ? `${progress.seedingReason}: ${progress.error.message}`
      : progress.seedingReason,
    path: progress.path,
  };
}

function fetchSource(request: FetchRequest__Output): FetchSource {
  switch (request.source) {
    case 'infoHash':
      return { kind: 'infoHash', infoHash: request.infoHash ?? '' };
    case 'magnet':
      return { kind: 'magnet', magnet: request.magnet ?? '' };
    case 'torrent':
      return { kind: 'torrent', torrent: new Uint8Array(request.torrent ?? []) };
    default:
      throw new PeerNodeError(
        PeerNodeErrorCode.InvalidArgument,
        'give one of info_hash, magnet or torrent',
      );
  }
}

function handlers(service: PeerNodeService): PeerNodeHandlers {
  return {
    Fetch: (call) => {
      let finished = false;
      const end = (error?: unknown) => {
        if (finished) return;
        finished = true;
        stop();
        if (error === undefined) call.end();
        else call.emit('error', toStatus(error));
      };
      let stop = () => {};
      call.on('cancelled', () => {
        finished = true;
        stop();
      });
      (async () => {
        const job = await service.fetch({
          source: fetchSource(call.request),
          destination: call.request.destination,
          origin: 'fetch',
        });
        if (finished) return;
        const send = (progress: JobProgress) => {
          if (!finished) call.write(toFetchProgress(progress));
        };
        const onUpdate = (progress: JobProgress) => send(progress);
        const onDone = (progress: JobProgress) => {
          if (progress.error !== undefined) {
            end(progress.error);
            return;
          }
          send(progress);
          end();
        };
        stop = () => {
          job.off('update', onUpdate);
          job.off('done', onDone);
        };
        if (job.done && job.state !== 'failed') {
          onDone(job.progress());
          return;
        }
        job.on('update', onUpdate);
        job.on('done', onDone);
        send(job.progress());
      })().catch(end);
    },
    Publish: (call, callback) => {
      service.publish(call.request.path, call.request.name).then(
        (result) => callback(null, result),
        (error: unknown) => callback(toStatus(error)),
      );
    },
    List: (_call, callback) => {
      callback(null, { torrents: service.list().map(toTorrentStatus) });
    },
    Remove: (call, callback) => {
      service.remove(call.request.infoHash, call.request.deleteData).then(
        (removed) => callback(null, { removed }),
        (error: unknown) => callback(toStatus(error)),
      );
    },
    Status: (_call, callback) => {
      const status = service.status();
      callback(null, {
        nodeId: status.nodeId,
        labels: status.labels,
        listenPort: status.listenPort,
        torrents: status.torrents.map(toTorrentStatus),
        uploadedTotal: status.uploadedTotal,
        downloadedTotal: status.downloadedTotal,
      });
    },
  };
}

/**
 * Serves the API on `socketPath` (a stale socket file from a crashed run is replaced; one a
 * live process answers on is not) and on `tcpAddress` when given.
 */
export async function startGrpcServer(
  service: PeerNodeService,
  options: { socketPath: string; tcpAddress: string | undefined },
): Promise<GrpcServer> {
  const server = new grpc.Server({
    // A .torrent in a Fetch request may be as large as the parser accepts.
    'grpc.max_receive_message_length': DEFAULT_MAX_TORRENT_BYTES + 64 * 1024,
  });
  server.addService(peerNodeProto.PeerNode.service, handlers(service));
  await removeStaleSocket(options.socketPath);
  await bind(server, `unix://${options.socketPath}`);
  // Owner and group only: the socket is the API's access control.
  await chmod(options.socketPath, 0o660);
  let tcpAddress: string | undefined;
  if (options.tcpAddress !== undefined) {
    const port = await bind(server, options.tcpAddress);
    tcpAddress = `${options.tcpAddress.slice(0, options.tcpAddress.lastIndexOf(':'))}:${port}`;
  }
  return {
    tcpAddress,
    close: () =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        timer.unref();
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}

function bind(server: grpc.Server, address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) {
        reject(
          new PeerNodeError(
            PeerNodeErrorCode.Internal,
            `cannot serve gRPC on ${address}: ${error.message}`,
            {
              cause: error,
            },
          ),
        );
      } else {
        resolve(port);
      }
    });
  });
}

async function removeStaleSocket(path: string): Promise<void> {
  try {
    const stats = await lstat(path);
    if (!stats.isSocket()) {
      throw new PeerNodeError(
        PeerNodeErrorCode.FailedPrecondition,
        `${path} exists and is not a socket; refusing to replace it`,
      );
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const live = await new Promise<boolean>((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
  if (live) {
    throw new PeerNodeError(
      PeerNodeErrorCode.FailedPrecondition,
      `another process serves on ${path}; is a peer-node already running with this data directory?`,
    );
  }
  await unlink(path);
}
