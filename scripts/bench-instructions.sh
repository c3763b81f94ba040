#!/usr/bin/env bash
# bench-instructions.sh OUT C_PROGRAM GOLIBMC_PROGRAM GOMEMCACHE_PROGRAM [FLOOR_PROGRAM] HOST:PORT
#
# The user-space instructions each client executes per call (per key for the
# multi-key phases), counted by valgrind's callgrind: a run of the phase with
# N2 units minus a run with N1, so that start-up and warm-up cancel out.
# Instructions do not depend on what else the machine is doing, so this is
# the one measure here that repeats to within a fraction of a percent; the
# kernel's part of a call (the system calls, about the same for every client
# with the same calls) is not in it. Writes a Markdown table to OUT.
#
# The Go programs run with GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1:
# valgrind 3.19 stops at RDTSCP (the runtime's cputicks) and trips over the
# preemption signals; neither changes what the client does per call.
set -euo pipefail
out=$1 c=$2 golibmc=$3 gomemcache=$4 floor= addr=$5
if [ $# -ge 6 ]; then floor=$5 addr=$6; fi # the cgo floor (bench/single/floor)
command -v valgrind >/dev/null || { echo "valgrind not installed: instructions not counted" >"$out"; exit 0; }

# count PROGRAM PHASE N [ENV...]: instructions of a run, the fewest of three.
# Under valgrind one thread runs at a time, so a runtime thread spinning
# while it waits for another (the GC's) can add instructions to a run; it
# never takes any away.
count() {
	local prog=$1 phase=$2 n=$3
	shift 3
	local log best=0 got c
	log=$(mktemp)
	for _ in 1 2 3 4 5; do
		if env GODEBUG=cpu.rdtscp=off,asyncpreemptoff=1 "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null \
			"$prog" "$addr" "warm-set:1000,$phase:$n" >/dev/null 2>"$log"; then
			c=$(grep -o 'Collected : [0-9]*' "$log" | grep -o '[0-9]*$' || true)
			if [ -n "$c" ]; then
				if [ "$best" = 0 ] || [ "$c" -lt "$best" ]; then best=$c; fi
				got=$((${got:-0} + 1))
				[ "$got" -ge 3 ] && break
			fi
		fi
	done
	rm -f "$log"
	echo "$best"
}

# per PROGRAM PHASE N1 N2 UNITS [ENV...]: instructions per unit (UNITS units per call).
per() {
	local prog=$1 phase=$2 n1=$3 n2=$4 units=$5
	shift 5
	local a b
	a=$(count "$prog" "$phase" "$n1" "$@")
	b=$(count "$prog" "$phase" "$n2" "$@")
	if [ "$a" = 0 ] || [ "$b" = 0 ]; then
		echo "-"
		return
	fi
	echo $(((b - a) / ((n2 - n1) * units)))
}

ratio() { if [ "$1" = - ] || [ "$2" = - ]; then echo -; else awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; fi; }

{
	echo "| per call (GetMulti: per key) | C loop | golibmc | ÷ C | golibmc with \`cas\` off | ÷ C | gomemcache | ÷ C | cgo floor | ÷ C |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for row in "Get:get:1000:6000:1" "Set:set:1000:6000:1" "GetMulti(100):getmulti:100:600:100" "GetMultiFunc(100):getmultifunc:100:600:100"; do
		IFS=: read -r name phase n1 n2 units <<<"$row"
		cphase=$phase
		[ "$phase" = getmultifunc ] && cphase=getmulti # the C loop's mget already discards the values
		cv=$(per "$c" "$cphase" "$n1" "$n2" "$units")
		gv=$(per "$golibmc" "$phase" "$n1" "$n2" "$units")
		nv=$(per "$golibmc" "$phase" "$n1" "$n2" "$units" BENCH_GOLIBMC_CAS=0)
		mv=-
		fv=-
		[ "$phase" != getmultifunc ] && mv=$(per "$gomemcache" "$phase" "$n1" "$n2" "$units")
		[ -n "$floor" ] && fv=$(per "$floor" "$phase" "$n1" "$n2" "$units")
		echo "| $name | $cv | $gv | $(ratio "$gv" "$cv") | $nv | $(ratio "$nv" "$cv") | $mv | $(ratio "$mv" "$cv") | $fv | $(ratio "$fv" "$cv") |"
	done
} >"$out"
cat "$out"
