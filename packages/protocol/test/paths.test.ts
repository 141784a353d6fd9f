// Names inside a .torrent must never escape the target directory, nor land two files on
// the same place. Every refusal names the offending field.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type BValue, bencode, bstr, createTorrent, parseTorrent } from '@shoal/protocol';

/** A multi-file torrent whose files have these paths (1 byte each). */
function torrentWithPaths(paths: (string | Uint8Array)[][], name = 'root', pathKey = 'path') {
  const files = paths.map(
    (path) =>
      new Map<string, BValue>([
        ['length', 1],
        [pathKey, path.map((c) => (typeof c === 'string' ? bstr(c) : c))],
      ]),
  );
  const info = new Map<string, BValue>([
    ['name', bstr(name)],
    ['piece length', 16384],
    ['pieces', new Uint8Array(20)],
    ['files', files],
  ]);
  return bencode(new Map([['info', info]]));
}

function singleFileNamed(name: string): Uint8Array {
  const info = new Map<string, BValue>([
    ['name', bstr(name)],
    ['piece length', 16384],
    ['pieces', new Uint8Array(20)],
    ['length', 1],
  ]);
  return bencode(new Map([['info', info]]));
}

const unsafeComponents: [name: string, component: string][] = [
  ['parent directory', '..'],
  ['current directory', '.'],
  ['empty', ''],
  ['absolute', '/etc'],
  ['absolute root', '/'],
  ['Windows absolute', '\\Windows'],
  ['slash inside', 'a/../../b'],
  ['backslash inside', '..\\..\\b'],
  ['NUL', 'a\u0000b'],
  ['newline', 'a\nb'],
  ['DEL', 'a\u007fb'],
  ['drive letter', 'C:'],
  ['drive letter with path', 'c:evil'],
];

describe('unsafe names and path components are refused with their field', () => {
  for (const [name, component] of unsafeComponents) {
    test(`name: ${name}`, () => {
      assert.throws(() => parseTorrent(singleFileNamed(component)), {
        name: 'MetainfoError',
        code: 'unsafe-path',
        field: 'info.name',
      });
      assert.throws(() => parseTorrent(torrentWithPaths([['ok']], component)), {
        code: 'unsafe-path',
        field: 'info.name',
      });
    });

    test(`path component: ${name}`, () => {
      assert.throws(() => parseTorrent(torrentWithPaths([['fine'], ['dir', component, 'x']])), {
        name: 'MetainfoError',
        code: 'unsafe-path',
        field: 'info.files[1].path[1]',
      });
    });
  }

  test('path.utf-8 is checked the same way, and named', () => {
    assert.throws(() => parseTorrent(torrentWithPaths([['a', '..']], 'root', 'path.utf-8')), {
      code: 'unsafe-path',
      field: 'info.files[0].path.utf-8[1]',
    });
  });

  test('name.utf-8 is checked the same way, and named', () => {
    const info = new Map<string, BValue>([
      ['name', bstr('innocent')],
      ['name.utf-8', bstr('..')],
      ['piece length', 16384],
      ['pieces', new Uint8Array(20)],
      ['length', 1],
    ]);
    assert.throws(() => parseTorrent(bencode(new Map([['info', info]]))), {
      code: 'unsafe-path',
      field: 'info.name.utf-8',
    });
  });

  test('an empty path list is refused', () => {
    assert.throws(() => parseTorrent(torrentWithPaths([['a'], []])), {
      code: 'unsafe-path',
      field: 'info.files[1].path',
    });
  });

  test('invalid UTF-8 is refused rather than replaced', () => {
    // 0xc0 0xae is an overlong '.', a classic way to smuggle '..' past a byte check.
    const overlongDot = new Uint8Array([0xc0, 0xae, 0xc0, 0xae]);
    assert.throws(() => parseTorrent(torrentWithPaths([['a', overlongDot]])), {
      code: 'invalid-value',
      field: 'info.files[0].path[1]',
    });
  });

  test('length caps: component bytes, component count, whole path', () => {
    // 128 two-byte characters are 256 UTF-8 bytes: over the 255-byte cap.
    assert.throws(() => parseTorrent(torrentWithPaths([['é'.repeat(128)]])), {
      code: 'limit-exceeded',
      field: 'info.files[0].path[0]',
    });
    assert.equal(parseTorrent(torrentWithPaths([['é'.repeat(127)]])).files.length, 1);
    assert.throws(() => parseTorrent(singleFileNamed('n'.repeat(256))), {
      code: 'limit-exceeded',
      field: 'info.name',
    });
    const deep = Array.from({ length: 65 }, () => 'd');
    assert.throws(() => parseTorrent(torrentWithPaths([deep])), {
      code: 'limit-exceeded',
      field: 'info.files[0].path',
    });
    const long = Array.from({ length: 20 }, () => 'x'.repeat(250));
    assert.throws(() => parseTorrent(torrentWithPaths([long])), {
      code: 'limit-exceeded',
      field: 'info.files[0].path',
    });
  });

  test('createTorrent refuses the same, naming the same field', () => {
    assert.throws(
      () =>
        createTorrent({
          name: 'root',
          files: [
            { path: ['a'], length: 1 },
            { path: ['b', '..', 'c'], length: 1 },
          ],
          pieceLength: 16384,
          pieces: new Uint8Array(20),
        }),
      { code: 'unsafe-path', field: 'info.files[1].path[1]' },
    );
  });
});

