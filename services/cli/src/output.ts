// Where a command's output goes: results on stdout (text, or one JSON document with --json),
// live progress on stderr (a bar on a terminal, a line every few seconds otherwise, nothing
// with --json).
import cliProgress from 'cli-progress';

export interface Output {
  readonly json: boolean;
  /** A result line for people; ignored with --json. */
  line(text: string): void;
  /** The result for scripts, printed only with --json. */
  result(value: unknown): void;
  /** A note on stderr for people (what is happening); ignored with --json. */
  note(text: string): void;
  /** A live progress view; see `ProgressView`. */
  progress(render: ProgressRender): ProgressView;
}

export interface ProgressView {
  update(done: number, total: number, fields: Record<string, string>): void;
  stop(): void;
}

export interface ProgressRender {
  /** cli-progress format, e.g. `{bar} {percentage}% | {rate}`; fields are `{name}` tokens. */
  bar: string;
  /** The same as one plain line, for logs and pipes. */
  plain(done: number, total: number, fields: Record<string, string>): string;
}

/** Plain progress lines this often when stderr is not a terminal. */
const PLAIN_INTERVAL_MS = 5000;

export function createOutput(options: { json: boolean }): Output {
  const { json } = options;
  return {
    json,
    line: (text) => {
      if (!json) process.stdout.write(`${text}\n`);
    },
    result: (value) => {
      if (json) process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    note: (text) => {
      if (!json) process.stderr.write(`${text}\n`);
    },
    progress: (render) => {
      if (json) return { update: () => {}, stop: () => {} };
      return process.stderr.isTTY ? barView(render) : plainView(render);
    },
  };
}

function barView(render: ProgressRender): ProgressView {
  const bar = new cliProgress.SingleBar(
    {
      format: render.bar,
      stream: process.stderr,
      hideCursor: true,
      barsize: 30,
      fps: 5,
      etaBuffer: 20,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: (done, total, fields) => {
      const safeTotal = Math.max(total, 1);
      if (!started) {
        bar.start(safeTotal, done, fields);
        started = true;
        return;
      }
      bar.setTotal(safeTotal);
      bar.update(done, fields);
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}

function plainView(render: ProgressRender): ProgressView {
  let last = Date.now();
  return {
    update: (done, total, fields) => {
      const now = Date.now();
      if (now - last < PLAIN_INTERVAL_MS) return;
      last = now;
      process.stderr.write(`${render.plain(done, total, fields)}\n`);
    },
    stop: () => {},
  };
}
