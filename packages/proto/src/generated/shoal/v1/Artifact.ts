// Original file: proto/shoal/v1/piece_store.proto

import type { Long } from '@grpc/proto-loader';

export interface Artifact {
  'infoHash'?: (string);
  'sha256'?: (string);
  'size'?: (number | string | Long);
  'pieceLength'?: (number);
  'magnet'?: (string);
  'name'?: (string);
  'torrent'?: (Buffer | Uint8Array | string);
  'replicas'?: (string)[];
  'createdUnixMs'?: (number | string | Long);
  'lastAccessUnixMs'?: (number | string | Long);
}

export interface Artifact__Output {
  'infoHash': (string);
  'sha256': (string);
  'size': (number);
  'pieceLength': (number);
  'magnet': (string);
  'name': (string);
  'torrent': (Buffer);
  'replicas': (string)[];
  'createdUnixMs': (number);
  'lastAccessUnixMs': (number);
}
