#!/usr/bin/env bash
# Fails when the committed dist/ is not what a fresh build of src/ produces.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run -s build >/dev/null
if [ -n "$(git status --porcelain -- dist)" ]; then
  echo "check-dist: dist/ is stale: run 'npm run build' and commit dist/" >&2
  git status --short -- dist >&2
  git diff --stat -- dist >&2
  exit 1
fi
echo "check-dist: dist/ matches a fresh build"
