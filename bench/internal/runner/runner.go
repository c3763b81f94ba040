// Package runner is the Go side of bench/single's client programs: it runs
// the phases named on the command line through one client, one phase after
// another in this process, and prints each phase's wall time and this
// process's CPU (getrusage RUSAGE_SELF: user + system, every thread) in the
// line format bench/single/c/single.c prints too (see bench/single/README.md).
package runner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Client is what a program under test offers. Every program runs the same
// loops over it, so the clients differ only in what they do per call.
type Client interface {
	Set(key string, value []byte) error
	// Get returns the value's length.
	Get(key string) (int, error)
	// GetMulti returns how many keys were found; each found value's length
	// is checked against want.
	GetMulti(keys []string, want int) (int, error)
	Incr(key string) error
}

// Skipper is a Client that runs only some phases: Skips reports the ones
// it does not run (they print skipped=1, as a phase a client lacks does).
type Skipper interface {
	Skips(phase string) bool
}

// CountMulti checks the values of a GetMulti's map (value gives each
// item's value) against want bytes and returns how many there are.
func CountMulti[T any](got map[string]T, value func(T) []byte, want int) (int, error) {
	for k, it := range got {
		if n := len(value(it)); n != want {
			return 0, fmt.Errorf("GetMulti %s: %d bytes, want %d", k, n, want)
		}
	}
	return len(got), nil
}

// Funcs is a Client made of functions: the programs for clients with
// gomemcache's API (gomemcache, the memcache package) differ only in them.
type Funcs struct {
	SetFn      func(key string, value []byte) error
	GetFn      func(key string) ([]byte, error)
	GetMultiFn func(keys []string, want int) (int, error)
	IncrFn     func(key string) error
}

func (f Funcs) Set(key string, value []byte) error { return f.SetFn(key, value) }
func (f Funcs) Incr(key string) error              { return f.IncrFn(key) }
func (f Funcs) GetMulti(keys []string, want int) (int, error) {
	return f.GetMultiFn(keys, want)
}

func (f Funcs) Get(key string) (int, error) {
	v, err := f.GetFn(key)
	return len(v), err
}

// gomemcacheAPI is the part of gomemcache's Client (and of the memcache
// package's, with its own Item type I) the phases use.
type gomemcacheAPI[I any] interface {
	Get(key string) (*I, error)
	GetMulti(keys []string) (map[string]*I, error)
	Increment(key string, delta uint64) (uint64, error)
}

// GomemcacheStyle makes a Client of c, a client with gomemcache's API;
// set stores a value and value reads an item's.
func GomemcacheStyle[I any](c gomemcacheAPI[I], set func(key string, value []byte) error, value func(*I) []byte) Client {
	return Funcs{
		SetFn: set,
		GetFn: func(k string) ([]byte, error) {
			it, err := c.Get(k)
			if err != nil {
				return nil, err
			}
			return value(it), nil
		},
		GetMultiFn: func(ks []string, want int) (int, error) {
			got, err := c.GetMulti(ks)
			if err != nil {
				return 0, err
			}
			return CountMulti(got, value, want)
		},
		IncrFn: func(k string) error { _, err := c.Increment(k, 1); return err },
	}
}

// MultiFuncer is a client with a GetMulti that hands each item to fn
// instead of returning a map (golibmc's GetMultiFunc, once it exists).
type MultiFuncer interface {
	GetMultiFunc(keys []string, fn func(key string, value []byte) error) error
}

// SetMultier is a client with a multi-key store; without one the
// setmulti1000 phase is one Set call per key.
type SetMultier interface {
	// SetMulti returns a call storing value under every key in one call
	// (the items are built once, before the phase's clock starts).
	SetMulti(keys []string, value []byte) func() error
}

// NKeys is how many keys the phases spread their operations over.
const NKeys = 1000

var (
	keys     = func() []string { k := make([]string, NKeys); fillKeys(k); return k }()
	value100 = bytes.Repeat([]byte("v"), 100)
	value10k = bytes.Repeat([]byte("w"), 10240)
)

