// Original file: proto/shoal/v1/peer_node.proto

import type { TorrentStatus as _shoal_v1_TorrentStatus, TorrentStatus__Output as _shoal_v1_TorrentStatus__Output } from '../../shoal/v1/TorrentStatus.ts';
import type { Long } from '@grpc/proto-loader';

export interface StatusResponse {
  'nodeId'?: (string);
  'labels'?: ({[key: string]: string});
  'listenPort'?: (number);
  'torrents'?: (_shoal_v1_TorrentStatus)[];
  'uploadedTotal'?: (number | string | Long);
  'downloadedTotal'?: (number | string | Long);
}

export interface StatusResponse__Output {
  'nodeId': (string);
  'labels': ({[key: string]: string});
  'listenPort': (number);
  'torrents': (_shoal_v1_TorrentStatus__Output)[];
  'uploadedTotal': (number);
  'downloadedTotal': (number);
}
