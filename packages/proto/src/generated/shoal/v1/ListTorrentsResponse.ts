// Original file: proto/shoal/v1/peer_node.proto

import type { TorrentStatus as _shoal_v1_TorrentStatus, TorrentStatus__Output as _shoal_v1_TorrentStatus__Output } from '../../shoal/v1/TorrentStatus.ts';

export interface ListTorrentsResponse {
  'torrents'?: (_shoal_v1_TorrentStatus)[];
}

export interface ListTorrentsResponse__Output {
  'torrents': (_shoal_v1_TorrentStatus__Output)[];
}
