#!/usr/bin/env bash
# bench-ab.sh BASE OUT: the single-goroutine benchmarks (Get, Set, GetMulti(100))
# of commit BASE and of the working tree, built side by side and run
# alternately ROUNDS times, compared with benchstat into OUT.
set -euo pipefail
base=$1 out=$2
rounds=${ROUNDS:-8}
go=${GO:-go}
tmp=$(mktemp -d)
cleanup() { git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
git worktree add --detach "$tmp/base" "$base" >/dev/null
(cd "$tmp/base" && $go test -c -o "$tmp/base.test" .)
$go test -c -o "$tmp/head.test" .
for i in $(seq 1 "$rounds"); do
  for v in base head; do
    "$tmp/$v.test" -test.run '^$' -test.bench '^Benchmark(Get100|Set100|GetMulti/100)$' -test.benchtime 5000x \
      | grep '^Benchmark' >> "$tmp/$v.txt"
  done
done
$go run "${BENCHSTAT:?}" base="$tmp/base.txt" head="$tmp/head.txt" > "$out"
cat "$out"
