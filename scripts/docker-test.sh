#!/usr/bin/env bash
# docker-test.sh: build and run the real Dockerfile on this machine, once per
# Debian release in DISTS (default: bullseye bookworm trixie), making
# everything it needs (make docker-test):
#   1. a Docker engine: if `docker info` fails, install docker.io and start
#      dockerd in the background (stopped again at the end, by its pid);
#   2. per release, the Dockerfile's base image golang:<go.mod toolchain>-<dist>:
#      when no registry can be reached, build it locally with debootstrap
#      (that release, plus what the official golang image has:
#      ca-certificates, make, gcc, libc6-dev, pkg-config, git), this
#      machine's /usr/local/go, and this machine's CA bundle (so HTTPS from
#      containers works behind a TLS-inspecting proxy), then `docker import`
#      it under that tag; skipped when the tag exists;
#   3. per release, docker build (no pull, --build-arg BASE=that base) of the
#      image $IMAGE:<dist>, whose `make deps` installs that release's own
#      libmemcached, memcached, pylibmc and PHP Memcached, and docker run --rm
#      of its `make test` (GOFLAGS gains -v only so that the tests run can be
#      counted; the full log is filtered to what is not a passing test's line);
#   4. a summary: per release, the libmemcached and memcached it tested, the
#      tests passed/skipped/failed and the build and test times. Any release
#      that fails makes the script fail, after the others have run.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
GO_VERSION=$(sed -n 's/^toolchain go//p' go.mod)
[ -n "$GO_VERSION" ] || GO_VERSION=$(sed -n 's/^go //p' go.mod)
DISTS=${DISTS:-bullseye bookworm trixie}
IMAGE=${IMAGE:-golibmc-test}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
started_dockerd=""
work=""
logs=""

