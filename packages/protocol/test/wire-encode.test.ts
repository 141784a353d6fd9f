// Encoding refuses fields that do not fit the wire format, with WireError 'invalid-message',
// instead of silently truncating them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeHandshake,
  encodeMessage,
  encodePieceHeader,
  WireError,
  type WireMessage,
} from '../src/wire/index.ts';
import { latin1 } from './wire-helpers.ts';

function assertInvalid(action: () => unknown, pattern: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof WireError);
    assert.equal(error.code, 'invalid-message');
    assert.match(error.message, pattern);
    return true;
  });
}

describe('encoding validation', () => {
  it('uint32 fields', () => {
    const bad: [WireMessage, RegExp][] = [
      [{ type: 'have', index: -1 }, /index/],
      [{ type: 'have', index: 2 ** 32 }, /index/],
      [{ type: 'request', index: 0, begin: 1.5, length: 1 }, /begin/],
      [{ type: 'reject-request', index: 0, begin: 0, length: Number.NaN }, /length/],
      [{ type: 'piece', index: 2 ** 40, begin: 0, block: new Uint8Array(1) }, /index/],
      [{ type: 'suggest-piece', index: -5 }, /index/],
    ];
    for (const [message, pattern] of bad) assertInvalid(() => encodeMessage(message), pattern);
    assertInvalid(() => encodePieceHeader(0, 0, 2 ** 32), /length/);
  });

  it('port, extended ids and extension ids', () => {
    assertInvalid(() => encodeMessage({ type: 'port', port: 65536 }), /port/);
    assertInvalid(
      () => encodeMessage({ type: 'extended', extendedId: 256, payload: new Uint8Array() }),
      /extendedId/,
    );
    assertInvalid(
      () =>
        encodeMessage({
          type: 'extended-handshake',
          handshake: { extensions: new Map([['ut_pex', 300]]) },
        }),
      /ut_pex/,
    );
    assertInvalid(
      () => encodeMessage({ type: 'extended-handshake', handshake: { listenPort: 1.5 } }),
      /extended handshake/,
    );
  });

  it('ut_metadata fields', () => {
    assertInvalid(
      () => encodeMessage({ type: 'metadata-request', extendedId: 3, piece: -1 }),
      /piece/,
    );
    assertInvalid(
      () =>
        encodeMessage({
          type: 'metadata-data',
          extendedId: 3,
          piece: 0,
          totalSize: 20000,
          data: new Uint8Array(100),
        }),
      /expected 16384/,
    );
    assertInvalid(
      () =>
        encodeMessage({
          type: 'metadata-data',
          extendedId: 3,
          piece: 2,
          totalSize: 20000,
          data: new Uint8Array(0),
        }),
      /beyond total_size/,
    );
  });

  it('handshake field lengths', () => {
    const good = {
      reserved: new Uint8Array(8),
      infoHash: new Uint8Array(20),
      peerId: latin1('-SH0001-012345678901'),
    };
    assert.equal(encodeHandshake(good).length, 68);
    assertInvalid(() => encodeHandshake({ ...good, infoHash: new Uint8Array(19) }), /infoHash/);
    assertInvalid(() => encodeHandshake({ ...good, peerId: new Uint8Array(21) }), /peerId/);
    assertInvalid(() => encodeHandshake({ ...good, reserved: new Uint8Array(0) }), /reserved/);
  });
});
