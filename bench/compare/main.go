// Command compare writes BENCHMARKS.md: the single-goroutine rows measured
// by bench/single's driver (each client a separate process, alternating,
// per-phase getrusage; read from its JSON with -single), the
// many-goroutines cells it runs itself against memcached (conc.go), and the
// library's own go test -bench allocations, before/after comparison and
// memory check.
//
//	compare -single results/single.json -out ../BENCHMARKS.md HOST:PORT
//
// make bench (in the repository root) builds and runs everything.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	golibmc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/bench/internal/single"
	"github.com/golibmc/libmemcached/internal/stats"
)

// sample is one timed run: units of work, wall time and this process's CPU.
type sample struct {
	units int64
	wall  time.Duration
	cpu   time.Duration
}

func (s sample) perSec() float64     { return float64(s.units) / s.wall.Seconds() }
func (s sample) cpuPerUnit() float64 { return float64(s.cpu.Nanoseconds()) / float64(s.units) }

// cpuTime is this process's user + system time (every thread).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var value100 = bytes.Repeat([]byte("v"), 100)

// median is the shared stats.Median.
var median = stats.Median

func main() {
	addr := flag.String("addr", os.Getenv("MEMCACHED_SERVER"), "memcached host:port")
	singleJSON := flag.String("single", "", "bench/single's results (driver -json): the single-goroutine rows")
	reps := flag.Int("reps", 5, "repetitions of every many-goroutines cell")
	out := flag.String("out", "../BENCHMARKS.md", "report to write")
	gobench := flag.String("gobench", "", "output of go test -bench -benchmem (allocations section)")
	memcheck := flag.String("memcheck", "", "output of TestMemoryFlat -v (memory section)")
	benchstat := flag.String("benchstat", "", "benchstat summary of the go test -bench output")
	ab := flag.String("ab", "", "benchstat comparison of single-goroutine benchmarks before and after implicit pipelining")
	cstartup := flag.String("cstartup", "", "output of bench/cstartup (start-up section, with -gobench's BenchmarkNew)")
	slice := flag.Duration("slice", 400*time.Millisecond, "how long each many-goroutines cell runs per client and repetition")
	conc := flag.Bool("conc", true, "run the many-goroutines cells")
	flag.DurationVar(&quietBudget, "quiet", time.Minute, "how long in all to wait, before the cells, for the machine to be idle")
	flag.StringVar(&cellFilter, "cells", "", "run only the many-goroutines cells whose name contains this (development)")
	flag.StringVar(&instructionsFile, "instructions", "", "scripts/bench-instructions.sh's table (instructions per call)")
	flag.Parse()
	log.SetFlags(0)
	if *addr == "" && flag.NArg() > 0 {
		*addr = flag.Arg(0) // scripts/with-memcached.sh appends the address
	}
	if *addr == "" {
		log.Fatal("compare: -addr (or MEMCACHED_SERVER) is required")
	}
	var sr *single.Result
	if *singleJSON != "" {
		var err error
		if sr, err = single.Load(*singleJSON); err != nil {
			log.Fatal(err)
		}
	}
	var concReport string
	var targets []target
	if *conc {
		cr, _ := runCells(*addr, *reps, *slice)
		concReport, targets = renderConc(cr, *reps, *slice)
		or, ot := renderObservers(runObserverCells(*addr, *reps, *slice), *reps, *slice)
		concReport += or
		targets = append(targets, ot...)
	}
	report := render(sr, *reps, *addr, concReport, targets)
	report += singleAB(*ab)
	report += allocations(*gobench)
	report += startup(*gobench, *cstartup)
	report += memory(*memcheck)
	if *benchstat != "" {
		if b, err := os.ReadFile(*benchstat); err == nil && len(b) > 0 {
			report += "\n## go test -bench, summarised by benchstat\n\n```\n" + string(b) + "```\n"
		}
	}
	if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(report)
}

