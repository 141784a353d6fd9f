/** Every way a bus operation can fail, as a stable `code` callers can branch on. */
export const BusErrorCode = {
  /** A subject token or prefix has characters NATS gives a meaning to (`.`, `*`, `>`, spaces). */
  InvalidSubject: 'BUS_INVALID_SUBJECT',
  /** A message is not JSON or does not match its schema. */
  InvalidMessage: 'BUS_INVALID_MESSAGE',
  /** A message is larger than the limit declared for it. */
  MessageTooLarge: 'BUS_MESSAGE_TOO_LARGE',
  /** The request never got a reply: no responders, timeout, closed connection. */
  RequestFailed: 'BUS_REQUEST_FAILED',
  /** The service answered with an error reply; see `remoteCode` and `status`. */
  RemoteError: 'BUS_REMOTE_ERROR',
} as const;
export type BusErrorCode = (typeof BusErrorCode)[keyof typeof BusErrorCode];

export class BusError extends Error {
  override readonly name = 'BusError';
  readonly code: BusErrorCode;
  /** For `RemoteError`: the service's numeric status (400, 429, 503...). */
  readonly status: number | undefined;
  /** For `RemoteError`: the service's own error code, e.g. `bad_request`. */
  readonly remoteCode: string | undefined;

  constructor(
    code: BusErrorCode,
    message: string,
    options: { cause?: unknown; status?: number; remoteCode?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.remoteCode = options.remoteCode;
  }
}
