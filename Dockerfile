# The test image: the binding's tests against the libmemcached of the base
# image's distribution.
#
#   docker build -t golibmc-test . && docker run --rm golibmc-test
#
# GO_VERSION follows go.mod's toolchain line; BASE can be any Debian/Ubuntu
# image with Go, make and a C compiler (e.g. --build-arg BASE=golang:1.26.8-trixie
# to test against trixie's libmemcached).
ARG GO_VERSION=1.26.8
ARG BASE=golang:${GO_VERSION}-bookworm
FROM ${BASE}

WORKDIR /src
# The Debian packages come from the Makefile's one list (make deps), the
# same step make test runs first.
COPY Makefile ./
RUN make deps && rm -rf /var/lib/apt/lists/*

# Modules first, so source edits keep this layer cached.
COPY go.mod go.sum ./
RUN go mod download

COPY . .
# A writable build cache for any user (docker run --user ...).
ENV GOCACHE=/tmp/go-build GOFLAGS=-buildvcs=false
RUN chmod -R a+rwX /src

# What CI runs first (.ci/run: make test, then make leakcheck and make docker-test).
CMD ["make", "test"]