func fillKeys(k []string) {
	for i := range k {
		k[i] = "bench:k" + strconv.Itoa(i)
	}
}

// window returns n keys starting at from, wrapping (as the C program's mget).
func window(from, n int) []string {
	out := make([]string, n)
	for j := range out {
		out[j] = keys[(from+j)%NKeys]
	}
	return out
}

// Main runs the phases of os.Args[2] (PHASE:COUNT,...) against the server
// os.Args[1] through the client made by open, and exits.
func Main(label string, open func(addr string) (Client, error)) {
	if len(os.Args) != 3 {
		fmt.Fprintf(os.Stderr, "usage: %s HOST:PORT PHASE:COUNT[,PHASE:COUNT...]\n", os.Args[0])
		os.Exit(2)
	}
	c, err := open(os.Args[1])
	if err != nil {
		fail(label, err)
	}
	gcFirst := os.Getenv("BENCH_GC_BEFORE_PHASE") == "1" // for the measurement's own checks
	for _, tok := range strings.Split(os.Args[2], ",") {
		name, count, ok := strings.Cut(tok, ":")
		n, err := strconv.Atoi(count)
		if !ok || err != nil || n < 0 {
			fmt.Fprintf(os.Stderr, "%s: phase %q is not NAME:COUNT\n", label, tok)
			os.Exit(2)
		}
		loop, units := phaseOf(c, name, n)
		if loop == nil {
			fmt.Printf("phase=%s skipped=1\n", name)
			continue
		}
		if gcFirst {
			runtime.GC()
		}
		s, err := measure(loop)
		if err != nil {
			fail(label, fmt.Errorf("%s: %w", name, err))
		}
		fmt.Printf("phase=%s ops=%d units=%d %s threads=%d\n", name, n, units, s, threads())
	}
}

func fail(label string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", label, err)
	os.Exit(1)
}

// phaseOf is phase for a name as given (a warm-up runs its phase's loop),
// nil when the client skips it (Skipper).
func phaseOf(c Client, name string, n int) (func() error, int) {
	name = strings.TrimPrefix(name, "warm-")
	if sk, ok := c.(Skipper); ok && sk.Skips(name) {
		return nil, 0
	}
	return phase(c, name, n)
}

// phase returns the loop of phase name run n times and the units it does
// (operations, or keys for the multi-key reads); nil if the client has no
// such phase.
func phase(c Client, name string, n int) (func() error, int) {
	repeat := func(fn func(i int) error) func() error {
		return func() error {
			for i := 0; i < n; i++ {
				if err := fn(i); err != nil {
					return err
				}
			}
			return nil
		}
	}
	get := func(key string, want int) error {
		l, err := c.Get(key)
		if err == nil && l != want {
			err = fmt.Errorf("get %s: %d bytes, want %d", key, l, want)
		}
		return err
	}
	switch name {
	case "set":
		return repeat(func(i int) error { return c.Set(keys[i%NKeys], value100) }), n
	case "get":
		return repeat(func(i int) error { return get(keys[i%NKeys], len(value100)) }), n
	case "getmulti", "getmulti10", "getmulti1000":
		k := 100
		if name != "getmulti" {
			k, _ = strconv.Atoi(strings.TrimPrefix(name, "getmulti"))
		}
		groups := multiGroups(k)
		return repeat(func(i int) error {
			got, err := c.GetMulti(groups[i%len(groups)], len(value100))
			if err == nil && got != k {
				err = fmt.Errorf("GetMulti: %d of %d keys", got, k)
			}
			return err
		}), n * k
	case "getmultifunc":
		mf, ok := c.(MultiFuncer)
		if !ok {
			return nil, 0
		}
		groups := multiGroups(100)
		got := 0
		fn := func(key string, value []byte) error {
			if len(value) != len(value100) {
				return fmt.Errorf("GetMultiFunc %s: %d bytes", key, len(value))
			}
			got++
			return nil
		}
		return repeat(func(i int) error {
			got = 0
			err := mf.GetMultiFunc(groups[i%len(groups)], fn)
			if err == nil && got != 100 {
				err = fmt.Errorf("GetMultiFunc: %d of 100 keys", got)
			}
			return err
		}), n * 100
	case "set1":
		return repeat(func(int) error { return c.Set("bench:one", value100) }), n
	case "get1":
		if err := c.Set("bench:one", value100); err != nil {
			return func() error { return err }, n
		}
		return repeat(func(int) error { return get("bench:one", len(value100)) }), n
	case "set10k":
		return repeat(func(int) error { return c.Set("bench:big", value10k) }), n
	case "get10k":
		if err := c.Set("bench:big", value10k); err != nil {
			return func() error { return err }, n
		}
		return repeat(func(int) error { return get("bench:big", len(value10k)) }), n
	case "setmulti1000":
		if sm, ok := c.(SetMultier); ok {
			call := sm.SetMulti(keys, value100)
			return repeat(func(int) error { return call() }), n
		}
		fallthrough
	case "set1000seq":
		return repeat(func(int) error {
			for _, k := range keys {
				if err := c.Set(k, value100); err != nil {
					return err
				}
			}
			return nil
		}), n
	case "incr":
		if err := c.Set("bench:ctr", []byte("0")); err != nil {
			return func() error { return err }, n
		}
		return repeat(func(int) error { return c.Incr("bench:ctr") }), n
	case "pget8", "pset8", "pget8p4":
		per := n / 8
		op := func(i int) error { return get(keys[i%NKeys], len(value100)) }
		if name == "pset8" {
			op = func(i int) error { return c.Set(keys[i%NKeys], value100) }
		}
		loop := func() error { return parallel(8, per, op) }
		if name == "pget8p4" {
			loop = func() error {
				prev := runtime.GOMAXPROCS(4)
				defer runtime.GOMAXPROCS(prev)
				return parallel(8, per, op)
			}
		}
		return loop, per * 8
	}
	return nil, 0
}

