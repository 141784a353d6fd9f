// Original file: proto/shoal/v1/peer_node.proto


export interface PublishRequest {
  'path'?: (string);
  'name'?: (string);
}

export interface PublishRequest__Output {
  'path': (string);
  'name': (string);
}
