// Original file: proto/shoal/v1/peer_node.proto


export interface RemoveResponse {
  'removed'?: (boolean);
}

export interface RemoveResponse__Output {
  'removed': (boolean);
}