// multiGroups are the key sets of the multi-key reads: consecutive windows
// of k keys, as the C program's.
func multiGroups(k int) [][]string {
	var out [][]string
	for from := 0; ; from += k {
		out = append(out, window(from%NKeys, k))
		if (from+k)%NKeys == 0 || len(out) == NKeys {
			return out
		}
	}
}

// parallel runs op per times in each of g goroutines.
func parallel(g, per int, op func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, g)
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if err := op(w*per + i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sample is one phase's measurement, printed as key=value fields.
type sample struct {
	wall, user, sys       time.Duration
	nvcsw, nivcsw, minflt int64
	allocs, gcs           uint64
}

func (s sample) String() string {
	return fmt.Sprintf("wall_ns=%d cpu_ns=%d user_ns=%d sys_ns=%d nvcsw=%d nivcsw=%d minflt=%d allocs=%d gcs=%d",
		s.wall.Nanoseconds(), (s.user + s.sys).Nanoseconds(), s.user.Nanoseconds(), s.sys.Nanoseconds(),
		s.nvcsw, s.nivcsw, s.minflt, s.allocs, s.gcs)
}

// measure runs loop between two readings of the clocks and counters. The
// heap counters come from runtime.ReadMemStats, exact (it stops the world
// and flushes the per-P caches), read outside the timed part.
func measure(loop func() error) (sample, error) {
	var m0, m1 runtime.MemStats
	var r0, r1 syscall.Rusage
	runtime.ReadMemStats(&m0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	t0 := time.Now()
	err := loop()
	wall := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	runtime.ReadMemStats(&m1)
	return sample{
		wall:   wall,
		user:   time.Duration(r1.Utime.Nano() - r0.Utime.Nano()),
		sys:    time.Duration(r1.Stime.Nano() - r0.Stime.Nano()),
		nvcsw:  r1.Nvcsw - r0.Nvcsw,
		nivcsw: r1.Nivcsw - r0.Nivcsw,
		minflt: r1.Minflt - r0.Minflt,
		allocs: m1.Mallocs - m0.Mallocs,
		gcs:    uint64(m1.NumGC - m0.NumGC),
	}, err
}

// threads is this process's number of OS threads (after a phase: how many
// the runtime made).
func threads() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return -1
}
