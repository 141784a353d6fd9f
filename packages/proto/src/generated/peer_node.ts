import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { FetchProgress as _shoal_v1_FetchProgress, FetchProgress__Output as _shoal_v1_FetchProgress__Output } from './shoal/v1/FetchProgress.ts';
import type { FetchRequest as _shoal_v1_FetchRequest, FetchRequest__Output as _shoal_v1_FetchRequest__Output } from './shoal/v1/FetchRequest.ts';
import type { ListTorrentsRequest as _shoal_v1_ListTorrentsRequest, ListTorrentsRequest__Output as _shoal_v1_ListTorrentsRequest__Output } from './shoal/v1/ListTorrentsRequest.ts';
import type { ListTorrentsResponse as _shoal_v1_ListTorrentsResponse, ListTorrentsResponse__Output as _shoal_v1_ListTorrentsResponse__Output } from './shoal/v1/ListTorrentsResponse.ts';
import type { PeerNodeClient as _shoal_v1_PeerNodeClient, PeerNodeDefinition as _shoal_v1_PeerNodeDefinition } from './shoal/v1/PeerNode.ts';
import type { PublishRequest as _shoal_v1_PublishRequest, PublishRequest__Output as _shoal_v1_PublishRequest__Output } from './shoal/v1/PublishRequest.ts';
import type { PublishResponse as _shoal_v1_PublishResponse, PublishResponse__Output as _shoal_v1_PublishResponse__Output } from './shoal/v1/PublishResponse.ts';
import type { RemoveRequest as _shoal_v1_RemoveRequest, RemoveRequest__Output as _shoal_v1_RemoveRequest__Output } from './shoal/v1/RemoveRequest.ts';
import type { RemoveResponse as _shoal_v1_RemoveResponse, RemoveResponse__Output as _shoal_v1_RemoveResponse__Output } from './shoal/v1/RemoveResponse.ts';
import type { StatusRequest as _shoal_v1_StatusRequest, StatusRequest__Output as _shoal_v1_StatusRequest__Output } from './shoal/v1/StatusRequest.ts';
import type { StatusResponse as _shoal_v1_StatusResponse, StatusResponse__Output as _shoal_v1_StatusResponse__Output } from './shoal/v1/StatusResponse.ts';
import type { TorrentStatus as _shoal_v1_TorrentStatus, TorrentStatus__Output as _shoal_v1_TorrentStatus__Output } from './shoal/v1/TorrentStatus.ts';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  shoal: {
    v1: {
      FetchProgress: MessageTypeDefinition<_shoal_v1_FetchProgress, _shoal_v1_FetchProgress__Output>
      FetchRequest: MessageTypeDefinition<_shoal_v1_FetchRequest, _shoal_v1_FetchRequest__Output>
      ListTorrentsRequest: MessageTypeDefinition<_shoal_v1_ListTorrentsRequest, _shoal_v1_ListTorrentsRequest__Output>
      ListTorrentsResponse: MessageTypeDefinition<_shoal_v1_ListTorrentsResponse, _shoal_v1_ListTorrentsResponse__Output>
      PeerNode: SubtypeConstructor<typeof grpc.Client, _shoal_v1_PeerNodeClient> & { service: _shoal_v1_PeerNodeDefinition }
      PublishRequest: MessageTypeDefinition<_shoal_v1_PublishRequest, _shoal_v1_PublishRequest__Output>
      PublishResponse: MessageTypeDefinition<_shoal_v1_PublishResponse, _shoal_v1_PublishResponse__Output>
      RemoveRequest: MessageTypeDefinition<_shoal_v1_RemoveRequest, _shoal_v1_RemoveRequest__Output>
      RemoveResponse: MessageTypeDefinition<_shoal_v1_RemoveResponse, _shoal_v1_RemoveResponse__Output>
      StatusRequest: MessageTypeDefinition<_shoal_v1_StatusRequest, _shoal_v1_StatusRequest__Output>
      StatusResponse: MessageTypeDefinition<_shoal_v1_StatusResponse, _shoal_v1_StatusResponse__Output>
      TorrentStatus: MessageTypeDefinition<_shoal_v1_TorrentStatus, _shoal_v1_TorrentStatus__Output>
    }
  }
}

