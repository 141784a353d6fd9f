// The tracker process against a real nats-server that requires authentication: with the right
// secret (a token, a user and password, an NKey seed, each from a file) it connects, opens its
// KV buckets and answers announces; with a wrong one it stops at start-up saying why.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createUser } from '@nats-io/nkeys';
import { type AfterHook, onCleanup, startNatsServer, TestkitError } from '@shoal/testkit';
import { escapeHex, id, startTracker } from './helpers.ts';

async function secretFiles(t: AfterHook, files: Record<string, string>): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-tracker-auth-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  return Promise.all(
    Object.entries(files).map(async ([name, content]) => {
      const path = join(dir, name);
      await writeFile(path, content, { mode: 0o600 });
      return path;
    }),
  );
}

/** The tracker is ready (NATS and KV up) and serves an HTTP announce. */
async function assertServes(url: string): Promise<void> {
  const response = await fetch(
    `${url}/announce?info_hash=${escapeHex(id(1))}&peer_id=${escapeHex(id(2))}&port=6881&left=0`,
  );
  assert.equal(response.status, 200);
  const body = Buffer.from(await response.arrayBuffer()).toString('latin1');
  assert.match(body, /8:interval/, body);
}

/** Starting the tracker fails: it exits before it is ready, and its output says `message`. */
async function assertRefusedAtStart(
  natsUrl: string,
  t: AfterHook,
  env: Record<string, string>,
  message: RegExp,
  secret: string,
  exitCode = 1,
): Promise<void> {
  await assert.rejects(startTracker(natsUrl, t, { env }), (error: unknown) => {
    assert.ok(error instanceof TestkitError, String(error));
    assert.match(error.message, new RegExp(`exited \\(code ${exitCode}\\)`));
    assert.match(error.message, message);
    assert.ok(!error.message.includes(secret), 'the secret is not printed');
    return true;
  });
}

describe('tracker with an authenticated NATS', () => {
  it('connects with a token file and stops at start-up with a wrong token', async (t) => {
    const nats = await startNatsServer({
      config: 'authorization { token: "tracker-token-1" }\n',
      t,
    });
    const [good, bad] = await secretFiles(t, {
      good: 'tracker-token-1\n',
      bad: 'tracker-token-2\n',
    });
    const tracker = await startTracker(nats.url, t, { env: { SHOAL_NATS_TOKEN_FILE: good! } });
    await assertServes(tracker.url);
    await tracker.stop();
    await assertRefusedAtStart(
      nats.url,
      t,
      { SHOAL_NATS_TOKEN_FILE: bad! },
      /NATS refused the credentials \(token from SHOAL_NATS_TOKEN_FILE\)/,
      'tracker-token-2',
    );
  });

  it('connects with a user and password file and stops with a wrong password', async (t) => {
    const nats = await startNatsServer({
      config: 'authorization { users = [ { user: "tracker", password: "pw-right" } ] }\n',
      t,
    });
    const [good, bad] = await secretFiles(t, { good: 'pw-right', bad: 'pw-wrong' });
    const tracker = await startTracker(nats.url, t, {
      env: { SHOAL_NATS_USER: 'tracker', SHOAL_NATS_PASSWORD_FILE: good! },
    });
    await assertServes(tracker.url);
    await tracker.stop();
    await assertRefusedAtStart(
      nats.url,
      t,
      { SHOAL_NATS_USER: 'tracker', SHOAL_NATS_PASSWORD_FILE: bad! },
      /NATS refused the credentials \(user and password from SHOAL_NATS_USER \+ SHOAL_NATS_PASSWORD_FILE\)/,
      'pw-wrong',
    );
  });

  it('connects with a listed NKey seed and stops with another', async (t) => {
    const listed = createUser();
    const nats = await startNatsServer({
      config: `authorization { users = [ { nkey: ${listed.getPublicKey()} } ] }\n`,
      t,
    });
    const otherSeed = new TextDecoder().decode(createUser().getSeed());
    const [good, bad] = await secretFiles(t, {
      good: new TextDecoder().decode(listed.getSeed()),
      bad: otherSeed,
    });
    const tracker = await startTracker(nats.url, t, { env: { SHOAL_NATS_NKEY_SEED_FILE: good! } });
    await assertServes(tracker.url);
    await tracker.stop();
    await assertRefusedAtStart(
      nats.url,
      t,
      { SHOAL_NATS_NKEY_SEED_FILE: bad! },
      /NATS refused the credentials \(NKey seed from SHOAL_NATS_NKEY_SEED_FILE\)/,
      otherSeed,
    );
  });

  it('stops at start-up with exit code 2 when the configuration is contradictory', async (t) => {
    const nats = await startNatsServer({ jetstream: false, t });
    const [token, password] = await secretFiles(t, { token: 'x', password: 'y' });
    await assertRefusedAtStart(
      nats.url,
      t,
      { SHOAL_NATS_TOKEN_FILE: token!, SHOAL_NATS_USER: 'u', SHOAL_NATS_PASSWORD_FILE: password! },
      /invalid configuration[\s\S]*set at most one NATS authentication method/,
      'never-written',
      2,
    );
    await assertRefusedAtStart(
      nats.url,
      t,
      { SHOAL_NATS_TOKEN_FILE: join(tmpdir(), 'shoal-no-such-token') },
      /SHOAL_NATS_TOKEN_FILE: cannot read .*shoal-no-such-token: no such file/,
      'never-written',
      2,
    );
  });
});
