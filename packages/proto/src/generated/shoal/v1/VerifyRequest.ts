// Original file: proto/shoal/v1/piece_store.proto


export interface VerifyRequest {
  'infoHash'?: (string);
  'full'?: (boolean);
}

export interface VerifyRequest__Output {
  'infoHash': (string);
  'full': (boolean);
}
