#!/usr/bin/env bash
# Runs the action end to end on examples/hello, the way the GitHub runner does, against the local registry
# (bringing the local environment up first if needed), and prints the step's outputs and job summary.
set -euo pipefail
cd "$(dirname "$0")/.."
# node_modules holds the Node 24 runtime GitHub uses for `runs.using: node24`.
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/e2e-env.sh up
image=localhost:5000/demo/hello
echo "demo: publishing examples/hello for linux/amd64, arm64, ppc64le and s390x to $image:demo" >&2
node scripts/run-action.mjs --cwd examples/hello \
  "images=$image" \
  "tag-template=demo" \
  "rebuild=overwrite" \
  "build-args=GO_IMAGE=localhost:5000/base/golang\nBASE_IMAGE=localhost:5000/base/busybox"
echo "demo: try it: docker run --rm --platform linux/s390x $image:demo" >&2
