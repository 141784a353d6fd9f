/** Every way the benchmark harness fails, as a stable `code`. */
export const BenchErrorCode = {
  /** Not root, or `ip`/`tc` cannot create namespaces, links or qdiscs here. */
  NetworkUnavailable: 'BENCH_NETWORK_UNAVAILABLE',
  /** An `ip` or `tc` command failed. */
  NetworkCommand: 'BENCH_NETWORK_COMMAND',
  /** Namespaces, links or processes were left after a teardown. */
  TeardownIncomplete: 'BENCH_TEARDOWN_INCOMPLETE',
  /** A contender did not deliver the file to every host (failed, wrong bytes, out of time). */
  ContenderFailed: 'BENCH_CONTENDER_FAILED',
  /** Bad command-line options. */
  Usage: 'BENCH_USAGE',
  /** Ctrl-C or SIGTERM. */
  Interrupted: 'BENCH_INTERRUPTED',
} as const;
export type BenchErrorCode = (typeof BenchErrorCode)[keyof typeof BenchErrorCode];

export class BenchError extends Error {
  override readonly name = 'BenchError';
  readonly code: BenchErrorCode;

  constructor(code: BenchErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }
}
