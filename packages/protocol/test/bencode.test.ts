import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import {
  type BDict,
  BencodeError,
  type BValue,
  bdecode,
  bdecodePrefix,
  bdecodeWithSpans,
  bencode,
  bkey,
  bkeyBytes,
  bstr,
} from '@shoal/protocol';
import fc from 'fast-check';

const latin1 = (text: string) => new Uint8Array(Buffer.from(text, 'latin1'));
const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');

describe('bdecode valid input', () => {
  const vectors: [string, BValue][] = [
    ['i0e', 0],
    ['i42e', 42],
    ['i-42e', -42],
    ['i9007199254740991e', Number.MAX_SAFE_INTEGER],
    ['i-9007199254740991e', Number.MIN_SAFE_INTEGER],
    ['0:', new Uint8Array()],
    ['4:spam', bstr('spam')],
    ['le', []],
    ['l4:spami1ee', [bstr('spam'), 1]],
    ['de', new Map()],
    [
      'd3:cow3:moo4:spam4:eggse',
      new Map<string, BValue>([
        ['cow', bstr('moo')],
        ['spam', bstr('eggs')],
      ]),
    ],
    [
      'd0:i1e1:ai2ee',
      new Map<string, BValue>([
        ['', 1],
        ['a', 2],
      ]),
    ],
    ['d1:ald1:bleeee', new Map<string, BValue>([['a', [new Map([['b', []]])]]])],
  ];
  for (const [encoded, expected] of vectors) {
    test(encoded, () => {
      assert.deepEqual(bdecode(latin1(encoded)), expected);
      assert.equal(text(bencode(expected)), encoded);
    });
  }

  test('non-UTF-8 key bytes round-trip byte for byte', () => {
    const encoded = latin1('d2:\xff\xfei1e2:\xff\xffi2ee');
    const value = bdecode(encoded) as BDict;
    assert.deepEqual([...value.keys()], ['\xff\xfe', '\xff\xff']);
    assert.deepEqual(bkeyBytes('\xff\xfe'), new Uint8Array([0xff, 0xfe]));
    assert.equal(bkey(new Uint8Array([0xff, 0xfe])), '\xff\xfe');
    assert.deepEqual(bencode(value), encoded);
  });

  test('strings decode to plain Uint8Array copies, even from a Buffer', () => {
    const input = Buffer.from('4:spam');
    const value = bdecode(input) as Uint8Array;
    assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype);
    input[2] = 0x53;
    assert.equal(text(value), 'spam');
  });
});

