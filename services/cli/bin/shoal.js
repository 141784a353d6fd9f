#!/usr/bin/env node
// Launcher for the `shoal` command: runs src/main.ts on Node.js 24 or newer (type stripping, no
// build step) with the `source` export condition, so workspace packages resolve to their .ts.
// Plain JavaScript that parses on old Node versions too, so they get a clear message.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const MIN_NODE_MAJOR = 24;
const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const pinnedNode = fileURLToPath(new URL('../../../tools/node_modules/.bin/node', import.meta.url));

function major(version) {
  return Number.parseInt(String(version).split('.')[0], 10) || 0;
}

function pickNode() {
  if (major(process.versions.node) >= MIN_NODE_MAJOR) return process.execPath;
  if (existsSync(pinnedNode)) return pinnedNode;
  process.stderr.write(
    `shoal: needs Node.js ${MIN_NODE_MAJOR} or newer (this is ${process.version}); run ./scripts/setup.sh to install the pinned toolchain\n`,
  );
  process.exit(1);
}

const node = pickNode();
const args = ['--conditions=source', main, ...process.argv.slice(2)];
if (typeof process.execve === 'function') {
  // Replace this process, so the pid, signals and exit status are main.ts's own.
  process.execve(node, [node, ...args]);
} else {
  const child = spawn(node, args, { stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  // The terminal sends Ctrl-C to the whole process group; the child handles it.
  process.on('SIGINT', () => {});
  child.on('exit', (code, signal) => {
    if (signal === null) process.exit(code ?? 1);
    // Die of the same signal, so callers see what happened to the command.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}
