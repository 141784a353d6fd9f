// Original file: proto/shoal/v1/peer_node.proto

import type { Long } from '@grpc/proto-loader';

export interface PublishResponse {
  'infoHash'?: (string);
  'sha256'?: (string);
  'size'?: (number | string | Long);
  'magnet'?: (string);
}

export interface PublishResponse__Output {
  'infoHash': (string);
  'sha256': (string);
  'size': (number);
  'magnet': (string);
}
