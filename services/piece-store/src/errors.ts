import { status } from '@grpc/grpc-js';

/** Every way a piece-store operation can fail, as a stable `code` callers can branch on. */
export const PieceStoreErrorCode = {
  /** A request field is missing or malformed (name, digest, infohash, path). */
  InvalidArgument: 'PIECE_STORE_INVALID_ARGUMENT',
  /** The uploaded bytes do not match the declared SHA-256 or size. */
  DigestMismatch: 'PIECE_STORE_DIGEST_MISMATCH',
  /** The byte budget or the disk is full. */
  NoSpace: 'PIECE_STORE_NO_SPACE',
  /** The client went away or cancelled before the upload ended. */
  Cancelled: 'PIECE_STORE_CANCELLED',
  /** No such artifact here. */
  NotFound: 'PIECE_STORE_NOT_FOUND',
  /** The operation is refused by configuration (e.g. IngestPath without an ingest root). */
  PermissionDenied: 'PIECE_STORE_PERMISSION_DENIED',
  /** Stored bytes do not match their hashes. */
  Corrupt: 'PIECE_STORE_CORRUPT',
  /** The store is closing. */
  Unavailable: 'PIECE_STORE_UNAVAILABLE',
  /** Environment configuration is invalid. */
  InvalidConfig: 'PIECE_STORE_INVALID_CONFIG',
  /** A peer-to-peer copy from another replica failed. */
  ReplicationFailed: 'PIECE_STORE_REPLICATION_FAILED',
} as const;
export type PieceStoreErrorCode = (typeof PieceStoreErrorCode)[keyof typeof PieceStoreErrorCode];

export class PieceStoreError extends Error {
  override readonly name = 'PieceStoreError';
  readonly code: PieceStoreErrorCode;

  constructor(code: PieceStoreErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

const GRPC_STATUS: Record<PieceStoreErrorCode, status> = {
  [PieceStoreErrorCode.InvalidArgument]: status.INVALID_ARGUMENT,
  [PieceStoreErrorCode.DigestMismatch]: status.DATA_LOSS,
  [PieceStoreErrorCode.NoSpace]: status.RESOURCE_EXHAUSTED,
  [PieceStoreErrorCode.Cancelled]: status.CANCELLED,
  [PieceStoreErrorCode.NotFound]: status.NOT_FOUND,
  [PieceStoreErrorCode.PermissionDenied]: status.PERMISSION_DENIED,
  [PieceStoreErrorCode.Corrupt]: status.DATA_LOSS,
  [PieceStoreErrorCode.Unavailable]: status.UNAVAILABLE,
  [PieceStoreErrorCode.InvalidConfig]: status.FAILED_PRECONDITION,
  [PieceStoreErrorCode.ReplicationFailed]: status.UNAVAILABLE,
};

/** The gRPC status a failure is reported with; anything unexpected is INTERNAL. */
export function grpcStatusOf(error: unknown): status {
  return error instanceof PieceStoreError ? GRPC_STATUS[error.code] : status.INTERNAL;
}

/** True for the errno codes that mean the disk (or quota) is full. */
export function isNoSpaceError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
