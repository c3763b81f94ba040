// Command sidebyside runs the same workloads through gomemcache, the
// memcache package (this repository's drop-in for it) and, for reference,
// the libmemcached package with gomemcache's placement, against one
// memcached, in alternating rounds (the order of the clients rotates each
// round), and prints the medians of each client's operations per second and
// the median of the per-round ratios to gomemcache.
//
//	../../scripts/with-memcached.sh go run ./cmd/sidebyside -rounds 7
//
// (with-memcached.sh starts memcached on a free port and passes its
// address as the last argument; -addr gives one instead.)
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	gm "github.com/bradfitz/gomemcache/memcache"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/stats"
	"github.com/golibmc/libmemcached/memcache"
)

// ops is one client's implementation of each workload's operation.
type ops struct {
	name     string
	get      func(key string) error
	set      func(key string, value []byte) error
	getMulti func(keys []string) error
}

// workload runs n operations of one kind with some goroutines.
type workload struct {
	name       string
	about      string
	n          int
	goroutines int
	run        func(o *ops, i int) error
}

func main() {
	addr := flag.String("addr", "", "memcached address (default: the last argument)")
	rounds := flag.Int("rounds", 7, "rounds of every workload and client")
	scale := flag.Float64("scale", 1, "multiplies each workload's number of operations")
	only := flag.String("only", "", "comma-separated workload names to run (default: all)")
	solo := flag.String("solo", "", "run only this client (for profiling it; no ratios)")
	flag.Parse()
	if *addr == "" && flag.NArg() > 0 {
		*addr = flag.Arg(flag.NArg() - 1)
	}
	if *addr == "" {
		log.Fatal("no memcached address: -addr host:port, or run under scripts/with-memcached.sh")
	}

	g := gm.New(*addr)
	g.MaxIdleConns = 8
	m := memcache.New(*addr)
	l, err := libmemcached.New([]string{*addr}, libmemcached.WithGomemcachePlacement())
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	clients := []*ops{
		{
			name:     "gomemcache",
			get:      func(k string) error { _, err := g.Get(k); return err },
			set:      func(k string, v []byte) error { return g.Set(&gm.Item{Key: k, Value: v}) },
			getMulti: func(keys []string) error { _, err := g.GetMulti(keys); return err },
		},
		{
			name:     "memcache",
			get:      func(k string) error { _, err := m.Get(k); return err },
			set:      func(k string, v []byte) error { return m.Set(&memcache.Item{Key: k, Value: v}) },
			getMulti: func(keys []string) error { _, err := m.GetMulti(keys); return err },
		},
		{
			name:     "libmemcached",
			get:      func(k string) error { _, err := l.Get(ctx, k); return err },
			set:      func(k string, v []byte) error { return l.Set(ctx, &libmemcached.Item{Key: k, Value: v}) },
			getMulti: func(keys []string) error { _, err := l.GetMulti(ctx, keys); return err },
		},
	}

	if *solo != "" {
		var keep []*ops
		for _, o := range clients {
			if o.name == *solo || o.name == "gomemcache" {
				keep = append(keep, o) // gomemcache writes the keys
			}
		}
		clients = keep
	}
	v100 := []byte(strings.Repeat("v", 100))
	v10k := []byte(strings.Repeat("v", 10<<10))
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("sidebyside:%d", i)
		if err := clients[0].set(keys[i], v100); err != nil {
			log.Fatal(err)
		}
	}
	if err := clients[0].set("sidebyside:10k", v10k); err != nil {
		log.Fatal(err)
	}
	sc := func(n int) int { return max(1, int(float64(n)*(*scale))) }
	workloads := []workload{
		{"get100", "Get of a 100 B value, 1 goroutine", sc(20000), 1, func(o *ops, i int) error { return o.get(keys[i%len(keys)]) }},
		{"set100", "Set of a 100 B value, 1 goroutine", sc(20000), 1, func(o *ops, i int) error { return o.set(keys[i%len(keys)], v100) }},
		{"get10k", "Get of a 10 KiB value, 1 goroutine", sc(10000), 1, func(o *ops, i int) error { return o.get("sidebyside:10k") }},
		{"getmulti100", "GetMulti of 100 keys, 1 goroutine (ops = calls)", sc(1000), 1, func(o *ops, i int) error {
			j := (i * 100) % len(keys)
			return o.getMulti(keys[j : j+100])
		}},
		{"pget8", "Get of a 100 B value, 8 goroutines", sc(40000), 8, func(o *ops, i int) error { return o.get(keys[i%len(keys)]) }},
	}

	if *only != "" {
		var keep []workload
		for _, w := range workloads {
			if strings.Contains(","+*only+",", ","+w.name+",") {
				keep = append(keep, w)
			}
		}
		workloads = keep
	}
	rates := map[string]map[string][]float64{} // workload -> client -> ops/s per round
	cpus := map[string]map[string][]float64{}  // workload -> client -> CPU µs per op per round
	ratios := map[string]map[string][]float64{}
	for _, w := range workloads {
		rates[w.name] = map[string][]float64{}
		cpus[w.name] = map[string][]float64{}
		ratios[w.name] = map[string][]float64{}
	}
	for r := 0; r < *rounds; r++ {
		for _, w := range workloads {
			got := map[string]float64{}
			for k := range clients {
				o := clients[(k+r)%len(clients)]
				if *solo != "" && o.name != *solo {
					continue
				}
				var cpu float64
				got[o.name], cpu = measure(w, o)
				rates[w.name][o.name] = append(rates[w.name][o.name], got[o.name])
				cpus[w.name][o.name] = append(cpus[w.name][o.name], cpu)
			}
			for _, o := range clients[1:] {
				if *solo != "" {
					break
				}
				ratios[w.name][o.name] = append(ratios[w.name][o.name], got[o.name]/got["gomemcache"])
			}
		}
		fmt.Fprintf(os.Stderr, "round %d/%d done\n", r+1, *rounds)
	}

	fmt.Printf("memcached %s, %d rounds, client order rotating each round; medians of ops/s, and of the per-round ratio to gomemcache\n\n", *addr, *rounds)
	fmt.Println("| workload | gomemcache ops/s | memcache ops/s | libmemcached ops/s | memcache ÷ gomemcache | libmemcached ÷ gomemcache | memcache ÷ libmemcached | CPU µs/op gomemcache | memcache | libmemcached |")
	fmt.Println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, w := range workloads {
		rg, rm, rl := median(rates[w.name]["gomemcache"]), median(rates[w.name]["memcache"]), median(rates[w.name]["libmemcached"])
		fmt.Printf("| %s (%s) | %.0f | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", w.name, w.about, rg, rm, rl,
			median(ratios[w.name]["memcache"]), median(ratios[w.name]["libmemcached"]), rm/rl,
			median(cpus[w.name]["gomemcache"]), median(cpus[w.name]["memcache"]), median(cpus[w.name]["libmemcached"]))
	}
	if _, ok := ratios["get100"]; !ok || *solo != "" {
		return
	}
	r := median(ratios["get100"]["memcache"])
	verdict := "met"
	if r < 1.5 {
		verdict = "MISSED"
	}
	fmt.Printf("\ntarget: memcache single-goroutine Get >= 1.5x gomemcache: %.2fx, %s\n", r, verdict)
}

// measure runs w's operations through o and returns operations per second
// and the process's CPU time (user + system) per operation in µs.
func measure(w workload, o *ops) (float64, float64) {
	cpu0 := cpuTime()
	start := time.Now()
	done := func() (float64, float64) {
		wall := time.Since(start)
		return float64(w.n) / wall.Seconds(), float64((cpuTime() - cpu0).Microseconds()) / float64(w.n)
	}
	if w.goroutines == 1 {
		for j := 0; j < w.n; j++ {
			if err := w.run(o, j); err != nil {
				log.Fatalf("%s %s: %v", o.name, w.name, err)
			}
		}
		return done()
	}
	var wg sync.WaitGroup
	var next sync.Mutex
	i := 0
	for g := 0; g < w.goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				next.Lock()
				j := i
				i++
				next.Unlock()
				if j >= w.n {
					return
				}
				if err := w.run(o, j); err != nil {
					log.Fatalf("%s %s: %v", o.name, w.name, err)
				}
			}
		}()
	}
	wg.Wait()
	return done()
}

// cpuTime is the process's user plus system time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		log.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// median is the shared stats.Median.
var median = stats.Median
