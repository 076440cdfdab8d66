#!/usr/bin/env bash
# Benchmark: the same Go program compiled for linux/arm64 under QEMU (examples/qemu-compile: the build stage has no
# --platform) and cross-compiled on the runner (examples/hello: FROM --platform=$BUILDPLATFORM, GOARCH=$TARGETARCH),
# side by side in one run, without cache, with the same multi-architecture Go image. Prints the `go build` step's
# time from BuildKit's progress records for each, and the ratio.
#
# Needs the e2e environment (scripts/e2e-env.sh up): the default docker builder, QEMU for arm64, and the registry on
# localhost:5000. The Go image (linux/amd64 + linux/arm64) is made from Debian's golang packages, as e2e-env.sh
# makes its amd64-only one, and pushed to localhost:5000/bench/golang.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
GO_PACKAGE_VERSION=${GO_PACKAGE_VERSION:-1.19}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/go-build-action-bench}
IMAGE=localhost:5000/bench/golang:$GO_PACKAGE_VERSION
PLATFORM=linux/arm64

say() { printf 'bench: %s\n' "$*" >&2; }

apt_private() {
  mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial"
  apt-get -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache" \
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 "$@"
}

build_go_image() {
  if docker buildx imagetools inspect "$IMAGE" >/dev/null 2>&1; then say "$IMAGE already in the registry"; return; fi
  mkdir -p "$WORK/debs"
  say "downloading Debian's golang-$GO_PACKAGE_VERSION for amd64 and arm64"
  apt_private update >/dev/null
  (cd "$WORK/debs" && apt_private download \
    "golang-$GO_PACKAGE_VERSION-go:amd64" "golang-$GO_PACKAGE_VERSION-go:arm64" "golang-$GO_PACKAGE_VERSION-src:all" \
    libc6:amd64 libc6:arm64 busybox-static:amd64 busybox-static:arm64 >/dev/null 2>&1)
  rm -rf "$WORK/ctx"; mkdir -p "$WORK/ctx"
  local arch root deb applet
  for arch in amd64 arm64; do
    root="$WORK/ctx/rootfs-$arch"; mkdir -p "$root"
    for deb in "$WORK/debs/"*"_${arch}.deb" "$WORK/debs/"*_all.deb; do dpkg -x "$deb" "$root"; done
    for applet in $("$WORK/ctx/rootfs-amd64/bin/busybox" --list 2>/dev/null || echo sh); do
      [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
    done
    mkdir -p "$root/tmp" "$root/etc" "$root/go"; chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    ln -sfn "go-$GO_PACKAGE_VERSION" "$root/usr/lib/go"
  done
  cat >"$WORK/ctx/Dockerfile" <<'DF'
FROM scratch
ARG TARGETARCH
COPY rootfs-${TARGETARCH}/ /
ENV PATH=/usr/lib/go/bin:/bin:/usr/bin:/sbin:/usr/sbin GOROOT=/usr/lib/go GOPATH=/go GOCACHE=/tmp/go-cache \
    GOFLAGS=-mod=mod GOPROXY=off CGO_ENABLED=0
WORKDIR /go
DF
  say "building $IMAGE for linux/amd64,linux/arm64"
  docker buildx build --builder default --platform linux/amd64,linux/arm64 --provenance=false -t "$IMAGE" --push "$WORK/ctx" >"$WORK/go-image.log" 2>&1
}

# bench NAME CONTEXT: builds CONTEXT for $PLATFORM without cache; prints the go build step's seconds
bench() {
  local log="$WORK/$1.log"
  docker buildx build --builder default --no-cache --progress=plain --platform "$PLATFORM" \
    --build-arg GO_IMAGE="$IMAGE" --build-arg BASE_IMAGE=localhost:5000/base/busybox "$2" >"$log" 2>&1
  # the docker driver keeps an untagged result in the engine's store: remove it again
  local result; result=$(grep -oE 'moby-dangling@sha256:[0-9a-f]{64}' "$log" | tail -1 | cut -d@ -f2 || true)
  [ -z "$result" ] || docker image rm "$result" >/dev/null 2>&1 || true
  local id; id=$(grep -E '^#[0-9]+ \[.*\] RUN .*go build' "$log" | head -1 | cut -d' ' -f1)
  grep -E "^$id DONE " "$log" | tail -1 | sed -E 's/.* DONE ([0-9.]+)s/\1/'
}

build_go_image
say "go build of examples/qemu-compile for $PLATFORM (under QEMU) ..."
emulated=$(bench qemu-compile "$ROOT/examples/qemu-compile")
say "go build of examples/hello for $PLATFORM (cross-compiled on $(uname -m)) ..."
cross=$(bench hello "$ROOT/examples/hello")
printf 'go build for %s, no cache, Go %s from Debian, on %s (%s cores):\n' "$PLATFORM" "$GO_PACKAGE_VERSION" "$(uname -m)" "$(nproc)"
printf '  under QEMU (examples/qemu-compile):   %6.1f s\n' "$emulated"
printf '  cross-compiled (examples/hello):      %6.1f s\n' "$cross"
awk -v a="$emulated" -v b="$cross" 'BEGIN { printf "  ratio:                                %6.1fx\n", a / b }'
