export { loadPieceStoreConfig, type PieceStoreConfig } from './config.ts';
export { grpcStatusOf, PieceStoreError, PieceStoreErrorCode } from './errors.ts';
export { rendezvousOwners, rendezvousScore } from './placement.ts';
export { type RunningPieceStore, startPieceStore } from './service.ts';
