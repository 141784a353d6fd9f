import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import { formatMagnet, MagnetError, parseMagnet } from '@shoal/protocol';
import fc from 'fast-check';

// SHA-1("shoal"), and its RFC 4648 base32 form as printed by Python's base64.b32encode.
const HEX = '2db0973f709d9f0f5f0aaf61f4061d2570e776f8';
const BASE32 = 'FWYJOP3QTWPQ6XYKV5Q7IBQ5EVYOO5XY';
const HASH = new Uint8Array(Buffer.from(HEX, 'hex'));

describe('parseMagnet', () => {
  test('hex and base32, either case, give the same infohash', () => {
    for (const btih of [HEX, HEX.toUpperCase(), BASE32, BASE32.toLowerCase()]) {
      const link = parseMagnet(`magnet:?xt=urn:btih:${btih}`);
      assert.deepEqual(link.infoHash, HASH, btih);
      assert.equal(link.infoHashHex, HEX);
    }
  });

  test('all the parameters', () => {
    const link = parseMagnet(
      `MAGNET:?XT=urn:BTIH:${HEX}&dn=build+42%20%E2%9C%93&xl=123456789` +
        '&tr=http%3A%2F%2Ft.test%3A6969%2Fannounce&tr.1=udp://u.test:80&tr=http%3A%2F%2Ft.test%3A6969%2Fannounce' +
        '&x.pe=10.0.0.1:6881&x.pe=%5B2001%3Adb8%3A%3A1%5D%3A51413&x.pe=seed.test:1' +
        '&ws=http://ignored.test/&so=0-3',
    );
    assert.deepEqual(link, {
      infoHash: HASH,
      infoHashHex: HEX,
      displayName: 'build 42 ✓',
      trackers: ['http://t.test:6969/announce', 'udp://u.test:80'],
      exactLength: 123456789,
      peers: ['10.0.0.1:6881', '[2001:db8::1]:51413', 'seed.test:1'],
    });
  });

  test('the same infohash twice, in hex and base32, is accepted', () => {
    const link = parseMagnet(`magnet:?xt=urn:btih:${HEX}&xt.1=urn:btih:${BASE32}`);
    assert.deepEqual(link.infoHash, HASH);
  });

  test('a hybrid magnet (btih and btmh) uses the btih', () => {
    const link = parseMagnet(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}&xt=urn:btih:${HEX}`);
    assert.deepEqual(link.infoHash, HASH);
  });

  const refusals: [name: string, uri: string, code: string, param: string][] = [
    ['not a magnet', `http://x.test/?xt=urn:btih:${HEX}`, 'malformed', 'uri'],
    ['magnet without ?', `magnet:xt=urn:btih:${HEX}`, 'malformed', 'uri'],
    ['parameter without =', `magnet:?xt=urn:btih:${HEX}&dn`, 'malformed', 'uri'],
    ['bad percent-encoding', `magnet:?xt=urn:btih:${HEX}&dn=%zz`, 'malformed', 'dn'],
    ['no xt at all', 'magnet:?dn=x', 'missing-info-hash', 'xt'],
    ['only another urn', 'magnet:?xt=urn:sha1:ABCDEF', 'missing-info-hash', 'xt'],
    ['v2-only', `magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`, 'v2-only', 'xt'],
    ['39 hex characters', `magnet:?xt=urn:btih:${HEX.slice(1)}`, 'invalid-info-hash', 'xt'],
    ['41 hex characters', `magnet:?xt=urn:btih:${HEX}0`, 'invalid-info-hash', 'xt'],
    ['non-hex in 40 characters', `magnet:?xt=urn:btih:${HEX.slice(1)}g`, 'invalid-info-hash', 'xt'],
    ['33 base32 characters', `magnet:?xt=urn:btih:${BASE32}A`, 'invalid-info-hash', 'xt'],
    ['base32 with 1 and 8', `magnet:?xt=urn:btih:${BASE32.slice(2)}18`, 'invalid-info-hash', 'xt'],
    ['empty btih', 'magnet:?xt=urn:btih:', 'invalid-info-hash', 'xt'],
    [
      'two different btih',
      `magnet:?xt=urn:btih:${HEX}&xt=urn:btih:${'0'.repeat(40)}`,
      'invalid-info-hash',
      'xt',
    ],
    [
      'URI over 8 KiB',
      `magnet:?xt=urn:btih:${HEX}&dn=${'a'.repeat(8192)}`,
      'limit-exceeded',
      'uri',
    ],
    [
      'too many parameters',
      `magnet:?xt=urn:btih:${HEX}${'&so=1'.repeat(300)}`,
      'limit-exceeded',
      'uri',
    ],
    [
      'too many trackers',
      `magnet:?xt=urn:btih:${HEX}${Array.from({ length: 65 }, (_, i) => `&tr=http://t${i}.test/`).join('')}`,
      'limit-exceeded',
      'tr',
    ],
    [
      'too many peers',
      `magnet:?xt=urn:btih:${HEX}${Array.from({ length: 65 }, (_, i) => `&x.pe=10.0.0.1:${i + 1}`).join('')}`,
      'limit-exceeded',
      'x.pe',
    ],
    ['tracker not a URL', `magnet:?xt=urn:btih:${HEX}&tr=not%20a%20url`, 'invalid-tracker', 'tr'],
    [
      'tracker with a script scheme',
      `magnet:?xt=urn:btih:${HEX}&tr=javascript:alert(1)`,
      'invalid-tracker',
      'tr',
    ],
    ['negative length', `magnet:?xt=urn:btih:${HEX}&xl=-1`, 'invalid-length', 'xl'],
    ['fractional length', `magnet:?xt=urn:btih:${HEX}&xl=1.5`, 'invalid-length', 'xl'],
    [
      'length beyond 2^53',
      `magnet:?xt=urn:btih:${HEX}&xl=9007199254740993`,
      'invalid-length',
      'xl',
    ],
    ['empty length', `magnet:?xt=urn:btih:${HEX}&xl=`, 'invalid-length', 'xl'],
    ['peer without port', `magnet:?xt=urn:btih:${HEX}&x.pe=10.0.0.1`, 'invalid-peer', 'x.pe'],
    ['peer port 0', `magnet:?xt=urn:btih:${HEX}&x.pe=10.0.0.1:0`, 'invalid-peer', 'x.pe'],
    ['peer port 65536', `magnet:?xt=urn:btih:${HEX}&x.pe=10.0.0.1:65536`, 'invalid-peer', 'x.pe'],
    ['peer host with a space', `magnet:?xt=urn:btih:${HEX}&x.pe=a%20b:1`, 'invalid-peer', 'x.pe'],
    [
      'peer IPv6 without brackets',
      `magnet:?xt=urn:btih:${HEX}&x.pe=2001:db8::1:80`,
      'invalid-peer',
      'x.pe',
    ],
    [
      'peer with a bad IPv4',
      `magnet:?xt=urn:btih:${HEX}&x.pe=300.1.1.1:80`,
      'invalid-peer',
      'x.pe',
    ],
  ];
  for (const [name, uri, code, param] of refusals) {
    test(`refuses: ${name}`, () => {
      assert.throws(() => parseMagnet(uri), { name: 'MagnetError', code, param });
    });
  }

  test('the v2-only refusal says so', () => {
    assert.throws(() => parseMagnet(`magnet:?xt=urn:btmh:1220${'ab'.repeat(32)}`), {
      message: /v2-only magnets unsupported/,
    });
  });

  test('random strings give a MagnetLink or a MagnetError', () => {
    const parsesOrRefuses = (uri: string) => {
      try {
        parseMagnet(uri);
      } catch (error) {
        if (!(error instanceof MagnetError)) throw error;
      }
    };
    fc.assert(fc.property(fc.string({ maxLength: 200 }), parsesOrRefuses), { numRuns: 1000 });
    const piece = fc.constantFrom(
      'magnet:?',
      '&',
      '=',
      'xt',
      'urn:btih:',
      'urn:btmh:',
      HEX,
      BASE32,
      'tr',
      'dn',
      'xl',
      'x.pe',
      '%',
      '%2',
      '%E2%9C',
      '+',
      ':',
      '[',
      ']',
      '1',
      '65535',
      'http://',
      'udp://',
      '.1',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (parts) => parsesOrRefuses(parts.join(''))),
      { numRuns: 2000 },
    );
  });
});

