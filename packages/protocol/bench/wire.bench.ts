// Wire codec throughput: framing and parsing a stream of 16 KiB piece messages fed in
// realistic chunk sizes (64 KiB socket reads, 1500-byte MTU-sized segments), plus encoding.
// Reports the median of a few runs, bounded in count and time, as a table and a JSON line.
// For comparison, the npm package bittorrent-protocol (webtorrent) parses the same chunks
// through its `_write` method, the internal entry point its stream feeds socket data into
// (skipping streamx's queueing, so its number is a best case for it).
//
//   node --conditions=source packages/protocol/bench/wire.bench.ts
import { performance } from 'node:perf_hooks';
import {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  WireDecoder,
  type WireMessage,
} from '../src/wire/index.ts';

const BLOCK = 16 * 1024;
const MESSAGES = 2048; // 32 MiB of blocks per run
const RUNS = 9;
const TIME_BUDGET_MS = 20_000; // per scenario; fewer runs if exceeded
const CHUNK_SIZES = [64 * 1024, 1500] as const;

interface Result {
  readonly name: string;
  readonly chunk: number | null;
  readonly runs: number;
  readonly messagesPerSecond: number;
  /** Frame bytes per second; null when the block bytes are not touched. */
  readonly megabytesPerSecond: number | null;
}

const handshake = encodeHandshake({
  reserved: new Uint8Array(8),
  infoHash: new Uint8Array(20).fill(1),
  peerId: new Uint8Array(20).fill(2),
});
const block = Uint8Array.from({ length: BLOCK }, (_, i) => i & 0xff);
const pieces: WireMessage[] = Array.from({ length: MESSAGES }, (_, i) => ({
  type: 'piece',
  index: i >>> 4,
  begin: (i & 15) * BLOCK,
  block,
}));
const stream = concat([handshake, ...pieces.map(encodeMessage)]);

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function chunked(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size) {
    // Copies, as a socket delivers separate buffers.
    chunks.push(bytes.slice(offset, offset + size));
  }
  return chunks;
}

/** Runs `once` (which returns the messages it handled) up to RUNS times; median rate. */
function measure(
  name: string,
  chunk: number | null,
  bytesPerRun: number | null,
  once: () => number,
): Result {
  const rates: number[] = [];
  const started = performance.now();
  once(); // warm-up
  while (rates.length < RUNS && performance.now() - started < TIME_BUDGET_MS) {
    const t0 = performance.now();
    const handled = once();
    const seconds = (performance.now() - t0) / 1000;
    if (handled !== MESSAGES)
      throw new Error(`${name}: handled ${handled} of ${MESSAGES} messages`);
    rates.push(seconds);
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)]!;
  return {
    name,
    chunk,
    runs: rates.length,
    messagesPerSecond: Math.round(MESSAGES / median),
    megabytesPerSecond: bytesPerRun === null ? null : Math.round(bytesPerRun / median / 2 ** 20),
  };
}

function decodeWithShoal(chunks: readonly Uint8Array[]): number {
  const decoder = new WireDecoder();
  let count = 0;
  for (const chunk of chunks) {
    for (const event of decoder.push(chunk)) {
      if (event.type === 'piece' && event.block.length === BLOCK) count++;
    }
  }
  decoder.end();
  return count;
}

interface ComparisonWire {
  on(event: 'piece', listener: (index: number, offset: number, block: Uint8Array) => void): void;
  _write(data: Uint8Array, callback: (error: Error | null) => void): void;
  destroy(): void;
}

/** bittorrent-protocol's Wire class, or undefined when the package is not installed. */
async function loadComparison(): Promise<(new () => ComparisonWire) | undefined> {
  const specifier = 'bittorrent-protocol';
  try {
    const module = (await import(specifier)) as { default: new () => ComparisonWire };
    return module.default;
  } catch {
    return undefined;
  }
}

function decodeWithComparison(
  Wire: new () => ComparisonWire,
  chunks: readonly Uint8Array[],
): number {
  const wire = new Wire();
  let count = 0;
  wire.on('piece', (_index, _offset, received) => {
    if (received.length === BLOCK) count++;
  });
  const noop = () => {};
  for (const chunk of chunks) wire._write(chunk, noop);
  wire.destroy();
  return count;
}

const results: Result[] = [];
const ComparisonWireClass = await loadComparison();
for (const size of CHUNK_SIZES) {
  const chunks = chunked(stream, size);
  results.push(measure('shoal WireDecoder', size, stream.length, () => decodeWithShoal(chunks)));
  if (ComparisonWireClass) {
    results.push(
      measure('bittorrent-protocol 5.0.9', size, stream.length, () =>
        decodeWithComparison(ComparisonWireClass, chunks),
      ),
    );
  }
}
results.push(
  measure('encodeMessage(piece) (copies block)', null, MESSAGES * (BLOCK + 13), () => {
    let count = 0;
    for (const piece of pieces) if (encodeMessage(piece).length === BLOCK + 13) count++;
    return count;
  }),
  measure('encodePieceHeader (block not copied)', null, null, () => {
    let count = 0;
    for (let i = 0; i < MESSAGES; i++) if (encodePieceHeader(i, 0, BLOCK).length === 13) count++;
    return count;
  }),
);

const rows = results.map((r) => ({
  codec: r.name,
  chunk: r.chunk === null ? '-' : String(r.chunk),
  'msg/s': r.messagesPerSecond.toLocaleString('en'),
  'MB/s': r.megabytesPerSecond === null ? '-' : r.megabytesPerSecond.toLocaleString('en'),
  runs: String(r.runs),
}));
const columns = Object.keys(rows[0]!) as (keyof (typeof rows)[number])[];
const widths = columns.map((column) =>
  Math.max(column.length, ...rows.map((row) => row[column].length)),
);
const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ');
console.log(
  `wire codec: ${MESSAGES} piece messages of ${BLOCK} bytes, median of up to ${RUNS} runs`,
);
if (!ComparisonWireClass) console.log('(bittorrent-protocol not installed: comparison skipped)');
console.log(line(columns));
for (const row of rows) console.log(line(columns.map((column) => row[column])));
console.log(
  JSON.stringify({
    bench: 'wire',
    node: process.version,
    messages: MESSAGES,
    block: BLOCK,
    results,
  }),
);
