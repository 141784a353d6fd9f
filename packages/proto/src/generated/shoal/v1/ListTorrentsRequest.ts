// Original file: proto/shoal/v1/peer_node.proto


export interface ListTorrentsRequest {
}

export interface ListTorrentsRequest__Output {
}