describe('formatMagnet', () => {
  test('writes lowercase hex and percent-encoded values', () => {
    assert.equal(
      formatMagnet({
        infoHash: HASH,
        displayName: 'a b&c=d+e',
        exactLength: 42,
        trackers: ['http://t.test/announce?x=1&y=2'],
        peers: ['[::1]:6881'],
      }),
      `magnet:?xt=urn:btih:${HEX}&dn=a%20b%26c%3Dd%2Be&xl=42` +
        '&tr=http%3A%2F%2Ft.test%2Fannounce%3Fx%3D1%26y%3D2&x.pe=%5B%3A%3A1%5D%3A6881',
    );
  });

  test('refuses what parseMagnet would refuse', () => {
    assert.throws(() => formatMagnet({ infoHash: new Uint8Array(19) }), {
      code: 'invalid-info-hash',
    });
    assert.throws(() => formatMagnet({ infoHash: HASH, exactLength: -1 }), {
      code: 'invalid-length',
    });
    assert.throws(() => formatMagnet({ infoHash: HASH, trackers: ['ftp://x.test/'] }), {
      code: 'invalid-tracker',
    });
    assert.throws(() => formatMagnet({ infoHash: HASH, peers: ['host'] }), {
      code: 'invalid-peer',
    });
  });

  test('parseMagnet(formatMagnet(x)) gives x back', () => {
    const host = fc.oneof(
      fc.ipV4(),
      fc.ipV6().map((address) => `[${address}]`),
      fc.domain(),
    );
    const link = fc.record(
      {
        infoHash: fc.uint8Array({ minLength: 20, maxLength: 20 }),
        displayName: fc.string({ unit: 'binary', maxLength: 40 }),
        exactLength: fc.maxSafeNat(),
        trackers: fc.uniqueArray(
          fc
            .tuple(fc.constantFrom('http', 'https', 'udp'), fc.domain(), fc.webPath())
            .map(([scheme, domain, path]) => new URL(`${scheme}://${domain}${path}`).href),
          { maxLength: 4 },
        ),
        peers: fc.uniqueArray(
          fc.tuple(host, fc.integer({ min: 1, max: 65535 })).map(([h, port]) => `${h}:${port}`),
          { maxLength: 4 },
        ),
      },
      { requiredKeys: ['infoHash', 'trackers', 'peers'] },
    );
    fc.assert(
      fc.property(link, (input) => {
        const parsed = parseMagnet(formatMagnet(input));
        assert.deepEqual(parsed, {
          ...input,
          infoHashHex: Buffer.from(input.infoHash).toString('hex'),
        });
      }),
      { numRuns: 500 },
    );
  });
});
