#!/usr/bin/env bash
# The whole test suite: unit tests, then e2e tests against the real local environment (brought up if needed).
#   npm test                               everything
#   npm test -- --selectProjects unit      (extra arguments go to jest)
# Before the last line it counts each runner path's e2e tests (support/paths.ts titles them); the last line is
# the count of passed and failed tests. A run that skipped the hosted path on a machine where ../shared/buildkit
# exists (so the hosted path could have run) fails.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/index.js ] || npm run -s build
bash scripts/e2e-env.sh up
results=$(mktemp)
E2E_PATH_TIMES=$(mktemp)
export E2E_PATH_TIMES
status=0
node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --json --outputFile="$results" "$@" || status=$?
shared_buildkit=$(realpath -m "${E2E_SHARED_BUILDKIT:-../shared/buildkit}")
node -e '
  const fs = require("fs")
  const [file, sharedBuildkit, timesFile] = process.argv.slice(1)
  const r = JSON.parse(fs.readFileSync(file, "utf8"))
  const paths = { hosted: "[hosted path", engine: "[engine path" }
  const count = { hosted: {}, engine: {} }
  for (const suite of r.testResults)
    for (const t of suite.assertionResults) {
      const name = Object.keys(paths).find(p => t.fullName.startsWith(paths[p]))
      if (name) count[name][t.status] = (count[name][t.status] ?? 0) + 1
    }
  // the time the action ran on each path, summed over its runs (runs of one suite overlap when it starts them together)
  const spent = { hosted: { runs: 0, ms: 0 }, engine: { runs: 0, ms: 0 } }
  for (const row of fs.readFileSync(timesFile, "utf8").split("\n")) {
    const [name, ms] = row.split(" ")
    if (spent[name]) { spent[name].runs++; spent[name].ms += Number(ms) }
  }
  const cost = s => `${s.runs} action runs, ${Math.round(s.ms / 1000)} s of runs`
  const line = c => `${c.passed ?? 0} passed, ${c.failed ?? 0} failed, ${(c.pending ?? 0) + (c.skipped ?? 0) + (c.todo ?? 0)} skipped`
  console.log(`hosted path (docker-container, buildx 0.30.1) ${line(count.hosted)}; ${cost(spent.hosted)}`)
  console.log(`engine path (docker driver, buildx 0.13.1) ${line(count.engine)}; ${cost(spent.engine)}`)
  const hostedSkipped = (count.hosted.pending ?? 0) + (count.hosted.skipped ?? 0)
  let failed = false
  if (hostedSkipped > 0 && fs.existsSync(`${sharedBuildkit}/buildkit-bin.tar.gz`)) {
    console.log(`FAILED: ${hostedSkipped} hosted-path tests were skipped, yet ${sharedBuildkit} is here to run them: see "bash scripts/e2e-env.sh status"`)
    failed = true
  }
  console.log(`Tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""))
  process.exit(failed ? 3 : 0)
' "$results" "$shared_buildkit" "$E2E_PATH_TIMES" || { s=$?; [ "$s" = 3 ] && status=1 || echo "Tests: no results (jest exited $status before writing them)"; }
rm -f "$results" "$E2E_PATH_TIMES"
exit "$status"
