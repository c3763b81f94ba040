#!/usr/bin/env bash
# gomemcache-suite.sh: run gomemcache's own tests against the memcache package.
#
# It takes memcache/*_test.go of the gomemcache version pinned in
# memcache/compat/go.mod from the module cache (go mod download), edits
# them with the sed list below (each edit must match, or the script stops;
# docs/gomemcache.md explains every one), and compiles them into the
# memcache package with go test -overlay, so nothing is written into the
# tree and the library's go.mod gains nothing (the files import only the
# standard library). memcached for TestLocalhost is started on a free
# loopback port by with-memcached.sh; the tests that start memcached
# themselves find a wrapper first in PATH that adds "-u root" when run as
# root (memcached refuses to run as root without -u).
#
# It prints each test's result and a summary, and exits 0 when every test
# passed except those in EXPECTED_FAIL, each of which must fail for its
# documented reason (the text after the '='). GO, and GOMEMCACHE_SUITE_FLAGS
# (extra go test flags), may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
GO=${GO:-go}
export PATH="/usr/local/go/bin:$PATH"

# TestTLS: libmemcached has no TLS, so the test's Client (with a TLS
# DialContext) must fail on its first call with the memcache package's
# error saying so.
EXPECTED_FAIL=("TestTLS=Client.DialContext is set, but libmemcached makes its own connections")

