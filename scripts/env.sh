# Sourced by the other scripts: puts a Node.js 24 and the pinned pnpm first on PATH.
# The machine's own Node may be older (Debian's or an end-of-life 20); then the pinned
# toolchain in tools/package.json is installed with the machine's npm into tools/node_modules.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ ! -x "$ROOT/tools/node_modules/.bin/node" ] || [ ! -x "$ROOT/tools/node_modules/.bin/pnpm" ] ||
   [ "$(node_major "$ROOT/tools/node_modules/.bin/node")" -lt 24 ]; then
  command -v npm >/dev/null || { echo "shoal setup: npm is required to install the toolchain" >&2; exit 1; }
  echo "shoal setup: installing Node.js 24 and pnpm 12 into tools/node_modules" >&2
  (cd "$ROOT/tools" && npm install --no-audit --no-fund --loglevel=error >/dev/null) ||
    { echo "shoal setup: could not install the toolchain (see npm's output above)" >&2; exit 1; }
fi
export PATH="$ROOT/tools/node_modules/.bin:$ROOT/node_modules/.bin:$PATH"
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
