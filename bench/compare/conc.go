package main

// The many-goroutines part of make bench: each cell runs a fixed number of
// goroutines in a closed loop for a time slice, alternating the clients
// (golibmc, golibmc with batching off, gomemcache), several times, and
// reports medians of operations per second and client CPU per operation,
// and, for Get, each call's latency (p50 and p99). The clients share this
// process (the single-goroutine rows are measured in separate processes by
// bench/single); CPU is this process's over each time slice.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

	golibmc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/bench/internal/machine"
	"github.com/golibmc/libmemcached/bench/internal/server"
)

// concClient is one client under test in the concurrency cells.
type concClient struct {
	name string
	do   func(op string, key string, keys []string) error
	done func()
}

const concKeys = 1000

func concKey(i int) string { return "bench:c" + strconv.Itoa(i%concKeys) }

// casKey is goroutine w's key in the CompareAndSwap cell.
func casKey(w int) string { return "bench:cas" + strconv.Itoa(w) }

// addSeq numbers the keys of the Add cell, so that every Add stores.
var addSeq atomic.Uint64

// newGolibmc makes a golibmc client; batching off gives the client as it
// was before implicit pipelining (calls wait in the netpoller under the
// default policy, but never share a round trip).
func newGolibmc(addrs []string, batching bool) concClient {
	if !batching {
		return newGolibmcWith(addrs, "golibmc, batching off", golibmc.WithBatching(false))
	}
	return newGolibmcWith(addrs, "golibmc")
}

// newGolibmcWith makes a golibmc client named name with opts.
func newGolibmcWith(addrs []string, name string, opts ...golibmc.Option) concClient {
	var casItems sync.Map // key -> *golibmc.Item, read once for its CAS id
	c, err := golibmc.New(addrs, opts...)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	return concClient{name: name, done: func() { c.Close() }, do: func(op, key string, keys []string) error {
		var err error
		switch op {
		case "get":
			_, err = c.Get(ctx, key)
		case "set":
			err = c.Set(ctx, &golibmc.Item{Key: key, Value: value100})
		case "delete":
			err = c.Delete(ctx, key)
		case "getmulti":
			_, err = c.GetMulti(ctx, keys)
		case "incr":
			_, err = c.Increment(ctx, key, 1)
		case "decr":
			_, err = c.Decrement(ctx, key, 1)
		case "add":
			err = c.Add(ctx, &golibmc.Item{Key: key, Value: value100})
		case "replace":
			err = c.Replace(ctx, &golibmc.Item{Key: key, Value: value100})
		case "touch":
			err = c.Touch(ctx, key, 0)
		case "cas":
			it, ok := casItems.Load(key)
			if !ok {
				if it, err = c.Get(ctx, key); err != nil {
					return err
				}
				casItems.Store(key, it)
			}
			err = c.CompareAndSwap(ctx, it.(*golibmc.Item))
		}
		if errors.Is(err, golibmc.ErrCacheMiss) || errors.Is(err, golibmc.ErrCASConflict) {
			return nil
		}
		return err
	}}
}

func newGomemcache(addrs []string) concClient {
	var casItems sync.Map // key -> *memcache.Item, read once for its CAS id
	c := memcache.New(addrs...)
	c.MaxIdleConns = 256 // a connection per goroutine stays open: its best case
	c.Timeout = 5 * time.Second
	return concClient{name: "gomemcache", done: func() { c.Close() }, do: func(op, key string, keys []string) error {
		var err error
		switch op {
		case "get":
			_, err = c.Get(key)
		case "set":
			err = c.Set(&memcache.Item{Key: key, Value: value100})
		case "delete":
			err = c.Delete(key)
		case "getmulti":
			_, err = c.GetMulti(keys)
		case "incr":
			_, err = c.Increment(key, 1)
		case "decr":
			_, err = c.Decrement(key, 1)
		case "add":
			err = c.Add(&memcache.Item{Key: key, Value: value100})
		case "replace":
			err = c.Replace(&memcache.Item{Key: key, Value: value100})
		case "touch":
			err = c.Touch(key, 0)
		case "cas":
			it, ok := casItems.Load(key)
			if !ok {
				if it, err = c.Get(key); err != nil {
					return err
				}
				casItems.Store(key, it)
			}
			err = c.CompareAndSwap(it.(*memcache.Item))
		}
		if errors.Is(err, memcache.ErrCacheMiss) || errors.Is(err, memcache.ErrCASConflict) {
			return nil
		}
		return err
	}}
}

