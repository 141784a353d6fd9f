/** Every way service plumbing can fail, as a stable `code` callers can branch on. */
export const ServiceKitErrorCode = {
  /** One or more environment variables are missing or invalid; the message lists them all. */
  InvalidConfig: 'SERVICE_INVALID_CONFIG',
  /** The NATS server refused the configured credentials (or their absence). */
  NatsAuthRefused: 'SERVICE_NATS_AUTH_REFUSED',
  /** The HTTP port could not be bound. */
  ListenFailed: 'SERVICE_LISTEN_FAILED',
} as const;
export type ServiceKitErrorCode = (typeof ServiceKitErrorCode)[keyof typeof ServiceKitErrorCode];

export class ServiceKitError extends Error {
  override readonly name = 'ServiceKitError';
  readonly code: ServiceKitErrorCode;

  constructor(code: ServiceKitErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}

/**
 * What a service prints when it cannot start: a ServiceKitError (bad configuration, NATS
 * refusing the credentials) says all in its message; anything else is a bug, so its stack.
 */
export function describeStartupFailure(error: unknown): string {
  if (error instanceof ServiceKitError) return error.message;
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
