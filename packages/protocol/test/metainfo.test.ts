import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { createHash, randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  type BDict,
  type BValue,
  bdecode,
  bencode,
  bstr,
  choosePieceLength,
  compareTorrentPaths,
  createTorrent,
  MetainfoError,
  magnetFromMetainfo,
  parseInfo,
  parseMagnet,
  parseTorrent,
} from '@shoal/protocol';
import fc from 'fast-check';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

const sha1 = (bytes: Uint8Array) => new Uint8Array(createHash('sha1').update(bytes).digest());
const latin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));

/** Piece hashes of `content` the way every client computes them. */
function pieceHashes(content: Uint8Array, pieceLength: number): Uint8Array {
  const count = Math.ceil(content.length / pieceLength);
  const out = new Uint8Array(count * 20);
  for (let i = 0; i < count; i++) {
    out.set(sha1(content.subarray(i * pieceLength, (i + 1) * pieceLength)), i * 20);
  }
  return out;
}

/** A valid multi-file info dict (two files, 40 000 bytes, 32 KiB pieces) to break field by field. */
function multiFileInfo(): BDict {
  return new Map<string, BValue>([
    ['name', bstr('dataset')],
    ['piece length', 32 * KiB],
    ['pieces', new Uint8Array(40)],
    [
      'files',
      [
        new Map<string, BValue>([
          ['length', 30_000],
          ['path', [bstr('a'), bstr('x.bin')]],
        ]),
        new Map<string, BValue>([
          ['length', 10_000],
          ['path', [bstr('b.txt')]],
        ]),
      ],
    ],
  ]);
}

function torrentOf(info: BDict, extra: [string, BValue][] = []): Uint8Array {
  return bencode(new Map<string, BValue>([['info', info], ...extra]));
}

function infoWith(key: string, value: BValue | undefined): Uint8Array {
  const info = multiFileInfo();
  if (value === undefined) info.delete(key);
  else info.set(key, value);
  return torrentOf(info);
}

