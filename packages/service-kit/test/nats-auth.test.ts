// NATS authentication from SHOAL_NATS_* variables: the validation, and real connections to a
// nats-server that requires a token, a user and password, an NKey, or a JWT from a .creds file.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, test } from 'node:test';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { connect } from '@nats-io/transport-node';
import {
  envNatsUrls,
  loadConfig,
  loadNatsAuth,
  NATS_AUTH_ENV,
  type NatsAuthEnv,
  NatsAuthMethod,
  ServiceKitError,
  ServiceKitErrorCode,
} from '@shoal/service-kit';
import { type AfterHook, onCleanup, startNatsServer } from '@shoal/testkit';
import { z } from 'zod';

async function tempDir(t: AfterHook): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-nats-auth-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function secretFile(dir: string, name: string, content: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content, { mode: 0o600 });
  return path;
}

/** Asserts `loadNatsAuth(env)` refuses with a config error matching `message`, hiding `secret`. */
function assertRefused(env: NatsAuthEnv, message: RegExp, secret?: string): void {
  assert.throws(
    () => loadNatsAuth(env),
    (error: unknown) => {
      assert.ok(error instanceof ServiceKitError);
      assert.equal(error.code, ServiceKitErrorCode.InvalidConfig);
      assert.match(error.message, message);
      if (secret !== undefined) assert.ok(!error.message.includes(secret), 'secret shown');
      return true;
    },
  );
}

const SEED = new TextDecoder().decode(createUser().getSeed());

