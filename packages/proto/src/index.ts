import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType as PeerNodeProto } from './generated/peer_node.ts';
import type { ProtoGrpcType as PieceStoreProto } from './generated/piece_store.ts';

export type * from './generated/shoal/v1/Artifact.ts';
export type * from './generated/shoal/v1/ArtifactRef.ts';
export type * from './generated/shoal/v1/DeleteResponse.ts';
export type * from './generated/shoal/v1/FetchProgress.ts';
export type * from './generated/shoal/v1/FetchRequest.ts';
export type * from './generated/shoal/v1/IngestChunk.ts';
export type * from './generated/shoal/v1/IngestHeader.ts';
export type * from './generated/shoal/v1/IngestPathRequest.ts';
export type * from './generated/shoal/v1/ListArtifactsRequest.ts';
export type * from './generated/shoal/v1/ListArtifactsResponse.ts';
export type * from './generated/shoal/v1/ListTorrentsRequest.ts';
export type * from './generated/shoal/v1/ListTorrentsResponse.ts';
export type * from './generated/shoal/v1/PeerNode.ts';
export type * from './generated/shoal/v1/PieceStore.ts';
export type * from './generated/shoal/v1/PublishRequest.ts';
export type * from './generated/shoal/v1/PublishResponse.ts';
export type * from './generated/shoal/v1/RemoveRequest.ts';
export type * from './generated/shoal/v1/RemoveResponse.ts';
export type * from './generated/shoal/v1/StatusRequest.ts';
export type * from './generated/shoal/v1/StatusResponse.ts';
export type * from './generated/shoal/v1/TorrentStatus.ts';
export type * from './generated/shoal/v1/VerifyRequest.ts';
export type * from './generated/shoal/v1/VerifyResponse.ts';

/** Folder holding the .proto sources (shipped with the package). */
export const protoDir = fileURLToPath(new URL('../proto', import.meta.url));

/** The options the generated types were produced with; loading must use the same ones. */
export const loaderOptions: protoLoader.Options = {
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [protoDir],
};

function load<T>(file: string): T {
  const definition = protoLoader.loadSync(file, loaderOptions);
  return grpc.loadPackageDefinition(definition) as unknown as T;
}

export const pieceStoreProto = load<PieceStoreProto>('shoal/v1/piece_store.proto').shoal.v1;
export const peerNodeProto = load<PeerNodeProto>('shoal/v1/peer_node.proto').shoal.v1;
