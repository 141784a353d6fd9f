// Original file: proto/shoal/v1/peer_node.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { FetchProgress as _shoal_v1_FetchProgress, FetchProgress__Output as _shoal_v1_FetchProgress__Output } from '../../shoal/v1/FetchProgress.ts';
import type { FetchRequest as _shoal_v1_FetchRequest, FetchRequest__Output as _shoal_v1_FetchRequest__Output } from '../../shoal/v1/FetchRequest.ts';
import type { ListTorrentsRequest as _shoal_v1_ListTorrentsRequest, ListTorrentsRequest__Output as _shoal_v1_ListTorrentsRequest__Output } from '../../shoal/v1/ListTorrentsRequest.ts';
import type { ListTorrentsResponse as _shoal_v1_ListTorrentsResponse, ListTorrentsResponse__Output as _shoal_v1_ListTorrentsResponse__Output } from '../../shoal/v1/ListTorrentsResponse.ts';
import type { PublishRequest as _shoal_v1_PublishRequest, PublishRequest__Output as _shoal_v1_PublishRequest__Output } from '../../shoal/v1/PublishRequest.ts';
import type { PublishResponse as _shoal_v1_PublishResponse, PublishResponse__Output as _shoal_v1_PublishResponse__Output } from '../../shoal/v1/PublishResponse.ts';
import type { RemoveRequest as _shoal_v1_RemoveRequest, RemoveRequest__Output as _shoal_v1_RemoveRequest__Output } from '../../shoal/v1/RemoveRequest.ts';
import type { RemoveResponse as _shoal_v1_RemoveResponse, RemoveResponse__Output as _shoal_v1_RemoveResponse__Output } from '../../shoal/v1/RemoveResponse.ts';
import type { StatusRequest as _shoal_v1_StatusRequest, StatusRequest__Output as _shoal_v1_StatusRequest__Output } from '../../shoal/v1/StatusRequest.ts';
import type { StatusResponse as _shoal_v1_StatusResponse, StatusResponse__Output as _shoal_v1_StatusResponse__Output } from '../../shoal/v1/StatusResponse.ts';

export interface PeerNodeClient extends grpc.Client {
  Fetch(argument: _shoal_v1_FetchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_shoal_v1_FetchProgress__Output>;
  Fetch(argument: _shoal_v1_FetchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_shoal_v1_FetchProgress__Output>;
  fetch(argument: _shoal_v1_FetchRequest, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_shoal_v1_FetchProgress__Output>;
  fetch(argument: _shoal_v1_FetchRequest, options?: grpc.CallOptions): grpc.ClientReadableStream<_shoal_v1_FetchProgress__Output>;
  
  List(argument: _shoal_v1_ListTorrentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListTorrentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListTorrentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  List(argument: _shoal_v1_ListTorrentsRequest, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListTorrentsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListTorrentsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListTorrentsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  list(argument: _shoal_v1_ListTorrentsRequest, callback: grpc.requestCallback<_shoal_v1_ListTorrentsResponse__Output>): grpc.ClientUnaryCall;
  
  Publish(argument: _shoal_v1_PublishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  Publish(argument: _shoal_v1_PublishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  Publish(argument: _shoal_v1_PublishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  Publish(argument: _shoal_v1_PublishRequest, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  publish(argument: _shoal_v1_PublishRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  publish(argument: _shoal_v1_PublishRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  publish(argument: _shoal_v1_PublishRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  publish(argument: _shoal_v1_PublishRequest, callback: grpc.requestCallback<_shoal_v1_PublishResponse__Output>): grpc.ClientUnaryCall;
  
  Remove(argument: _shoal_v1_RemoveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  Remove(argument: _shoal_v1_RemoveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  Remove(argument: _shoal_v1_RemoveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  Remove(argument: _shoal_v1_RemoveRequest, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  remove(argument: _shoal_v1_RemoveRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  remove(argument: _shoal_v1_RemoveRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  remove(argument: _shoal_v1_RemoveRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  remove(argument: _shoal_v1_RemoveRequest, callback: grpc.requestCallback<_shoal_v1_RemoveResponse__Output>): grpc.ClientUnaryCall;
  
  Status(argument: _shoal_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _shoal_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _shoal_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _shoal_v1_StatusRequest, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _shoal_v1_StatusRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _shoal_v1_StatusRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _shoal_v1_StatusRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _shoal_v1_StatusRequest, callback: grpc.requestCallback<_shoal_v1_StatusResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface PeerNodeHandlers extends grpc.UntypedServiceImplementation {
  Fetch: grpc.handleServerStreamingCall<_shoal_v1_FetchRequest__Output, _shoal_v1_FetchProgress>;
  
  List: grpc.handleUnaryCall<_shoal_v1_ListTorrentsRequest__Output, _shoal_v1_ListTorrentsResponse>;
  
  Publish: grpc.handleUnaryCall<_shoal_v1_PublishRequest__Output, _shoal_v1_PublishResponse>;
  
  Remove: grpc.handleUnaryCall<_shoal_v1_RemoveRequest__Output, _shoal_v1_RemoveResponse>;
  
  Status: grpc.handleUnaryCall<_shoal_v1_StatusRequest__Output, _shoal_v1_StatusResponse>;
  
}

export interface PeerNodeDefinition extends grpc.ServiceDefinition {
  Fetch: MethodDefinition<_shoal_v1_FetchRequest, _shoal_v1_FetchProgress, _shoal_v1_FetchRequest__Output, _shoal_v1_FetchProgress__Output>
  List: MethodDefinition<_shoal_v1_ListTorrentsRequest, _shoal_v1_ListTorrentsResponse, _shoal_v1_ListTorrentsRequest__Output, _shoal_v1_ListTorrentsResponse__Output>
  Publish: MethodDefinition<_shoal_v1_PublishRequest, _shoal_v1_PublishResponse, _shoal_v1_PublishRequest__Output, _shoal_v1_PublishResponse__Output>
  Remove: MethodDefinition<_shoal_v1_RemoveRequest, _shoal_v1_RemoveResponse, _shoal_v1_RemoveRequest__Output, _shoal_v1_RemoveResponse__Output>
  Status: MethodDefinition<_shoal_v1_StatusRequest, _shoal_v1_StatusResponse, _shoal_v1_StatusRequest__Output, _shoal_v1_StatusResponse__Output>
}
