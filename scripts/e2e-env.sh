#!/usr/bin/env bash
# The real local environment for go-build-action's e2e tests, demo and CI.
#
#   scripts/e2e-env.sh up       install (where missing) and start everything; idempotent
#   scripts/e2e-env.sh down     stop what this script started (registries, and the engine if it started it)
#   scripts/e2e-env.sh status   say what runs and what is missing; exit 1 when something is missing
#   scripts/e2e-env.sh bench-fixture   make (once; cached) the benchmark's go-build-sized context and print its
#                               directory: only `npm run bench` asks for it, so CI never pays for it
#
# What "up" gives you:
#   - a docker engine with the containerd image store and buildx (installed from Debian when absent);
#   - cosign (Debian trixie's 2.5) for the signing tests;
#   - QEMU user emulation with binfmt handlers for arm64, ppc64le and s390x;
#   - an open OCI registry on 127.0.0.1:5000 and one with htpasswd auth on 127.0.0.1:5001
#     (user $E2E_REGISTRY_USER, password $E2E_REGISTRY_PASSWORD below; test credentials only);
#   - base images built from Debian packages, pushed to the open registry:
#       localhost:5000/base/busybox   busybox-static for linux/amd64, arm64, ppc64le, s390x
#       localhost:5000/base/golang    Debian's Go toolchain for the build platform
#   - the GitHub-hosted path (a docker-container builder and a current buildx):
#       localhost:5000/moby/buildkit:v0.26.3   a BuildKit image for the docker-container driver
#       $STATE_DIR/hosted/buildx-0.30.1/cli-plugins/docker-buildx   buildx 0.30.1, used only where a test asks for
#                                             it (DOCKER_CONFIG); Debian's buildx 0.13.1 stays the engine's default
#     both from ../shared/buildkit (BuildKit and buildx built from their upstream tags) when it is there, else from
#     upstream (docker pull moby/buildkit, the buildx release with its checksum). Where neither is possible the
#     hosted path is recorded as unavailable, with the reason, in $STATE_DIR/hosted-path.json, and its tests skip.
#
# Only loopback addresses are used. Nothing is pulled from the internet except, without ../shared/buildkit, the
# hosted path's BuildKit image and buildx release: packages come from Debian's archive.
set -euo pipefail

E2E_REGISTRY_PORT=${E2E_REGISTRY_PORT:-5000}
E2E_AUTH_REGISTRY_PORT=${E2E_AUTH_REGISTRY_PORT:-5001}
E2E_REGISTRY_USER=${E2E_REGISTRY_USER:-e2e-user}
E2E_REGISTRY_PASSWORD=${E2E_REGISTRY_PASSWORD:-e2e-Passw0rd-not-secret}
STATE_DIR=${E2E_STATE_DIR:-/var/lib/go-build-action-e2e}
LOG_DIR="$STATE_DIR/log"
BASE_ARCHES=(amd64 arm64 ppc64le s390x)
GO_PACKAGE_VERSION=1.19
BUSYBOX_IMAGE="localhost:$E2E_REGISTRY_PORT/base/busybox"
GOLANG_IMAGE="localhost:$E2E_REGISTRY_PORT/base/golang"
# Test-only images for the QEMU tests, which only ever touch the arm and riscv64 handlers (no other test uses
# them): a linux/arm/v7 busybox to run through QEMU, and a stand-in for tonistiigi/binfmt.
ARM_BUSYBOX_IMAGE="localhost:$E2E_REGISTRY_PORT/test/busybox-arm"
TEST_BINFMT_IMAGE="localhost:$E2E_REGISTRY_PORT/test/binfmt"
TEST_BINFMT_QEMU=(arm riscv64)
# The GitHub-hosted path: BuildKit for the docker-container driver, and the buildx hosted runners have.
BUILDKIT_VERSION=v0.26.3
HOSTED_BUILDX_VERSION=0.30.1
BUILDKIT_IMAGE="localhost:$E2E_REGISTRY_PORT/moby/buildkit:$BUILDKIT_VERSION"
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SHARED_BUILDKIT=$(realpath -m "${E2E_SHARED_BUILDKIT:-$REPO_ROOT/../shared/buildkit}")
HOSTED_DIR="$STATE_DIR/hosted"
HOSTED_BUILDX_DIR="$HOSTED_DIR/buildx-$HOSTED_BUILDX_VERSION"
HOSTED_STATUS="$STATE_DIR/hosted-path.json"
# sha256 of the binaries in ../shared/buildkit/buildkit-bin.tar.gz (its README).
SHARED_SUMS='ff2079c9f57bcf03a85d1cd116381e3c2ad69b8a8687a2ef94ebad93450390b9  buildctl
47daafcafc83ad35d3bb10c4ba3577df6a3251a29768a36fb3b83d95b853238c  buildkitd
0b9a77b38ff89cb8d3175b27fc8cd707037c6ce38b65b5d3492a1193fa65289c  docker-buildx'