describe('parseTorrent', () => {
  test('multi-file: files, offsets, lengths and the infohash over the info bytes', () => {
    const bytes = torrentOf(multiFileInfo(), [
      ['announce', bstr('http://tracker.test/announce')],
      [
        'announce-list',
        [[bstr('http://a.test/ann'), bstr('udp://b.test:80')], [], [bstr('https://c.test/x')]],
      ],
      ['comment', bstr('nightly ✓')],
      ['created by', bstr('test')],
      ['creation date', 1_700_000_000],
    ]);
    const meta = parseTorrent(bytes);
    const infoBytes = bencode(multiFileInfo());
    assert.deepEqual(meta.infoBytes, infoBytes);
    assert.deepEqual(meta.infoHash, sha1(infoBytes));
    assert.equal(meta.infoHashHex, Buffer.from(sha1(infoBytes)).toString('hex'));
    assert.equal(meta.name, 'dataset');
    assert.equal(meta.pieceLength, 32 * KiB);
    assert.equal(meta.pieceCount, 2);
    assert.equal(meta.singleFile, false);
    assert.deepEqual(meta.files, [
      { path: ['dataset', 'a', 'x.bin'], length: 30_000, offset: 0, padding: false },
      { path: ['dataset', 'b.txt'], length: 10_000, offset: 30_000, padding: false },
    ]);
    assert.equal(meta.totalLength, 40_000);
    assert.equal(meta.private, false);
    assert.equal(meta.sha256, undefined);
    assert.equal(meta.announce, 'http://tracker.test/announce');
    assert.deepEqual(meta.announceList, [
      ['http://a.test/ann', 'udp://b.test:80'],
      ['https://c.test/x'],
    ]);
    assert.equal(meta.comment, 'nightly ✓');
    assert.equal(meta.createdBy, 'test');
    assert.equal(meta.creationDate, 1_700_000_000);
  });

  test('single-file torrent', () => {
    const info = new Map<string, BValue>([
      ['name', bstr('image.raw')],
      ['piece length', 16 * KiB],
      ['pieces', new Uint8Array(60)],
      ['length', 2 * 16 * KiB + 1],
      ['private', 1],
    ]);
    const meta = parseTorrent(torrentOf(info));
    assert.equal(meta.singleFile, true);
    assert.deepEqual(meta.files, [
      { path: ['image.raw'], length: 32 * KiB + 1, offset: 0, padding: false },
    ]);
    assert.equal(meta.pieceCount, 3);
    assert.equal(meta.private, true);
    assert.deepEqual(meta.announceList, []);
    assert.equal(meta.announce, undefined);
  });

  test('lenient by default: unsorted keys are accepted and hashed as they are', () => {
    const raw =
      'd4:infod4:name1:x6:lengthi5e12:piece lengthi16384e6:pieces20:' +
      'AAAAAAAAAAAAAAAAAAAAe8:announce14:http://t.test/e';
    const bytes = latin1(raw);
    const meta = parseTorrent(bytes);
    const infoStart = raw.indexOf('d4:name');
    const infoEnd = raw.indexOf('8:announce');
    assert.deepEqual(meta.infoHash, sha1(bytes.subarray(infoStart, infoEnd)));
    // Re-encoding would sort the keys and change the hash: the original bytes are what count.
    const canonical = bencode(bdecode(bytes.subarray(infoStart, infoEnd), { strict: false }));
    assert.notDeepEqual(meta.infoHash, sha1(canonical));
    assert.throws(() => parseTorrent(bytes, { strict: true }), {
      name: 'MetainfoError',
      code: 'bad-bencode',
      field: 'torrent',
    });
  });

  test('unknown keys are kept in the info bytes and the infohash', () => {
    const info = multiFileInfo();
    info.set('source', bstr('ci'));
    const meta = parseTorrent(torrentOf(info));
    assert.deepEqual(meta.infoHash, sha1(bencode(info)));
  });

  test('the sha256 key inside info', () => {
    const digest = randomBytes(32);
    const meta = parseTorrent(infoWith('sha256', new Uint8Array(digest)));
    assert.deepEqual(meta.sha256, new Uint8Array(digest));
    assert.throws(() => parseTorrent(infoWith('sha256', new Uint8Array(31))), {
      code: 'invalid-value',
      field: 'info.sha256',
    });
    assert.throws(() => parseTorrent(infoWith('sha256', 5)), {
      code: 'wrong-type',
      field: 'info.sha256',
    });
  });

  test('name.utf-8 is preferred over name when present', () => {
    const info = multiFileInfo();
    info.set('name', latin1('caf\xe9'));
    info.set('name.utf-8', bstr('café'));
    assert.equal(parseTorrent(torrentOf(info)).name, 'café');
    info.delete('name.utf-8');
    assert.throws(() => parseTorrent(torrentOf(info)), {
      code: 'invalid-value',
      field: 'info.name',
    });
  });

  test('parseInfo validates a bare info dict the same way (BEP 9 metadata)', () => {
    const infoBytes = bencode(multiFileInfo());
    const info = parseInfo(Buffer.from(infoBytes));
    assert.deepEqual(info.infoHash, sha1(infoBytes));
    assert.equal(Object.getPrototypeOf(info.infoBytes), Uint8Array.prototype);
    assert.throws(() => parseInfo(bencode([1])), { code: 'wrong-type', field: 'info' });
    assert.throws(() => parseInfo(latin1('d4:name')), { code: 'bad-bencode', field: 'info' });
  });

  const refusals: [name: string, bytes: () => Uint8Array, code: string, field: string][] = [
    ['not bencode', () => latin1('d4:info'), 'bad-bencode', 'torrent'],
    ['top level not a dict', () => bencode([]), 'wrong-type', 'torrent'],
    [
      'info missing',
      () => bencode(new Map([['announce', bstr('http://t.test/')]])),
      'missing-field',
      'info',
    ],
    ['info not a dict', () => bencode(new Map([['info', 1]])), 'wrong-type', 'info'],
    ['name missing', () => infoWith('name', undefined), 'missing-field', 'info.name'],
    ['name not a string', () => infoWith('name', 7), 'wrong-type', 'info.name'],
    [
      'piece length missing',
      () => infoWith('piece length', undefined),
      'missing-field',
      'info.piece length',
    ],
    [
      'piece length a string',
      () => infoWith('piece length', bstr('32768')),
      'wrong-type',
      'info.piece length',
    ],
    [
      'piece length not a power of two',
      () => infoWith('piece length', 48 * KiB),
      'invalid-value',
      'info.piece length',
    ],
    [
      'piece length below 16 KiB',
      () => infoWith('piece length', 8 * KiB),
      'invalid-value',
      'info.piece length',
    ],
    [
      'piece length above 64 MiB',
      () => infoWith('piece length', 128 * MiB),
      'invalid-value',
      'info.piece length',
    ],
    ['piece length zero', () => infoWith('piece length', 0), 'invalid-value', 'info.piece length'],
    [
      'piece length negative',
      () => infoWith('piece length', -32768),
      'invalid-value',
      'info.piece length',
    ],
    ['pieces missing', () => infoWith('pieces', undefined), 'missing-field', 'info.pieces'],
    [
      'pieces not a multiple of 20',
      () => infoWith('pieces', new Uint8Array(41)),
      'invalid-value',
      'info.pieces',
    ],
    [
      'pieces one hash short',
      () => infoWith('pieces', new Uint8Array(20)),
      'invalid-value',
      'info.pieces',
    ],
    [
      'pieces one hash long',
      () => infoWith('pieces', new Uint8Array(60)),
      'invalid-value',
      'info.pieces',
    ],
    ['both length and files', () => infoWith('length', 5), 'invalid-value', 'info'],
    [
      'neither length nor files',
      () => infoWith('files', undefined),
      'missing-field',
      'info.length',
    ],
    ['files not a list', () => infoWith('files', new Map()), 'wrong-type', 'info.files'],
    ['files empty', () => infoWith('files', []), 'invalid-value', 'info.files'],
    ['file entry not a dict', () => infoWith('files', [bstr('a')]), 'wrong-type', 'info.files[0]'],
    [
      'file length missing',
      () => infoWith('files', [new Map([['path', [bstr('a')]]])]),
      'missing-field',
      'info.files[0].length',
    ],
    [
      'file length negative',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', -1],
            ['path', [bstr('a')]],
          ]),
        ]),
      'invalid-value',
      'info.files[0].length',
    ],
    [
      'file path missing',
      () => infoWith('files', [new Map([['length', 1]])]),
      'missing-field',
      'info.files[0].path',
    ],
    [
      'file path not a list',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', 1],
            ['path', bstr('a')],
          ]),
        ]),
      'wrong-type',
      'info.files[0].path',
    ],
    [
      'path component not a string',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', 1],
            ['path', [1]],
          ]),
        ]),
      'wrong-type',
      'info.files[0].path[0]',
    ],
    [
      'path component bad UTF-8',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', 1],
            ['path', [new Uint8Array([0xc3])]],
          ]),
        ]),
      'invalid-value',
      'info.files[0].path[0]',
    ],
    ['private not 0 or 1', () => infoWith('private', 2), 'invalid-value', 'info.private'],
    ['private a string', () => infoWith('private', bstr('1')), 'wrong-type', 'info.private'],
    [
      'total length zero',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', 0],
            ['path', [bstr('a')]],
          ]),
        ]),
      'invalid-value',
      'info',
    ],
    [
      'total length beyond 2^53',
      () =>
        infoWith('files', [
          new Map<string, BValue>([
            ['length', Number.MAX_SAFE_INTEGER],
            ['path', [bstr('a')]],
          ]),
          new Map<string, BValue>([
            ['length', 2],
            ['path', [bstr('b')]],
          ]),
        ]),
      'limit-exceeded',
      'info',
    ],
    [
      'announce not a string',
      () => torrentOf(multiFileInfo(), [['announce', 1]]),
      'wrong-type',
      'announce',
    ],
    [
      'announce not a URL',
      () => torrentOf(multiFileInfo(), [['announce', bstr('not a url')]]),
      'invalid-value',
      'announce',
    ],
    [
      'announce with another scheme',
      () => torrentOf(multiFileInfo(), [['announce', bstr('file:///etc/passwd')]]),
      'invalid-value',
      'announce',
    ],
    [
      'announce-list not a list',
      () => torrentOf(multiFileInfo(), [['announce-list', bstr('x')]]),
      'wrong-type',
      'announce-list',
    ],
    [
      'announce-list tier not a list',
      () => torrentOf(multiFileInfo(), [['announce-list', [bstr('http://t.test/')]]]),
      'wrong-type',
      'announce-list[0]',
    ],
    [
      'announce-list URL not a string',
      () => torrentOf(multiFileInfo(), [['announce-list', [[], [1]]]]),
      'wrong-type',
      'announce-list[1][0]',
    ],
    [
      'announce-list too many URLs',
      () =>
        torrentOf(multiFileInfo(), [
          ['announce-list', [Array.from({ length: 201 }, (_, i) => bstr(`http://t${i}.test/`))]],
        ]),
      'limit-exceeded',
      'announce-list',
    ],
    [
      'comment not a string',
      () => torrentOf(multiFileInfo(), [['comment', []]]),
      'wrong-type',
      'comment',
    ],
    [
      'comment too long',
      () => torrentOf(multiFileInfo(), [['comment', new Uint8Array(4097).fill(0x61)]]),
      'limit-exceeded',
      'comment',
    ],
    [
      'creation date not an integer',
      () => torrentOf(multiFileInfo(), [['creation date', bstr('today')]]),
      'wrong-type',
      'creation date',
    ],
  ];
  for (const [name, bytes, code, field] of refusals) {
    test(`refuses: ${name}`, () => {
      assert.throws(() => parseTorrent(bytes()), { name: 'MetainfoError', code, field });
    });
  }

  test('caps: file count and input size', () => {
    const info = multiFileInfo();
    const files = Array.from(
      { length: 11 },
      (_, i) =>
        new Map<string, BValue>([
          ['length', 1],
          ['path', [bstr(`f${i}`)]],
        ]),
    );
    info.set('files', files);
    info.set('pieces', new Uint8Array(20));
    assert.equal(parseTorrent(torrentOf(info)).files.length, 11);
    assert.throws(() => parseTorrent(torrentOf(info), { maxFiles: 10 }), {
      code: 'limit-exceeded',
      field: 'info.files',
    });
    const bytes = torrentOf(multiFileInfo());
    assert.throws(() => parseTorrent(bytes, { maxBytes: bytes.length - 1 }), {
      code: 'bad-bencode',
      field: 'torrent',
    });
    assert.throws(() => parseTorrent(latin1(`d4:info${'l'.repeat(20)}`)), {
      code: 'bad-bencode',
    });
  });

  test('a bad-bencode error carries the BencodeError as its cause', () => {
    try {
      parseTorrent(latin1('d4:infoi03ee'));
      assert.fail('accepted bad bencode');
    } catch (error) {
      assert.ok(error instanceof MetainfoError);
      assert.equal((error.cause as { code: string }).code, 'leading-zero');
    }
  });
});

