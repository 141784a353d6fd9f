export { HashingError, HashingErrorCode } from './errors.ts';
export { type FileHashes, type FilesHashes, hashFilePieces, hashFilesPieces } from './files.ts';
export {
  type HashOptions,
  type HashProgress,
  MAX_IN_FLIGHT_BYTES,
  MAX_PIECE_LENGTH,
  MAX_PIECES,
  type PieceHashes,
  SHA1_LENGTH,
} from './job.ts';
export { PieceHasher, type StreamHashes } from './piece-hasher.ts';
export {
  createHashPool,
  defaultHashPool,
  type HashPool,
  type HashPoolOptions,
  MAX_WORKERS,
} from './pool.ts';