describe('bdecode malformed input', () => {
  const cases: [name: string, input: string, code: string, offset: number][] = [
    ['integer leading zero', 'i03e', 'leading-zero', 1],
    ['negative integer leading zero', 'i-03e', 'leading-zero', 2],
    ['string length leading zero', '03:abc', 'leading-zero', 0],
    ['negative zero', 'i-0e', 'negative-zero', 0],
    ['minus without digits', 'i-e', 'empty-integer', 0],
    ['empty integer', 'ie', 'empty-integer', 0],
    ['non-digit in integer', 'i1x2e', 'unexpected-byte', 2],
    ['plus sign in integer', 'i+1e', 'unexpected-byte', 1],
    ['integer above safe range', 'i9007199254740992e', 'integer-range', 0],
    ['integer below safe range', 'i-9007199254740992e', 'integer-range', 0],
    ['integer with many digits', `i${'9'.repeat(400)}e`, 'integer-range', 0],
    ['empty input', '', 'truncated', 0],
    ['truncated integer', 'i12', 'truncated', 3],
    ['truncated string length', '12', 'truncated', 2],
    ['truncated list', 'l', 'truncated', 1],
    ['truncated dict', 'd1:ai1e', 'truncated', 7],
    ['dict key without value', 'd1:ae', 'unexpected-byte', 4],
    ['dict key at end of input', 'd1:a', 'truncated', 4],
    ['trailing bytes', 'i1ei2e', 'trailing-bytes', 3],
    ['trailing garbage after dict', 'dex', 'trailing-bytes', 2],
    ['string beyond end', '5:abc', 'string-overflow', 0],
    ['huge string length', '99999999999999999999:', 'string-overflow', 0],
    ['integer dict key', 'di1ei2ee', 'non-string-key', 1],
    ['list dict key', 'dlei1ee', 'non-string-key', 1],
    ['unsorted keys', 'd1:bi1e1:ai2ee', 'unsorted-keys', 7],
    ['duplicate keys', 'd1:ai1e1:ai2ee', 'duplicate-key', 7],
    ['keys sorted by bytes, not length', 'd2:aai1e1:bi2ee', 'ok', 0],
    ['unknown type byte', 'x', 'unexpected-byte', 0],
    ['end marker alone', 'e', 'unexpected-byte', 0],
    ['negative string length', '-1:a', 'unexpected-byte', 0],
  ];
  for (const [name, input, code, offset] of cases) {
    test(`${name}: ${input.slice(0, 24)}`, () => {
      if (code === 'ok') {
        assert.ok(bdecode(latin1(input)) instanceof Map);
        return;
      }
      assert.throws(() => bdecode(latin1(input)), { name: 'BencodeError', code, offset });
    });
  }

  test('depth over maxDepth', () => {
    const nested = (depth: number) => latin1(`${'l'.repeat(depth)}${'e'.repeat(depth)}`);
    assert.equal(bencode(bdecode(nested(64))).length, 128);
    assert.throws(() => bdecode(nested(65)), { code: 'too-deep', offset: 64 });
    assert.throws(() => bdecode(nested(3), { maxDepth: 2 }), { code: 'too-deep', offset: 2 });
    assert.throws(() => bdecode(latin1('d1:ad1:ad1:aleeee'), { maxDepth: 3 }), {
      code: 'too-deep',
      offset: 12,
    });
    // Deep hostile input never reaches the stack limit: the cap stops it first.
    assert.throws(() => bdecode(nested(100_000)), { code: 'too-deep' });
  });

  test('input over maxBytes', () => {
    assert.throws(() => bdecode(latin1('4:spam'), { maxBytes: 5 }), {
      code: 'too-large',
      offset: 5,
    });
    assert.deepEqual(bdecode(latin1('4:spam'), { maxBytes: 6 }), bstr('spam'));
    assert.throws(() => bdecode(new Uint8Array(16 * 1024 * 1024 + 1)), { code: 'too-large' });
  });

  test('lenient mode accepts unsorted keys and keeps the first of duplicates', () => {
    const value = bdecode(latin1('d1:bi1e1:ai2e1:bi3ee'), { strict: false }) as BDict;
    assert.deepEqual(
      [...value.entries()],
      [
        ['b', 1],
        ['a', 2],
      ],
    );
    // Still refuses everything that is not about key order.
    assert.throws(() => bdecode(latin1('di1ei2ee'), { strict: false }), {
      code: 'non-string-key',
    });
    assert.throws(() => bdecode(latin1('i03e'), { strict: false }), { code: 'leading-zero' });
  });

  test('bad options are a programming error, not a BencodeError', () => {
    assert.throws(() => bdecode(latin1('i1e'), { maxDepth: 1001 }), RangeError);
    assert.throws(() => bdecode(latin1('i1e'), { maxBytes: -1 }), RangeError);
  });
});

describe('bdecodePrefix and bdecodeWithSpans', () => {
  test('prefix reports the bytes consumed and ignores what follows', () => {
    const input = latin1('d8:msg_typei1e5:piecei0eeRAW DATA');
    const { value, length } = bdecodePrefix(input);
    assert.equal(length, 'd8:msg_typei1e5:piecei0ee'.length);
    assert.deepEqual(
      value,
      new Map([
        ['msg_type', 1],
        ['piece', 0],
      ]),
    );
    assert.equal(text(input.subarray(length)), 'RAW DATA');
    assert.throws(() => bdecodePrefix(latin1('d8:msg_type')), { code: 'truncated' });
  });

  test('spans give the raw bytes of every dict, including unsorted originals', () => {
    const encoded = 'd8:announce3:url4:infod4:name1:x1:ai1eee';
    const { value, spans } = bdecodeWithSpans(latin1(encoded), { strict: false });
    const info = (value as BDict).get('info') as BDict;
    const span = spans.get(info)!;
    assert.equal(encoded.slice(span.start, span.end), 'd4:name1:x1:ai1ee');
    assert.deepEqual(spans.get(value as BDict), { start: 0, end: encoded.length });
    assert.throws(() => bdecodeWithSpans(latin1('dei1e')), { code: 'trailing-bytes' });
  });
});