describe('createTorrent', () => {
  test('round-trips through parseTorrent with real piece hashes', () => {
    const content = new Uint8Array(randomBytes(100_000));
    const pieces = pieceHashes(content, 32 * KiB);
    const sha256 = new Uint8Array(createHash('sha256').update(content).digest());
    const { torrent, infoHash, infoHashHex, metainfo } = createTorrent({
      name: 'build-42',
      files: [
        { path: ['bin', 'app'], length: 60_000 },
        { path: ['README.md'], length: 40_000 },
      ],
      pieceLength: 32 * KiB,
      pieces,
      sha256,
      private: true,
      announce: 'http://tracker.test:6969/announce',
      announceList: [['http://tracker.test:6969/announce'], ['udp://backup.test:6969']],
      comment: 'release',
      createdBy: 'shoal',
      creationDate: 1_700_000_000,
    });
    const parsed = parseTorrent(torrent, { strict: true });
    assert.deepEqual(parsed, metainfo);
    assert.deepEqual(parsed.infoHash, infoHash);
    assert.equal(parsed.infoHashHex, infoHashHex);
    assert.deepEqual(parsed.pieces, pieces);
    assert.deepEqual(parsed.sha256, sha256);
    assert.equal(parsed.private, true);
    assert.equal(parsed.totalLength, 100_000);
    assert.deepEqual(parsed.files[1], {
      path: ['build-42', 'README.md'],
      length: 40_000,
      offset: 60_000,
      padding: false,
    });
    assert.deepEqual(parsed.announceList, [
      ['http://tracker.test:6969/announce'],
      ['udp://backup.test:6969'],
    ]);
  });

  test('single file, and the optional keys are absent unless given', () => {
    const { metainfo } = createTorrent({
      name: 'disk.img',
      length: 16 * KiB,
      pieceLength: 16 * KiB,
      pieces: new Uint8Array(20),
    });
    assert.equal(metainfo.singleFile, true);
    assert.deepEqual(metainfo.files, [
      { path: ['disk.img'], length: 16 * KiB, offset: 0, padding: false },
    ]);
    assert.equal(Buffer.from(metainfo.infoBytes).includes('private'), false);
    assert.equal(Buffer.from(metainfo.infoBytes).includes('sha256'), false);
  });

  test('refuses what parseTorrent would refuse, naming the field', () => {
    const base = { name: 'x', length: 10, pieceLength: 16 * KiB, pieces: new Uint8Array(20) };
    assert.throws(() => createTorrent({ ...base, pieceLength: 1000 }), {
      field: 'info.piece length',
    });
    assert.throws(() => createTorrent({ ...base, pieceLength: 1.5 }), {
      field: 'info.piece length',
    });
    assert.throws(() => createTorrent({ ...base, length: 10.5 }), { field: 'info.length' });
    assert.throws(() => createTorrent({ ...base, pieces: new Uint8Array(40) }), {
      field: 'info.pieces',
    });
    assert.throws(() => createTorrent({ ...base, name: '../x' }), {
      code: 'unsafe-path',
      field: 'info.name',
    });
    assert.throws(() => createTorrent({ ...base, sha256: new Uint8Array(20) }), {
      field: 'info.sha256',
    });
    assert.throws(() => createTorrent({ ...base, announce: 'nope' }), { field: 'announce' });
    assert.throws(() => createTorrent({ ...base, creationDate: Number.NaN }), {
      field: 'creation date',
    });
    assert.throws(
      () => createTorrent({ ...base, length: undefined, files: [{ path: ['a'], length: -1 }] }),
      { field: 'info.files[0].length' },
    );
  });
});

