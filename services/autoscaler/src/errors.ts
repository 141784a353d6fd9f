/** Every way the autoscaler can fail, as a stable `code` callers can branch on. */
export const AutoscalerErrorCode = {
  /** A variable is missing, malformed or contradicts another. */
  InvalidConfig: 'AUTOSCALER_INVALID_CONFIG',
  /** A Kubernetes API call failed; `status` is the HTTP status when the server answered. */
  ApiFailed: 'AUTOSCALER_API_FAILED',
  /** A Kubernetes API call got no answer within its deadline. */
  ApiTimeout: 'AUTOSCALER_API_TIMEOUT',
  /** The API server answered with an object that is not what the API reference describes. */
  BadApiResponse: 'AUTOSCALER_BAD_API_RESPONSE',
  /** A Node's topology label is not a valid shoal label value. */
  BadNodeLabel: 'AUTOSCALER_BAD_NODE_LABEL',
} as const;
export type AutoscalerErrorCode = (typeof AutoscalerErrorCode)[keyof typeof AutoscalerErrorCode];

export class AutoscalerError extends Error {
  override readonly name = 'AutoscalerError';
  readonly code: AutoscalerErrorCode;
  /** For `ApiFailed`: the HTTP status the API server answered with, if it answered. */
  readonly status: number | undefined;

  constructor(
    code: AutoscalerErrorCode,
    message: string,
    options: { cause?: unknown; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
  }
}