describe('bencode', () => {
  test('sorts keys by raw bytes', () => {
    const value: BDict = new Map<string, BValue>([
      ['\xff', 1],
      ['b', 2],
      ['a', 3],
      ['B', 4],
      ['aa', 5],
    ]);
    assert.equal(text(bencode(value)), 'd1:Bi4e1:ai3e2:aai5e1:bi2e1:\xffi1ee');
  });

  test('refuses values bencode cannot represent', () => {
    const bad: [string, unknown][] = [
      ['fraction', 1.5],
      ['NaN', Number.NaN],
      ['unsafe integer', 2 ** 53],
      ['string', 'text'],
      ['null', null],
      ['key above 0xff', new Map([['\u0100', 1]])],
    ];
    for (const [name, value] of bad) {
      assert.throws(
        () => bencode(value as BValue),
        { name: 'BencodeError', code: 'unencodable' },
        name,
      );
    }
    const cycle: BValue[] = [];
    cycle.push(cycle);
    assert.throws(() => bencode(cycle), { code: 'unencodable' });
  });

  test('the error reports how many bytes were written', () => {
    assert.throws(() => bencode([1, bstr('ab'), 0.5]), { code: 'unencodable', offset: 8 });
  });
});

const keyArbitrary = fc.uint8Array({ maxLength: 6 }).map(bkey);
const { value: bvalueArbitrary } = fc.letrec<{ value: BValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.maxSafeInteger(),
    fc.uint8Array({ maxLength: 24 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc
      .uniqueArray(fc.tuple(keyArbitrary, tie('value')), {
        maxLength: 5,
        selector: ([key]) => key,
      })
      .map((entries) => new Map(entries)),
  ),
}));

/** Anything but a BencodeError escaping the decoder fails the property. */
function decodesOrRefuses(bytes: Uint8Array, strict: boolean): void {
  try {
    bdecode(bytes, { strict });
  } catch (error) {
    if (!(error instanceof BencodeError)) throw error;
  }
}

describe('bencode properties', () => {
  test('bdecode(bencode(x)) deep-equals x, strictly', () => {
    fc.assert(
      fc.property(bvalueArbitrary, (value) => {
        const encoded = bencode(value);
        assert.deepEqual(bdecode(encoded), value);
        assert.deepEqual(bdecodePrefix(encoded).length, encoded.length);
      }),
      { numRuns: 1000 },
    );
  });

  test('every proper prefix of an encoding is refused as truncated', () => {
    fc.assert(
      fc.property(bvalueArbitrary, fc.nat(), (value, cut) => {
        const encoded = bencode(value);
        const prefix = encoded.subarray(0, cut % encoded.length);
        assert.throws(
          () => bdecode(prefix),
          (error) =>
            error instanceof BencodeError &&
            (error.code === 'truncated' || error.code === 'string-overflow'),
        );
      }),
      { numRuns: 500 },
    );
  });

  test('random bytes give a value or a BencodeError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.boolean(), decodesOrRefuses), {
      numRuns: 1500,
    });
    const alphabet = fc.constantFrom(...latin1('ilde0123456789:-x'));
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 48 }), fc.boolean(), (bytes, strict) =>
        decodesOrRefuses(new Uint8Array(bytes), strict),
      ),
      { numRuns: 1500 },
    );
  });

  test('mutated valid encodings give a value or a BencodeError', () => {
    const mutation = fc.tuple(
      fc.nat(),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom('set', 'insert', 'delete'),
    );
    fc.assert(
      fc.property(
        bvalueArbitrary,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (value, mutations, strict) => {
          const bytes = [...bencode(value)];
          for (const [position, byte, kind] of mutations) {
            const at = position % (bytes.length + 1);
            if (kind === 'set') bytes[at] = byte;
            else if (kind === 'insert') bytes.splice(at, 0, byte);
            else bytes.splice(at, 1);
          }
          decodesOrRefuses(new Uint8Array(bytes), strict);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
