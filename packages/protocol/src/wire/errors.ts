/** Why the wire codec refused bytes (from a peer) or a message (from our own code). */
export const WireErrorCode = {
  /** The stream did not start with the 68-byte BitTorrent handshake. */
  BadHandshake: 'bad-handshake',
  /** A length prefix above the cap for its message id; nothing of it is buffered. */
  MessageTooLarge: 'message-too-large',
  /** A fixed-size message (have, request, ...) whose length prefix does not match its id. */
  BadMessageLength: 'bad-message-length',
  /** An extended (BEP 10) message or its bencoded payload is malformed. */
  BadExtendedMessage: 'bad-extended-message',
  /** A ut_metadata (BEP 9) message is malformed. */
  BadMetadataMessage: 'bad-metadata-message',
  /** The stream ended inside a handshake or a frame. */
  Truncated: 'truncated',
  /** `push()` after `end()`. */
  Ended: 'ended',
  /** A WireDecoder option out of range. */
  InvalidOption: 'invalid-option',
  /** `encodeMessage()` was given a field out of range (a bug in the caller). */
  InvalidMessage: 'invalid-message',
} as const;
export type WireErrorCode = (typeof WireErrorCode)[keyof typeof WireErrorCode];

export class WireError extends Error {
  override readonly name = 'WireError';
  readonly code: WireErrorCode;

  constructor(code: WireErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
