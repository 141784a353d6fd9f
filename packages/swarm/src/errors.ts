/** Why the swarm engine refused something or gave up on a peer; stable codes to branch on. */
export const SwarmErrorCode = {
  /** An option out of range or contradicting another. */
  InvalidOptions: 'SWARM_INVALID_OPTIONS',
  /** A peer broke the wire protocol (bad handshake, bad index, message out of place). */
  ProtocolViolation: 'SWARM_PROTOCOL_VIOLATION',
  /** A peer sent more than a cap allows (queued requests, metadata requests). */
  PeerFlood: 'SWARM_PEER_FLOOD',
  /** The address dialled is this node itself (found by its peer id in the handshake). */
  SelfConnection: 'SWARM_SELF_CONNECTION',
  /** A peer sent data that failed its piece hash. */
  BadPiece: 'SWARM_BAD_PIECE',
  /** No handshake, or no bytes at all, within the timeout. */
  Timeout: 'SWARM_TIMEOUT',
  /** The connection was closed (by us, by the peer, or by the socket). */
  ConnectionClosed: 'SWARM_CONNECTION_CLOSED',
  /** A storage path that would leave the storage directory, or a file that cannot be used. */
  UnsafePath: 'SWARM_UNSAFE_PATH',
  /** A read or write outside the torrent's bytes. */
  OutOfRange: 'SWARM_OUT_OF_RANGE',
  /** The torrent was stopped or the node closed. */
  Stopped: 'SWARM_STOPPED',
  /** A torrent with this infohash is already on the node. */
  DuplicateTorrent: 'SWARM_DUPLICATE_TORRENT',
  /** BEP 9: no peer gave us metadata matching the infohash. */
  MetadataUnavailable: 'SWARM_METADATA_UNAVAILABLE',
} as const;
export type SwarmErrorCode = (typeof SwarmErrorCode)[keyof typeof SwarmErrorCode];

export class SwarmError extends Error {
  override readonly name = 'SwarmError';
  readonly code: SwarmErrorCode;

  constructor(code: SwarmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Turns anything thrown into an Error, for logs and 'error' events. */
export function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}
