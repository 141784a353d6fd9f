// Original file: proto/shoal/v1/piece_store.proto


export interface VerifyResponse {
  'checked'?: (number);
  'quarantined'?: (string)[];
}

export interface VerifyResponse__Output {
  'checked': (number);
  'quarantined': (string)[];
}