describe('loadNatsAuth validation', () => {
  it('is no authentication when nothing is set (empty values count as unset)', () => {
    const none = loadNatsAuth({});
    assert.equal(none.method, NatsAuthMethod.None);
    assert.equal(none.authenticator, undefined);
    assert.match(none.description, /no authentication/);
    const blank = { SHOAL_NATS_TOKEN_FILE: '', SHOAL_NATS_USER: '', SHOAL_NATS_PASSWORD_FILE: '' };
    assert.equal(loadNatsAuth(blank).method, NatsAuthMethod.None);
  });

  it('picks each method from its variables', async (t) => {
    const dir = await tempDir(t);
    const token = await secretFile(dir, 'token', 'tok\n');
    const password = await secretFile(dir, 'password', 'pw');
    const seed = await secretFile(dir, 'seed', `${SEED}\n`);
    assert.equal(loadNatsAuth({ SHOAL_NATS_TOKEN_FILE: token }).method, NatsAuthMethod.Token);
    const userPassword = loadNatsAuth({ SHOAL_NATS_USER: 'u', SHOAL_NATS_PASSWORD_FILE: password });
    assert.equal(userPassword.method, NatsAuthMethod.UserPassword);
    assert.equal(typeof userPassword.authenticator, 'function');
    assert.equal(loadNatsAuth({ SHOAL_NATS_NKEY_SEED_FILE: seed }).method, NatsAuthMethod.NKey);
  });

  it('refuses two methods at once, naming both', async (t) => {
    const dir = await tempDir(t);
    const token = await secretFile(dir, 'token', 'tok');
    const seed = await secretFile(dir, 'seed', SEED);
    assertRefused(
      { SHOAL_NATS_TOKEN_FILE: token, SHOAL_NATS_NKEY_SEED_FILE: seed },
      /SHOAL_NATS_NKEY_SEED_FILE, SHOAL_NATS_TOKEN_FILE: set at most one NATS authentication method/,
    );
    assertRefused(
      { SHOAL_NATS_CREDS_FILE: '/x.creds', SHOAL_NATS_USER: 'u' },
      /SHOAL_NATS_CREDS_FILE, SHOAL_NATS_USER \+ SHOAL_NATS_PASSWORD_FILE: set at most one/,
    );
  });

  it('needs both the user and the password file', async (t) => {
    const dir = await tempDir(t);
    const password = await secretFile(dir, 'password', 'pw');
    assertRefused(
      { SHOAL_NATS_USER: 'u' },
      /SHOAL_NATS_PASSWORD_FILE: required with SHOAL_NATS_USER/,
    );
    assertRefused(
      { SHOAL_NATS_PASSWORD_FILE: password },
      /SHOAL_NATS_USER: required with SHOAL_NATS_PASSWORD_FILE/,
    );
  });

  it('names the variable and the path of a missing, unreadable or empty file', async (t) => {
    const dir = await tempDir(t);
    const missing = join(dir, 'nope');
    assertRefused(
      { SHOAL_NATS_TOKEN_FILE: missing },
      new RegExp(`SHOAL_NATS_TOKEN_FILE: cannot read ${missing}: no such file`),
    );
    const empty = await secretFile(dir, 'empty', '\n');
    assertRefused({ SHOAL_NATS_CREDS_FILE: empty }, /SHOAL_NATS_CREDS_FILE: .*empty is empty/);
    const blank = await secretFile(dir, 'blank', '   \r\n');
    assertRefused({ SHOAL_NATS_TOKEN_FILE: blank }, /SHOAL_NATS_TOKEN_FILE: .*blank is empty/);
    const folder = join(dir, 'folder');
    await mkdir(folder);
    assertRefused(
      { SHOAL_NATS_USER: 'u', SHOAL_NATS_PASSWORD_FILE: folder },
      /SHOAL_NATS_PASSWORD_FILE: cannot read .*folder: is a directory/,
    );
    const big = await secretFile(dir, 'big', 'x'.repeat(65 * 1024));
    assertRefused({ SHOAL_NATS_TOKEN_FILE: big }, /larger than 64 KiB/);
    if (process.getuid?.() !== 0) {
      // Root reads any file, so this case only exists for other users.
      const locked = await secretFile(dir, 'locked', 'tok');
      await chmod(locked, 0o000);
      assertRefused(
        { SHOAL_NATS_TOKEN_FILE: locked },
        /SHOAL_NATS_TOKEN_FILE: cannot read .*locked: permission denied/,
      );
    }
  });

  it('refuses a seed or creds file of the wrong shape without showing its content', async (t) => {
    const dir = await tempDir(t);
    const notSeed = 'this-is-a-private-value-not-a-seed';
    const seed = await secretFile(dir, 'seed', notSeed);
    assertRefused(
      { SHOAL_NATS_NKEY_SEED_FILE: seed },
      /SHOAL_NATS_NKEY_SEED_FILE: .* does not hold a user NKey seed/,
      notSeed,
    );
    // An account seed is a seed, but not a user's.
    const accountSeed = new TextDecoder().decode(createAccount().getSeed());
    const account = await secretFile(dir, 'account-seed', accountSeed);
    assertRefused({ SHOAL_NATS_NKEY_SEED_FILE: account }, /user NKey seed/, accountSeed);
    const creds = await secretFile(dir, 'x.creds', `${SEED}\n`);
    assertRefused(
      { SHOAL_NATS_CREDS_FILE: creds },
      /SHOAL_NATS_CREDS_FILE: .* is not a NATS \.creds file/,
      SEED,
    );
  });

  it('spreads into a service schema, and URLs with credentials are refused', () => {
    const Schema = z.object({ SHOAL_NATS_URL: envNatsUrls(), ...NATS_AUTH_ENV });
    const raw = loadConfig(Schema, { SHOAL_NATS_URL: 'nats://a:4222', SHOAL_NATS_TOKEN_FILE: '' });
    assert.equal(raw.SHOAL_NATS_TOKEN_FILE, undefined);
    assert.throws(
      () => loadConfig(Schema, { SHOAL_NATS_URL: 'nats://a:4222,nats://svc:hun/ter@2@b:4222' }),
      (error: unknown) => {
        assert.ok(error instanceof ServiceKitError);
        assert.match(error.message, /SHOAL_NATS_URL: must not hold credentials/);
        assert.match(error.message, /SHOAL_NATS_USER \+ SHOAL_NATS_PASSWORD_FILE/);
        assert.ok(!error.message.includes('hun/ter'), 'the password is not shown');
        assert.match(error.message, /nats:\/\/\*\*\*@b:4222/);
        return true;
      },
    );
  });
});