describe('choosePieceLength', () => {
  const table: [number, number][] = [
    [0, 256 * KiB],
    [1, 256 * KiB],
    [100 * MiB, 256 * KiB],
    [500 * MiB, 256 * KiB],
    [501 * MiB, 512 * KiB],
    [1 * GiB, 1 * MiB],
    [4 * GiB, 4 * MiB],
    [4 * GiB + 1, 4 * MiB],
    [10 * GiB, 8 * MiB],
    [64 * GiB, 16 * MiB],
    [1024 * GiB, 16 * MiB],
  ];
  for (const [total, expected] of table) {
    test(`${total} bytes -> ${expected / KiB} KiB`, () => {
      assert.equal(choosePieceLength(total), expected);
    });
  }

  test('between the clamps it yields 1000..2000 pieces, a power of two', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2000 * 256 * KiB + 1, max: 2000 * 16 * MiB }), (total) => {
        const pieceLength = choosePieceLength(total);
        const pieces = Math.ceil(total / pieceLength);
        assert.ok(pieces > 1000 && pieces <= 2000, `${total}: ${pieces} pieces`);
        assert.equal(pieceLength & (pieceLength - 1), 0);
      }),
      { numRuns: 500 },
    );
  });

  test('refuses nonsense totals', () => {
    assert.throws(() => choosePieceLength(-1), RangeError);
    assert.throws(() => choosePieceLength(1.5), RangeError);
  });
});