// cell is one measurement: a workload at g goroutines, GOMAXPROCS procs,
// on servers memcached servers.
type cell struct {
	work    string // get, set, delete, getmulti10, incr, decr, add, replace, cas, touch, mix80/15/5, mix80/20
	g       int
	procs   int
	servers int
	latency bool // record each call's latency
}

func (c cell) String() string {
	s := fmt.Sprintf("%s g=%d procs=%d servers=%d", c.work, c.g, c.procs, c.servers)
	if c.latency {
		s += " latency"
	}
	return s
}

var (
	quietBudget time.Duration // -quiet: how long in all to wait for an idle machine before the cells
	noisyCells  []string      // cells that started while the machine was busy
	cellFilter  string        // -cells
)

var cells = func() []cell {
	var out []cell
	for _, procs := range []int{2, 4} {
		for _, w := range []string{"get", "set", "delete", "getmulti10"} {
			for _, g := range []int{8, 64, 256} {
				out = append(out, cell{work: w, g: g, procs: procs, servers: 1})
			}
		}
	}
	// The calls that still wait inside C (issue 23), at 64 goroutines.
	for _, w := range []string{"incr", "decr", "add", "replace", "cas", "touch"} {
		out = append(out, cell{work: w, g: 64, procs: 2, servers: 1})
	}
	out = append(out,
		cell{work: "mix80/15/5", g: 64, procs: 2, servers: 1},
		cell{work: "mix80/20", g: 64, procs: 2, servers: 1},
		cell{work: "mix80/20", g: 256, procs: 2, servers: 1},
	)
	for _, w := range []string{"get", "set", "mix80/20"} {
		for _, g := range []int{64, 256} {
			out = append(out, cell{work: w, g: g, procs: 2, servers: 3})
		}
	}
	for _, g := range []int{1, 8, 64, 256} {
		out = append(out, cell{work: "get", g: g, procs: 2, servers: 1, latency: true})
	}
	return out
}()

// concSample is one run of a cell by one client.
type concSample struct {
	sample
	lat []time.Duration // per call, when measured
}

// runCell runs cell c through cl for d.
func runCell(cl concClient, c cell, d time.Duration) (concSample, error) {
	prev := runtime.GOMAXPROCS(c.procs)
	defer runtime.GOMAXPROCS(prev)
	var stop atomic.Bool
	var ops atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, c.g)
	lats := make([][]time.Duration, c.g)
	mkeys := make([]string, 10)
	runtime.GC()
	c0, t0 := cpuTime(), time.Now()
	for w := 0; w < c.g; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			keys := append([]string(nil), mkeys...)
			n := 0
			for i := w * 7; !stop.Load(); i++ {
				op, key := "get", concKey(i)
				switch c.work {
				case "set", "delete":
					op = c.work
					if op == "delete" {
						key = "bench:absent" + strconv.Itoa(i%concKeys)
					}
				case "getmulti10":
					op = "getmulti"
					for j := range keys {
						keys[j] = concKey(i*10 + j)
					}
				case "mix80/15/5":
					switch r := i % 20; {
					case r < 3:
						op = "set"
					case r == 3:
						op, key = "incr", "bench:ctr"+strconv.Itoa(w%16)
					}
				case "mix80/20":
					if i%5 == 0 {
						op = "set"
					}
				case "incr", "decr":
					op, key = c.work, "bench:ctr"+strconv.Itoa(w%16)
				case "add": // a new key each time: every Add stores
					op, key = "add", "bench:add:"+strconv.FormatUint(addSeq.Add(1), 10)
				case "replace", "touch":
					op = c.work
				case "cas": // each goroutine its own key, with the CAS id read once
					op, key = "cas", casKey(w)
				}
				var t time.Time
				if c.latency {
					t = time.Now()
				}
				if err := cl.do(op, key, keys); err != nil {
					errc <- fmt.Errorf("%s %s: %v", cl.name, c, err)
					return
				}
				if c.latency {
					lats[w] = append(lats[w], time.Since(t))
				}
				n++
			}
			ops.Add(int64(n))
		}(w)
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	s := concSample{sample: sample{units: ops.Load(), wall: time.Since(t0), cpu: cpuTime() - c0}}
	close(errc)
	if err := <-errc; err != nil {
		return s, err
	}
	for _, l := range lats {
		s.lat = append(s.lat, l...)
	}
	return s, nil
}

