#!/usr/bin/env bash
# Runs the action end to end on examples/hello, the way the GitHub runner does, against the local registry
# (bringing the local environment up first if needed). The action's log goes to stderr; at the end it prints a
# short result (image, tag, digest, platforms, time, a `docker run` line to try) and writes the step outputs
# (parsed) to demo-out/PATH/outputs.json and the job summary to demo-out/PATH/summary.md (DEMO_OUT chooses another
# directory).
#
# It takes the path a workflow author gets on a GitHub-hosted runner (a docker-container builder with BuildKit
# v0.26.3 and buildx 0.30.1) where scripts/e2e-env.sh could set it up, and the engine path (docker driver,
# Debian's buildx) otherwise. DEMO_PATH=engine or DEMO_PATH=hosted chooses. DEMO_README=1 (npm run readme-summary)
# runs the Go program quick start as a push of tag v1.2.3 instead and puts its job summary into README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# node_modules holds the Node 24 runtime GitHub uses for `runs.using: node24`.
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/e2e-env.sh up >&2
status_file=${E2E_STATE_DIR:-/var/lib/go-build-action-e2e}/hosted-path.json
field() { node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); process.stdout.write(String(s[process.argv[2]] ?? ""))' "$status_file" "$1"; }

cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
path=${DEMO_PATH:-}
if [ -z "$path" ]; then
  if [ "$(field available)" = true ]; then path=hosted; else path=engine; fi
fi
image=localhost:5000/demo/hello
args=(--cwd examples/hello "build-args=GO_IMAGE=localhost:5000/base/golang\nBASE_IMAGE=localhost:5000/base/busybox")
if [ -n "${DEMO_README:-}" ]; then
  # The README's job summary: the Go program quick start's inputs, as a push of tag v1.2.3 would run them, into a
  # fresh repository (scripts/readme-summary.mjs renames it in the README).
  image=localhost:5000/readme/hello-$(date +%s)
  event=$(mktemp); cleanup+=("$event")
  echo '{"ref":"refs/tags/v1.2.3","repository":{"default_branch":"main"}}' >"$event"
  args+=("images=$image" "verify-command=/usr/local/bin/hello"
    --env GITHUB_EVENT_NAME=push --env GITHUB_REF=refs/tags/v1.2.3 --env "GITHUB_EVENT_PATH=$event")
else
  args+=("images=$image" "tag-template=demo" "if-tag-exists=overwrite")
fi
case "$path" in
  hosted)
    [ "$(field available)" = true ] || { echo "demo: the hosted path is unavailable here: $(field reason)" >&2; exit 1; }
    # A job's own DOCKER_CONFIG with buildx 0.30.1 as its CLI plugin, as on a hosted runner; BuildKit comes from the
    # local registry (a hosted runner pulls moby/buildkit from Docker Hub) and reaches the registry on loopback.
    config=$(mktemp -d); cleanup+=("$config")
    mkdir -p "$config/cli-plugins"; ln -s "$(field buildxPluginDir)/docker-buildx" "$config/cli-plugins/docker-buildx"
    echo "demo: hosted path: docker-container builder (BuildKit $(field buildkitImage)), buildx $(field buildxVersion), RUNNER_ENVIRONMENT=github-hosted" >&2
    args+=(--env RUNNER_ENVIRONMENT=github-hosted --env "DOCKER_CONFIG=$config" "buildkit-image=$(field buildkitImage)" "driver-opts=network=host")
    ;;
  engine)
    reason=$([ "$(field available)" = true ] || echo " (the hosted path is unavailable here: $(field reason))")
    echo "demo: engine path: the engine's docker driver, $(docker buildx version)$reason" >&2
    args+=(--env RUNNER_ENVIRONMENT=self-hosted)
    ;;
  *) echo "demo: DEMO_PATH must be hosted or engine, not $path" >&2; exit 2 ;;
esac
echo "demo: publishing examples/hello for linux/amd64, arm64, ppc64le and s390x to $image" >&2
out=${DEMO_OUT:-demo-out/$path}
run=$(mktemp); cleanup+=("$run")
started=$EPOCHREALTIME
status=0
node scripts/run-action.mjs "${args[@]}" >"$run" || status=$?
ended=$EPOCHREALTIME
micros=$(( ${ended/[.,]/} - ${started/[.,]/} )) # EPOCHREALTIME has six decimals
seconds=$((micros / 1000000)).$(printf %06d $((micros % 1000000)))
node scripts/demo-result.mjs --run "$run" --out "$out" --image "$image" --seconds "$seconds" --path "$path" || status=$?
if [ -n "${DEMO_README:-}" ] && [ "$status" = 0 ]; then
  node scripts/readme-summary.mjs --summary "$out/summary.md" --repository "$image"
fi
exit "$status"
