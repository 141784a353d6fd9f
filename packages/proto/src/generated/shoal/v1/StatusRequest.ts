// Original file: proto/shoal/v1/peer_node.proto


export interface StatusRequest {
}

export interface StatusRequest__Output {
}