describe('colliding paths are refused', () => {
  const collisions: [name: string, paths: string[][], field: string][] = [
    ['the same path twice', [['a', 'b'], ['c'], ['a', 'b']], 'info.files[2].path'],
    ['names differing in case', [['README'], ['readme']], 'info.files[1].path'],
    [
      'directories differing in case',
      [
        ['Docs', 'a'],
        ['docs', 'a'],
      ],
      'info.files[1].path',
    ],
    // U+00E9 (composed) against e + U+0301 (decomposed): equal after NFC.
    ['NFC and NFD forms of a name', [['caf\u00e9'], ['cafe\u0301']], 'info.files[1].path'],
    ['case folding beyond ASCII (ß / SS)', [['STRASSE'], ['straße']], 'info.files[1].path'],
    ['a file, then a file inside it', [['a'], ['a', 'b']], 'info.files[1].path'],
    [
      'a file inside a directory, then the directory as a file',
      [['a', 'b'], ['a']],
      'info.files[1].path',
    ],
    ['a file as a directory in another case', [['Bin'], ['bin', 'tool']], 'info.files[1].path'],
  ];
  for (const [name, paths, field] of collisions) {
    test(name, () => {
      assert.throws(() => parseTorrent(torrentWithPaths(paths)), {
        name: 'MetainfoError',
        code: 'path-collision',
        field,
      });
    });
  }
});

test('unusual but safe names are accepted as they are', () => {
  const paths = [
    ['...'],
    ['.hidden'],
    ['a..b'],
    ['dir.', 'x'],
    ['con'],
    ['日本語', 'ファイル.txt'],
    ['12:30.log'],
    ['a b', 'c'],
    ['a', 'b'],
    ['a', 'c'],
  ];
  const meta = parseTorrent(torrentWithPaths(paths, '.config'));
  assert.deepEqual(
    meta.files.map((f) => f.path),
    paths.map((p) => ['.config', ...p]),
  );
});

test('BEP 47 padding files may share a name; real files may not', () => {
  const entry = (path: string[], attr?: string) =>
    new Map<string, BValue>([
      ['length', 1],
      ['path', path.map(bstr)],
      ...(attr === undefined ? [] : [['attr', bstr(attr)] as [string, BValue]]),
    ]);
  const torrent = (files: Map<string, BValue>[]) =>
    bencode(
      new Map([
        [
          'info',
          new Map<string, BValue>([
            ['name', bstr('root')],
            ['piece length', 16384],
            ['pieces', new Uint8Array(20)],
            ['files', files],
          ]),
        ],
      ]),
    );
  const meta = parseTorrent(
    torrent([entry(['a']), entry(['.pad', '7'], 'p'), entry(['b']), entry(['.pad', '7'], 'p')]),
  );
  assert.deepEqual(
    meta.files.map((f) => f.padding),
    [false, true, false, true],
  );
  assert.throws(() => parseTorrent(torrent([entry(['.pad', '7'], 'x'), entry(['.pad', '7'])])), {
    code: 'path-collision',
    field: 'info.files[1].path',
  });
  // Padding files still may not escape.
  assert.throws(() => parseTorrent(torrent([entry(['a']), entry(['..', '7'], 'p')])), {
    code: 'unsafe-path',
    field: 'info.files[1].path[0]',
  });
});
