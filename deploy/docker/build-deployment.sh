#!/bin/sh
# Writes the production deployment of each named service to OUT/<service>: its package.json,
# dist/ and its production node_modules with the workspace packages it uses copied in (no
# symlinks out of OUT), then drops what only development needs. The Dockerfile runs this, and
# so do the deploy tests, so both check the same output. Run from the workspace root after
# `pnpm install` and `pnpm turbo run build`.
#   deploy/docker/build-deployment.sh OUT tracker piece-store peer-node autoscaler
set -eu
out=$1
shift
for service in "$@"; do
  target="$out/$service"
  rm -rf "$target"
  pnpm --filter "@shoal/$service" deploy --prod "$target" >/dev/null
  [ -f "$target/dist/main.js" ] || { echo "build-deployment: $target/dist/main.js missing: run the build first" >&2; exit 1; }
  # Sources, tests, benchmarks and build configuration of the service and of every workspace
  # package copied into it: the image runs dist/ only.
  for package in "$target" "$target"/node_modules/.pnpm/@shoal+*/node_modules/@shoal/*; do
    [ -d "$package" ] || continue
    rm -rf "$package/src" "$package/test" "$package/bench" "$package/.turbo" "$package"/tsconfig*.json
  done
  rm -f "$target/pnpm-lock.yaml" "$target/pnpm-workspace.yaml"
  # Type declarations and source maps are never loaded at run time (the Kubernetes client alone
  # ships about 40 MB of them).
  find "$target" \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -type f -delete
done