say() { printf 'e2e-env: %s\n' "$*"; }
die() { printf 'e2e-env: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------------------
ctr_ok() { ctr version >/dev/null 2>&1; }
engine_running() { docker info >/dev/null 2>&1; }
buildx_present() { docker buildx version >/dev/null 2>&1; }
containerd_store() { docker info -f '{{.DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; }
registry_up() { curl -fsS -o /dev/null -m 2 "http://127.0.0.1:$1/v2/" 2>/dev/null || [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v2/" 2>/dev/null)" = 401 ]; }
binfmt_mounted() { [ -e /proc/sys/fs/binfmt_misc/register ]; }
binfmt_has() { [ -e "/proc/sys/fs/binfmt_misc/qemu-$1" ] && head -n1 "/proc/sys/fs/binfmt_misc/qemu-$1" | grep -q enabled; }
image_present() { curl -fsS -o /dev/null -m 5 -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "http://127.0.0.1:$E2E_REGISTRY_PORT/v2/$1/manifests/${2:-latest}" 2>/dev/null; }
hosted_buildx_ok() { [ -x "$HOSTED_BUILDX_DIR/cli-plugins/docker-buildx" ] && DOCKER_CONFIG="$HOSTED_BUILDX_DIR" docker buildx version 2>/dev/null | grep -q "v$HOSTED_BUILDX_VERSION "; }
buildkit_image_ok() { image_present moby/buildkit "$BUILDKIT_VERSION"; }
hosted_path_ok() { hosted_buildx_ok && buildkit_image_ok; }

host_arch() { dpkg --print-architecture 2>/dev/null || uname -m; }
qemu_name() { case "$1" in arm64) echo aarch64 ;; amd64) echo x86_64 ;; *) echo "$1" ;; esac; }
# Docker's architecture names are OCI's; Debian calls ppc64le ppc64el.
deb_arch() { case "$1" in ppc64le) echo ppc64el ;; *) echo "$1" ;; esac; }
host_oci_arch() { case "$(host_arch)" in ppc64el) echo ppc64le ;; *) host_arch ;; esac; }

need_root() { [ "$(id -u)" = 0 ] || die "$1 needs root (run as root, or start it yourself and rerun)"; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local secs=$1 what=$2; shift 2
  for ((i = 0; i < secs * 4; i++)); do "$@" && return 0; sleep 0.25; done
  die "$what did not come up within ${secs}s (logs: $LOG_DIR)"
}

