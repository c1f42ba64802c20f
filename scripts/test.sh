#!/usr/bin/env bash
# README command 2: the same setup as `up`, then lint, type-check and the whole test suite.
# `.ci/run` calls exactly this. The last lines printed are node's own test summary.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

echo "==> lint"
npm run --silent lint

echo "==> type-check"
npx tsc -b --force

echo "==> tests"
exec node scripts/run-tests.mjs "$@"
