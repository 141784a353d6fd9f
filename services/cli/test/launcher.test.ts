import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const LAUNCHER = fileURLToPath(new URL('../bin/shoal.js', import.meta.url));
/** Debian's own Node.js, older than 24 on this machine kind (see scripts/env.sh). */
const SYSTEM_NODE = '/usr/bin/node';

function nodeMajor(node: string): number {
  const run = spawnSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' });
  return Number(run.stdout.trim());
}

test('the launcher runs the CLI on Node 24 and exits with its code', () => {
  const help = spawnSync(process.execPath, [LAUNCHER, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^Usage: shoal /);
  const bad = spawnSync(process.execPath, [LAUNCHER, 'nonsense'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr, "shoal: unknown command 'nonsense'\n");
});

test('on an older Node it uses the pinned toolchain, or says how to get it', async (t) => {
  assert.ok(nodeMajor(SYSTEM_NODE) < 24, `${SYSTEM_NODE} is expected to be an older Node.js`);
  const viaPinned = spawnSync(SYSTEM_NODE, [LAUNCHER, '--help'], { encoding: 'utf8' });
  assert.equal(viaPinned.status, 0, viaPinned.stderr);
  assert.match(viaPinned.stdout, /^Usage: shoal /);

  // A copy of the launcher with no toolchain beside it.
  const dir = await mkdtemp(join(tmpdir(), 'shoal-launcher-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'cli', 'bin'), { recursive: true });
  await writeFile(join(dir, 'cli', 'package.json'), '{"type":"module"}');
  await copyFile(LAUNCHER, join(dir, 'cli', 'bin', 'shoal.js'));
  const alone = spawnSync(SYSTEM_NODE, [join(dir, 'cli', 'bin', 'shoal.js'), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(alone.status, 1);
  assert.match(
    alone.stderr,
    /^shoal: needs Node\.js 24 or newer \(this is v\d+\.[\d.]+\); run \.\/scripts\/setup\.sh to install the pinned toolchain\n$/,
  );
});