# ---------------------------------------------------------------------------------------------------------
# Packages (Debian only)
# ---------------------------------------------------------------------------------------------------------
APT_UPDATED=
apt_update() {
  [ -z "$APT_UPDATED" ] || return 0
  local try
  for try in 1 2 3 4; do
    [ "$try" = 1 ] && say "apt-get update" || say "apt-get update (retry $try)"
    # A mirror mid-sync answers with index files of the wrong size; that passes on a retry.
    if apt-get update -qq -o APT::Update::Error-Mode=any >/dev/null; then APT_UPDATED=1; return 0; fi
    sleep $((try * 5))
  done
  die "apt-get update kept failing: check the machine's access to Debian's archive"
}
apt_install() { apt_update; say "apt-get install $*"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }
pkg_installed() { dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

require_debian() { command -v apt-get >/dev/null 2>&1 || die "$1 is missing and this is not a Debian machine: install it yourself ($2) and rerun"; }

# The Debian mirror this machine's apt already uses (its main archive, not the security one), unless
# E2E_DEBIAN_MIRROR names another.
debian_mirror() {
  if [ -n "${E2E_DEBIAN_MIRROR:-}" ]; then echo "$E2E_DEBIAN_MIRROR"; return 0; fi
  local uri
  uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ { for (i = 2; i <= NF; i++) print $i }' | grep -v security | grep '/debian/\?$' | head -n1 || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v security | grep '/debian/\?$' | head -n1 || true)
  [ -n "$uri" ] || die "cannot find this machine's Debian mirror in /etc/apt; set E2E_DEBIAN_MIRROR to its URL"
  echo "${uri%/}"
}

add_trixie_suite() {
  [ -f /etc/apt/sources.list.d/trixie.sources ] && return 0
  local mirror; mirror=$(debian_mirror)
  say "adding Debian trixie to apt with pin priority 100 (only docker.io, docker-cli, docker-buildx and cosign come from it)"
  cat >/etc/apt/sources.list.d/trixie.sources <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat >/etc/apt/preferences.d/trixie-low <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
  APT_UPDATED=
}

install_engine() {
  need_root "installing the docker engine"
  require_debian "a docker engine with buildx" "docker engine >= 26 with the containerd image store, and buildx"
  # The engine from bookworm brings containerd, runc and iptables; then docker.io, docker-cli and docker-buildx
  # alone are upgraded from trixie (engine 26, buildx 0.13).
  pkg_installed docker.io || apt_install docker.io
  add_trixie_suite
  if ! pkg_installed docker-buildx; then
    apt_update
    say "apt-get install -t trixie docker.io docker-cli docker-buildx"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t trixie docker.io docker-cli docker-buildx >/dev/null
  fi
}

install_host_tools() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v htpasswd >/dev/null || missing+=(apache2-utils)
  command -v docker-registry >/dev/null || missing+=(docker-registry)
  [ -e /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
  # a real ssh agent for the "ssh" build input's e2e test
  { command -v ssh-agent && command -v ssh-add && command -v ssh-keygen; } >/dev/null || missing+=(openssh-client)
  if [ ${#missing[@]} -gt 0 ]; then
    need_root "installing ${missing[*]}"
    require_debian "${missing[*]}" "the packages ${missing[*]}"
    apt_install "${missing[@]}"
  fi
}

# cosign for the signing tests (`sign: true`): Debian trixie's 2.5, the version the action pins or newer, so the
# action uses it from PATH as it would a runner's.
cosign_ok() { command -v cosign >/dev/null 2>&1; }
install_cosign() {
  cosign_ok && return 0
  need_root "installing cosign"
  require_debian cosign "cosign 2.5 or newer"
  add_trixie_suite
  apt_update
  say "apt-get install -t trixie cosign"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -t trixie cosign >/dev/null
}

# ---------------------------------------------------------------------------------------------------------
# Engine
# ---------------------------------------------------------------------------------------------------------
start_engine() {
  if engine_running && ! ip link show docker0 >/dev/null 2>&1 && [ -f "$STATE_DIR/dockerd.pid" ]; then
    # a second engine started with --bridge none deletes docker0 (the host's network is shared); this engine then
    # cannot start a container on its default network until it is restarted, which makes the bridge again
    say "the engine's bridge docker0 is missing: restarting the engine"
    stop_pid dockerd
  fi
  if engine_running; then
    say "docker engine already running ($(docker version -f '{{.Server.Version}}' 2>/dev/null))"
    containerd_store || say "warning: this engine does not use the containerd image store; multi-platform --load needs it"
    return 0
  fi
  command -v dockerd >/dev/null 2>&1 || install_engine
  need_root "starting the docker engine"
  mkdir -p /etc/docker "$LOG_DIR"
  if [ ! -f /etc/docker/daemon.json ] || ! grep -q containerd-snapshotter /etc/docker/daemon.json; then
    say "writing /etc/docker/daemon.json (containerd image store)"
    printf '%s\n' '{"features":{"containerd-snapshotter":true}}' >/etc/docker/daemon.json
  fi
  if ! ctr_ok; then
    say "starting containerd"
    nohup containerd >"$LOG_DIR/containerd.log" 2>&1 &
    echo $! >"$STATE_DIR/containerd.pid"
    wait_for 30 containerd ctr_ok
  fi
  say "starting dockerd"
  nohup dockerd --containerd=/run/containerd/containerd.sock >"$LOG_DIR/dockerd.log" 2>&1 &
  echo $! >"$STATE_DIR/dockerd.pid"
  wait_for 60 dockerd engine_running
  say "docker engine $(docker version -f '{{.Server.Version}}') running"
}

check_buildx() {
  if ! buildx_present; then
    need_root "installing buildx"
    install_engine
  fi
  buildx_present || die "docker buildx is missing: install the docker-buildx plugin and rerun"
  say "$(docker buildx version)"
}

# ---------------------------------------------------------------------------------------------------------
# QEMU / binfmt
# ---------------------------------------------------------------------------------------------------------
setup_binfmt() {
  if ! binfmt_mounted; then
    need_root "mounting binfmt_misc"
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || die "cannot mount binfmt_misc"
  fi
  local arch q conf
  for arch in "${BASE_ARCHES[@]}"; do
    [ "$arch" = "$(host_oci_arch)" ] && continue
    q=$(qemu_name "$arch")
    binfmt_has "$q" && continue
    conf=/usr/lib/binfmt.d/qemu-$q.conf
    [ -f "$conf" ] || die "no binfmt rule $conf: install qemu-user-static"
    need_root "registering binfmt handlers"
    say "registering binfmt handler qemu-$q"
    grep -v '^#' "$conf" | grep -v '^$' >/proc/sys/fs/binfmt_misc/register
  done
}

# ---------------------------------------------------------------------------------------------------------
# Registries
# ---------------------------------------------------------------------------------------------------------
start_registry() { # start_registry PORT NAME [auth]
  local port=$1 name=$2 auth=${3:-}
  if registry_up "$port"; then say "registry $name already listening on 127.0.0.1:$port"; return 0; fi
  local dir="$STATE_DIR/$name"
  mkdir -p "$dir/data" "$LOG_DIR"
  local auth_conf=""
  if [ -n "$auth" ]; then
    htpasswd -Bbn "$E2E_REGISTRY_USER" "$E2E_REGISTRY_PASSWORD" >"$dir/htpasswd"
    auth_conf=$(printf 'auth:\n  htpasswd:\n    realm: go-build-action-e2e\n    path: %s\n' "$dir/htpasswd")
  fi
  cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
$auth_conf
CONF
  say "starting registry $name on 127.0.0.1:$port"
  nohup docker-registry serve "$dir/config.yml" >"$LOG_DIR/$name.log" 2>&1 &
  echo $! >"$STATE_DIR/$name.pid"
  wait_for 20 "registry $name" registry_up "$port"
}

# ---------------------------------------------------------------------------------------------------------
# Base images
# ---------------------------------------------------------------------------------------------------------
# Base-image packages are downloaded through a private apt configuration under $STATE_DIR: the machine's own
# sources and dpkg architectures are left alone, and only bookworm's main suite is read (its security suite
# adds nothing these images need).
APT_PRIVATE_UPDATED=
apt_private() {
  local root="$STATE_DIR/apt"
  mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/parts"
  local arches; arches=$( (for a in "${BASE_ARCHES[@]}"; do deb_arch "$a"; done; echo armhf) | paste -sd, -)
  local mirror; mirror=$(debian_mirror)
  printf 'deb [arch=%s signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s bookworm main\n' \
    "$arches" "$mirror" >"$root/sources.list"
  apt-get -qq -o Dir::Etc::SourceList="$root/sources.list" -o Dir::Etc::SourceParts="$root/parts" \
    -o Dir::State::Lists="$root/lists" -o Dir::Cache="$root/cache" -o APT::Architectures="$arches" \
    -o APT::Architecture="$(host_arch)" -o APT::Sandbox::User=root -o Debug::NoLocking=1 "$@"
}

download_debs() { # download_debs DIR PKG:DEBARCH...
  local dir=$1; shift
  mkdir -p "$dir"
  local missing=() p
  for p in "$@"; do ls "$dir/${p%%:*}_"*"_${p##*:}.deb" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ -z "$APT_PRIVATE_UPDATED" ]; then
    local try
    for try in 1 2 3; do
      say "reading Debian bookworm's package lists (for the base images)"
      apt_private update >/dev/null && { APT_PRIVATE_UPDATED=1; break; }
      sleep $((try * 5))
    done
    [ -n "$APT_PRIVATE_UPDATED" ] || die "cannot read Debian's package lists: check the machine's access to Debian's archive"
  fi
  say "apt-get download ${missing[*]}"
  (cd "$dir" && apt_private download "${missing[@]}" >/dev/null) || die "apt-get download ${missing[*]} failed"
}

build_busybox_image() {
  if image_present base/busybox; then say "$BUSYBOX_IMAGE already in the registry"; return 0; fi
  require_debian "busybox-static packages" "push a multi-arch busybox image to $BUSYBOX_IMAGE yourself"
  local work="$STATE_DIR/build/busybox" arch
  rm -rf "$work/ctx"; mkdir -p "$work/ctx"
  local pkgs=(); for arch in "${BASE_ARCHES[@]}"; do pkgs+=("busybox-static:$(deb_arch "$arch")"); done
  download_debs "$work/debs" "${pkgs[@]}"
  for arch in "${BASE_ARCHES[@]}"; do
    local root="$work/ctx/rootfs-$arch"
    mkdir -p "$root"
    dpkg -x "$work/debs/"busybox-static_*_"$(deb_arch "$arch")".deb "$root"
    mkdir -p "$root/tmp" "$root/etc" "$root/usr/bin" "$root/usr/sbin" "$root/sbin"
    chmod 1777 "$root/tmp"
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  done
  # The applet list is the same on every architecture of one package version; read it with the host's binary.
  local host_root="$work/ctx/rootfs-$(host_oci_arch)" applet
  [ -x "$host_root/bin/busybox" ] || die "busybox-static for the host architecture $(host_oci_arch) is missing"
  for arch in "${BASE_ARCHES[@]}"; do
    for applet in $("$host_root/bin/busybox" --list); do
      [ "$applet" = busybox ] || [ -e "$work/ctx/rootfs-$arch/bin/$applet" ] || ln -s busybox "$work/ctx/rootfs-$arch/bin/$applet"
    done
  done
  cat >"$work/ctx/Dockerfile" <<'DF'
FROM scratch
ARG TARGETARCH
COPY rootfs-${TARGETARCH}/ /
ENV PATH=/bin:/usr/bin:/sbin:/usr/sbin
CMD ["/bin/sh"]
DF
  local platforms; platforms=$(printf 'linux/%s,' "${BASE_ARCHES[@]}"); platforms=${platforms%,}
  say "building $BUSYBOX_IMAGE for $platforms"
  docker buildx build --builder default --platform "$platforms" --provenance=false -t "$BUSYBOX_IMAGE:latest" --push "$work/ctx" >"$LOG_DIR/busybox-build.log" 2>&1 \
    || die "building $BUSYBOX_IMAGE failed (log: $LOG_DIR/busybox-build.log)"
}

build_golang_image() {
  if image_present base/golang; then say "$GOLANG_IMAGE already in the registry"; return 0; fi
  require_debian "Debian's Go toolchain" "push a Go builder image to $GOLANG_IMAGE yourself"
  local arch; arch=$(host_oci_arch)
  local work="$STATE_DIR/build/golang"
  rm -rf "$work/ctx"; mkdir -p "$work/ctx/rootfs"
  download_debs "$work/debs" "golang-$GO_PACKAGE_VERSION-go:$(host_arch)" "golang-$GO_PACKAGE_VERSION-src:all" "libc6:$(host_arch)" "busybox-static:$(host_arch)"
  local deb
  for deb in "$work/debs/"*.deb; do dpkg -x "$deb" "$work/ctx/rootfs"; done
  local root="$work/ctx/rootfs" applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  mkdir -p "$root/tmp" "$root/etc" "$root/go"; chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  ln -sfn "go-$GO_PACKAGE_VERSION" "$root/usr/lib/go"
  cat >"$work/ctx/Dockerfile" <<'DF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/lib/go/bin:/bin:/usr/bin:/sbin:/usr/sbin \
    GOROOT=/usr/lib/go \
    GOPATH=/go \
    GOCACHE=/tmp/go-cache \
    GOFLAGS=-mod=mod \
    GOPROXY=off \
    CGO_ENABLED=0
WORKDIR /go
CMD ["go", "version"]
DF
  say "building $GOLANG_IMAGE for linux/$arch (Debian golang-$GO_PACKAGE_VERSION)"
  docker buildx build --builder default --platform "linux/$arch" --provenance=false -t "$GOLANG_IMAGE:latest" --push "$work/ctx" >"$LOG_DIR/golang-build.log" 2>&1 \
    || die "building $GOLANG_IMAGE failed (log: $LOG_DIR/golang-build.log)"
}

build_arm_busybox_image() {
  if image_present test/busybox-arm; then say "$ARM_BUSYBOX_IMAGE already in the registry"; return 0; fi
  require_debian "busybox-static:armhf" "push a linux/arm/v7 busybox image to $ARM_BUSYBOX_IMAGE yourself"
  local work="$STATE_DIR/build/busybox-arm"
  rm -rf "$work/ctx"; mkdir -p "$work/ctx/rootfs"
  download_debs "$STATE_DIR/build/busybox/debs" busybox-static:armhf
  local root="$work/ctx/rootfs"
  dpkg -x "$STATE_DIR/build/busybox/debs/"busybox-static_*_armhf.deb "$root"
  mkdir -p "$root/tmp" "$root/etc"; chmod 1777 "$root/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  local applet
  for applet in sh uname echo cat true; do ln -sf busybox "$root/bin/$applet"; done
  printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\nCMD ["/bin/sh"]\n' >"$work/ctx/Dockerfile"
  say "building $ARM_BUSYBOX_IMAGE for linux/arm/v7 (Debian busybox-static:armhf; built without running anything)"
  docker buildx build --builder default --platform linux/arm/v7 --provenance=false -t "$ARM_BUSYBOX_IMAGE:latest" --push "$work/ctx" >"$LOG_DIR/busybox-arm-build.log" 2>&1 \
    || die "building $ARM_BUSYBOX_IMAGE failed (log: $LOG_DIR/busybox-arm-build.log)"
}

# A stand-in for tonistiigi/binfmt with the same command-line contract (`--install arm,riscv64`), made from
# Debian's static QEMU binaries: busybox sh, the binaries, and registration lines with the F (fix-binary) flag,
# so the kernel keeps the interpreter open after the container is gone.
build_test_binfmt_image() {
  if image_present test/binfmt; then say "$TEST_BINFMT_IMAGE already in the registry"; return 0; fi
  local work="$STATE_DIR/build/binfmt" q
  rm -rf "$work/ctx"; mkdir -p "$work/ctx/usr/bin" "$work/ctx/binfmt.d"
  for q in "${TEST_BINFMT_QEMU[@]}"; do
    [ -x "/usr/bin/qemu-$q-static" ] && [ -f "/usr/lib/binfmt.d/qemu-$q.conf" ] || die "qemu-$q-static is missing: install qemu-user-static"
    cp "/usr/bin/qemu-$q-static" "$work/ctx/usr/bin/"
    # :name:type:offset:magic:mask:interpreter:flags -> interpreter inside the image, flags F.
    grep -v '^#' "/usr/lib/binfmt.d/qemu-$q.conf" | grep -v '^$' | sed -E "s#:[^:]*:[A-Z]*\$#:/usr/bin/qemu-$q-static:F#" >"$work/ctx/binfmt.d/qemu-$q.conf"
  done
  cat >"$work/ctx/install.sh" <<'SH'
#!/bin/sh
# Test-only binfmt installer: --install ARCH[,ARCH...] with OCI architecture names (arm, riscv64).
set -e
if [ "$1" != --install ] || [ -z "$2" ]; then echo "usage: --install arch[,arch...]" >&2; exit 2; fi
dir=/proc/sys/fs/binfmt_misc
[ -e "$dir/register" ] || mount -t binfmt_misc binfmt_misc "$dir"
for arch in $(echo "$2" | tr ',' ' '); do
  case "$arch" in
    arm64) q=aarch64 ;; 386) q=i386 ;; amd64) q=x86_64 ;; mips64le) q=mips64el ;; loong64) q=loongarch64 ;; *) q=$arch ;;
  esac
  if [ ! -f "/binfmt.d/qemu-$q.conf" ]; then echo "this test image has no emulator for $arch" >&2; exit 1; fi
  if [ -e "$dir/qemu-$q" ]; then echo "qemu-$q already registered"; continue; fi
  cat "/binfmt.d/qemu-$q.conf" >"$dir/register"
  echo "installed qemu-$q"
