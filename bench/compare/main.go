// Command compare runs the same memcached workloads through golibmc, a raw
// C loop over libmemcached (bench/cloop) and gomemcache, interleaved, several
// times, against one memcached on loopback, and writes BENCHMARKS.md with
// medians of throughput and client CPU per operation and their ratios.
//
//	go run ./compare -addr 127.0.0.1:11211 -cloop ./cloop/cloop -out ../BENCHMARKS.md
//
// make bench (in the repository root) builds the C loop, starts memcached
// and runs this, then the library's own benchmarks (allocations) and the
// memory-flatness check.
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	golibmc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/stats"
	dropin "github.com/golibmc/libmemcached/memcache"
)

// workload is one benchmark: n operations, each worth units/op units
// (keys for GetMulti, else 1).
type workload struct {
	name  string
	n     int
	per   int // units per operation
	unit  string
	about string
}

var workloads = []workload{
	{"get100", 20000, 1, "op", "Get of a 100 B value"},
	{"get10k", 10000, 1, "op", "Get of a 10 KiB value"},
	{"set100", 20000, 1, "op", "Set of a 100 B value"},
	{"set10k", 10000, 1, "op", "Set of a 10 KiB value"},
	{"getmulti10", 4000, 10, "key", "GetMulti of 10 keys (100 B values)"},
	{"getmulti100", 1000, 100, "key", "GetMulti of 100 keys"},
	{"getmulti1000", 100, 1000, "key", "GetMulti of 1000 keys"},
	{"setmulti1000", 40, 1, "batch", "SetMulti of 1000 x 100 B (gomemcache: 1000 Set calls)"},
	{"set1000seq", 4, 1, "batch", "1000 sequential Set calls of 100 B"},
	{"incr", 20000, 1, "op", "Increment"},
	{"pget8", 40000, 1, "op", "Get of 100 B from 8 goroutines / threads"},
	{"pset8", 40000, 1, "op", "Set of 100 B from 8 goroutines / threads"},
	{"pget8p4", 40000, 1, "op", "Get of 100 B from 8 goroutines, GOMAXPROCS=4 (C: 8 threads)"},
}

type sample struct {
	units int64
	wall  time.Duration
	cpu   time.Duration
}

func (s sample) perSec() float64     { return float64(s.units) / s.wall.Seconds() }
func (s sample) cpuPerUnit() float64 { return float64(s.cpu.Nanoseconds()) / float64(s.units) }

type client interface {
	name() string
	run(w workload) (sample, error)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure times fn in this process: wall clock and user+sys CPU.
func measure(units int64, fn func() error) (sample, error) {
	runtime.GC()
	c0, t0 := cpuTime(), time.Now()
	err := fn()
	return sample{units: units, wall: time.Since(t0), cpu: cpuTime() - c0}, err
}

var (
	value100 = bytes.Repeat([]byte("v"), 100)
	value10k = bytes.Repeat([]byte("w"), 10240)
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint("bench:m", i)
	}
	return out
}

// parallel runs fn(n/8) in 8 goroutines.
func parallel(n int, fn func(n int) error) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fn(n / 8)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// goClient is what a Go client under test provides; runGo drives every
// workload through it, so both Go clients run exactly the same loops.
type goClient interface {
	get(key string) error
	set(key string, value []byte) error
	getMulti(keys []string) (int, error)
	// setMulti returns a function storing keys with value, in one call
	// where the client has one (items are built once, outside the timing).
	setMulti(keys []string, value []byte) func() error
	incr(key string) error
}

