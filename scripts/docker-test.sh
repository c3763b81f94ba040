#!/usr/bin/env bash
# docker-test.sh: build and run the real Dockerfile on this machine, making
# everything it needs (make docker-test):
#   1. a Docker engine: if `docker info` fails, install docker.io and start
#      dockerd in the background (stopped again at the end, by its pid);
#   2. the Dockerfile's base image golang:<go.mod toolchain>-bookworm: when no
#      registry can be reached, build it locally with debootstrap (Debian
#      bookworm, plus what the official golang image has: ca-certificates,
#      make, gcc, libc6-dev, pkg-config, git), this machine's /usr/local/go,
#      and this machine's CA bundle (so HTTPS from containers works behind a
#      TLS-inspecting proxy), then `docker import` it under that tag; skipped
#      when the tag exists;
#   3. docker build (no pull) and docker run --rm of the test image.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
GO_VERSION=$(sed -n 's/^toolchain go//p' go.mod)
[ -n "$GO_VERSION" ] || GO_VERSION=$(sed -n 's/^go //p' go.mod)
BASE="golang:${GO_VERSION}-bookworm"
IMAGE=${IMAGE:-golibmc-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
started_dockerd=""
work=""

cleanup() {
  [ -n "$work" ] && $SUDO rm -rf "$work"
  if [ -n "$started_dockerd" ]; then
    echo "docker-test: stopping the dockerd it started (pid $started_dockerd)"
    $SUDO kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 50); do $SUDO kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
  fi
}
trap cleanup EXIT

apt_install() {
  missing=""
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "docker-test: installing$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
}

# 1. An engine.
if ! docker info >/dev/null 2>&1; then
  apt_install docker.io iptables ca-certificates
  echo "docker-test: starting dockerd"
  log=$(mktemp /tmp/dockerd.XXXXXX.log)
  $SUDO dockerd >"$log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 150); do
    docker info >/dev/null 2>&1 && break
    if ! $SUDO kill -0 "$started_dockerd" 2>/dev/null; then
      echo "docker-test: dockerd exited; its log:" >&2; tail -20 "$log" >&2; started_dockerd=""; exit 1
    fi
    sleep 0.2
  done
  if ! err=$(docker info 2>&1 >/dev/null); then
    echo "docker-test: the Docker engine does not answer: $err" >&2; tail -20 "$log" >&2; exit 1
  fi
fi

# 2. The base image.
if docker image inspect "$BASE" >/dev/null 2>&1; then
  echo "docker-test: base image $BASE exists"
else
  echo "docker-test: building $BASE locally (debootstrap + /usr/local/go + the host CA bundle)"
  apt_install debootstrap
  [ -x /usr/local/go/bin/go ] || { echo "docker-test: /usr/local/go is missing" >&2; exit 1; }
  have=$(/usr/local/go/bin/go env GOVERSION)
  [ "$have" = "go$GO_VERSION" ] || echo "docker-test: warning: /usr/local/go is $have, go.mod asks for go$GO_VERSION" >&2
  work=$(mktemp -d /tmp/golibmc-rootfs.XXXXXX)
  $SUDO debootstrap --variant=minbase --include=ca-certificates,make,gcc,libc6-dev,pkg-config,git \
    bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
  $SUDO cp -a /usr/local/go "$work/root/usr/local/go"
  $SUDO cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  $SUDO mkdir -p "$work/root/go/bin" "$work/root/go/src" && $SUDO chmod -R 777 "$work/root/go"
  $SUDO rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/archives/"*.deb
  $SUDO tar -C "$work/root" -c . | docker import \
    --change 'ENV GOLANG_VERSION='"$GO_VERSION" \
    --change 'ENV GOPATH=/go' \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /go' \
    --change 'CMD ["bash"]' - "$BASE" >/dev/null
  echo "docker-test: imported $BASE"
fi

# 3. The real Dockerfile, unchanged.
start=$(date +%s)
DOCKER_BUILDKIT=0 docker build --pull=false -t "$IMAGE" .
docker run --rm "$IMAGE"
echo "docker-test: image $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')) built and tested in $(( $(date +%s) - start )) s"
