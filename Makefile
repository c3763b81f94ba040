# golibmc: make test (C warnings + vet + race tests), make demo, make generate.
# Every target installs what it needs (Debian/Ubuntu, apt-get; sudo when not root).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
export PATH := /usr/local/go/bin:$(PATH)
export CGO_ENABLED := 1
GO ?= go

# The one list of Debian packages the tests, the demo and the Docker image need.
DEB_PACKAGES := gcc libc6-dev libasan8 make pkg-config libmemcached-dev libssl-dev memcached libmemcached-tools \
	python3 python3-pylibmc php-cli php-memcached sasl2-bin libsasl2-modules nutcracker

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: deps test cwarn otel vet variants poll-modes gomemcache demo generate hash-vectors bench bench-check startup startup-c soak leakcheck fuzz fuzz-replies fuzz-seeds docker-test

## deps: install the missing Debian packages (apt-get update only if needed).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v $(GO) >/dev/null || { echo "Go not found: install Go (see go.mod) into /usr/local/go"; exit 1; }

## test: the C files' warnings, go vet, the race-enabled test suite against real
## memcached servers, the otel module's, and a short fuzz run.
test: deps cwarn vet
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory otel
	$(MAKE) --no-print-directory fuzz FUZZTIME=$(TEST_FUZZ)

## otel: the OpenTelemetry module (its own go.mod): vet and race tests on the real
## SDK against real memcached servers; then the Prometheus example is vetted and built.
otel: deps
	cd otel && $(GO) vet ./... && $(GO) test -race -count=1 ./...
	cd examples/prometheus && $(GO) vet ./... && $(GO) build -o /dev/null .

## bench-check: the benchmark harness's own tests (parsing strace and perf, the
## tables, which targets count as met), vetted; no server, no timing. CI runs it.
bench-check:
	cd bench && $(GO) vet ./... && $(GO) test -count=1 ./...

FUZZTIME ?= 60s
## make test's fuzz run is a count of inputs, not a time: with a time, Go 1.26's
## fuzz coordinator can fail the run with "context deadline exceeded" as the time
## ends, with no failing input (golang/go#75804, fixed in Go 1.27). 40,000 inputs
## take 20-45 s on this 2-CPU machine. A time (make fuzz FUZZTIME=5m) can meet the same race.
TEST_FUZZ ?= 40000x
## fuzz: round-trip arbitrary keys and values through a real server.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) .

REPLY_FUZZERS := FuzzTextReplies FuzzBinaryReplies FuzzTextStoreReplies FuzzBinaryStoreReplies
FUZZ_FLAGS ?= -asan
## fuzz-replies: each reply-grammar fuzzer (a fake server's replies to reads and
## stores, both protocols, held to an oracle of memcached's grammar) for $(FUZZTIME),
## under AddressSanitizer ($(FUZZ_FLAGS)); e.g. make fuzz-replies FUZZTIME=10m.
## A finding is written to testdata/fuzz/<target>/ and fails the run. A reply may make
## the client allocate room for the value its header announces (up to 1 GiB) before it comes;
## should that fail, here the allocator returns NULL instead of aborting, as glibc does,
## and the fuzzer looks further (make leakcheck keeps ASan's default).
## Minimizing an input runs it over and over, and one cut short waits out its call's
## deadline each time: FUZZ_MINIMIZE bounds that (go test's default is a minute per input).
## Go before 1.27 may fail a target whose time ran out with a bare "context deadline
## exceeded" and no input (golang/go#75804, a race in its coordinator): that is reported
## and the next target runs; any other failure stops the run.
FUZZ_MINIMIZE ?= 10s
fuzz-replies: deps
	@log=$$(mktemp); trap 'rm -f "$$log" "$$log.rc"' EXIT; \
	for f in $(REPLY_FUZZERS); do \
	  echo "== $$f"; \
	  { ASAN_OPTIONS=allocator_may_return_null=1 $(GO) test $(FUZZ_FLAGS) -run '^$$' -fuzz "^$$f\$$" \
	      -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZ_MINIMIZE) . 2>&1; echo $$? > "$$log.rc"; } | tee "$$log"; \
	  [ "$$(cat "$$log.rc")" = 0 ] && continue; \
	  if grep -q "^--- FAIL: $$f " "$$log" && [ "$$(grep -c '^    ' "$$log")" = 1 ] && \
	     grep -qx "    context deadline exceeded" "$$log"; then \
	    echo "== $$f: its time ran out (golang/go#75804), no input failed"; continue; \
	  fi; \
	  exit 1; \
	done

## fuzz-seeds: rewrite the reply fuzzers' seed corpora (testdata/fuzz/*/seed-*)
## from replyseeds_test.go.
fuzz-seeds:
	GOLIBMC_WRITE_SEEDS=1 $(GO) test -count=1 -run '^TestReplySeeds$$' .

