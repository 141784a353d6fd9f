// Original file: proto/shoal/v1/piece_store.proto


export interface ListArtifactsRequest {
}

export interface ListArtifactsRequest__Output {
}
