// The CLI authenticates to NATS from the same SHOAL_NATS_* variables as the services (the
// service-kit helper), and turns every problem into one CliError line.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { onCleanup, startNatsServer } from '@shoal/testkit';
import { connectNats } from '../src/clients.ts';
import { CliError, CliErrorCode } from '../src/errors.ts';

function isUsageError(message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof CliError, String(error));
    assert.equal(error.code, CliErrorCode.Usage);
    assert.match(error.message, message);
    assert.ok(!error.message.includes('\n'), 'one line');
    return true;
  };
}

test('connectNats authenticates with a token file and explains a refusal', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-cli-auth-'));
  onCleanup(t, () => rm(dir, { recursive: true, force: true }));
  const good = join(dir, 'good');
  const bad = join(dir, 'bad');
  await writeFile(good, 'cli-token\n');
  await writeFile(bad, 'not-the-token\n');
  const nats = await startNatsServer({
    jetstream: false,
    config: 'authorization { token: "cli-token" }\n',
    t,
  });

  const nc = await connectNats(nats.url, { env: { SHOAL_NATS_TOKEN_FILE: good } });
  await nc.flush();
  await nc.close();

  await assert.rejects(
    connectNats(nats.url, { env: { SHOAL_NATS_TOKEN_FILE: bad } }),
    isUsageError(/NATS refused the credentials \(token from SHOAL_NATS_TOKEN_FILE\)/),
  );
  await assert.rejects(
    connectNats(nats.url, { env: { SHOAL_NATS_TOKEN_FILE: good, SHOAL_NATS_USER: 'u' } }),
    isUsageError(/^NATS authentication: .*set at most one NATS authentication method/),
  );
  await assert.rejects(
    connectNats(nats.url, { env: { SHOAL_NATS_TOKEN_FILE: join(dir, 'missing') } }),
    isUsageError(/SHOAL_NATS_TOKEN_FILE: cannot read .*missing: no such file/),
  );
});
