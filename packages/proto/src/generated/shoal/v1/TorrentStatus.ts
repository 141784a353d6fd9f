// Original file: proto/shoal/v1/peer_node.proto

import type { Long } from '@grpc/proto-loader';

export interface TorrentStatus {
  'infoHash'?: (string);
  'name'?: (string);
  'state'?: (string);
  'bytesDone'?: (number | string | Long);
  'bytesTotal'?: (number | string | Long);
  'uploaded'?: (number | string | Long);
  'peers'?: (number);
  'seeding'?: (boolean);
  'seedingReason'?: (string);
  'path'?: (string);
}

export interface TorrentStatus__Output {
  'infoHash': (string);
  'name': (string);
  'state': (string);
  'bytesDone': (number);
  'bytesTotal': (number);
  'uploaded': (number);
  'peers': (number);
  'seeding': (boolean);
  'seedingReason': (string);
  'path': (string);
}
