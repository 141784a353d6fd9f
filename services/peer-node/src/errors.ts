/** Why the peer-node refused or failed a request; each code maps to one gRPC status. */
export const PeerNodeErrorCode = {
  /** One or more environment variables are missing, invalid or contradict each other. */
  InvalidConfig: 'PEER_NODE_INVALID_CONFIG',
  /** A request field is malformed: infohash, magnet, .torrent, destination, path. */
  InvalidArgument: 'PEER_NODE_INVALID_ARGUMENT',
  /** No .torrent for the infohash: not in the piece-store, and no peer gave it over BEP 9. */
  NotFound: 'PEER_NODE_NOT_FOUND',
  /** The destination already holds other data under the torrent's name. */
  AlreadyExists: 'PEER_NODE_ALREADY_EXISTS',
  /** A service or the swarm did not answer in time (piece-store, peers, stalled download). */
  Unavailable: 'PEER_NODE_UNAVAILABLE',
  /** Every piece verified but the whole-file SHA-256 did not match the torrent's. */
  DataLoss: 'PEER_NODE_DATA_LOSS',
  /** Not possible in the node's current state (no piece-store configured, shutting down). */
  FailedPrecondition: 'PEER_NODE_FAILED_PRECONDITION',
  /** Too many torrents on the node. */
  ResourceExhausted: 'PEER_NODE_RESOURCE_EXHAUSTED',
  /** The torrent was removed while a request was following it. */
  Cancelled: 'PEER_NODE_CANCELLED',
  /** A bug or an unexpected system error (disk full, permissions). */
  Internal: 'PEER_NODE_INTERNAL',
} as const;
export type PeerNodeErrorCode = (typeof PeerNodeErrorCode)[keyof typeof PeerNodeErrorCode];

export class PeerNodeError extends Error {
  override readonly name = 'PeerNodeError';
  readonly code: PeerNodeErrorCode;

  constructor(code: PeerNodeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** `error` as a PeerNodeError, wrapping anything else as Internal. */
export function asPeerNodeError(error: unknown): PeerNodeError {
  if (error instanceof PeerNodeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new PeerNodeError(PeerNodeErrorCode.Internal, message, { cause: error });
}
