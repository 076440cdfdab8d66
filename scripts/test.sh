#!/usr/bin/env bash
# The whole test suite: unit tests, then e2e tests against the real local environment (brought up if needed).
#   npm test                               everything
#   npm test -- --selectProjects unit      (extra arguments go to jest)
# The last line is the count of passed and failed tests.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/index.js ] || npm run -s build
bash scripts/e2e-env.sh up
results=$(mktemp)
status=0
node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --json --outputFile="$results" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))
' "$results" || echo "Tests: no results (jest exited $status before writing them)"
rm -f "$results"
exit "$status"
