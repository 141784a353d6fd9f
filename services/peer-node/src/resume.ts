// The resume record of a torrent: which pieces were verified, and the size and modification
// time of every data file when that was true. It is trusted only if every field still holds;
// anything else (missing, truncated, edited, files touched since) means re-verify the data.
//
// Format: one line with the SHA-256 (hex) of the body, then the body as JSON.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { Bitfield } from '@shoal/swarm';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';

/** A resume record larger than this is refused unread (2^24 pieces and 100k files fit). */
const MAX_RESUME_BYTES = 64 * 1024 * 1024;
const FORMAT_VERSION = 1;

const ResumeBody = z.object({
  version: z.literal(FORMAT_VERSION),
  infoHash: z.string().regex(/^[0-9a-f]{40}$/),
  pieceCount: z.number().int().min(1),
  pieceLength: z.number().int().min(1),
  /** Verified pieces as BEP 3 bitfield bytes, base64. */
  have: z.string().max(MAX_RESUME_BYTES),
  files: z.array(
    z.object({
      path: z.string().min(1).max(8192),
      size: z.number().int().min(0),
      /** Nanoseconds since the epoch, as decimal text (beyond 2^53). */
      mtimeNs: z.string().regex(/^\d{1,30}$/),
    }),
  ),
  savedAt: z.number().int().min(0),
});
type ResumeBody = z.infer<typeof ResumeBody>;

/** What a record must match to be trusted: the torrent and where its files are now. */
export interface ResumeExpectation {
  readonly infoHash: string;
  readonly pieceCount: number;
  readonly pieceLength: number;
  /** Absolute paths of the data files, in torrent order. */
  readonly files: readonly string[];
}

export type ResumeLoad =
  | { readonly ok: true; readonly have: Bitfield }
  | { readonly ok: false; readonly reason: string };

/**
 * Writes the record atomically. Call it only after the data of every piece in `have` is
 * fsynced, and stat the files after that flush: a later write changes their mtime, so the
 * record no longer matches and the next start re-verifies rather than trusting it.
 */
export async function saveResume(
  path: string,
  expectation: ResumeExpectation,
  have: Bitfield,
  now: number = Date.now(),
): Promise<void> {
  const files: ResumeBody['files'] = [];
  for (const file of expectation.files) {
    const stats = await stat(file, { bigint: true });
    files.push({ path: file, size: Number(stats.size), mtimeNs: stats.mtimeNs.toString() });
  }
  const body: ResumeBody = {
    version: FORMAT_VERSION,
    infoHash: expectation.infoHash,
    pieceCount: expectation.pieceCount,
    pieceLength: expectation.pieceLength,
    have: Buffer.from(have.toBytes()).toString('base64'),
    files,
    savedAt: now,
  };
  const json = JSON.stringify(body);
  await writeFileAtomic(path, `${sha256Hex(json)}\n${json}`);
}

/** Reads the record and checks it against the torrent and the files on disk now. */
export async function loadResume(path: string, expected: ResumeExpectation): Promise<ResumeLoad> {
  let text: string;
  try {
    const stats = await stat(path);
    if (stats.size > MAX_RESUME_BYTES) return fail(`larger than ${MAX_RESUME_BYTES} bytes`);
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' ? 'no resume record' : `unreadable: ${code ?? error}`);
  }
  const newline = text.indexOf('\n');
  if (newline === -1) return fail('truncated');
  const json = text.slice(newline + 1);
  if (text.slice(0, newline) !== sha256Hex(json)) return fail('checksum mismatch');
  let body: ResumeBody;
  try {
    const parsed = ResumeBody.safeParse(JSON.parse(json));
    if (!parsed.success) return fail('malformed');
    body = parsed.data;
  } catch {
    return fail('not JSON');
  }
  if (body.infoHash !== expected.infoHash) return fail('for another torrent');
  if (body.pieceCount !== expected.pieceCount || body.pieceLength !== expected.pieceLength) {
    return fail('piece geometry differs');
  }
  if (
    body.files.length !== expected.files.length ||
    body.files.some((file, i) => file.path !== expected.files[i])
  ) {
    return fail('file list differs');
  }
  for (const file of body.files) {
    let stats: Awaited<ReturnType<typeof statBig>>;
    try {
      stats = await statBig(file.path);
    } catch {
      return fail(`${file.path} is missing`);
    }
    if (!stats.isFile() || Number(stats.size) !== file.size) {
      return fail(`${file.path} changed size`);
    }
    if (stats.mtimeNs.toString() !== file.mtimeNs) {
      return fail(`${file.path} was modified after the record was written`);
    }
  }
  let have: Bitfield;
  try {
    have = Bitfield.fromBytes(Buffer.from(body.have, 'base64'), body.pieceCount);
  } catch {
    return fail('bitfield is malformed');
  }
  return { ok: true, have };
}

function statBig(path: string) {
  return stat(path, { bigint: true });
}

function fail(reason: string): ResumeLoad {
  return { ok: false, reason };
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
