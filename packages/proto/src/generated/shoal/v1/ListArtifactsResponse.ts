// Original file: proto/shoal/v1/piece_store.proto

import type { Artifact as _shoal_v1_Artifact, Artifact__Output as _shoal_v1_Artifact__Output } from '../../shoal/v1/Artifact.ts';

export interface ListArtifactsResponse {
  'artifacts'?: (_shoal_v1_Artifact)[];
}

export interface ListArtifactsResponse__Output {
  'artifacts': (_shoal_v1_Artifact__Output)[];
}