SOAK ?= 2m
SM_STEPS ?= 50000
## soak: 16 goroutines of mixed operations for $(SOAK) while a server is killed every 20 s,
## then the state-machine test with $(SM_STEPS) steps per goroutine and configuration.
soak: deps
	GOLIBMC_SOAK=$(SOAK) $(GO) test -race -count=1 -timeout 30m -run '^TestSoak$$' -v .
	GOLIBMC_SM_STEPS=$(SM_STEPS) $(GO) test -race -count=1 -timeout 30m -run '^TestStateMachine$$' -v .

LEAK_TESTS := TestSetGet|TestBinaryValues|TestGetMulti$$|TestSetMulti|TestAddMulti|TestIncrementDecrement|TestTouchAndExpiry|TestStatsVersionPing|TestBehaviorErrors|TestClose$$|TestValueRoundTrip|TestValueFlagsAndCorruption|TestHungServer|TestServerKilledWithoutEject|TestNewFromConfig|TestSASL|TestResponsesStayInStep|TestConcurrentMixedOperations|TestMalformedKeys|TestStateMachine|TestFakeServerNeverWrongKey|TestBatch|TestLongStoreReplies|TestNoDescriptorLeak|TestBinaryStatusSweep|TestStaleServerErrorNotReported|TestServerBackUsedAgain|TestReplySweep|FuzzTextReplies|FuzzBinaryReplies|FuzzTextStoreReplies|FuzzBinaryStoreReplies
## leakcheck: the core operations under AddressSanitizer + LeakSanitizer (go test -asan).
## A leak prints "ERROR: LeakSanitizer: detected memory leaks" with the allocating
## stacks and fails the run; a clean run ends with "ok".
leakcheck: deps
	ASAN_OPTIONS=detect_leaks=1 $(GO) test -asan -count=1 -run '$(LEAK_TESTS)' .

## poll-modes: the whole suite and the leak check again with the netpoller policy
## forced to always and to never (GOLIBMC_POLL_MODE; the default runs use auto),
## then the suite with implicit pipelining off by default (GOLIBMC_BATCHING=off).
poll-modes: deps
	for m in always never; do \
	  echo "== GOLIBMC_POLL_MODE=$$m"; \
	  GOLIBMC_POLL_MODE=$$m $(GO) test -race -count=1 . || exit 1; \
	  GOLIBMC_POLL_MODE=$$m ASAN_OPTIONS=detect_leaks=1 $(GO) test -asan -count=1 -run '$(LEAK_TESTS)' . || exit 1; \
	done
	echo "== GOLIBMC_BATCHING=off"
	GOLIBMC_BATCHING=off $(GO) test -race -count=1 ./...

