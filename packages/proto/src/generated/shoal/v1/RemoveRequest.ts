// Original file: proto/shoal/v1/peer_node.proto


export interface RemoveRequest {
  'infoHash'?: (string);
  'deleteData'?: (boolean);
}

export interface RemoveRequest__Output {
  'infoHash': (string);
  'deleteData': (boolean);
}
