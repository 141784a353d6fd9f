/**
 * Every way a `shoal` command can fail, each with its own exit code so scripts can branch on
 * it. The message of a `CliError` is the one line printed on stderr.
 */
export const CliErrorCode = {
  /** Something went wrong that has no more specific code (e.g. a node failed a download). */
  Failed: 'CLI_FAILED',
  /** Bad arguments or options. */
  Usage: 'CLI_USAGE',
  /** No swarm state file in the run directory, or its supervisor is gone. */
  NoSwarm: 'CLI_NO_SWARM',
  /** A service (NATS, gRPC) did not answer. */
  Unreachable: 'CLI_UNREACHABLE',
  /** The infohash (or other name) is not known to the swarm. */
  NotFound: 'CLI_NOT_FOUND',
  /** A local file is missing, unreadable, or not a valid .torrent. */
  BadFile: 'CLI_BAD_FILE',
  /** `up` found a swarm already running in the run directory. */
  AlreadyRunning: 'CLI_ALREADY_RUNNING',
  /** `up` could not start a process or it did not become ready. */
  StartFailed: 'CLI_START_FAILED',
  /** A required program (nats-server, tar) is not installed. */
  ToolMissing: 'CLI_TOOL_MISSING',
  /** A bounded wait ran out. */
  Timeout: 'CLI_TIMEOUT',
  /** The user interrupted the command (Ctrl-C). */
  Interrupted: 'CLI_INTERRUPTED',
} as const;
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** Process exit code of each error; 0 is success. */
export const EXIT_CODES: Record<CliErrorCode, number> = {
  CLI_FAILED: 1,
  CLI_USAGE: 2,
  CLI_NO_SWARM: 3,
  CLI_UNREACHABLE: 4,
  CLI_NOT_FOUND: 5,
  CLI_BAD_FILE: 6,
  CLI_ALREADY_RUNNING: 7,
  CLI_START_FAILED: 8,
  CLI_TOOL_MISSING: 9,
  CLI_TIMEOUT: 10,
  CLI_INTERRUPTED: 130,
};

export class CliError extends Error {
  override readonly name = 'CliError';
  readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** The message of any thrown value, on one line. */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.replace(/\s*\n\s*/g, '; ').trim();
}