## gomemcache: the memcache package against gomemcache itself: gomemcache's own tests
## (scripts/gomemcache-suite.sh), then memcache/compat (API, landing, interleaving, switchover).
gomemcache: deps
	./scripts/gomemcache-suite.sh
	cd memcache/compat && $(GO) vet ./... && $(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

# A libmemcached 1.0.18 source tree (e.g. its release tarball unpacked): when set,
# make cwarn also compiles the C files against its headers.
LIBMEMCACHED_1018_SRC ?=
## cwarn: compile every .c file of the package as cgo does (pkg-config libmemcached,
## CGO_CFLAGS) with -Wall -Wextra -Wmissing-prototypes as errors (scripts/cwarn.sh);
## with LIBMEMCACHED_1018_SRC, against libmemcached 1.0.18's headers too.
cwarn: deps
	LIBMEMCACHED_1018_SRC="$(LIBMEMCACHED_1018_SRC)" GO=$(GO) ./scripts/cwarn.sh

## variants: the builds CI checks besides the default one: a program importing the
## package compiles with CGO_ENABLED=0 (and New says why it cannot work); the
## libmemcached_nopkgconfig tag links and runs; the suite passes with cgocheck2,
## which checks every Go pointer passed to C.
variants: deps
	CGO_ENABLED=0 $(GO) build -o /dev/null ./examples/quickstart
	CGO_ENABLED=0 $(GO) run ./testdata/nocgo
	$(GO) test -count=1 -tags libmemcached_nopkgconfig -run '^(TestLinkInfo|TestSetGet|TestGetMulti)$$' .
	GOEXPERIMENT=cgocheck2 $(GO) test -count=1 .

## demo: start a memcached on a free port, run examples/quickstart, stop it.
demo: deps
	$(GO) build -o examples/quickstart/quickstart ./examples/quickstart
	./scripts/with-memcached.sh ./examples/quickstart/quickstart

## generate: regenerate constants_gen.go from the installed headers.
generate: deps
	$(GO) generate ./...

## hash-vectors: regenerate testdata/hash_vectors.tsv with libmemcached's own hash functions.
hash-vectors: deps
	cc -O2 -o testdata/hashgen/hashgen testdata/hashgen/hashgen.c $$(pkg-config --cflags --libs libmemcached)
	./testdata/hashgen/hashgen > testdata/hash_vectors.tsv
	rm -f testdata/hashgen/hashgen

BENCHSTAT := golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
BENCH_COUNT ?= 5
# The commit before implicit pipelining and netpoller waits: the single-goroutine
# benchmarks are compared with it.
BENCH_BASE ?= 371bb19

# What make bench needs beyond deps: strace for the syscall counts, and perf
# (linux-perf) to count them again without slowing the programs (optional).
BENCH_DEB := strace linux-perf valgrind
# Rounds of the pinned runs (memcached and the client on the same CPU, then on
# different CPUs); 0 skips them.
BENCH_PLACEMENT ?= 3
BENCH_BIN := bench/results/bin
# How long, in all, the single-goroutine runs and then the many-goroutines cells
# may each wait for other processes to leave the machine idle.
BENCH_QUIET ?= 90s

## bench: golibmc vs the C loop over libmemcached vs gomemcache on one local memcached; writes BENCHMARKS.md.
## The single-goroutine rows come from bench/single (each client a separate process, alternating,
## per-phase getrusage, strace/perf syscall counts); the many-goroutines cells from bench/compare.
bench: deps
	@missing=""; for p in $(BENCH_DEB); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends strace valgrind >/dev/null && \
	  { DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends linux-perf >/dev/null || \
	    echo "linux-perf not installed: syscalls counted with strace only"; }; \
	fi
	mkdir -p $(BENCH_BIN)
	cc -O2 -Wall -o $(BENCH_BIN)/single-c bench/single/c/single.c $$(pkg-config --cflags --libs libmemcached) -lpthread
	cd bench && $(GO) build -o results/bin/single-golibmc ./single/golibmc && \
		$(GO) build -o results/bin/single-gomemcache ./single/gomemcache && \
		$(GO) build -tags memcachepkg -o results/bin/single-memcache ./single/gomemcache && \
		$(GO) build -o results/bin/single-floor ./single/floor && \
		$(GO) build -o results/bin/driver ./single/driver && $(GO) build -o results/bin/compare ./compare
	cd bench && ./results/bin/driver -rounds $(BENCH_COUNT) -placement $(BENCH_PLACEMENT) -quiet $(BENCH_QUIET) \
		-c results/bin/single-c -golibmc results/bin/single-golibmc -gomemcache results/bin/single-gomemcache \
		-memcache results/bin/single-memcache -floor results/bin/single-floor -json results/single.json -md results/single.md
	./scripts/with-memcached.sh ./scripts/bench-instructions.sh bench/results/instructions.md $(BENCH_BIN)/single-c $(BENCH_BIN)/single-golibmc $(BENCH_BIN)/single-gomemcache $(BENCH_BIN)/single-floor
	$(MAKE) --no-print-directory startup-c
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) . | tee bench/results/go-bench.txt
	$(GO) run $(BENCHSTAT) bench/results/go-bench.txt > bench/results/benchstat.txt || echo "benchstat unavailable" > bench/results/benchstat.txt
	GOLIBMC_MEMCHECK=1 $(GO) test -count=1 -run '^TestMemoryFlat$$' -v . | tee bench/results/memcheck.txt
	BENCHSTAT=$(BENCHSTAT) GO=$(GO) ./scripts/bench-ab.sh $(BENCH_BASE) bench/results/ab.txt || echo "not measured" > bench/results/ab.txt
	cd bench && ../scripts/with-memcached.sh ./results/bin/compare -single results/single.json -reps $(BENCH_COUNT) -quiet $(BENCH_QUIET) -out ../BENCHMARKS.md \
		-gobench results/go-bench.txt -instructions results/instructions.md -memcheck results/memcheck.txt -benchstat results/benchstat.txt -ab results/ab.txt \
		-cstartup results/cstartup.txt

## startup-c: the C reference for start-up (bench/cstartup: memcached_create, one server push and
## one behavior set, 10 and 100 servers), into bench/results/cstartup.txt.
startup-c: deps
	mkdir -p bench/results
	cc -O2 -Wall -o bench/results/cstartup bench/cstartup/cstartup.c $$(pkg-config --cflags --libs libmemcached)
	{ bench/results/cstartup 10 201 && bench/results/cstartup 100 51; } | tee bench/results/cstartup.txt

## startup: start-up alone: the C reference, then BenchmarkNew (New with 10 and 100 servers, pools of 8 and 64).
startup: startup-c
	$(GO) test -run '^$$' -bench '^BenchmarkNew$$' -benchmem -count $(BENCH_COUNT) . | tee bench/results/startup-bench.txt

DISTS ?= bullseye bookworm trixie
## docker-test: build the Dockerfile on each Debian release of $(DISTS) (11: libmemcached
## 1.0.18; 12 and 13: 1.1.4) and run its tests there, making an engine and the base
## images when none can be pulled (see scripts/docker-test.sh); e.g. make docker-test DISTS=bullseye.
docker-test:
	DISTS="$(DISTS)" ./scripts/docker-test.sh
