/** Every way hashing can fail, as a stable `code` callers can branch on. */
export const HashingErrorCode = {
  InvalidOptions: 'HASH_INVALID_OPTIONS',
  FileNotFound: 'HASH_FILE_NOT_FOUND',
  NotAFile: 'HASH_NOT_A_FILE',
  /** The file was shorter than its size when opened: it changed while being hashed. */
  FileChanged: 'HASH_FILE_CHANGED',
  ReadFailed: 'HASH_READ_FAILED',
  Aborted: 'HASH_ABORTED',
  WorkerFailed: 'HASH_WORKER_FAILED',
  PoolClosed: 'HASH_POOL_CLOSED',
  /** A call out of order, such as `update` after `finish`. */
  InvalidState: 'HASH_INVALID_STATE',
} as const;
export type HashingErrorCode = (typeof HashingErrorCode)[keyof typeof HashingErrorCode];

export class HashingError extends Error {
  override readonly name = 'HashingError';
  readonly code: HashingErrorCode;
  /** The file concerned, when the error is about one. */
  readonly path: string | undefined;

  constructor(
    code: HashingErrorCode,
    message: string,
    options: { cause?: unknown; path?: string } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.path = options.path;
  }
}
