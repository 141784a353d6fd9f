// Original file: proto/shoal/v1/peer_node.proto

import type { Long } from '@grpc/proto-loader';

export interface FetchProgress {
  'infoHash'?: (string);
  'state'?: (string);
  'bytesDone'?: (number | string | Long);
  'bytesTotal'?: (number | string | Long);
  'rateBytesPerS'?: (number | string);
  'peers'?: (number);
  'etaS'?: (number | string);
  'bytesFromOrigin'?: (number | string | Long);
  'bytesFromPeers'?: (number | string | Long);
  'path'?: (string);
  'error'?: (string);
}

export interface FetchProgress__Output {
  'infoHash': (string);
  'state': (string);
  'bytesDone': (number);
  'bytesTotal': (number);
  'rateBytesPerS': (number);
  'peers': (number);
  'etaS': (number);
  'bytesFromOrigin': (number);
  'bytesFromPeers': (number);
  'path': (string);
  'error': (string);
}