done
SH
  cat >"$work/ctx/Dockerfile" <<DF
FROM $BUSYBOX_IMAGE
COPY usr/bin/ /usr/bin/
COPY binfmt.d/ /binfmt.d/
COPY --chmod=755 install.sh /install.sh
ENTRYPOINT ["/bin/sh", "/install.sh"]
DF
  say "building $TEST_BINFMT_IMAGE for linux/$(host_oci_arch) (qemu ${TEST_BINFMT_QEMU[*]} from qemu-user-static)"
  docker buildx build --builder default --platform "linux/$(host_oci_arch)" --provenance=false -t "$TEST_BINFMT_IMAGE:latest" --push "$work/ctx" >"$LOG_DIR/binfmt-build.log" 2>&1 \
    || die "building $TEST_BINFMT_IMAGE failed (log: $LOG_DIR/binfmt-build.log)"
}

# ---------------------------------------------------------------------------------------------------------
# The GitHub-hosted path: a BuildKit image for the docker-container driver, and buildx 0.30.1
# ---------------------------------------------------------------------------------------------------------
# Records whether the hosted path is usable, for the tests (support/paths.ts) and the demo.
hosted_record() { # hosted_record available SOURCE | hosted_record unavailable REASON
  mkdir -p "$STATE_DIR"
  if [ "$1" = available ]; then
    printf '{"available":true,"source":"%s","buildkitImage":"%s","buildxVersion":"%s","buildxPluginDir":"%s"}\n' \
      "$2" "$BUILDKIT_IMAGE" "$HOSTED_BUILDX_VERSION" "$HOSTED_BUILDX_DIR/cli-plugins" >"$HOSTED_STATUS"
  else
    local reason=${2//\\/\\\\}; reason=${reason//\"/\\\"}
    printf '{"available":false,"reason":"%s"}\n' "$reason" >"$HOSTED_STATUS"
  fi
}

install_hosted_buildx() { # install_hosted_buildx FILE
  mkdir -p "$HOSTED_BUILDX_DIR/cli-plugins"
  install -m 0755 "$1" "$HOSTED_BUILDX_DIR/cli-plugins/docker-buildx"
}

# Unpacks ../shared/buildkit into $HOSTED_DIR/shared after checking every binary against its README's sha256.
unpack_shared_buildkit() {
  local dir="$HOSTED_DIR/shared"
  if [ -f "$dir/.verified" ]; then return 0; fi
  rm -rf "$dir"; mkdir -p "$dir"
  tar -xzf "$SHARED_BUILDKIT/buildkit-bin.tar.gz" -C "$dir" || die "cannot unpack $SHARED_BUILDKIT/buildkit-bin.tar.gz"
  (cd "$dir" && printf '%s\n' "$SHARED_SUMS" | sha256sum --quiet -c -) || die "$SHARED_BUILDKIT/buildkit-bin.tar.gz: a binary does not match the sha256 its README gives"
  touch "$dir/.verified"
}

# FROM scratch: buildkitd and buildctl, Debian's runc with the libraries ldd lists for it, and a static busybox
# for /bin (the image the shared README describes).
build_buildkit_image_from_shared() {
  local dir="$HOSTED_DIR/shared" work="$STATE_DIR/build/buildkit"
  pkg_installed runc || apt_install runc
  local runc; runc=$(command -v runc) || die "runc is missing: install Debian's runc package"
  runc=$(readlink -f "$runc")
  rm -rf "$work"; mkdir -p "$work/rootfs/usr/bin" "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/run" "$work/rootfs/etc/buildkit"
  chmod 1777 "$work/rootfs/tmp"
  cp "$dir/buildkitd" "$dir/buildctl" "$runc" "$work/rootfs/usr/bin/"
  local lib
  for lib in $(ldd "$runc" | awk '/=>/ { print $3 } /^\t\// { print $1 }'); do
    mkdir -p "$work/rootfs$(dirname "$lib")"
    cp -L "$lib" "$work/rootfs$lib"
  done
  download_debs "$STATE_DIR/build/busybox/debs" "busybox-static:$(host_arch)"
  local bb="$work/busybox"
  mkdir -p "$bb"; dpkg -x "$STATE_DIR/build/busybox/debs/"busybox-static_*_"$(host_arch)".deb "$bb"
  cp "$bb/bin/busybox" "$work/rootfs/bin/busybox"
  local applet
  for applet in $("$bb/bin/busybox" --list); do [ "$applet" = busybox ] || ln -sf busybox "$work/rootfs/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$work/rootfs/etc/passwd"
  printf 'root:x:0:\n' >"$work/rootfs/etc/group"
  cat >"$work/Dockerfile" <<'DF'
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/bin:/bin
VOLUME /var/lib/buildkit
ENTRYPOINT ["buildkitd"]
DF
  say "building $BUILDKIT_IMAGE for linux/$(host_oci_arch) from $SHARED_BUILDKIT (BuildKit $BUILDKIT_VERSION, Debian runc)"
  docker buildx build --builder default --platform "linux/$(host_oci_arch)" --provenance=false -t "$BUILDKIT_IMAGE" --push "$work" >"$LOG_DIR/buildkit-build.log" 2>&1 \
    || die "building $BUILDKIT_IMAGE failed (log: $LOG_DIR/buildkit-build.log)"
}

# Without ../shared: what a user's clone does on a machine that reaches Docker Hub and GitHub.
hosted_from_upstream() {
  local arch; arch=$(host_oci_arch)
  if ! buildkit_image_ok; then
    say "docker pull moby/buildkit:$BUILDKIT_VERSION"
    docker pull --quiet "moby/buildkit:$BUILDKIT_VERSION" >"$LOG_DIR/buildkit-pull.log" 2>&1 || return 1
    docker tag "moby/buildkit:$BUILDKIT_VERSION" "$BUILDKIT_IMAGE" && docker push --quiet "$BUILDKIT_IMAGE" >>"$LOG_DIR/buildkit-pull.log" 2>&1 || return 1
  fi
  if ! hosted_buildx_ok; then
    local base="https://github.com/docker/buildx/releases/download/v$HOSTED_BUILDX_VERSION" file="buildx-v$HOSTED_BUILDX_VERSION.linux-$arch"
    local tmp; tmp=$(mktemp -d)
    say "downloading $base/$file and its checksums.txt"
    curl -fsSL -m 120 -o "$tmp/$file" "$base/$file" && curl -fsSL -m 30 -o "$tmp/checksums.txt" "$base/checksums.txt" || { rm -rf "$tmp"; return 1; }
    (cd "$tmp" && grep " \*\?$file\$" checksums.txt | sed 's/ \*/  /' | sha256sum --quiet -c -) || { rm -rf "$tmp"; die "buildx $HOSTED_BUILDX_VERSION from GitHub does not match its checksums.txt"; }
    install_hosted_buildx "$tmp/$file"; rm -rf "$tmp"
  fi
}

setup_hosted_path() {
  if hosted_path_ok; then
    say "hosted path ready: $BUILDKIT_IMAGE and buildx $HOSTED_BUILDX_VERSION"
    [ -f "$HOSTED_STATUS" ] && grep -q '"available":true' "$HOSTED_STATUS" || hosted_record available "$( [ -f "$SHARED_BUILDKIT/buildkit-bin.tar.gz" ] && echo "$SHARED_BUILDKIT" || echo upstream)"
    return 0
  fi
  if [ -f "$SHARED_BUILDKIT/buildkit-bin.tar.gz" ]; then
    unpack_shared_buildkit
    hosted_buildx_ok || install_hosted_buildx "$HOSTED_DIR/shared/docker-buildx"
    buildkit_image_ok || build_buildkit_image_from_shared
    hosted_path_ok || die "the hosted path from $SHARED_BUILDKIT is still incomplete (logs: $LOG_DIR)"
    hosted_record available "$SHARED_BUILDKIT"
  elif hosted_from_upstream && hosted_path_ok; then
    hosted_record available upstream
  else
    local missing=()
    buildkit_image_ok || missing+=("the BuildKit image $BUILDKIT_IMAGE (neither $SHARED_BUILDKIT/buildkit-bin.tar.gz nor docker pull moby/buildkit:$BUILDKIT_VERSION)")
    hosted_buildx_ok || missing+=("buildx $HOSTED_BUILDX_VERSION (neither $SHARED_BUILDKIT/buildkit-bin.tar.gz nor the GitHub release download)")
    local reason="missing: ${missing[*]}"
    say "warning: the GitHub-hosted path is unavailable, its tests will be skipped; $reason"
    hosted_record unavailable "$reason"
    return 0
  fi
  say "hosted path ready: $BUILDKIT_IMAGE and buildx $HOSTED_BUILDX_VERSION (from $(sed -n 's/.*"source":"\([^"]*\)".*/\1/p' "$HOSTED_STATUS"))"
}

# ---------------------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------------------
cmd_up() {
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  command -v docker >/dev/null 2>&1 && engine_running || { need_root "installing and starting the docker engine"; }
  install_host_tools
  start_engine
  install_cosign
  check_buildx
  setup_binfmt
  start_registry "$E2E_REGISTRY_PORT" registry
  start_registry "$E2E_AUTH_REGISTRY_PORT" registry-auth auth
  build_busybox_image
  build_golang_image
  build_arm_busybox_image
  build_test_binfmt_image
  setup_hosted_path
  say "ready: registries 127.0.0.1:$E2E_REGISTRY_PORT (open) and 127.0.0.1:$E2E_AUTH_REGISTRY_PORT (htpasswd), $BUSYBOX_IMAGE, $GOLANG_IMAGE"
}

# ---------------------------------------------------------------------------------------------------------
# The benchmark's go-build-sized fixture (only `npm run bench` asks for it)
# ---------------------------------------------------------------------------------------------------------
# Debian's Go toolchain for each platform (golang-$GO_PACKAGE_VERSION-go, about 330 MB unpacked per platform) and
# its sources shared by all (golang-$GO_PACKAGE_VERSION-src): a context the size of a real toolchain image, made
# from Debian's packages with the private apt configuration above, unpacked with dpkg-deb -x, and committed to a
# git repository of its own (a checkout, as a workflow has one). Kept in $STATE_DIR/bench-fixture between runs.
BENCH_FIXTURE_DIR="$STATE_DIR/bench-fixture"

cmd_bench_fixture() {
  local ctx="$BENCH_FIXTURE_DIR/ctx"
  if [ -f "$BENCH_FIXTURE_DIR/complete" ]; then echo "$ctx"; return 0; fi
  require_debian "Debian's Go toolchain packages" "unpack a Go toolchain for each platform into $ctx/go-ARCH yourself"
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  local debs="$STATE_DIR/build/bench-fixture/debs" arch pkgs=()
  for arch in "${BASE_ARCHES[@]}"; do pkgs+=("golang-$GO_PACKAGE_VERSION-go:$(deb_arch "$arch")"); done
  download_debs "$debs" "${pkgs[@]}" "golang-$GO_PACKAGE_VERSION-src:all" >&2
  rm -rf "$ctx"; mkdir -p "$ctx"
  for arch in "${BASE_ARCHES[@]}"; do
    say "unpacking golang-$GO_PACKAGE_VERSION-go for $arch" >&2
    mkdir -p "$ctx/go-$arch"
    dpkg-deb -x "$debs/"golang-$GO_PACKAGE_VERSION-go_*_"$(deb_arch "$arch")".deb "$ctx/go-$arch"
  done
  say "unpacking golang-$GO_PACKAGE_VERSION-src" >&2
  mkdir -p "$ctx/src"
  dpkg-deb -x "$debs/"golang-$GO_PACKAGE_VERSION-src_*_all.deb "$ctx/src"
  cat >"$ctx/Dockerfile" <<DF
# go-build-sized: each platform's Go $GO_PACKAGE_VERSION toolchain over the busybox base, the sources shared by all.
ARG BASE_IMAGE
FROM \${BASE_IMAGE}
ARG GO_VERSION=1.25.4
ARG LLVM_VERSION=18.1.8
ARG K8S_VERSION=1.34.1
ARG TARGETARCH
COPY src/ /
COPY go-\${TARGETARCH}/ /
ENV PATH=/usr/lib/go-$GO_PACKAGE_VERSION/bin:/bin:/usr/bin:/sbin:/usr/sbin
RUN echo "go=\$GO_VERSION llvm=\$LLVM_VERSION k8s=\$K8S_VERSION" > /etc/go-build-versions
COPY bench-run /etc/go-build/bench-run
CMD ["go", "version"]
DF
  printf 'golang:\n  version: 1.25.4\nllvm:\n  version: 18.1.8\nkubernetes:\n  version: 1.34.1\n' >"$ctx/versions.yaml"
  # bench.mjs writes bench-run per benchmark run; it is not part of the checkout
  printf 'bench-run\n' >"$ctx/.gitignore"
  # as most repositories have it: the build never sees the git directory
  printf '.git\n' >"$ctx/.dockerignore"
  say "committing the fixture to a git repository of its own" >&2
  git -C "$ctx" init -q
  git -C "$ctx" add -A
  git -C "$ctx" -c user.name=bench -c user.email=bench@localhost commit -q -m "go-build-sized benchmark fixture"
  du -sh "$ctx"/go-* "$ctx/src" >&2
  touch "$BENCH_FIXTURE_DIR/complete"
  echo "$ctx"
}

stop_pid() { # stop_pid NAME
  local f="$STATE_DIR/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $1 (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 80; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  fi
  rm -f "$f"
}

cmd_down() {
  stop_pid registry
  stop_pid registry-auth
  stop_pid dockerd
  stop_pid containerd
  say "down (registry data kept in $STATE_DIR; remove it for a fresh start)"
}

cmd_status() {
  local ok=0
  report() { if "${@:2}"; then say "ok       $1"; else say "missing  $1"; ok=1; fi; }
  report "docker engine" engine_running
  report "containerd image store" containerd_store
  report "buildx" buildx_present
  report "cosign" cosign_ok
  report "binfmt_misc mounted" binfmt_mounted
  local arch
  for arch in "${BASE_ARCHES[@]}"; do
    [ "$arch" = "$(host_oci_arch)" ] && continue
    report "binfmt handler qemu-$(qemu_name "$arch")" binfmt_has "$(qemu_name "$arch")"
  done
  report "registry 127.0.0.1:$E2E_REGISTRY_PORT" registry_up "$E2E_REGISTRY_PORT"
  report "registry 127.0.0.1:$E2E_AUTH_REGISTRY_PORT (htpasswd)" registry_up "$E2E_AUTH_REGISTRY_PORT"
  report "$BUSYBOX_IMAGE" image_present base/busybox
  report "$GOLANG_IMAGE" image_present base/golang
  report "$ARM_BUSYBOX_IMAGE" image_present test/busybox-arm
  report "$TEST_BINFMT_IMAGE" image_present test/binfmt
  # The hosted path may be unavailable on a machine that has neither ../shared/buildkit nor the internet; its
  # tests are then skipped (and counted as skipped), so it does not fail the status.
  if hosted_path_ok; then say "ok       hosted path: $BUILDKIT_IMAGE, buildx $HOSTED_BUILDX_VERSION"
  else say "skipped  hosted path: $(sed -n 's/.*"reason":"\(.*\)".*/\1/p' "$HOSTED_STATUS" 2>/dev/null || echo "not set up; run: $0 up")"; fi
  return $ok
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  bench-fixture) cmd_bench_fixture ;;
  *) echo "usage: $0 up|down|status|bench-fixture" >&2; exit 2 ;;
esac
