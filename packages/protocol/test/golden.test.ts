// Golden tests against software nobody here wrote: torrents made by mktorrent and
// transmission-create must parse to the infohash that transmission-show and aria2c print,
// our createTorrent must reproduce mktorrent's info dict byte for byte, and torrents we make
// (with our sha256 key) must be read by those tools with our infohash.
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  compareTorrentPaths,
  createTorrent,
  type Metainfo,
  parseMagnet,
  parseTorrent,
} from '@shoal/protocol';

const ANNOUNCE = 'http://127.0.0.1:1/announce';
const PIECE_LENGTH_LOG2 = 15;
const PIECE_LENGTH = 2 ** PIECE_LENGTH_LOG2;
const TOOL_TIMEOUT_MS = 20_000;

/** Files of the multi-file fixture (below its `tree` directory) and their sizes. */
const TREE: [path: string[], length: number][] = [
  [['a', 'b'], 70_000],
  [['a-c'], 10_000],
  [['a.d'], 1],
  [['sub', 'deep', 'z.txt'], 5_000],
  [['B', 'c'], 40_000],
  [['Ünïcode é.txt'], 3_333],
  [['empty'], 0],
  // Equal sizes give hybrid torrents two padding files of the same name.
  [['same', '1'], 1_000],
  [['same', '2'], 1_000],
  // Deep enough that a hybrid torrent's v2 file tree nests past a small depth cap.
  [['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8', 'leaf'], 10],
];
const SINGLE_LENGTH = 300_001;

let work: string;
let toolHome: string;

