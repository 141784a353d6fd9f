// Original file: proto/shoal/v1/piece_store.proto


export interface ArtifactRef {
  'infoHash'?: (string);
}

export interface ArtifactRef__Output {
  'infoHash': (string);
}