// JWTs as nats-server checks them: header.claims.signature, each base64url, signed with the
// issuer's NKey (ed25519). The chain is operator -> account -> user.
const b64 = (value: string | Uint8Array) => Buffer.from(value).toString('base64url');
function signJwt(issuer: KeyPair, subject: string, nats: Record<string, unknown>): string {
  const claims = {
    jti: createHash('sha256').update(randomBytes(16)).digest('base64url'),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name: nats.type,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  const body = `${b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }))}.${b64(JSON.stringify(claims))}`;
  return `${body}.${b64(issuer.sign(new TextEncoder().encode(body)))}`;
}

/** A server configuration trusting a fresh operator, and a .creds file of a user under it. */
function operatorSetup(): { config: string; creds: string } {
  const operator = createOperator();
  const account = createAccount();
  const user = createUser();
  const operatorJwt = signJwt(operator, operator.getPublicKey(), { type: 'operator' });
  const accountJwt = signJwt(operator, account.getPublicKey(), {
    type: 'account',
    limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, conn: -1, leaf: -1 },
  });
  const userJwt = signJwt(account, user.getPublicKey(), {
    type: 'user',
    pub: {},
    sub: {},
    subs: -1,
    data: -1,
    payload: -1,
  });
  const seed = new TextDecoder().decode(user.getSeed());
  return {
    config: [
      `operator: "${operatorJwt}"`,
      'resolver: MEMORY',
      `resolver_preload: { ${account.getPublicKey()}: "${accountJwt}" }`,
      '',
    ].join('\n'),
    creds: [
      '-----BEGIN NATS USER JWT-----',
      userJwt,
      '------END NATS USER JWT------',
      '',
      '-----BEGIN USER NKEY SEED-----',
      seed,
      '------END USER NKEY SEED------',
      '',
    ].join('\n'),
  };
}

/** Connects with what `env` configures; resolves true once a PING/PONG round trip works. */
async function connects(url: string, env: NatsAuthEnv): Promise<boolean> {
  const nc = await connect({
    servers: url,
    authenticator: loadNatsAuth(env).authenticator,
    timeout: 3000,
    maxReconnectAttempts: 0,
  }).catch((error: unknown) => {
    assert.match(String(error), /Authorization|Authentication/i);
    return undefined;
  });
  if (nc === undefined) return false;
  await nc.flush();
  await nc.close();
  return true;
}

test('a real nats-server accepts the right token, user and password, and refuses wrong ones', async (t) => {
  const dir = await tempDir(t);
  const token = await secretFile(dir, 'token', 'right-token\n');
  const wrongToken = await secretFile(dir, 'wrong-token', 'wrong-token');
  const tokenServer = await startNatsServer({
    jetstream: false,
    config: 'authorization { token: "right-token" }\n',
    t,
  });
  assert.equal(await connects(tokenServer.url, { SHOAL_NATS_TOKEN_FILE: token }), true);
  assert.equal(await connects(tokenServer.url, { SHOAL_NATS_TOKEN_FILE: wrongToken }), false);
  assert.equal(await connects(tokenServer.url, {}), false);

  const password = await secretFile(dir, 'password', 'right password');
  const userServer = await startNatsServer({
    jetstream: false,
    config: 'authorization { users = [ { user: "shoal", password: "right password" } ] }\n',
    t,
  });
  const user = { SHOAL_NATS_USER: 'shoal', SHOAL_NATS_PASSWORD_FILE: password };
  assert.equal(await connects(userServer.url, user), true);
  assert.equal(
    await connects(userServer.url, { ...user, SHOAL_NATS_PASSWORD_FILE: wrongToken }),
    false,
  );
  assert.equal(await connects(userServer.url, { ...user, SHOAL_NATS_USER: 'other' }), false);
});

test('a real nats-server accepts a listed NKey and refuses another', async (t) => {
  const dir = await tempDir(t);
  const listed = createUser();
  const server = await startNatsServer({
    jetstream: false,
    config: `authorization { users = [ { nkey: ${listed.getPublicKey()} } ] }\n`,
    t,
  });
  const seed = await secretFile(dir, 'seed', new TextDecoder().decode(listed.getSeed()));
  const other = await secretFile(dir, 'other', SEED);
  assert.equal(await connects(server.url, { SHOAL_NATS_NKEY_SEED_FILE: seed }), true);
  assert.equal(await connects(server.url, { SHOAL_NATS_NKEY_SEED_FILE: other }), false);
});

test('a real nats-server in operator mode accepts a user .creds file and refuses a foreign one', async (t) => {
  const dir = await tempDir(t);
  const trusted = operatorSetup();
  const server = await startNatsServer({ jetstream: false, config: trusted.config, t });
  const creds = await secretFile(dir, 'user.creds', trusted.creds);
  // Same shape, signed under an operator the server does not trust.
  const foreign = await secretFile(dir, 'foreign.creds', operatorSetup().creds);
  assert.equal(await connects(server.url, { SHOAL_NATS_CREDS_FILE: creds }), true);
  assert.equal(await connects(server.url, { SHOAL_NATS_CREDS_FILE: foreign }), false);
});