// concResult is a cell's medians for one client.
type concResult struct {
	perSec, cpu float64 // ops/s, ns of client CPU per op
	p50, p99    time.Duration
}

// runCells measures every cell: reps rounds, each client in turn.
func runCells(addr string, reps int, slice time.Duration) (map[string]map[string]concResult, []string) {
	addrs3 := []string{addr}
	for i := 0; i < 2; i++ {
		srv, err := server.Start()
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Stop()
		addrs3 = append(addrs3, srv.Addr)
	}
	var names []string
	results := map[string]map[string]concResult{}
	for _, c := range cells {
		if !strings.Contains(c.String(), cellFilter) || cellFilter != "" && c.latency != strings.Contains(cellFilter, "latency") {
			continue
		}
		addrs := []string{addr}
		if c.servers == 3 {
			addrs = addrs3
		}
		preload(addrs)
		if _, quiet := machine.WaitQuiet(&quietBudget); !quiet {
			noisyCells = append(noisyCells, c.String())
		}
		clients := []concClient{newGolibmc(addrs, true), newGolibmc(addrs, false), newGomemcache(addrs)}
		results[c.String()] = runAlternating(clients, c, reps, slice)
		for _, cl := range clients {
			if len(names) < len(clients) {
				names = append(names, cl.name)
			}
		}
		r := results[c.String()]
		log.Printf("compare: %s: golibmc %.0f/s, batching off %.0f/s, gomemcache %.0f/s (%.2f×)", c,
			r["golibmc"].perSec, r["golibmc, batching off"].perSec, r["gomemcache"].perSec, r["golibmc"].perSec/r["gomemcache"].perSec)
	}
	return results, names
}

// runAlternating runs cell c reps times for each client, the clients
// alternating, and returns each client's summary by name; the clients are
// done afterwards.
func runAlternating(clients []concClient, c cell, reps int, slice time.Duration) map[string]concResult {
	samples := map[string][]concSample{}
	for r := 0; r < reps; r++ {
		for _, cl := range clients {
			s, err := runCell(cl, c, slice)
			if err != nil {
				log.Fatal(err)
			}
			samples[cl.name] = append(samples[cl.name], s)
		}
	}
	out := map[string]concResult{}
	for _, cl := range clients {
		out[cl.name] = summarize(samples[cl.name])
		cl.done()
	}
	return out
}

func summarize(ss []concSample) concResult {
	var p, c []float64
	var lat []time.Duration
	for _, s := range ss {
		p = append(p, s.perSec())
		c = append(c, s.cpuPerUnit())
		lat = append(lat, s.lat...)
	}
	r := concResult{perSec: median(p), cpu: median(c)}
	if len(lat) > 0 {
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r.p50 = lat[len(lat)/2]
		r.p99 = lat[len(lat)*99/100]
	}
	return r
}

