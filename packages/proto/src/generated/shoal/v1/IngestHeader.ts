// Original file: proto/shoal/v1/piece_store.proto

import type { Long } from '@grpc/proto-loader';

export interface IngestHeader {
  'name'?: (string);
  'expectedSha256'?: (Buffer | Uint8Array | string);
  'expectedSize'?: (number | string | Long);
}

export interface IngestHeader__Output {
  'name': (string);
  'expectedSha256': (Buffer);
  'expectedSize': (number);
}
