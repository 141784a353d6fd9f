// Original file: proto/shoal/v1/piece_store.proto

import type { IngestHeader as _shoal_v1_IngestHeader, IngestHeader__Output as _shoal_v1_IngestHeader__Output } from '../../shoal/v1/IngestHeader.ts';

export interface IngestChunk {
  'header'?: (_shoal_v1_IngestHeader | null);
  'data'?: (Buffer | Uint8Array | string);
  'part'?: "header"|"data";
}

export interface IngestChunk__Output {
  'header'?: (_shoal_v1_IngestHeader__Output | null);
  'data'?: (Buffer);
  'part'?: "header"|"data";
}