// preload writes the keys the cells read, through libmemcached's placement
// and gomemcache's (they differ with several servers).
func preload(addrs []string) {
	l, err := golibmc.New(addrs)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	g := memcache.New(addrs...)
	defer g.Close()
	for i := 0; i < concKeys; i++ {
		if err := l.Set(context.Background(), &golibmc.Item{Key: concKey(i), Value: value100}); err != nil {
			log.Fatal(err)
		}
		if err := g.Set(&memcache.Item{Key: concKey(i), Value: value100}); err != nil {
			log.Fatal(err)
		}
	}
	for w := 0; w < 256; w++ {
		_ = l.Set(context.Background(), &golibmc.Item{Key: casKey(w), Value: value100})
		_ = g.Set(&memcache.Item{Key: casKey(w), Value: value100})
	}
	for w := 0; w < 16; w++ {
		k := "bench:ctr" + strconv.Itoa(w)
		_ = l.Set(context.Background(), &golibmc.Item{Key: k, Value: []byte("0")})
		_ = g.Set(&memcache.Item{Key: k, Value: []byte("0")})
	}
}

// renderConc writes the many-goroutines tables and their targets.
func renderConc(results map[string]map[string]concResult, reps int, slice time.Duration) (string, []target) {
	var b strings.Builder
	var targets []target
	fmt.Fprintf(&b, "\n## Many goroutines\n\n"+
		"Each cell runs its goroutines in a closed loop for %v, alternating golibmc (default options: implicit pipelining "+
		"and the auto netpoller policy), golibmc with batching off, and gomemcache (MaxIdleConns 256), %d times; medians. "+
		"Keys are spread over %d keys of 100 B; Delete deletes absent keys; GetMulti asks 10 keys; "+
		"\"mix80/15/5\" is 80%% Get, 15%% Set, 5%% Increment, \"mix80/20\" is 80%% Get, 20%% Set. "+
		"incr and decr work on 16 counters; add stores a new key each time (so every Add stores); replace and touch "+
		"(expiration 0) hit present keys; cas is a CompareAndSwap of the goroutine's own key with the CAS id it read once, "+
		"so after its first call each one is answered EXISTS (a conflict: the same round trip as a success). "+
		"CPU is the client process's user+sys time per operation (all clients share this process; they alternate).\n\n", slice, reps, concKeys)
	if n := len(noisyCells); n > 0 {
		which := strings.Join(noisyCells, "; ")
		if n > 8 {
			which = "see bench/results/noisy-cells.txt"
			_ = os.WriteFile("results/noisy-cells.txt", []byte(strings.Join(noisyCells, "\n")+"\n"), 0o644)
		}
		fmt.Fprintf(&b, "**%d of the cells started while other processes kept the machine busy** (the program waits for it to "+
			"be idle, within a budget): %s.\n\n", n, which)
	}
	fmt.Fprintf(&b, "| workload | goroutines | GOMAXPROCS | servers | golibmc ops/s | batching off | gomemcache | golibmc ÷ gomemcache | batching off ÷ gomemcache | CPU µs/op golibmc | batching off | gomemcache |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		if c.latency {
			continue
		}
		r := results[c.String()]
		l, o, g := r["golibmc"], r["golibmc, batching off"], r["gomemcache"]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.0f | %.0f | %.0f | %s | %.2f | %.1f | %.1f | %.1f |\n",
			c.work, c.g, c.procs, c.servers, l.perSec, o.perSec, g.perSec, bold(l.perSec/g.perSec, 1), o.perSec/g.perSec,
			l.cpu/1000, o.cpu/1000, g.cpu/1000)
	}
	fmt.Fprintf(&b, "\n### Latency per call (Get, GOMAXPROCS=2)\n\n| goroutines | golibmc p50 | p99 | batching off p50 | p99 | gomemcache p50 | p99 |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		if !c.latency {
			continue
		}
		r := results[c.String()]
		l, o, g := r["golibmc"], r["golibmc, batching off"], r["gomemcache"]
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s |\n", c.g, us(l.p50), us(l.p99), us(o.p50), us(o.p99), us(g.p50), us(g.p99))
		if c.g <= 8 {
			targets = append(targets, target{fmt.Sprintf("Get p99 at %d goroutine(s) not worse than gomemcache's", c.g),
				fmt.Sprintf("%s vs %s", us(l.p99), us(g.p99)), l.p99 <= g.p99})
		}
	}
	ratio := func(work string, g, procs, servers int) (float64, concResult, concResult, concResult) {
		r := results[cell{work: work, g: g, procs: procs, servers: servers}.String()]
		return r["golibmc"].perSec / r["gomemcache"].perSec, r["golibmc"], r["golibmc, batching off"], r["gomemcache"]
	}
	worst, worstCell := 1e9, ""
	cpuOK := true
	for _, c := range cells {
		if c.latency || c.servers != 1 || !strings.Contains(" get set delete getmulti10 ", " "+c.work+" ") {
			continue
		}
		x, l, _, g := ratio(c.work, c.g, c.procs, c.servers)
		if x < worst {
			worst, worstCell = x, c.String()
		}
		if l.cpu > g.cpu {
			cpuOK = false
		}
	}
	targets = append(targets,
		target{"Get, Set, Delete, GetMulti(10) × 8/64/256 goroutines × GOMAXPROCS 2/4: ≥ 1.0× gomemcache in every cell",
			fmt.Sprintf("lowest %.2f× (%s)", worst, worstCell), worst >= 1},
		target{"client CPU per op ≤ gomemcache's in every such cell", map[bool]string{true: "yes", false: "no (see table)"}[cpuOK], cpuOK})
	for _, t := range []struct {
		work string
		g    int
		min  float64
	}{{"get", 64, 2.5}, {"get", 256, 2.5}, {"set", 64, 1.5}, {"set", 256, 1.5}, {"mix80/20", 64, 2}, {"mix80/20", 256, 2}} {
		x, _, _, _ := ratio(t.work, t.g, 2, 1)
		targets = append(targets, target{fmt.Sprintf("%s, %d goroutines, GOMAXPROCS=2: ≥ %.1f× gomemcache", t.work, t.g, t.min),
			fmt.Sprintf("%.2f×", x), x >= t.min})
	}
	for _, w := range []string{"get", "set"} {
		l8, o8 := results[cell{work: w, g: 8, procs: 2, servers: 1}.String()]["golibmc"], results[cell{work: w, g: 8, procs: 2, servers: 1}.String()]["golibmc, batching off"]
		targets = append(targets, target{fmt.Sprintf("%s, 8 goroutines: batching no worse than without", w),
			fmt.Sprintf("%.2f× (%.0f vs %.0f ops/s)", l8.perSec/o8.perSec, l8.perSec, o8.perSec), l8.perSec >= 0.97*o8.perSec})
	}
	names := map[string]string{"incr": "Increment", "decr": "Decrement", "add": "Add", "replace": "Replace",
		"cas": "CompareAndSwap", "touch": "Touch"}
	for _, w := range []string{"incr", "decr", "add", "replace", "cas", "touch"} {
		x, _, _, _ := ratio(w, 64, 2, 1)
		targets = append(targets, target{fmt.Sprintf("%s, 64 goroutines, GOMAXPROCS=2: ≥ 1.0× gomemcache", names[w]),
			fmt.Sprintf("%.2f×", x), x >= 1})
	}
	x, _, _, _ := ratio("mix80/15/5", 64, 2, 1)
	targets = append(targets, target{"mix80/15/5, 64 goroutines, GOMAXPROCS=2: reported", fmt.Sprintf("%.2f×", x), true})
	return b.String(), targets
}

type target struct {
	name, measured string
	ok             bool
}

func bold(x, min float64) string {
	if x < min {
		return fmt.Sprintf("**%.2f**", x)
	}
	return fmt.Sprintf("%.2f", x)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }
