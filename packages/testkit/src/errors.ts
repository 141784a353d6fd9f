/** Every way a test helper can fail, as a stable `code`. */
export const TestkitErrorCode = {
  /** A required binary (nats-server, aria2c...) is not installed. */
  ToolMissing: 'TESTKIT_TOOL_MISSING',
  /** A process exited before it was ready. */
  StartFailed: 'TESTKIT_START_FAILED',
  /** A bounded wait ran out of time. */
  Timeout: 'TESTKIT_TIMEOUT',
} as const;
export type TestkitErrorCode = (typeof TestkitErrorCode)[keyof typeof TestkitErrorCode];

export class TestkitError extends Error {
  override readonly name = 'TestkitError';
  readonly code: TestkitErrorCode;

  constructor(code: TestkitErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