cleanup() {
  [ -n "$work" ] && $SUDO rm -rf "$work"
  [ -n "$logs" ] && rm -rf "$logs"
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

# build_base DIST makes golang:$GO_VERSION-DIST unless it exists.
build_base() {
  local dist=$1 base="golang:${GO_VERSION}-$1"
  if docker image inspect "$base" >/dev/null 2>&1; then
    echo "docker-test: base image $base exists"
    return
  fi
  echo "docker-test: building $base locally (debootstrap $dist + /usr/local/go + the host CA bundle)"
  apt_install debootstrap
  [ -x /usr/local/go/bin/go ] || { echo "docker-test: /usr/local/go is missing" >&2; return 1; }
  local have
  have=$(/usr/local/go/bin/go env GOVERSION)
  [ "$have" = "go$GO_VERSION" ] || echo "docker-test: warning: /usr/local/go is $have, go.mod asks for go$GO_VERSION" >&2
  work=$(mktemp -d /tmp/golibmc-rootfs.XXXXXX)
  $SUDO debootstrap --variant=minbase --include=ca-certificates,make,gcc,libc6-dev,pkg-config,git \
    "$dist" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; return 1; }
  $SUDO cp -a /usr/local/go "$work/root/usr/local/go"
  $SUDO cp /etc/ssl/certs/ca-certificates.crt "$work/root/etc/ssl/certs/ca-certificates.crt"
  $SUDO mkdir -p "$work/root/go/bin" "$work/root/go/src" && $SUDO chmod -R 777 "$work/root/go"
  $SUDO rm -rf "$work/root/var/lib/apt/lists/"* "$work/root/var/cache/apt/archives/"*.deb
  $SUDO tar -C "$work/root" -c . | docker import \
    --change 'ENV GOLANG_VERSION='"$GO_VERSION" \
    --change 'ENV GOPATH=/go' \
    --change 'ENV PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'WORKDIR /go' \
    --change 'CMD ["bash"]' - "$base" >/dev/null || return 1
  $SUDO rm -rf "$work"
  work=""
  echo "docker-test: imported $base"
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

# 2-3. Per release: the base image, the real Dockerfile built on it, its tests.
start=$(date +%s)
logs=$(mktemp -d /tmp/golibmc-docker-test.XXXXXX)
summary=()
failures=()
failed=""
# What each image tests against, for the summary.
show_versions='echo "libmemcached $(pkg-config --modversion libmemcached), $(memcached -V),'\
' pylibmc $(python3 -c "import pylibmc; print(pylibmc.__version__)"), PHP memcached $(php -r "echo phpversion(\"memcached\");")"'
for dist in $DISTS; do
  echo "== docker-test: $dist"
  t0=$(date +%s)
  if ! build_base "$dist" || ! DOCKER_BUILDKIT=0 docker build --pull=false --build-arg "BASE=golang:${GO_VERSION}-$dist" \
      -t "$IMAGE:$dist" . >"$logs/$dist.build" 2>&1; then
    tail -40 "$logs/$dist.build" >&2 2>/dev/null || true
    summary+=("$(printf '%-9s image build FAILED after %d s' "$dist" $(( $(date +%s) - t0 )))")
    failed="$failed $dist"
    continue
  fi
  t1=$(date +%s)
  versions=$(docker run --rm "$IMAGE:$dist" sh -c "$show_versions" 2>/dev/null || echo "versions unknown")
  # The run's output as it comes, less the lines of tests that ran and passed.
  set +e
  docker run --rm -e GOFLAGS="-buildvcs=false -v" "$IMAGE:$dist" 2>&1 | tee "$logs/$dist.test" |
    grep --line-buffered -Ev '^ *(=== (RUN|PAUSE|CONT|NAME)|--- PASS)'
  rc=${PIPESTATUS[0]}
  set -e
  t2=$(date +%s)
  pass=$(grep -cE '^--- PASS' "$logs/$dist.test" || true)
  subpass=$(grep -cE '^ +--- PASS' "$logs/$dist.test" || true)
  skip=$(grep -cE '^ *--- SKIP' "$logs/$dist.test" || true)
  fail=$(grep -cE '^ *--- FAIL' "$logs/$dist.test" || true)
  [ "$rc" = 0 ] && [ "$fail" = 0 ] && [ "$pass" -gt 0 ] || failed="$failed $dist"
  # The failing tests by name, with what they printed, again at the end: the
  # other releases' output would otherwise push them out of a CI log's tail.
  # A run that failed without a failed test (a panic, a timeout, a build or
  # vet error) shows its last lines. (sed reads to the end: an early exit
  # like head's would fail the pipeline, and the script, under pipefail.)
  if [ "$fail" != 0 ]; then
    names=$(grep -E '^ *--- FAIL' "$logs/$dist.test" | awk '{print $3}' | tr '\n' ' ' || true)
    failures+=("== $dist: failed: $names")
    failures+=("$(grep -v -E '^ *(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP))' "$logs/$dist.test" |
      grep -E -B40 -A3 '^ *--- FAIL' | sed -n '1,200p' || true)")
  elif [ "$rc" != 0 ]; then
    failures+=("== $dist: exit $rc, no failed test; the run's last lines:")
    failures+=("$(grep -v -E '^ *(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP))' "$logs/$dist.test" | tail -n 60 || true)")
  fi
  summary+=("$(printf '%-9s %s: %s (%s tests and %s subtests passed, %s skipped, %s failed); image %d s, make test %d s' \
    "$dist" "$versions" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")" "$pass" "$subpass" "$skip" "$fail" \
    $(( t1 - t0 )) $(( t2 - t1 )))")
done

echo "== docker-test summary ($(( $(date +%s) - start )) s in all)"
printf '%s\n' "${summary[@]}"
if [ -n "$failed" ]; then
  [ ${#failures[@]} = 0 ] || printf '%s\n' "${failures[@]}"
  echo "docker-test: FAILED on:$failed" >&2
  exit 1
fi
echo "docker-test: all passed:" $DISTS
