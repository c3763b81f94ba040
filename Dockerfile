# The test image: the binding's tests against the libmemcached of the base
# image's distribution.
#
#   docker build -t golibmc-test . && docker run --rm golibmc-test
#
# GO_VERSION follows go.mod's toolchain line; BASE can be any Debian/Ubuntu
# image with Go, make and a C compiler (e.g. --build-arg BASE=golang:1.26.8-trixie
# to test against trixie's libmemcached). make docker-test builds and runs it
# on Debian 11 bullseye (libmemcached 1.0.18), 12 bookworm and 13 trixie
# (libmemcached 1.1.4): see scripts/docker-test.sh.
ARG GO_VERSION=1.26.8
ARG BASE=golang:${GO_VERSION}-bookworm
FROM ${BASE}

WORKDIR /src
# The Debian packages come from the Makefile's one list (make deps), the
# same step make test runs first. A release that lacks one of its names gets
# its own package instead (DEB_FALLBACKS, name=fallback: Debian 11's gcc 10
# has the ASan runtime libasan6, not gcc 12's libasan8). The list used is
# kept in /etc/golibmc-deb-packages, for make test's own make deps.
ARG DEB_FALLBACKS="libasan8=libasan6"
COPY Makefile ./
RUN apt-get update -qq && \
    pkgs=" $(make -s --no-print-directory --eval 'deb-packages: ; @echo $(DEB_PACKAGES)' deb-packages) " && \
    for f in $DEB_FALLBACKS; do \
      apt-cache show "${f%%=*}" >/dev/null 2>&1 || pkgs=$(echo "$pkgs" | sed "s/ ${f%%=*} / ${f#*=} /"); \
    done && \
    echo $pkgs >/etc/golibmc-deb-packages && \
    make deps DEB_PACKAGES="$(cat /etc/golibmc-deb-packages)" && rm -rf /var/lib/apt/lists/*

# Modules first, so source edits keep this layer cached.
COPY go.mod go.sum ./
COPY otel/go.mod otel/go.sum ./otel/
COPY examples/prometheus/go.mod examples/prometheus/go.sum ./examples/prometheus/
RUN go mod download && (cd otel && go mod download) && (cd examples/prometheus && go mod download)

COPY . .
# A writable build cache for any user (docker run --user ...).
ENV GOCACHE=/tmp/go-build GOFLAGS=-buildvcs=false
RUN chmod -R a+rwX /src

# make test, as CI's .ci/run starts on the host (then make gomemcache, variants,
# leakcheck, poll-modes, and make docker-test, which runs this in each release's image).
CMD ["sh", "-c", "exec make test DEB_PACKAGES=\"$(cat /etc/golibmc-deb-packages)\""]
