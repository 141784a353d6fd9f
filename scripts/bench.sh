#!/usr/bin/env bash
# The datacenter benchmark (issue 7): one origin feeding N hosts, each host a network namespace
# with a tc-shaped link, shoal against an HTTP origin (nginx + curl) and an aria2 swarm
# (opentracker + aria2c) in the same run, for N = 4, 8, 16 by default, then the loopback variant
# (8 hosts, 1 GiB, links not shaped). Writes results.json, results.md and chart.svg under
# test/bench/results/<date>/. Needs root (it creates namespaces); takes about 20-30 minutes.
#
#   sudo bash scripts/bench.sh                         # the full sweep
#   sudo bash scripts/bench.sh --nodes 4 --size-mib 32 --loopback-nodes 0   # a quick check
#   sudo bash scripts/bench.sh --nodes 4,8,16,24 --rate-mbit 100 --size-mib 256
#   sudo bash scripts/bench.sh --cleanup               # remove what a killed run left behind
#   sudo bash scripts/bench.sh --help                  # every option
#
# Every namespace, bridge and process is removed on exit, on failure and on Ctrl-C.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: creates network namespaces, so it runs as root: sudo bash scripts/bench.sh $*" >&2
  exit 2
fi
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"
# shoal's services run from dist/, as the images run them (turbo caches the build).
pnpm --dir "$ROOT" turbo run build --output-logs=errors-only
cd "$ROOT/test"

bench() { node --conditions=source bench/datacenter.ts "$@"; }

# The benchmark tears its network down itself; if it was killed outright (SIGKILL, OOM), this
# removes what it left (only leftovers whose process is gone).
leftovers() { bench --cleanup >/dev/null 2>&1 || true; }
trap leftovers EXIT
# Ctrl-C reaches the benchmark too (same process group); wait for its own teardown.
trap 'wait; exit 130' INT TERM

bench "$@"
