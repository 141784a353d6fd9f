import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { TestkitError, TestkitErrorCode } from './errors.ts';

// sbin folders hold nats-server on Debian; a non-root PATH often lacks them.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** Absolute path of an installed executable, or `undefined`. */
export function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Like `findExecutable`, but a missing tool is a loud `TestkitError(ToolMissing)`. */
export function requireExecutable(name: string, debianPackage: string = name): string {
  const path = findExecutable(name);
  if (path === undefined) {
    throw new TestkitError(
      TestkitErrorCode.ToolMissing,
      `${name} is not installed (not on PATH nor in /usr/sbin): install the Debian package ${debianPackage} (apt-get install -y ${debianPackage}, or run ./scripts/setup.sh)`,
    );
  }
  return path;
}