func render(sr *single.Result, reps int, addr, concReport string, concTargets []target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` on %s against memcached on loopback (%s). CPU is each client's own "+
		"user + system time (getrusage), so it is what the client itself costs; the server's CPU is not counted. "+
		"The machine is a shared 2-vCPU VM: compare ratios measured in the same run, not absolute numbers across runs, "+
		"and read the ranges (see Notes).\n\n", time.Now().UTC().Format("2006-01-02"), addr)
	fmt.Fprintf(&b, "## Setup\n\n%s\n", environment())
	if sr != nil {
		fmt.Fprintf(&b, "## One goroutine: each client in its own process\n\n")
		fmt.Fprintf(&b, "`bench/single`: five programs (the C loop over libmemcached, golibmc, gomemcache, the memcache "+
			"package, the cgo floor) each run the same phases from one goroutine or thread, one after another, against the same memcached: "+
			"20,000 Sets and 20,000 Gets of 100 B values over 1,000 keys, 2,000 GetMulti of 100 keys, then the other rows (the cgo floor: Set, Get, GetMulti and GetMultiFunc only). "+
			"Each program reads its own CPU (getrusage RUSAGE_SELF, every thread) around each phase, after a short warm-up. "+
			"The driver runs them as separate processes, %d rounds, in a rotated order; the tables show medians, and "+
			"[a–b] is the range of the ratio measured within each round.\n\n", sr.Rounds)
		if l := sr.LoadLine(); l != "" {
			b.WriteString(l + "\n")
		}
		b.WriteString(sr.Headline())
		b.WriteString("\n### Every workload (medians)\n\n")
		b.WriteString(sr.Full())
		if t := sr.SyscallTable(); t != "" {
			b.WriteString("\n### System calls per call (one goroutine, one key)\n\n")
			b.WriteString("Counted over N calls minus a run with the same setup and no calls, medians of three. " +
				"`strace -c -f` sees every syscall but stops the program at each one, so the program runs several times " +
				"slower and the Go runtime's scheduler does more (see Notes); perf counts the kernel's syscall tracepoints " +
				"at nearly full speed.\n\n")
			b.WriteString(t)
		}
		if t := instructions(instructionsFile); t != "" {
			b.WriteString("\n### Instructions per call (callgrind, user space)\n\n")
			b.WriteString("What each client executes in user space per call (per key for GetMulti), counted by valgrind's " +
				"callgrind over a run of N calls minus a run of fewer (scripts/bench-instructions.sh): the measure here that " +
				"moves least with the machine's load. The kernel's part (the system calls above, about the same for every " +
				"client making the same calls) is not in it. golibmc asks `gets` by default (its `cas` behavior is on, so " +
				"that Get fills CasID), the C loop and gomemcache's Get `get`; the column with `cas` off is golibmc sending " +
				"the C loop's requests. What still moves: the Go programs run about 50 times slower under valgrind, so " +
				"what they do by the clock comes more often per call (golibmc yields its P every 2 ms of calls: about " +
				"every 13 Gets under valgrind, every 50-100 at full speed, about 200 instructions per Get more than at " +
				"full speed), and gomemcache's counts, which include its garbage collector's and netpoller's work, " +
				"differ by up to 20% from run to run; golibmc's `gets` parse one more number per item, whose length " +
				"grows with memcached's CAS counter. The cgo floor is bench/single/floor (see Notes).\n\n")
			b.WriteString(t)
		}
		if t := sr.PlacementTable(); t != "" {
			b.WriteString("\n### Where the scheduler puts the two ends\n\n")
			b.WriteString("The same Set, Get, GetMulti and GetMultiFunc phases (fewer calls) with a memcached pinned to one CPU and each program pinned to " +
				"the same CPU or to the other one (Go programs pinned to one CPU run with GOMAXPROCS=1); medians.\n\n")
			b.WriteString(t)
		}
	} else {
		b.WriteString("## One goroutine\n\nnot measured (no -single results)\n")
	}
	b.WriteString(concReport)
	fmt.Fprintf(&b, "\n## Targets\n\n| target | measured | |\n|---|---|---|\n")
	check := func(name, measured string, ok bool) {
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, measured, mark)
	}
	for _, t := range singleTargets(sr) {
		check(t.name, t.measured, t.ok)
	}
	for _, t := range concTargets {
		check(t.name, t.measured, t.ok)
	}
	fmt.Fprintf(&b, "\n## Notes\n\n%s", notes)
	return b.String()
}

// singleTargets are the targets read from bench/single's results.
func singleTargets(sr *single.Result) []target {
	if sr == nil {
		return nil
	}
	var ts []target
	add := func(name, measured string, ok bool) { ts = append(ts, target{name, measured, ok}) }
	// A ratio to the C loop is met only where it holds unpinned (the median
	// of the rounds) and in every pinned placement: unpinned, where the
	// scheduler puts each process moves the C loop's own cost by half, so a
	// lucky or unlucky run alone does not decide.
	toC := func(name, phase string, cpu bool, ok func(float64) bool) {
		r := sr.RatioToC(single.Golibmc, phase, cpu)
		m, met := fmt.Sprintf("%.2f×", r), ok(r)
		names, pinned := sr.PlacementRatios(single.Golibmc, phase, cpu)
		for i, v := range pinned {
			sep := ", "
			if i == 0 {
				sep = " (pinned: "
			}
			m += fmt.Sprintf("%s%s %.2f×", sep, names[i], v)
			met = met && ok(v)
		}
		if len(pinned) > 0 {
			m += ")"
		}
		add(name, m, met)
	}
	for _, w := range []struct{ phase, name string }{{"get", "Get"}, {"set", "Set"}} {
		toC(fmt.Sprintf("client CPU per %s, one goroutine, ≤ 1.05× the C loop", w.name), w.phase, true,
			func(r float64) bool { return r <= 1.05 })
	}
	for _, w := range []struct{ phase, name string }{{"get1", "Get"}, {"set1", "Set"}} {
		var st, pf *single.Syscalls
		for i, s := range sr.Syscalls {
			if s.Program == single.Golibmc && s.Phase == w.phase {
				if strings.HasPrefix(s.Tool, "strace") {
					st = &sr.Syscalls[i]
				} else {
					pf = &sr.Syscalls[i]
				}
			}
		}
		name := fmt.Sprintf("syscalls per single-goroutine %s (strace -c -f, 20,000 calls) ≤ 3", w.name)
		if st == nil {
			add(name, "not measured", false)
			continue
		}
		m := fmt.Sprintf("%.2f", st.Total)
		if pf != nil {
			m += fmt.Sprintf(" (perf: %.2f)", pf.Total)
		}
		add(name, m, st.Total <= 3)
	}
	toC("GetMulti(100) keys/s ≥ 0.90× the C loop", "getmulti", false, func(r float64) bool { return r >= 0.90 })
	l, g := sr.Stat(single.Golibmc, "getmulti"), sr.Stat(single.Gomemcache, "getmulti")
	add("GetMulti(100) keys/s ≥ 1.6× gomemcache", fmt.Sprintf("%.2f×", l.PerSec/g.PerSec), l.PerSec/g.PerSec >= 1.6)
	if sr.Has(single.Golibmc, "getmultifunc") {
		toC("GetMultiFunc(100) keys/s ≥ 0.95× the C loop", "getmultifunc", false, func(r float64) bool { return r >= 0.95 })
		a := sr.Stat(single.Golibmc, "getmultifunc").AllocsPerUnit
		add("GetMultiFunc(100) heap allocations per key ≤ 0.05", fmt.Sprintf("%.3f", a), a <= 0.05)
	} else {
		add("GetMultiFunc(100) keys/s ≥ 0.95× the C loop; ≤ 0.05 allocations per key", "not measured: golibmc has no GetMultiFunc", false)
	}
	for _, who := range []string{single.Golibmc, single.Memcache} {
		if !sr.Has(who, "get") {
			continue
		}
		r := sr.Stat(who, "get").PerSec / sr.Stat(single.Gomemcache, "get").PerSec
		add(fmt.Sprintf("%s: one goroutine's Get ≥ 1.5× gomemcache (ops/s)", who), fmt.Sprintf("%.2f×", r), r >= 1.5)
	}
	sm := sr.Stat(single.Golibmc, "setmulti1000").PerSec / sr.Stat(single.Golibmc, "set1000seq").PerSec
	add("SetMulti(1000 × 100 B) ≥ 5× 1000 sequential Set", fmt.Sprintf("%.1f×", sm), sm >= 5)
	return ts
}

// instructionsFile is scripts/bench-instructions.sh's table (-instructions).
var instructionsFile string

// instructions returns the table in file, or "" when there is none.
func instructions(file string) string {
	if file == "" {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil || !strings.HasPrefix(string(b), "|") {
		return ""
	}
	return string(b)
}

// notes explain how the numbers above are measured and what they show.
const notes = `- **One goroutine: separate processes, per-phase CPU, the C loop as libmemcached's users write it.**
  Each client runs in its own process (bench/single), the processes alternate, and each reads its own
  CPU (getrusage RUSAGE_SELF, every thread) around each phase, so every client is measured the same
  way, its runtime's own threads included. The C loop is what a C program does: memcached_get
  (freeing the value it returns) and memcached_set with MEMCACHED_BEHAVIOR_TCP_NODELAY on, and
  memcached_mget + memcached_fetch_result into one reused memcached_result_st for GetMulti. It is the
  baseline a binding is measured against; its numbers are as good as any client's here.
- **Why single calls need ranges and the placement table.** On this 2-vCPU VM most of a round trip's
  client CPU is the kernel putting the thread to sleep and waking it (context switches and wakeups,
  over half of the C loop's profile). With memcached and the client on the same vCPU the C loop costs
  about 10 µs per Get; on different vCPUs, where every request and reply wakes the other vCPU, 22-33 µs
  (the placement table measures both for every client). Unpinned, each process lands in one state or
  the other, or between, and can change between phases; within one state golibmc has cost 1.2-1.6× the
  C loop's CPU per Get, but across states a round's ratio ranged from 0.56× to 1.63×. An earlier
  version of this file, which measured the Go clients inside bench/compare and the C loop in a fresh
  process per workload with no spread reported, published 0.76× (C loop: 35 µs per Get, 0.41 µs per
  GetMulti key: the different-vCPU state's numbers) and GetMulti at 1.03×. With placement pinned, that
  old program and bench/single agree (golibmc 13.5-14.4 against 13.9-14.2 µs per Get): measuring
  inside one process, GC, warm-up, memcached_get's allocation and the order of runs moved nothing
  measurable; the state did. Read the medians with their ranges, and the pinned rows for changes of
  a few percent. So the Targets table counts a ratio to the C loop as met only when the unpinned
  median and both pinned placements meet it (GetMultiFunc's pinned runs too, against the C loop's
  GetMulti): one run's unpinned GetMulti came out at 1.02× the C loop because the C loop's own GetMulti ran at 0.73 M
  keys/s there against 1.04-1.15 M in the runs around it, while pinned golibmc made 0.61× and 0.75×.
- **The cgo floor: the C loop's calls made from Go, and what golibmc adds.** bench/single/floor makes
  the C loop's own libmemcached calls (memcached_get, memcached_set, memcached_mget +
  memcached_fetch_result) through one bare cgo call each, copies the value into Go memory (GetMulti:
  one allocation for all the values; its GetMultiFunc lends each value from its buffer), yields the
  processor every 2 ms as golibmc does, and does nothing else: no reply check, no pool, no deadline,
  no batching, not safe for concurrent use. It is a measuring stick, not a client, and not the
  cheapest binding imaginable (one that fetched into a reused result instead of memcached_get's
  malloc, and copied once, would save a little), but it makes the C loop's calls. The C loop to the
  floor is the price of making those calls from Go (the crossing, the runtime, the copy); the floor
  to golibmc is the price of golibmc's guarantees: every reply checked before
  libmemcached parses it (issue 20), gets so that Get fills CasID, the pooled and batching handles,
  deadlines and observers. Without the yield a floor that calls into C back to back pays about 1.3-1.5
  context switches per call (the runtime's sysmon finds it inside C and hands its P to another thread)
  and 1.26-1.54× the C loop's CPU per Get pinned.
- **System calls.** strace stops the traced thread at every system call, so under strace a Get takes
  a few hundred µs instead of tens. The Go runtime's sysmon then finds the thread still inside the
  cgo call on most of its ticks, takes its P and wakes another thread to run it (futex), which finds
  nothing to do and sleeps again (futex); sysmon's own 20 µs sleeps show as nanosleep. Without strace
  (the perf rows) the same events are a tenth as frequent or less. Both are reported; the strace count
  is the one the targets use.
- **GetMulti** is one cgo crossing for the whole batch: golibmc packs the keys in one Go buffer, C runs
  memcached_mget + memcached_fetch_result and writes all results into one reusable C buffer, and Go
  makes the items from it (their values copied into a few shared chunks, the items from one array;
  each record matched to its key in the order the keys were asked) and the map. The C loop discards
  the values; GetMultiFunc hands each item to a callback and allocates nothing per key. Every record
  is checked against memcached's grammar before libmemcached parses it (the input layer: issue 20's
  overflows and aborts), and golibmc asks gets where the C loop asks get: the instruction counts show
  what each costs.
- **SetMulti** writes its stores back to back (libmemcached's buffered requests, in chunks of 256) and
  reads each reply's status before libmemcached consumes it, so every key's outcome is exact;
  gomemcache has no multi-set, so its row is 1000 Set calls. The C loop's row is buffered sets, a
  flush, and one mget reading the keys back.
- **Many goroutines** (the section above). Calls issued while the client's round trips are busy
  share the next one (implicit pipelining): one mget for the reads, the stores written back to back,
  and the requests of one other command (Add, Replace, CompareAndSwap, Increment, Touch...) written
  back to back and leaving as one segment; a call that shares a round trip, or runs while more calls
  are in flight than GOMAXPROCS or while goroutines wait for a P, waits in Go's netpoller instead of
  blocking a thread inside libmemcached. The "batching
  off" column is the same client with WithBatching(false). At 8 goroutines batches are small (two or
  three calls), so the ratio to gomemcache is close to 1 and moves with the machine's noise; from 64
  goroutines on, each round trip carries tens of calls. Increment, Decrement, Add, Replace,
  CompareAndSwap and Touch are measured at 64 goroutines.
`

func environment() string {
	var b strings.Builder
	cpu := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "model name") {
				_, cpu, _ = strings.Cut(sc.Text(), ": ")
				break
			}
		}
		f.Close()
	}
	kernel, _ := exec.Command("uname", "-r").Output()
	mcv, _ := exec.Command("memcached", "-V").Output()
	gmv := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/bradfitz/gomemcache" {
				gmv = d.Version
			}
		}
	}
	fmt.Fprintf(&b, "- machine: %d CPUs (%s), Linux %s\n", runtime.NumCPU(), cpu, strings.TrimSpace(string(kernel)))
	fmt.Fprintf(&b, "- %s, libmemcached %s (%s), %s\n", runtime.Version(), golibmc.LibraryVersion(), golibmc.LinkInfo, strings.TrimSpace(string(mcv)))
	fmt.Fprintf(&b, "- golibmc with its default options (pool of %d handles, batching on, poll mode auto); gomemcache %s "+
		"and the memcache package with MaxIdleConns = 8 and a 5 s timeout (many-goroutines cells: gomemcache with MaxIdleConns = 256)\n",
		golibmc.DefaultPoolSize(), gmv)
	fmt.Fprintf(&b, "- C loop: `bench/single/c/single.c`, built with `cc -O2`: memcached_create + memcached_server_add, "+
		"MEMCACHED_BEHAVIOR_TCP_NODELAY on; memcached_get (value freed) and memcached_set; GetMulti as memcached_mget + "+
		"memcached_fetch_result into one reused memcached_result_st, values discarded; Increment as memcached_increment; "+
		"SetMulti as buffered sets, a flush and one mget; 8 threads with a memcached_st each for the 8-thread rows\n")
	fmt.Fprintf(&b, "- memcached: `memcached -l 127.0.0.1 -U 0` with its defaults (4 threads, 64 MiB)\n")
	fmt.Fprintf(&b, "- command: `make bench` (`bench/single` for the single-goroutine rows, `bench/compare` for the many-goroutines "+
		"cells, `go test -bench` for allocations, `TestMemoryFlat` with 1M operations)\n")
	return b.String()
}

// allocations summarises allocs/op from go test -bench -benchmem output.
func allocations(path string) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return "\n## Allocations\n\nnot measured: " + err.Error() + "\n"
	}
	defer f.Close()
	allocs := map[string][]float64{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") || strings.HasPrefix(fields[0], "BenchmarkNew/") {
			continue // BenchmarkNew: the start-up section
		}
		name := fields[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i]
		}
		for i := 1; i < len(fields); i++ {
			if fields[i] == "allocs/op" {
				v, _ := strconv.ParseFloat(fields[i-1], 64)
				if allocs[name] == nil {
					order = append(order, name)
				}
				allocs[name] = append(allocs[name], v)
			}
		}
	}
	var b strings.Builder
	b.WriteString("\n## Allocations (go test -bench -benchmem, median allocs/op)\n\n| benchmark | allocs/op | per key | target |\n|---|---:|---:|---|\n")
	for _, name := range order {
		m := median(allocs[name])
		perKey, target := "", ""
		switch {
		case strings.HasPrefix(name, "BenchmarkGetMulti/"):
			n, _ := strconv.ParseFloat(strings.TrimPrefix(name, "BenchmarkGetMulti/"), 64)
			perKey = fmt.Sprintf("%.2f", m/n)
			target = verdict(m/n <= 2, "≤ 2 per key")
		case name == "BenchmarkGet100" || name == "BenchmarkGet10K":
			target = verdict(m <= 3, "≤ 3")
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s |\n", strings.TrimPrefix(name, "Benchmark"), m, perKey, target)
	}
	return b.String()
}

func verdict(ok bool, what string) string {
	if ok {
		return what + ": met"
	}
	return what + ": **missed**"
}

// memory quotes TestMemoryFlat's measurement.
func memory(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "\n## Memory\n\nnot measured: " + err.Error() + "\n"
	}
	var lines []string
	result := "**failed**"
	for _, l := range strings.Split(string(b), "\n") {
		if i := strings.Index(l, "memcheck: "); i >= 0 {
			lines = append(lines, strings.TrimSpace(l[i+len("memcheck: "):]))
		}
		if strings.HasPrefix(l, "--- PASS: TestMemoryFlat") {
			result = "passed"
		}
	}
	return "\n## Memory (TestMemoryFlat, GOLIBMC_MEMCHECK=1)\n\n" +
		"1M mixed operations (Set, Get, GetMulti, SetMulti, misses, Delete, Increment) from 8 goroutines; " +
		"RSS, Go heap and C heap (glibc mallinfo2) read three times after a warm-up, with the same number of operations " +
		"between readings; each must be flat (within 5%, or 64 KiB) over at least one of the two intervals: " + result + ".\n\n" +
		strings.Join(lines, "\n") + "\n"
}

// singleAB quotes the before/after comparison of the single-goroutine
// benchmarks (scripts/bench-ab.sh).
func singleAB(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "\n## One goroutine, before and after implicit pipelining\n\nnot measured\n"
	}
	return "\n## One goroutine, before and after implicit pipelining\n\n" +
		"`go test -bench` of Get, Set (100 B) and GetMulti(100) from one goroutine, built from the commit before " +
		"implicit pipelining and the netpoller waits (base) and from this tree (head), run alternately; " +
		"benchstat's comparison (wall time per operation; \"~\" means no significant difference):\n\n```\n" + string(b) + "```\n"
}
