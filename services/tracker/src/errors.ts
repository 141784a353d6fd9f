import { TRACKER_ERROR_STATUS, TrackerErrorCode } from '@shoal/bus';

export { TrackerErrorCode } from '@shoal/bus';

/**
 * A request the tracker refuses, with the wire code both transports report (NATS service
 * error with `TRACKER_ERROR_STATUS[code]`, HTTP bencoded `failure reason`).
 */
export class TrackerError extends Error {
  override readonly name = 'TrackerError';
  readonly code: TrackerErrorCode;

  constructor(code: TrackerErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  get status(): number {
    return TRACKER_ERROR_STATUS[this.code];
  }
}

export function badRequest(message: string): TrackerError {
  return new TrackerError(TrackerErrorCode.BadRequest, message);
}
