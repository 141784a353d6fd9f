// Original file: proto/shoal/v1/piece_store.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { Artifact as _shoal_v1_Artifact, Artifact__Output as _shoal_v1_Artifact__Output } from '../../shoal/v1/Artifact.ts';
import type { ArtifactRef as _shoal_v1_ArtifactRef, ArtifactRef__Output as _shoal_v1_ArtifactRef__Output } from '../../shoal/v1/ArtifactRef.ts';
import type { DeleteResponse as _shoal_v1_DeleteResponse, DeleteResponse__Output as _shoal_v1_DeleteResponse__Output } from '../../shoal/v1/DeleteResponse.ts';
import type { IngestChunk as _shoal_v1_IngestChunk, IngestChunk__Output as _shoal_v1_IngestChunk__Output } from '../../shoal/v1/IngestChunk.ts';
import type { IngestPathRequest as _shoal_v1_IngestPathRequest, IngestPathRequest__Output as _shoal_v1_IngestPathRequest__Output } from '../../shoal/v1/IngestPathRequest.ts';
import type { ListArtifactsRequest as _shoal_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _shoal_v1_ListArtifactsRequest__Output } from '../../shoal/v1/ListArtifactsRequest.ts';
import type { ListArtifactsResponse as _shoal_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _shoal_v1_ListArtifactsResponse__Output } from '../../shoal/v1/ListArtifactsResponse.ts';
import type { VerifyRequest as _shoal_v1_VerifyRequest, VerifyRequest__Output as _shoal_v1_VerifyRequest__Output } from '../../shoal/v1/VerifyRequest.ts';
import type { VerifyResponse as _shoal_v1_VerifyResponse, VerifyResponse__Output as _shoal_v1_VerifyResponse__Output } from '../../shoal/v1/VerifyResponse.ts';

export interface PieceStoreClient extends grpc.Client {
  Delete(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _shoal_v1_ArtifactRef, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  Delete(argument: _shoal_v1_ArtifactRef, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _shoal_v1_ArtifactRef, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  delete(argument: _shoal_v1_ArtifactRef, callback: grpc.requestCallback<_shoal_v1_DeleteResponse__Output>): grpc.ClientUnaryCall;
  
  Ingest(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  Ingest(metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  Ingest(options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  Ingest(callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  ingest(metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  ingest(metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  ingest(options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  ingest(callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientWritableStream<_shoal_v1_IngestChunk>;
  
  IngestPath(argument: _shoal_v1_IngestPathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  IngestPath(argument: _shoal_v1_IngestPathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  IngestPath(argument: _shoal_v1_IngestPathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  IngestPath(argument: _shoal_v1_IngestPathRequest, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  ingestPath(argument: _shoal_v1_IngestPathRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  ingestPath(argument: _shoal_v1_IngestPathRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  ingestPath(argument: _shoal_v1_IngestPathRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  ingestPath(argument: _shoal_v1_IngestPathRequest, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  
  List(argument: _shoal_v1_ListArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListArtifactsRequest, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListArtifactsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListArtifactsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListArtifactsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListArtifactsRequest, callback: grpc.requestCallback<_shoal_v1_ListArtifactsResponse__Output>): grpc.ClientUnaryCall;
  
  Stat(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  Stat(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  Stat(argument: _shoal_v1_ArtifactRef, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  Stat(argument: _shoal_v1_ArtifactRef, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  stat(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  stat(argument: _shoal_v1_ArtifactRef, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  stat(argument: _shoal_v1_ArtifactRef, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  stat(argument: _shoal_v1_ArtifactRef, callback: grpc.requestCallback<_shoal_v1_Artifact__Output>): grpc.ClientUnaryCall;
  
  Verify(argument: _shoal_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _shoal_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _shoal_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  Verify(argument: _shoal_v1_VerifyRequest, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _shoal_v1_VerifyRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _shoal_v1_VerifyRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _shoal_v1_VerifyRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  verify(argument: _shoal_v1_VerifyRequest, callback: grpc.requestCallback<_shoal_v1_VerifyResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface PieceStoreHandlers extends grpc.UntypedServiceImplementation {
  Delete: grpc.handleUnaryCall<_shoal_v1_ArtifactRef__Output, _shoal_v1_DeleteResponse>;
  
  Ingest: grpc.handleClientStreamingCall<_shoal_v1_IngestChunk__Output, _shoal_v1_Artifact>;
  
  IngestPath: grpc.handleUnaryCall<_shoal_v1_IngestPathRequest__Output, _shoal_v1_Artifact>;
  
  List: grpc.handleUnaryCall<_shoal_v1_ListArtifactsRequest__Output, _shoal_v1_ListArtifactsResponse>;
  
  Stat: grpc.handleUnaryCall<_shoal_v1_ArtifactRef__Output, _shoal_v1_Artifact>;
  
  Verify: grpc.handleUnaryCall<_shoal_v1_VerifyRequest__Output, _shoal_v1_VerifyResponse>;
  
}

export interface PieceStoreDefinition extends grpc.ServiceDefinition {
  Delete: MethodDefinition<_shoal_v1_ArtifactRef, _shoal_v1_DeleteResponse, _shoal_v1_ArtifactRef__Output, _shoal_v1_DeleteResponse__Output>
  Ingest: MethodDefinition<_shoal_v1_IngestChunk, _shoal_v1_Artifact, _shoal_v1_IngestChunk__Output, _shoal_v1_Artifact__Output>
  IngestPath: MethodDefinition<_shoal_v1_IngestPathRequest, _shoal_v1_Artifact, _shoal_v1_IngestPathRequest__Output, _shoal_v1_Artifact__Output>
  List: MethodDefinition<_shoal_v1_ListArtifactsRequest, _shoal_v1_ListArtifactsResponse, _shoal_v1_ListArtifactsRequest__Output, _shoal_v1_ListArtifactsResponse__Output>
  Stat: MethodDefinition<_shoal_v1_ArtifactRef, _shoal_v1_Artifact, _shoal_v1_ArtifactRef__Output, _shoal_v1_Artifact__Output>
  Verify: MethodDefinition<_shoal_v1_VerifyRequest, _shoal_v1_VerifyResponse, _shoal_v1_VerifyRequest__Output, _shoal_v1_VerifyResponse__Output>
}
