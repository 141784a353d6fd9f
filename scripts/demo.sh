#!/usr/bin/env bash
# The shoal demo: installs everything, makes a sample 1 GiB "build artifact", starts a local
# swarm of 8 peer-nodes, publishes the artifact to the piece-store, distributes it to every
# node, checks its SHA-256 on every node, and prints how long it took and how much of the data
# the origin had to send itself. The swarm is stopped at the end, on failure and on Ctrl-C.
#
# Settings (environment):
#   SHOAL_DEMO_BYTES  artifact size in bytes (default 1073741824 = 1 GiB)
#   SHOAL_DEMO_NODES  peer-nodes (default 8)
#   SHOAL_DEMO_DIR    run directory (default .shoal-demo in the repository; wiped at start)
#   SHOAL_DEMO_TIMEOUT_S  give up on the distribution after this long (default 1800)
#   SHOAL_DEMO_KEEP   1 keeps the copies of the artifact after a successful run (logs and the
#                     JSON reports are always kept; after a failure everything is)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
source "$ROOT/scripts/env.sh"

BYTES="${SHOAL_DEMO_BYTES:-1073741824}"
NODES="${SHOAL_DEMO_NODES:-8}"
TIMEOUT_S="${SHOAL_DEMO_TIMEOUT_S:-1800}"
RUN_DIR="${SHOAL_DEMO_DIR:-$ROOT/.shoal-demo}"
[[ "$BYTES" =~ ^[0-9]+$ && "$BYTES" -gt 0 ]] || { echo "demo: SHOAL_DEMO_BYTES must be a positive integer" >&2; exit 2; }
[[ "$NODES" =~ ^[0-9]+$ && "$NODES" -ge 1 ]] || { echo "demo: SHOAL_DEMO_NODES must be at least 1" >&2; exit 2; }
[[ "$TIMEOUT_S" =~ ^[0-9]+$ ]] || { echo "demo: SHOAL_DEMO_TIMEOUT_S must be a number of seconds" >&2; exit 2; }

shoal() { node "$ROOT/services/cli/bin/shoal.js" --dir "$RUN_DIR" "$@"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Whatever happens from here on, the swarm is stopped.
cleanup() {
  local status=$?
  if [ -e "$RUN_DIR/swarm.json" ] || [ -e "$RUN_DIR/up.lock" ]; then
    step "stopping the swarm"
    shoal down || true
  fi
  if [ "$status" -ne 0 ]; then
    echo "demo: failed (exit $status); service logs are in $RUN_DIR/logs" >&2
  elif [ "${SHOAL_DEMO_KEEP:-0}" != 1 ]; then
    # (NODES + 2) copies of the artifact: give the disk back, keep logs and reports.
    rm -rf "$RUN_DIR/build-artifact.bin" "$RUN_DIR"/piece-store-* "$RUN_DIR"/peer-node-* "$RUN_DIR/nats"
    echo "the artifact's copies are removed (SHOAL_DEMO_KEEP=1 keeps them); logs and reports are in $RUN_DIR"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A second run starts clean: stop anything a previous run left, then wipe its directory.
shoal down >/dev/null 2>&1 || true
rm -rf "$RUN_DIR"
mkdir -p "$RUN_DIR"

# The artifact sits once in the run directory, once in the piece-store and once on every node.
needed=$(( BYTES * (NODES + 2) + 256 * 1024 * 1024 ))
available=$(( $(df -Pk "$RUN_DIR" | awk 'NR == 2 { print $4 }') * 1024 ))
if [ "$available" -lt "$needed" ]; then
  echo "demo: needs $(( needed >> 20 )) MiB free in $RUN_DIR, has $(( available >> 20 )) MiB (lower SHOAL_DEMO_BYTES)" >&2
  exit 1
fi

step "making a $(( BYTES >> 20 )) MiB build artifact"
ARTIFACT="$RUN_DIR/build-artifact.bin"
# One random MiB, repeated, with the position stamped into every 16 KiB so that no two pieces
# are alike (whatever the piece length): fast, and as incompressible as real build output.
node --input-type=module -e '
  import { randomBytes } from "node:crypto";
  import { closeSync, openSync, writeSync } from "node:fs";
  const [file, total] = [process.argv[1], Number(process.argv[2])];
  const block = randomBytes(1 << 20);
  const fd = openSync(file, "w");
  for (let offset = 0; offset < total; offset += block.length) {
    for (let stamp = 0; stamp < block.length; stamp += 16384) {
      block.writeBigUInt64LE(BigInt(offset + stamp), stamp);
    }
    writeSync(fd, block, 0, Math.min(block.length, total - offset));
  }
  closeSync(fd);
' "$ARTIFACT" "$BYTES"
ls -l "$ARTIFACT"

step "starting a local swarm of $NODES peer-nodes"
shoal up --nodes "$NODES" --detach

step "publishing the artifact to the piece-store"
shoal publish "$ARTIFACT" --name build-artifact.bin --json > "$RUN_DIR/publish.json"
json() { node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]])' "$@"; }
INFOHASH=$(json "$RUN_DIR/publish.json" infoHash)
DIGEST=$(json "$RUN_DIR/publish.json" sha256)
echo "infohash $INFOHASH"
echo "sha256   $DIGEST"
echo "magnet   $(json "$RUN_DIR/publish.json" magnet)"

step "distributing it to all $NODES nodes"
started=$(date +%s.%N)
shoal distribute "$INFOHASH" --timeout "$TIMEOUT_S" --report "$RUN_DIR/distribute.json"
finished=$(date +%s.%N)

step "verifying the SHA-256 on every node"
node -e '
  const report = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  for (const node of report.nodes) console.log(node.nodeId + "\t" + node.path);
' "$RUN_DIR/distribute.json" > "$RUN_DIR/paths.tsv"
verified=0
while IFS=$'\t' read -r node path; do
  actual=$(sha256sum "$path" | cut -d" " -f1)
  if [ "$actual" != "$DIGEST" ]; then
    echo "demo: $node holds a different file: sha256 $actual, expected $DIGEST" >&2
    exit 1
  fi
  echo "$node  ok  $path"
  verified=$(( verified + 1 ))
done < "$RUN_DIR/paths.tsv"
[ "$verified" -eq "$NODES" ] || { echo "demo: only $verified of $NODES nodes hold the artifact" >&2; exit 1; }

step "summary"
node -e '
  const [file, started, finished, verified] = process.argv.slice(1);
  const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
  const mib = (b) => (b / 1048576).toFixed(1) + " MiB";
  const moved = r.bytesFromOrigin + r.bytesFromPeers;
  const size = r.nodes[0].bytesTotal;
  const lines = [
    ["artifact", `${mib(size)}, sha256 verified on ${verified} of ${r.nodes.length} nodes`],
    ["wall time", `${r.wallSeconds.toFixed(1)} s (command to last node done; ${(finished - started).toFixed(1)} s with the CLI)`],
    ["aggregate throughput", `${mib(r.throughputBytesPerS)}/s (${mib(r.bytesDelivered)} delivered)`],
    ["origin sent", `${mib(r.bytesFromOrigin)} = ${(r.bytesFromOrigin / size).toFixed(2)} copies of the file`],
    ["peers sent", `${mib(r.bytesFromPeers)}`],
    ["origin offload", `${r.originOffloadPercent.toFixed(1)}% of the bytes came from peers`],
  ];
  for (const [k, v] of lines) console.log(k.padEnd(22) + v);
' "$RUN_DIR/distribute.json" "$started" "$finished" "$verified"
