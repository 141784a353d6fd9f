import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A fresh directory removed when the test ends, failed or not. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-hashing-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export async function writeRandomFile(path: string, size: number): Promise<Uint8Array> {
  const data = new Uint8Array(randomBytes(size));
  await writeFile(path, data);
  return data;
}

async function run(command: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(command, args, {
    timeout: 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

/** Piece hashes from GNU tools: `split` the file into pieces, then `sha1sum` each one. */
export async function sha1sumPieces(file: string, pieceLength: number): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-split-'));
  try {
    await run('split', ['-b', String(pieceLength), '-a', '6', '-d', file, join(dir, 'piece.')]);
    const pieces = (await readdir(dir)).sort().map((name) => join(dir, name));
    if (pieces.length === 0) return new Uint8Array(0);
    const lines = (await run('sha1sum', pieces)).trim().split('\n');
    return new Uint8Array(Buffer.from(lines.map((line) => line.slice(0, 40)).join(''), 'hex'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function sha256sum(file: string): Promise<Uint8Array> {
  const out = await run('sha256sum', [file]);
  return new Uint8Array(Buffer.from(out.slice(0, 64), 'hex'));
}

/** Piece hashes computed in-process with node:crypto, one piece at a time. */
export function cryptoPieces(data: Uint8Array, pieceLength: number): Uint8Array {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < data.length; offset += pieceLength) {
    pieces.push(
      createHash('sha1')
        .update(data.subarray(offset, offset + pieceLength))
        .digest(),
    );
  }
  return new Uint8Array(Buffer.concat(pieces));
}

export function cryptoSha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

export function hex(bytes: Uint8Array | undefined): string {
  return bytes === undefined ? 'undefined' : Buffer.from(bytes).toString('hex');
}

/** Open hash worker ports: each live worker owns one. */
export function liveMessagePorts(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'MessagePort').length;
}
