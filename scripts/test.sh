#!/usr/bin/env bash
# The whole test suite: unit tests, then e2e tests against the real local environment (brought up if needed).
#   npm test                      everything
#   npm test -- --selectProjects unit   (extra arguments go to jest)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/index.js ] || npm run -s build
bash scripts/e2e-env.sh up
exec node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js "$@"