test('compareTorrentPaths orders by the joined path bytes, as mktorrent does', () => {
  const paths = [['a', 'b'], ['a.d'], ['a-c'], ['Z'], ['é'], ['e', 'z']];
  assert.deepEqual(paths.sort(compareTorrentPaths), [
    ['Z'],
    ['a-c'],
    ['a.d'],
    ['a', 'b'],
    ['e', 'z'],
    ['é'],
  ]);
});

test('magnetFromMetainfo carries the infohash, name, length and trackers', () => {
  const meta = parseTorrent(
    torrentOf(multiFileInfo(), [
      ['announce', bstr('http://a.test/ann')],
      ['announce-list', [[bstr('http://a.test/ann')], [bstr('udp://b.test:80')]]],
    ]),
  );
  const link = parseMagnet(magnetFromMetainfo(meta));
  assert.deepEqual(link.infoHash, meta.infoHash);
  assert.equal(link.displayName, 'dataset');
  assert.equal(link.exactLength, 40_000);
  assert.deepEqual(link.trackers, ['http://a.test/ann', 'udp://b.test:80']);
});

describe('parseTorrent properties', () => {
  const valid = torrentOf(multiFileInfo(), [['announce', bstr('http://t.test/a')]]);

  /** Anything but a MetainfoError escaping the parser fails the property. */
  function parsesOrRefuses(bytes: Uint8Array): void {
    try {
      parseTorrent(bytes);
    } catch (error) {
      if (!(error instanceof MetainfoError)) throw error;
    }
  }

  test('random bytes give a Metainfo or a MetainfoError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), parsesOrRefuses), { numRuns: 1000 });
  });

  test('mutated valid torrents give a Metainfo or a MetainfoError', () => {
    const mutation = fc.tuple(
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom('set', 'insert', 'delete'),
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (mutations) => {
        const bytes = [...valid];
        for (const [position, byte, kind] of mutations) {
          const at = position % (bytes.length + 1);
          if (kind === 'set') bytes[at] = byte;
          else if (kind === 'insert') bytes.splice(at, 0, byte);
          else bytes.splice(at, 1);
        }
        try {
          parseTorrent(new Uint8Array(bytes));
          accepted++;
        } catch (error) {
          if (!(error instanceof MetainfoError)) throw error;
        }
      }),
      { numRuns: 2000 },
    );
    // Mutations inside piece hashes or names are still valid torrents: both paths ran.
    assert.ok(accepted > 0, 'no mutated torrent was accepted');
  });
});