mod=github.com/bradfitz/gomemcache
ver=$(cd memcache/compat && "$GO" list -m -f '{{.Version}}' "$mod")
src=$(cd memcache/compat && "$GO" mod download -json "$mod@$ver" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src/memcache" ] || { echo "gomemcache-suite: $mod@$ver not found in the module cache" >&2; exit 1; }
echo "gomemcache-suite: $mod@$ver from $src"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
files=(memcache_test.go fakeserver_test.go fakecerts_test.go selector_test.go)
for f in "${files[@]}"; do
  cp "$src/memcache/$f" "$work/$f"
  chmod u+w "$work/$f"
done

# edit FILE SED-SCRIPT CHECK: apply the sed script, then require the
# extended regular expression CHECK to match in FILE (so an edit that no
# longer applies to a newer gomemcache stops the run).
edit() {
  sed -i -e "$2" "$work/$1"
  grep -Pq -- "$3" "$work/$1" || { echo "gomemcache-suite: edit of $1 did not apply: $2" >&2; exit 1; }
}
# 1. Tests of gomemcache's unexported connection code and response parser
#    (BenchmarkOnItem, BenchmarkScanGetResponseLine, TestScanGetResponseLine:
#    the end of the file) are out of scope; the two imports only they use go.
edit memcache_test.go '/^func BenchmarkOnItem(/,$d' '^func testTouchWithClient'
! grep -q 'scanGetResponseLine\|onItem\|getConn' "$work/memcache_test.go" || { echo "gomemcache-suite: unexported calls left" >&2; exit 1; }
edit memcache_test.go '/^\t"bufio"$/d; /^\t"io\/ioutil"$/d' '^\t"io"$'
! grep -Pq '^\t"(bufio|io/ioutil)"$' "$work/memcache_test.go" || { echo "gomemcache-suite: imports left" >&2; exit 1; }
# 2. TestLocalhost uses the memcached this script started, not one at :11211.
edit memcache_test.go 's|^const localhostTCPAddr = "localhost:11211"$|var localhostTCPAddr = os.Getenv("MEMCACHED_SERVER")|' \
  '^var localhostTCPAddr = os.Getenv\("MEMCACHED_SERVER"\)$'
# 3. The fake server: crlf is a variable of gomemcache's memcache.go.
echo 'var crlf = []byte("\r\n")' >> "$work/fakeserver_test.go"
# 4. The fake server accepts what memcached accepts and libmemcached sends:
#    "flush_all " with a space before its optional delay,
edit fakeserver_test.go 's|^\tcase "flush_all\\r\\n":$|\tcase "flush_all\\r\\n", "flush_all \\r\\n":|' \
  '^\tcase "flush_all\\r\\n", "flush_all \\r\\n":$'
#    a version number (libmemcached parses it),
edit fakeserver_test.go 's|"VERSION go-client-unit-test"|"VERSION 1.6.0 go-client-unit-test"|' '"VERSION 1\.6\.0 go-client-unit-test"'
#    and "quit", which closes the connection (libmemcached sends it when it
#    closes one; the fake server lists it but then panics).
edit fakeserver_test.go '/^\tcase "quit\\r\\n":$/{n;s|^\t\treturn false$|\t\tc.c.Close()\n\t\treturn true|}' \
  '^		c\.c\.Close\(\)$'

# Compile the edited files into the memcache package, under names of their own.
{
  echo '{"Replace": {'
  sep=""
  for f in "${files[@]}"; do
    printf '%s"%s": "%s"' "$sep" "$root/memcache/gomemcache_$f" "$work/$f"
    sep=$',\n'
  done
  echo '}}'
} > "$work/overlay.json"

# memcached as root needs -u.
mkdir "$work/bin"
real=$(command -v memcached) || { echo "gomemcache-suite: memcached not found (apt-get install memcached)" >&2; exit 1; }
if [ "$(id -u)" = 0 ]; then
  printf '#!/bin/sh\nexec %s -u root "$@"\n' "$real" > "$work/bin/memcached"
else
  printf '#!/bin/sh\nexec %s "$@"\n' "$real" > "$work/bin/memcached"
fi
chmod +x "$work/bin/memcached"

tests=$(grep -ho '^func Test[A-Za-z0-9_]*' "$work"/*_test.go | sed 's/^func //' | sort -u)
expected=" ${EXPECTED_FAIL[*]%%=*} "
pass=() fail=()
for t in $tests; do
  if [[ $expected == *" $t "* ]]; then fail+=("$t"); else pass+=("$t"); fi
done

# run NAME ARGS...: go test the memcache package with the edited files,
# against a fresh memcached (with-memcached.sh appends its address to the
# command; the tests read $MEMCACHED_SERVER instead, so it is dropped).
run() {
  local name=$1
  shift
  set +e
  # shellcheck disable=SC2016,SC2086
  PATH="$work/bin:$PATH" ./scripts/with-memcached.sh bash -c 'exec "${@:1:$#-1}"' _ \
    "$GO" test -race -count=1 -v -overlay "$work/overlay.json" "$@" ${GOMEMCACHE_SUITE_FLAGS:-} ./memcache \
    > "$work/$name.out" 2>&1
  local rc=$?
  set -e
  grep -E '^(--- (PASS|FAIL|SKIP)|Benchmark|ok|FAIL|PASS|panic)' "$work/$name.out" || true
  return $rc
}

status=0
pattern=$(IFS='|'; echo "${pass[*]}")
echo "gomemcache-suite: expected to pass: ${pass[*]} (and BenchmarkPickServer*)"
if ! run pass -run "^($pattern)\$" -bench '^BenchmarkPickServer' -benchtime 1000x; then
  echo "gomemcache-suite: FAILED; full output:" >&2
  cat "$work/pass.out" >&2
  status=1
fi
for e in "${EXPECTED_FAIL[@]}"; do
  t=${e%%=*} reason=${e#*=}
  echo "gomemcache-suite: expected to fail: $t ($reason)"
  if run "$t" -run "^$t\$" || ! grep -q "^--- FAIL: $t " "$work/$t.out" || ! grep -qF "$reason" "$work/$t.out"; then
    echo "gomemcache-suite: $t did not fail for its documented reason; full output:" >&2
    cat "$work/$t.out" >&2
    status=1
  else
    grep -F "$reason" "$work/$t.out" | head -1 | sed 's/^[[:space:]]*/  /'
  fi
done
if [ "$status" = 0 ]; then
  echo "gomemcache-suite: ok ($mod@$ver): ${pass[*]} passed; ${EXPECTED_FAIL[*]%%=*} failed as documented"
fi
exit $status
