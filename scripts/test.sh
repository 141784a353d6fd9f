#!/usr/bin/env bash
# Runs every check: formatter/linter, type checks, unit, property, golden-vector,
# integration and interoperability tests across the workspace.
set -euo pipefail
bash "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$ROOT"
pnpm run lint
pnpm turbo run typecheck test --concurrency=1 --continue
