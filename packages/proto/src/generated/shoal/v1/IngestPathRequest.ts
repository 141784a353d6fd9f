// Original file: proto/shoal/v1/piece_store.proto


export interface IngestPathRequest {
  'path'?: (string);
  'name'?: (string);
  'expectedSha256'?: (Buffer | Uint8Array | string);
}

export interface IngestPathRequest__Output {
  'path': (string);
  'name': (string);
  'expectedSha256': (Buffer);
}
