// @shoal/swarm: the BitTorrent swarm engine both the piece-store (origin) and peer-node run.
export { Bitfield } from './bitfield.ts';
export { type ChokeCandidate, pickOptimistic, regularUnchoke } from './choker.ts';
export { SwarmError, SwarmErrorCode } from './errors.ts';
export { MAX_HASH_WORKERS, PieceHashWorkers } from './hash-workers.ts';
export { InOrderDigest, type InOrderDigestSource } from './in-order-digest.ts';
export { type Logger, silentLogger } from './logger.ts';
export { type FetchMetadataOptions, fetchMetadata, MAX_FETCHED_METADATA_SIZE } from './metadata.ts';
export { randomPeerId } from './peer-connection.ts';
export {
  COMMON_AVAILABILITY,
  comparePartialPieces,
  createPiecePicker,
  eligible,
  FRONT_LAG_PIECES,
  FRONT_SCAN_PIECES,
  type OutstandingBlock,
  type PartialPiece,
  PIECE_PICKERS,
  type PickContext,
  type PiecePicker,
  type PiecePickerName,
  pickEndgameBlocks,
  RAREST_TIE_WINDOW,
  rarestFirst,
  sequential,
  stragglerBehindFront,
} from './picker.ts';
export { TokenBucket } from './rate-limit.ts';
export {
  BlobStorage,
  type FileLayout,
  FileLayoutStorage,
  type LayoutFile,
  type PieceStorage,
  type StorageLayout,
} from './storage.ts';
export {
  ADVERTISE_TIE_WINDOW,
  type AdvertiseContext,
  advertiseWindow,
  nextAdvertisement,
} from './super-seed.ts';
export { SwarmNode, type SwarmNodeOptions } from './swarm-node.ts';
export {
  type AnnounceEvent,
  type Announcer,
  BLOCK_LENGTH,
  MAX_REQUEST_LENGTH,
  type PeerAddress,
  type Role,
  type TorrentHandle,
  type TorrentStats,
  WIDE_REQUEST_LENGTH,
} from './torrent.ts';
export {
  inlineHashFunction,
  type PieceGeometry,
  type PieceHashFunction,
  type PieceHashResult,
  pieceSize,
  verifyPiece,
  verifyStoredPieces,
} from './verify.ts';
