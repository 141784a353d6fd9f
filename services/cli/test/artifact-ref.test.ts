import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseArtifactRef, parseInfoHash } from '../src/artifact-ref.ts';
import { CliError, CliErrorCode } from '../src/errors.ts';

const HASH = 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a';

async function tempDir(t: test.TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cli-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: string,
  pattern: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof CliError);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    return true;
  });
}

test('an infohash in either case is one ref, lowercase', async () => {
  assert.equal(parseInfoHash(HASH.toUpperCase()), HASH);
  assert.equal(parseInfoHash(`${HASH}0`), undefined);
  assert.deepEqual(await parseArtifactRef(HASH.toUpperCase()), {
    kind: 'infoHash',
    infoHash: HASH,
  });
});

test('a magnet link gives its infohash; a broken one is a usage error', async () => {
  const magnet = `magnet:?xt=urn:btih:${HASH}&dn=build.bin`;
  assert.deepEqual(await parseArtifactRef(magnet), { kind: 'magnet', infoHash: HASH, magnet });
  await rejectsWith(
    parseArtifactRef('magnet:?dn=nothing'),
    CliErrorCode.Usage,
    /not a valid magnet link/,
  );
});

test('a .torrent made by mktorrent is read with its infohash, name and size', async (t) => {
  const dir = await tempDir(t);
  const content = join(dir, 'build.bin');
  await writeFile(content, Buffer.alloc(300_000, 7));
  const torrentFile = join(dir, 'build.torrent');
  execFileSync('mktorrent', ['-l', '18', '-o', torrentFile, content], { stdio: 'ignore' });
  const expected = /Hash:\s+([0-9a-f]{40})/.exec(
    execFileSync('transmission-show', [torrentFile], { encoding: 'utf8' }),
  )?.[1];
  const ref = await parseArtifactRef(torrentFile);
  assert.equal(ref.kind, 'torrent');
  assert.equal(ref.infoHash, expected);
  assert.equal(ref.kind === 'torrent' ? ref.name : '', 'build.bin');
  assert.equal(ref.kind === 'torrent' ? ref.size : 0, 300_000);
});

test('missing, non-torrent and directory paths are bad files; near-hashes are usage errors', async (t) => {
  const dir = await tempDir(t);
  const junk = join(dir, 'junk.torrent');
  await writeFile(junk, 'd4:info');
  await rejectsWith(
    parseArtifactRef(join(dir, 'none')),
    CliErrorCode.BadFile,
    /none: no such file/,
  );
  await rejectsWith(
    parseArtifactRef(junk),
    CliErrorCode.BadFile,
    /junk\.torrent is not a valid \.torrent: /,
  );
  await rejectsWith(parseArtifactRef(dir), CliErrorCode.BadFile, /is not a file/);
  await rejectsWith(parseArtifactRef(HASH.slice(0, 39)), CliErrorCode.Usage, /is not an infohash/);
});