// runGo runs w through c, timing only the measured loop.
func runGo(c goClient, w workload) (sample, error) {
	if w.name == "pget8p4" { // pget8 with GOMAXPROCS=4
		prev := runtime.GOMAXPROCS(4)
		defer runtime.GOMAXPROCS(prev)
		w.name = "pget8"
	}
	units := int64(w.n * w.per)
	repeat := func(fn func() error) func(n int) error {
		return func(n int) error {
			for i := 0; i < n; i++ {
				if err := fn(); err != nil {
					return err
				}
			}
			return nil
		}
	}
	nTimes := func(fn func() error) func() error { return func() error { return repeat(fn)(w.n) } }
	switch w.name {
	case "get100", "get10k", "pget8":
		v := value100
		if w.name == "get10k" {
			v = value10k
		}
		if err := c.set("bench:get", v); err != nil {
			return sample{}, err
		}
		loop := repeat(func() error { return c.get("bench:get") })
		if w.name == "pget8" {
			return measure(int64(w.n/8*8), func() error { return parallel(w.n, loop) })
		}
		return measure(units, func() error { return loop(w.n) })
	case "set100", "set10k", "pset8":
		v := value100
		if w.name == "set10k" {
			v = value10k
		}
		loop := repeat(func() error { return c.set("bench:set", v) })
		if w.name == "pset8" {
			return measure(int64(w.n/8*8), func() error { return parallel(w.n, loop) })
		}
		return measure(units, func() error { return loop(w.n) })
	case "getmulti10", "getmulti100", "getmulti1000":
		ks := keys(w.per)
		for _, k := range ks {
			if err := c.set(k, value100); err != nil {
				return sample{}, err
			}
		}
		return measure(units, nTimes(func() error {
			n, err := c.getMulti(ks)
			if err == nil && n != w.per {
				err = fmt.Errorf("GetMulti: %d of %d", n, w.per)
			}
			return err
		}))
	case "setmulti1000":
		return measure(units, nTimes(c.setMulti(keys(1000), value100)))
	case "set1000seq":
		ks := keys(1000)
		return measure(units, nTimes(func() error {
			for _, k := range ks {
				if err := c.set(k, value100); err != nil {
					return err
				}
			}
			return nil
		}))
	case "incr":
		if err := c.set("bench:ctr", []byte("0")); err != nil {
			return sample{}, err
		}
		return measure(units, nTimes(func() error { return c.incr("bench:ctr") }))
	}
	return sample{}, fmt.Errorf("unknown workload %s", w.name)
}

// --- golibmc ---

type libmc struct{ c *golibmc.Client }

func (l libmc) name() string                   { return "golibmc" }
func (l libmc) run(w workload) (sample, error) { return runGo(l, w) }

func (l libmc) get(key string) error {
	_, err := l.c.Get(context.Background(), key)
	return err
}

func (l libmc) set(key string, value []byte) error {
	return l.c.Set(context.Background(), &golibmc.Item{Key: key, Value: value})
}

func (l libmc) getMulti(keys []string) (int, error) {
	got, err := l.c.GetMulti(context.Background(), keys)
	return len(got), err
}

func (l libmc) setMulti(keys []string, value []byte) func() error {
	items := make([]*golibmc.Item, len(keys))
	for i, k := range keys {
		items[i] = &golibmc.Item{Key: k, Value: value}
	}
	return func() error { return l.c.SetMulti(context.Background(), items) }
}

func (l libmc) incr(key string) error {
	_, err := l.c.Increment(context.Background(), key, 1)
	return err
}

// --- gomemcache, and this repository's memcache package (the same API) ---

// gmStyle drives a client with gomemcache's API: gomemcache itself, or the
// memcache package, whose Item is another type with the same fields.
type gmStyle struct {
	label string
	getFn func(key string) error
	setFn func(key string, value []byte) error
	multi func(keys []string) (int, error)
	incrF func(key string) error
}

func gomemcacheClient(c *memcache.Client) gmStyle {
	return gmStyle{"gomemcache",
		func(k string) error { _, err := c.Get(k); return err },
		func(k string, v []byte) error { return c.Set(&memcache.Item{Key: k, Value: v}) },
		func(ks []string) (int, error) { got, err := c.GetMulti(ks); return len(got), err },
		func(k string) error { _, err := c.Increment(k, 1); return err }}
}

