#!/usr/bin/env bash
# The whole test suite: the unit tests (in a random order: jest --randomize, its seed printed), then the e2e tests
# against the real local environment (brought up if needed), E2E_WORKERS test files side by side (default 2).
#   npm test                     everything
#   npm test -- -t 'title'       extra arguments go to both jest runs (one project only: npm run test:unit, test:e2e)
# Before the last line it counts each runner path's e2e tests (support/paths.ts titles them); the last line is the
# count of passed and failed tests of both runs. The whole unit run also checks each src/ file's line coverage
# against coverage-floor.json (scripts/coverage-guard.mjs). A run that skipped the hosted path on a machine where
# ../shared/buildkit exists (so the hosted path could have run) fails.
# TEST_TIMES=FILE (set by .ci/run) gets how long each part took (`part SECONDS`) and each test file's time
# (`file SECONDS PATH`).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
[ -f dist/index.js ] || npm run -s build
jest=(node --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export E2E_PATH_TIMES="$work/path-times"
: >"$E2E_PATH_TIMES"
times=${TEST_TIMES:-$work/times}
timed() { # timed PART COMMAND...: runs it, and records how long it took
  local part=$1 started=$SECONDS status=0
  shift
  "$@" || status=$?
  echo "part $((SECONDS - started)) $part" >>"$times"
  return "$status"
}

status=0
timed "e2e environment (scripts/e2e-env.sh up)" bash scripts/e2e-env.sh up
# the whole unit run (no narrowing arguments) measures coverage, and each file of src/ keeps its floor
coverage=()
[ "$#" -gt 0 ] || coverage=(--coverage --coverageReporters=json-summary --coverageReporters=text-summary)
timed "unit tests" "${jest[@]}" --selectProjects unit --randomize --passWithNoTests --json --outputFile="$work/unit.json" "${coverage[@]}" "$@" || status=$?
if [ "${#coverage[@]}" -gt 0 ]; then node scripts/coverage-guard.mjs || status=1; fi
timed "e2e tests (${E2E_WORKERS:-2} workers)" "${jest[@]}" --selectProjects e2e --maxWorkers="${E2E_WORKERS:-2}" --passWithNoTests --json --outputFile="$work/e2e.json" "$@" || status=$?
node scripts/test-summary.mjs --results "$work/unit.json,$work/e2e.json" --path-times "$E2E_PATH_TIMES" \
  --shared-buildkit "$(realpath -m "${E2E_SHARED_BUILDKIT:-../shared/buildkit}")" --files "$work/files" || status=1
sed 's/^/file /' "$work/files" | sed 's/\t/ /' >>"$times"
exit "$status"
