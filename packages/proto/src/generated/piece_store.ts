import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Artifact as _shoal_v1_Artifact, Artifact__Output as _shoal_v1_Artifact__Output } from './shoal/v1/Artifact.ts';
import type { ArtifactRef as _shoal_v1_ArtifactRef, ArtifactRef__Output as _shoal_v1_ArtifactRef__Output } from './shoal/v1/ArtifactRef.ts';
import type { DeleteResponse as _shoal_v1_DeleteResponse, DeleteResponse__Output as _shoal_v1_DeleteResponse__Output } from './shoal/v1/DeleteResponse.ts';
import type { IngestChunk as _shoal_v1_IngestChunk, IngestChunk__Output as _shoal_v1_IngestChunk__Output } from './shoal/v1/IngestChunk.ts';
import type { IngestHeader as _shoal_v1_IngestHeader, IngestHeader__Output as _shoal_v1_IngestHeader__Output } from './shoal/v1/IngestHeader.ts';
import type { IngestPathRequest as _shoal_v1_IngestPathRequest, IngestPathRequest__Output as _shoal_v1_IngestPathRequest__Output } from './shoal/v1/IngestPathRequest.ts';
import type { ListArtifactsRequest as _shoal_v1_ListArtifactsRequest, ListArtifactsRequest__Output as _shoal_v1_ListArtifactsRequest__Output } from './shoal/v1/ListArtifactsRequest.ts';
import type { ListArtifactsResponse as _shoal_v1_ListArtifactsResponse, ListArtifactsResponse__Output as _shoal_v1_ListArtifactsResponse__Output } from './shoal/v1/ListArtifactsResponse.ts';
import type { PieceStoreClient as _shoal_v1_PieceStoreClient, PieceStoreDefinition as _shoal_v1_PieceStoreDefinition } from './shoal/v1/PieceStore.ts';
import type { VerifyRequest as _shoal_v1_VerifyRequest, VerifyRequest__Output as _shoal_v1_VerifyRequest__Output } from './shoal/v1/VerifyRequest.ts';
import type { VerifyResponse as _shoal_v1_VerifyResponse, VerifyResponse__Output as _shoal_v1_VerifyResponse__Output } from './shoal/v1/VerifyResponse.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  shoal: {
    v1: {
      Artifact: MessageTypeDefinition<_shoal_v1_Artifact, _shoal_v1_Artifact__Output>
      ArtifactRef: MessageTypeDefinition<_shoal_v1_ArtifactRef, _shoal_v1_ArtifactRef__Output>
      DeleteResponse: MessageTypeDefinition<_shoal_v1_DeleteResponse, _shoal_v1_DeleteResponse__Output>
      IngestChunk: MessageTypeDefinition<_shoal_v1_IngestChunk, _shoal_v1_IngestChunk__Output>
      IngestHeader: MessageTypeDefinition<_shoal_v1_IngestHeader, _shoal_v1_IngestHeader__Output>
      IngestPathRequest: MessageTypeDefinition<_shoal_v1_IngestPathRequest, _shoal_v1_IngestPathRequest__Output>
      ListArtifactsRequest: MessageTypeDefinition<_shoal_v1_ListArtifactsRequest, _shoal_v1_ListArtifactsRequest__Output>
      ListArtifactsResponse: MessageTypeDefinition<_shoal_v1_ListArtifactsResponse, _shoal_v1_ListArtifactsResponse__Output>
      PieceStore: SubtypeConstructor<typeof grpc.Client, _shoal_v1_PieceStoreClient> & { service: _shoal_v1_PieceStoreDefinition }
      VerifyRequest: MessageTypeDefinition<_shoal_v1_VerifyRequest, _shoal_v1_VerifyRequest__Output>
      VerifyResponse: MessageTypeDefinition<_shoal_v1_VerifyResponse, _shoal_v1_VerifyResponse__Output>
    }
  }
}