func dropinClient(c *dropin.Client) gmStyle {
	return gmStyle{"memcache package",
		func(k string) error { _, err := c.Get(k); return err },
		func(k string, v []byte) error { return c.Set(&dropin.Item{Key: k, Value: v}) },
		func(ks []string) (int, error) { got, err := c.GetMulti(ks); return len(got), err },
		func(k string) error { _, err := c.Increment(k, 1); return err }}
}

func (g gmStyle) name() string                        { return g.label }
func (g gmStyle) run(w workload) (sample, error)      { return runGo(g, w) }
func (g gmStyle) get(key string) error                { return g.getFn(key) }
func (g gmStyle) set(key string, value []byte) error  { return g.setFn(key, value) }
func (g gmStyle) getMulti(keys []string) (int, error) { return g.multi(keys) }
func (g gmStyle) incr(key string) error               { return g.incrF(key) }

// setMulti is one Set call per key: gomemcache's API has no multi-set.
func (g gmStyle) setMulti(keys []string, value []byte) func() error {
	return func() error {
		for _, k := range keys {
			if err := g.setFn(k, value); err != nil {
				return err
			}
		}
		return nil
	}
}

// --- the C loop, in its own process ---

type cloop struct{ bin, host, port string }

func (c cloop) name() string { return "C loop" }