/** Runs a third-party tool; a missing tool fails the test with a message saying which. */
function run(tool: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      tool,
      args,
      { timeout: TOOL_TIMEOUT_MS, env: { ...process.env, HOME: toolHome }, maxBuffer: 1 << 22 },
      (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new Error(`${tool} is not installed (not on PATH); the golden tests need it`));
        } else if (error) {
          reject(new Error(`${tool} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

function match(output: string, pattern: RegExp, tool: string): string {
  const found = pattern.exec(output);
  assert.ok(found, `${tool} printed no ${pattern} in:\n${output}`);
  return found[1]!.toLowerCase();
}

async function transmissionHash(torrent: string): Promise<string> {
  return match(
    await run('transmission-show', [torrent]),
    /^\s*Hash: ([0-9a-f]{40})$/m,
    'transmission-show',
  );
}

async function aria2(torrent: string): Promise<{ hash: string; magnet: string }> {
  const output = await run('aria2c', ['--no-conf', '-S', torrent]);
  return {
    hash: match(output, /^Info Hash: ([0-9a-f]{40})$/m, 'aria2c'),
    magnet: /^Magnet URI: (\S+)$/m.exec(output)?.[1] ?? '',
  };
}

/** Our parse of `torrent` must give the infohash both tools print. */
async function assertSameInfoHash(torrent: string): Promise<Metainfo> {
  const meta = parseTorrent(await readFile(torrent));
  const [fromTransmission, fromAria2] = await Promise.all([
    transmissionHash(torrent),
    aria2(torrent),
  ]);
  assert.equal(meta.infoHashHex, fromTransmission, `transmission-show on ${torrent}`);
  assert.equal(meta.infoHashHex, fromAria2.hash, `aria2c on ${torrent}`);
  return meta;
}

function pieceHashes(content: Uint8Array, pieceLength: number): Uint8Array {
  const count = Math.ceil(content.length / pieceLength);
  const out = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    const piece = content.subarray(i * pieceLength, (i + 1) * pieceLength);
    out.set(createHash('sha1').update(piece).digest(), i * 20);
  }
  return out;
}

/** Fixture files, in mktorrent's order, with their bytes. */
const treeFiles: { path: string[]; bytes: Uint8Array }[] = [];
let singleBytes: Uint8Array;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'shoal-golden-'));
  toolHome = join(work, 'home');
  await mkdir(toolHome);
  singleBytes = new Uint8Array(randomBytes(SINGLE_LENGTH));
  await writeFile(join(work, 'single.bin'), singleBytes);
  for (const [path, length] of TREE) {
    const bytes = new Uint8Array(randomBytes(length));
    const file = join(work, 'tree', ...path);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
    treeFiles.push({ path, bytes });
  }
  treeFiles.sort((a, b) => compareTorrentPaths(a.path, b.path));
});

// Runs on failure too.
after(async () => {
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/**
 * Makes a hybrid (v1 + v2) torrent of `target` with libtorrent and returns the v1 infohash
 * libtorrent computes. Debian's python3 is named explicitly: another python3 on PATH may
 * lack the module.
 */
async function libtorrentHybrid(target: string, out: string): Promise<string> {
  const script = `
import sys, libtorrent as lt
target, parent, out, announce, piece_length = sys.argv[1:6]
fs = lt.file_storage()
lt.add_files(fs, target)
t = lt.create_torrent(fs, int(piece_length))
t.add_tracker(announce)
lt.set_piece_hashes(t, parent)
open(out, 'wb').write(lt.bencode(t.generate()))
hashes = lt.torrent_info(out).info_hashes()
assert hashes.has_v1() and hashes.has_v2(), 'not a hybrid torrent'
print('v1', hashes.v1)
`;
  const output = await run('/usr/bin/python3', [
    '-c',
    script,
    target,
    dirname(target),
    out,
    ANNOUNCE,
    String(PIECE_LENGTH),
  ]);
  return match(output, /^v1 ([0-9a-f]{40})$/m, 'libtorrent');
}

describe('golden: third-party tools', { timeout: 60_000 }, () => {
  test('mktorrent single file: same infohash, and createTorrent reproduces the info dict', async () => {
    const torrent = join(work, 'mk-single.torrent');
    await run('mktorrent', [
      '-l',
      String(PIECE_LENGTH_LOG2),
      '-t',
      '1',
      '-o',
      torrent,
      '-a',
      ANNOUNCE,
      join(work, 'single.bin'),
    ]);
    const meta = await assertSameInfoHash(torrent);
    assert.equal(meta.singleFile, true);
    assert.equal(meta.totalLength, SINGLE_LENGTH);
    assert.equal(meta.announce, ANNOUNCE);

    const ours = createTorrent({
      name: 'single.bin',
      length: SINGLE_LENGTH,
      pieceLength: PIECE_LENGTH,
      pieces: pieceHashes(singleBytes, PIECE_LENGTH),
    });
    assert.deepEqual(ours.metainfo.infoBytes, meta.infoBytes);
    assert.equal(ours.infoHashHex, meta.infoHashHex);
  });

  test('mktorrent directory: same infohash, files in its order, identical info dict', async () => {
    const torrent = join(work, 'mk-tree.torrent');
    await run('mktorrent', [
      '-l',
      String(PIECE_LENGTH_LOG2),
      '-t',
      '1',
      '-o',
      torrent,
      '-a',
      ANNOUNCE,
      join(work, 'tree'),
    ]);
    const meta = await assertSameInfoHash(torrent);
    assert.deepEqual(
      meta.files.map((f) => [f.path, f.length]),
      treeFiles.map((f) => [['tree', ...f.path], f.bytes.length]),
    );

    const content = Buffer.concat(treeFiles.map((f) => f.bytes));
    const ours = createTorrent({
      name: 'tree',
      files: treeFiles.map((f) => ({ path: f.path, length: f.bytes.length })),
      pieceLength: PIECE_LENGTH,
      pieces: pieceHashes(content, PIECE_LENGTH),
      announce: ANNOUNCE,
    });
    assert.deepEqual(ours.metainfo.infoBytes, meta.infoBytes);
    assert.equal(ours.infoHashHex, meta.infoHashHex);
    assert.deepEqual(ours.infoHash, meta.infoHash);
  });

  test('transmission-create single file and directory: same infohash', async () => {
    const single = join(work, 'tr-single.torrent');
    const tree = join(work, 'tr-tree.torrent');
    const create = (target: string, out: string) =>
      run('transmission-create', [
        '-s',
        String(PIECE_LENGTH / 1024),
        '-o',
        out,
        '-t',
        ANNOUNCE,
        target,
      ]);
    await Promise.all([create(join(work, 'single.bin'), single), create(join(work, 'tree'), tree)]);
    const singleMeta = await assertSameInfoHash(single);
    assert.equal(singleMeta.totalLength, SINGLE_LENGTH);
    const treeMeta = await assertSameInfoHash(tree);
    const expectedTotal = TREE.reduce((sum, [, length]) => sum + length, 0);
    assert.equal(treeMeta.totalLength, expectedTotal);
    assert.equal(treeMeta.pieceLength, PIECE_LENGTH);
  });

  test("libtorrent hybrid v1+v2 torrent: parsed as v1 with libtorrent's v1 infohash", async () => {
    const torrent = join(work, 'lt-hybrid.torrent');
    const v1 = await libtorrentHybrid(join(work, 'tree'), torrent);
    // Only libtorrent judges here: transmission 3.00 refuses hybrid torrents, and aria2 1.36
    // prints a v1 infohash for them that libtorrent (and the SHA-1 of the info bytes) disagree with.
    const meta = parseTorrent(await readFile(torrent));
    assert.equal(meta.infoHashHex, v1);
    const pads = meta.files.filter((f) => f.padding);
    assert.ok(pads.length >= 2, 'expected padding files');
    assert.ok(
      new Set(pads.map((f) => f.path.join('/'))).size < pads.length,
      'expected two padding files with the same name',
    );
    const real = meta.files.filter((f) => !f.padding);
    assert.deepEqual(
      real.map((f) => f.path.slice(1).join('/')).sort(),
      TREE.map(([path]) => path.join('/')).sort(),
    );
  });

  test('our torrent with sha256 and private is read by both tools with our infohash', async () => {
    const content = Buffer.concat(treeFiles.map((f) => f.bytes));
    const sha256 = new Uint8Array(createHash('sha256').update(content).digest());
    const ours = createTorrent({
      name: 'tree',
      files: treeFiles.map((f) => ({ path: f.path, length: f.bytes.length })),
      pieceLength: PIECE_LENGTH,
      pieces: pieceHashes(content, PIECE_LENGTH),
      sha256,
      private: true,
      announce: ANNOUNCE,
      createdBy: 'shoal test',
    });
    const torrent = join(work, 'ours.torrent');
    await writeFile(torrent, ours.torrent);
    const show = await run('transmission-show', [torrent]);
    assert.equal(match(show, /^\s*Hash: ([0-9a-f]{40})$/m, 'transmission-show'), ours.infoHashHex);
    assert.match(show, /Privacy: Private torrent/);
    const { hash, magnet } = await aria2(torrent);
    assert.equal(hash, ours.infoHashHex);
    assert.deepEqual(parseTorrent(ours.torrent).sha256, sha256);

    // aria2's own magnet link for it parses to the same infohash, name and tracker.
    const link = parseMagnet(magnet);
    assert.equal(link.infoHashHex, ours.infoHashHex);
    assert.equal(link.displayName, 'tree');
    assert.deepEqual(link.trackers, [ANNOUNCE]);
  });
});
