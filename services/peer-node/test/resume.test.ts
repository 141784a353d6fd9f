// The resume record is trusted only when every detail still holds; anything else says why not,
// so the node re-verifies instead.
import assert from 'node:assert/strict';
import { appendFile, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { Bitfield } from '@shoal/swarm';
import { loadResume, saveResume } from '../src/resume.ts';
import { tempDir } from './helpers.ts';

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  const files = [join(dir, 'a.bin'), join(dir, 'b.bin')];
  await writeFile(files[0]!, Buffer.alloc(1000, 1));
  await writeFile(files[1]!, Buffer.alloc(500, 2));
  const expectation = { infoHash: 'ab'.repeat(20), pieceCount: 11, pieceLength: 16384, files };
  const have = new Bitfield(11);
  for (const index of [0, 3, 10]) have.set(index);
  const path = join(dir, 'resume');
  await saveResume(path, expectation, have);
  return { dir, files, expectation, have, path };
}

test('a record saved after the data is trusted as is', async (t) => {
  const { path, expectation } = await setup(t);
  const loaded = await loadResume(path, expectation);
  assert.ok(loaded.ok);
  assert.deepEqual([...loaded.have.indexes()], [0, 3, 10]);
});

test('missing, truncated, edited or foreign records are refused with a reason', async (t) => {
  const { path, expectation } = await setup(t);
  const text = await readFile(path, 'utf8');
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['missing', () => rm(path), /no resume record/],
    ['truncated', () => writeFile(path, text.slice(0, text.length / 2)), /checksum mismatch/],
    ['no newline', () => writeFile(path, 'garbage'), /truncated/],
    [
      'edited',
      () => writeFile(path, text.replace('"pieceCount":11', '"pieceCount":12')),
      /checksum/,
    ],
  ];
  for (const [name, damage, reason] of cases) {
    await writeFile(path, text);
    await damage();
    const loaded = await loadResume(path, expectation);
    assert.equal(loaded.ok, false, name);
    assert.match((loaded as { reason: string }).reason, reason, name);
  }
  await writeFile(path, text);
  const other = await loadResume(path, { ...expectation, infoHash: 'cd'.repeat(20) });
  assert.deepEqual(other, { ok: false, reason: 'for another torrent' });
  const moved = await loadResume(path, { ...expectation, files: [...expectation.files].reverse() });
  assert.deepEqual(moved, { ok: false, reason: 'file list differs' });
  const geometry = await loadResume(path, { ...expectation, pieceLength: 32768 });
  assert.deepEqual(geometry, { ok: false, reason: 'piece geometry differs' });
});

test('data files changed since the record was written invalidate it', async (t) => {
  const { path, expectation, files } = await setup(t);
  await utimes(files[1]!, new Date(), new Date(Date.now() + 5000));
  const touched = await loadResume(path, expectation);
  assert.equal(touched.ok, false);
  assert.match((touched as { reason: string }).reason, /modified after the record/);

  await saveResume(path, expectation, new Bitfield(11));
  await appendFile(files[0]!, 'x');
  const grown = await loadResume(path, expectation);
  assert.match((grown as { reason: string }).reason, /changed size/);

  await rm(files[0]!);
  const gone = await loadResume(path, expectation);
  assert.match((gone as { reason: string }).reason, /is missing/);
});