func (c cloop) run(w workload) (sample, error) {
	name := w.name
	if name == "pget8p4" {
		name = "pget8"
	}
	out, err := exec.Command(c.bin, c.host, c.port, name, strconv.Itoa(w.n)).Output()
	if err != nil {
		return sample{}, fmt.Errorf("%s %s: %v", c.bin, w.name, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 5 {
		return sample{}, fmt.Errorf("cloop output %q", out)
	}
	units, _ := strconv.ParseInt(f[2], 10, 64)
	wall, _ := strconv.ParseInt(f[3], 10, 64)
	cpu, _ := strconv.ParseInt(f[4], 10, 64)
	return sample{units: units, wall: time.Duration(wall), cpu: time.Duration(cpu)}, nil
}

// median is the shared stats.Median.
var median = stats.Median

func main() {
	addr := flag.String("addr", os.Getenv("MEMCACHED_SERVER"), "memcached host:port")
	cloopBin := flag.String("cloop", "./cloop/cloop", "the C loop binary")
	reps := flag.Int("reps", 5, "repetitions of every workload")
	out := flag.String("out", "../BENCHMARKS.md", "report to write")
	gobench := flag.String("gobench", "", "output of go test -bench -benchmem (allocations section)")
	memcheck := flag.String("memcheck", "", "output of TestMemoryFlat -v (memory section)")
	benchstat := flag.String("benchstat", "", "benchstat summary of the go test -bench output")
	ab := flag.String("ab", "", "benchstat comparison of single-goroutine benchmarks before and after implicit pipelining")
	cstartup := flag.String("cstartup", "", "output of bench/cstartup (start-up section, with -gobench's BenchmarkNew)")
	slice := flag.Duration("slice", 400*time.Millisecond, "how long each many-goroutines cell runs per client and repetition")
	conc := flag.Bool("conc", true, "run the many-goroutines cells")
	flag.StringVar(&cellFilter, "cells", "", "run only the many-goroutines cells whose name contains this (development)")
	flag.BoolVar(&concOnly, "conc-only", false, "run only the many-goroutines cells (development)")
	flag.Parse()
	log.SetFlags(0)
	if *addr == "" && flag.NArg() > 0 {
		*addr = flag.Arg(0) // scripts/with-memcached.sh appends the address
	}
	if *addr == "" {
		log.Fatal("compare: -addr (or MEMCACHED_SERVER) is required")
	}
	host, port, _ := strings.Cut(*addr, ":")

	lc, err := golibmc.New([]string{*addr})
	if err != nil {
		log.Fatal(err)
	}
	defer lc.Close()
	gc := memcache.New(*addr)
	gc.MaxIdleConns = 8 // as many connections as goroutines, like golibmc's pool
	gc.Timeout = 5 * time.Second
	dc := dropin.New(*addr)
	defer dc.Close()
	clients := []client{cloop{*cloopBin, host, port}, libmc{lc}, gomemcacheClient(gc), dropinClient(dc)}

	results := map[string]map[string][]sample{}
	for r := 0; r < *reps && !concOnly; r++ {
		for _, w := range workloads {
			if results[w.name] == nil {
				results[w.name] = map[string][]sample{}
			}
			for _, c := range clients {
				s, err := c.run(w)
				if err != nil {
					log.Fatalf("%s %s: %v", c.name(), w.name, err)
				}
				results[w.name][c.name()] = append(results[w.name][c.name()], s)
			}
		}
		log.Printf("compare: repetition %d/%d done", r+1, *reps)
	}
	var concReport string
	var targets []target
	if *conc {
		cr, _ := runCells(*addr, *reps, *slice)
		concReport, targets = renderConc(cr, *reps, *slice)
	}
	report := render(results, *reps, *addr, concReport, targets)
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

type stat struct{ perSec, cpu float64 }

func medians(ss []sample) stat {
	var p, c []float64
	for _, s := range ss {
		p = append(p, s.perSec())
		c = append(c, s.cpuPerUnit())
	}
	return stat{median(p), median(c)}
}

func render(results map[string]map[string][]sample, reps int, addr, concReport string, concTargets []target) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` on %s. Each workload ran %d times, interleaved "+
		"(C loop, golibmc, gomemcache, next workload), against one memcached on loopback (%s); "+
		"the table shows medians. CPU is the client process's user+sys time per unit "+
		"(getrusage), so it is what each client itself costs; the server's CPU is not counted. "+
		"The machine is shared and noisy: compare ratios within this run, not absolute numbers across runs.\n\n",
		time.Now().UTC().Format("2006-01-02"), reps, addr)
	fmt.Fprintf(&b, "## Setup\n\n%s\n", environment())
	fmt.Fprintf(&b, "## Results (medians)\n\n")
	fmt.Fprintf(&b, "| workload | unit | golibmc /s | C loop /s | gomemcache /s | memcache package /s | golibmc ÷ C | golibmc ÷ gomemcache | memcache package ÷ gomemcache | CPU µs/unit golibmc | C loop | gomemcache | memcache package | CPU golibmc ÷ C |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	st := map[string]map[string]stat{}
	for _, w := range workloads {
		st[w.name] = map[string]stat{}
		for name, ss := range results[w.name] {
			st[w.name][name] = medians(ss)
		}
		l, c, g, d := st[w.name]["golibmc"], st[w.name]["C loop"], st[w.name]["gomemcache"], st[w.name]["memcache package"]
		fmt.Fprintf(&b, "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n",
			w.about, w.unit, l.perSec, c.perSec, g.perSec, d.perSec, l.perSec/c.perSec, l.perSec/g.perSec, d.perSec/g.perSec,
			l.cpu/1000, c.cpu/1000, g.cpu/1000, d.cpu/1000, l.cpu/c.cpu)
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
	for _, w := range []string{"get100", "set100"} {
		r := st[w]["golibmc"].cpu / st[w]["C loop"].cpu
		check(fmt.Sprintf("client CPU per %s ≤ 1.10× the C loop", w), fmt.Sprintf("%.2f×", r), r <= 1.10)
	}
	gm := st["getmulti100"]
	check("GetMulti(100) keys/s ≥ 0.90× the C loop", fmt.Sprintf("%.2f×", gm["golibmc"].perSec/gm["C loop"].perSec), gm["golibmc"].perSec/gm["C loop"].perSec >= 0.90)
	check("GetMulti(100) keys/s ≥ 1.6× gomemcache", fmt.Sprintf("%.2f×", gm["golibmc"].perSec/gm["gomemcache"].perSec), gm["golibmc"].perSec/gm["gomemcache"].perSec >= 1.6)
	for _, who := range []string{"golibmc", "memcache package"} {
		r := st["get100"][who].perSec / st["get100"]["gomemcache"].perSec
		check(fmt.Sprintf("%s: one goroutine's Get ≥ 1.5× gomemcache", who), fmt.Sprintf("%.2f×", r), r >= 1.5)
	}
	sm := st["setmulti1000"]["golibmc"].perSec / st["set1000seq"]["golibmc"].perSec
	check("SetMulti(1000 × 100 B) ≥ 5× 1000 sequential Set", fmt.Sprintf("%.1f×", sm), sm >= 5)
	for _, t := range concTargets {
		check(t.name, t.measured, t.ok)
	}
	fmt.Fprintf(&b, "\n## Notes\n\n%s", notes)
	return b.String()
}

// notes explain what the numbers above show on this kind of machine.
const notes = `- **Single operations are round-trip bound.** Each Get or Set waits for the server; what a
  binding adds is its own CPU per operation. On this 2-vCPU virtual machine the standalone C loop
  came out slower than golibmc, in wall time and in CPU per operation, run after run (and it varies:
  2,000 Gets alone once took 7 µs each, 20,000 took 56-75 µs each). The likely cause is the VM's
  idle-wakeup cost: the C loop is a single thread sleeping in poll() between round trips, while the Go
  process keeps runtime threads spinning briefly. The ratio "golibmc ÷ C" for single operations
  therefore says "no slower than libmemcached called from C" here, not a precise overhead. The work
  per Get is the same libmemcached calls plus one cgo crossing and two small Go allocations (the Item
  and its value).
- **GetMulti** is one cgo crossing for the whole batch: golibmc packs the keys in one Go buffer, C runs
  memcached_mget + memcached_fetch_result and writes all results into one reusable C buffer, and Go
  copies each value out once. At 1000 keys the per-key Go work (one value allocation and a map insert)
  becomes visible next to the C loop, which discards the values.
- **SetMulti** writes its stores back to back (libmemcached's buffered requests, in chunks of 256) and
  reads each reply's status before libmemcached consumes it, so every key's outcome is exact;
  gomemcache has no multi-set, so its row is 1000 Set calls.
- **Many goroutines** (the section above). Gets, Sets and Deletes issued while the client's round
  trips are busy share the next one (implicit pipelining): one mget for the reads, the stores written
  back to back; and a call that shares a round trip, or runs while more calls are in flight than
  GOMAXPROCS, waits in Go's netpoller instead of blocking a thread inside libmemcached. The "batching
  off" column is the same client with WithBatching(false). At 8 goroutines batches are small (two or
  three calls), so the ratio to gomemcache is close to 1 and moves with the machine's noise; from 64
  goroutines on, each round trip carries tens of calls.
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
	fmt.Fprintf(&b, "- gomemcache %s with MaxIdleConns = 8; golibmc with its default pool (%d handles)\n", gmv, golibmc.DefaultPoolSize())
	fmt.Fprintf(&b, "- C loop: `bench/cloop/cloop.c` (memcached_get/memcached_set/memcached_mget+memcached_fetch_result/"+
		"memcached_increment; SetMulti as buffered sets + flush + one mget, the same work as golibmc's; 8 pthreads with one memcached_clone each)\n")
	fmt.Fprintf(&b, "- memcached: `memcached -l 127.0.0.1 -U 0` with its defaults (4 threads, 64 MiB)\n")
	fmt.Fprintf(&b, "- command: `make bench` (`bench/compare`, `go test -bench` for allocations, `TestMemoryFlat` with 1M operations)\n")
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
