package libmemcached_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// chaosTime is how long TestEveryKeyAnItemOrAnError runs its random
// faults: GOLIBMC_COMEBACK (a duration) for a longer run, else 2 s.
func chaosTime(t *testing.T) time.Duration {
	if s := os.Getenv("GOLIBMC_COMEBACK"); s != "" {
		d, err := time.ParseDuration(s)
		require.NoError(t, err, "GOLIBMC_COMEBACK")
		return d
	}
	return 2 * time.Second
}

// readTally counts what a client's reads gave while servers failed and
// came back.
type readTally struct {
	reads, items, errs, wrong atomic.Int64
	mu                        sync.Mutex
	misses                    []string // keys reported as clean misses
	byGet                     []bool   // per miss: reported by a Get
}

func (r *readTally) miss(k string, byGet bool) {
	r.mu.Lock()
	if len(r.misses) < 5000 {
		r.misses = append(r.misses, k)
		r.byGet = append(r.byGet, byGet)
	}
	r.mu.Unlock()
}

// read reads ks (one key: Get, more: GetMulti) and tallies each key: its
// item, an error, or a clean miss.
func (r *readTally) read(c *mc.Client, ks []string) {
	ctx, cancel := context.WithTimeout(bg(), 5*time.Second)
	defer cancel()
	if len(ks) == 1 {
		r.reads.Add(1)
		it, err := c.Get(ctx, ks[0])
		switch {
		case err == nil:
			r.items.Add(1)
			if string(it.Value) != "v-"+ks[0] {
				r.wrong.Add(1)
			}
		case errors.Is(err, mc.ErrCacheMiss):
			r.miss(ks[0], true)
		default:
			r.errs.Add(1)
		}
		return
	}
	found, err := c.GetMulti(ctx, ks)
	var me *mc.MultiError
	errors.As(err, &me)
	for _, k := range ks {
		r.reads.Add(1)
		switch {
		case found[k] != nil:
			r.items.Add(1)
			if string(found[k].Value) != "v-"+k {
				r.wrong.Add(1)
			}
		case me != nil && me.Errors[k] != nil, err != nil && me == nil:
			r.errs.Add(1)
		default:
			r.miss(k, false)
		}
	}
}

// untilStopped runs fn over and over in n goroutines (i: which one),
// counted in wg, until stop is closed.
func untilStopped(stop <-chan struct{}, wg *sync.WaitGroup, n int, fn func(i int)) {
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		}()
	}
}

// TestEveryKeyAnItemOrAnError is the class test for reads through server
// failures. Three servers, each behind a proxy that fails the way a
// restarting server does (refusing connections, then back; resetting
// every connection) while the data stays on the server. Every
// combination of poll mode, protocol and retry behavior (libmemcached's
// defaults, retry_timeout 0 and 1) has two clients: one handle reading
// all 3,000 keys with GetMulti back to back, and a pool serving
// goroutines of Get (queued Gets go out together, in one multi-key read).
// First each server in turn fails and comes back under the
// retry_timeout 0 combinations (libmemcached retried a failed server at
// its next whole second, in the middle of a read); then, for
// GOLIBMC_COMEBACK (2 s), servers fail, come back and have their
// connections reset at random under every combination. Every key must
// come back as its item or with an error: never as a clean miss for a key
// the server holds (each reported miss is checked against the server
// itself, over a raw socket).
func TestEveryKeyAnItemOrAnError(t *testing.T) {
	const nKeys = 3000
	proxies := make([]*mctest.Proxy, 3)
	addrs := make([]string, len(proxies))
	for i := range proxies {
		proxies[i] = mctest.StartProxy(t, mctest.Start(t).Addr)
		addrs[i] = proxies[i].Addr
	}
	keys := make([]string, nKeys)
	items := make([]*mc.Item, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprint("cb-", i)
		items[i] = &mc.Item{Key: keys[i], Value: []byte("v-" + keys[i])}
	}
	seed, err := mc.New(addrs)
	require.NoError(t, err)
	require.NoError(t, seed.SetMulti(bg(), items))
	backendOf := map[string]string{}
	for _, p := range proxies {
		backendOf[p.Addr] = p.Backend
	}
	where := map[string]string{}
	for _, k := range keys {
		s, err := seed.ServerForKey(k)
		require.NoError(t, err)
		where[k] = backendOf[s]
	}
	seed.Close()

	type combo struct {
		name        string
		multi, gets *mc.Client // one handle; a pool
		tally       *readTally
	}
	var combos []*combo
	for _, mode := range []mc.PollMode{mc.PollAuto, mc.PollAlways, mc.PollNever} {
		for _, binary := range []bool{false, true} {
			for _, retry := range []int{-1, 0, 1} {
				b := map[string]any{"binary_protocol": binary}
				name := fmt.Sprintf("mode=%d/binary=%v/retry_timeout=", mode, binary)
				if retry < 0 {
					name += "default"
				} else {
					b["retry_timeout"] = retry
					name += fmt.Sprint(retry)
				}
				cb := &combo{name: name, tally: &readTally{}}
				for _, c := range []**mc.Client{&cb.multi, &cb.gets} {
					size := 1
					if c == &cb.gets {
						size = mc.DefaultPoolSize()
					}
					var err error
					*c, err = mc.New(addrs, mc.WithPollMode(mode), mc.WithPoolSize(size), mc.WithBehaviors(b))
					require.NoError(t, err)
					t.Cleanup(func() { (*c).Close() })
				}
				combos = append(combos, cb)
			}
		}
	}
	// run starts the readers, runs the faults, then stops the readers.
	var wg sync.WaitGroup
	run := func(readers func(stop <-chan struct{}), faults func()) {
		stop := make(chan struct{})
		readers(stop)
		faults()
		close(stop)
		wg.Wait()
	}
	multis := func(stop <-chan struct{}, combos []*combo) {
		for _, cb := range combos {
			untilStopped(stop, &wg, 1, func(int) { cb.tally.read(cb.multi, keys) })
		}
	}
	gets := func(stop <-chan struct{}, combos []*combo, n int) {
		for i, cb := range combos {
			rngs := make([]*rand.Rand, n)
			for g := range rngs {
				rngs[g] = rand.New(rand.NewSource(int64(i*n + g)))
			}
			untilStopped(stop, &wg, n, func(g int) { cb.tally.read(cb.gets, keys[rngs[g].Intn(nKeys):][:1]) })
		}
	}

	// A failed server comes back, three times, under GetMulti back to back
	// and under Gets queued enough to go out in batches; with retry_timeout
	// 0, as the memcache package sets it (libmemcached retries a failed
	// server at its next whole second).
	var rt0 []*combo
	for _, cb := range combos {
		if strings.HasSuffix(cb.name, "retry_timeout=0") {
			rt0 = append(rt0, cb)
		}
	}
	run(func(stop <-chan struct{}) { multis(stop, rt0); gets(stop, rt0, 8) }, func() {
		for _, p := range proxies {
			p.Down()
			var meet sync.WaitGroup
			for _, cb := range rt0 { // every handle meets the failed server
				meet.Add(1)
				go func() { defer meet.Done(); cb.tally.read(cb.multi, keys) }()
			}
			meet.Wait()
			p.Up()
			time.Sleep(1100 * time.Millisecond)
		}
	})

	// Random faults, every combination: one server at a time refuses
	// connections for a while and comes back; while it is back, every
	// connection to one server or another is reset now and then.
	run(func(stop <-chan struct{}) { multis(stop, combos); gets(stop, combos, 8) }, func() {
		rng := rand.New(rand.NewSource(1))
		pause := func(lo, hi int) { time.Sleep(time.Duration(lo+rng.Intn(hi-lo)) * time.Millisecond) }
		for end, round := time.Now().Add(chaosTime(t)), 0; time.Now().Before(end); round++ {
			p := proxies[round%len(proxies)]
			p.Down()
			pause(50, 400)
			p.Up()
			for i := 0; i < 4; i++ {
				pause(50, 250)
				if i%2 == 1 {
					proxies[rng.Intn(len(proxies))].Reset()
				}
			}
		}
	})

	for _, p := range proxies {
		p.Up()
	}
	for _, cb := range combos {
		t.Run(cb.name, func(t *testing.T) {
			tl := cb.tally
			held, byGet := 0, 0
			for i, k := range tl.misses {
				if rawHas(t, where[k], k) {
					held++
					if tl.byGet[i] {
						byGet++
					}
				}
			}
			t.Logf("%d reads: %d items, %d errors, %d clean misses of keys the server holds (%d by a Get; of %d misses)",
				tl.reads.Load(), tl.items.Load(), tl.errs.Load(), held, byGet, len(tl.misses))
			assert.Zero(t, held, "clean misses for keys the server holds, e.g. %v", tl.misses[:min(5, len(tl.misses))])
			assert.Zero(t, tl.wrong.Load(), "items with another key's value")
			assert.NotZero(t, tl.items.Load())
		})
	}
}

// TestStaleServerErrorNotReported: a server's error outlives the call that
// recorded it (libmemcached clears a server's last error only when a later
// call records another), so an error from an earlier call must not fail a
// later read of that server: after server 1 failed and came back, a read
// while server 2 fails reports errors for server 2's keys only, and the
// other servers' absent keys as clean misses.
func TestStaleServerErrorNotReported(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprint("binary=", binary), func(t *testing.T) {
			proxies := make([]*mctest.Proxy, 3)
			addrs := make([]string, len(proxies))
			for i := range proxies {
				proxies[i] = mctest.StartProxy(t, mctest.Start(t).Addr)
				addrs[i] = proxies[i].Addr
			}
			c, err := mc.New(addrs, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"retry_timeout": 0, "binary_protocol": binary}))
			require.NoError(t, err)
			defer c.Close()
			keys := make([]string, 300)
			on := map[string]string{}
			for i := range keys {
				keys[i] = fmt.Sprint("stale-", i)
				if i%2 == 0 { // the odd ones are absent
					require.NoError(t, c.Set(bg(), &mc.Item{Key: keys[i], Value: []byte("v")}))
				}
				on[keys[i]], err = c.ServerForKey(keys[i])
				require.NoError(t, err)
			}
			failing := func(want string) {
				t.Helper()
				found, err := c.GetMulti(bg(), keys)
				var me *mc.MultiError
				if want != "" {
					require.ErrorAs(t, err, &me)
				} else {
					require.NoError(t, err)
				}
				for i, k := range keys {
					switch {
					case on[k] == want:
						assert.ErrorIs(t, me.Errors[k], mc.ErrServerDown, k)
					case i%2 == 0:
						assert.NotNil(t, found[k], "%s on %s", k, on[k])
					case me != nil:
						assert.NoError(t, me.Errors[k], "%s, absent, on %s", k, on[k])
					}
				}
			}
			proxies[1].Down()
			failing(addrs[1])
			proxies[1].Up()
			for i := 0; ; i++ { // back from the next call (retry_timeout 0)
				if _, err := c.GetMulti(bg(), keys); err == nil {
					break
				}
				require.Less(t, i, 1000, "server 1 never used again")
			}
			proxies[2].Down()
			failing(addrs[2])
			proxies[2].Up()
		})
	}
}

// refused reports whether err is the client's refusal to try a server it
// has seen fail (libmemcached's SERVER_TEMPORARILY_DISABLED).
func refused(err error) bool {
	var e *mc.Error
	return errors.As(err, &e) && e.Code == mc.ReturnServerTemporarilyDisabled
}

// TestServerBackUsedAgain: a server that failed is tried again from the
// next call with retry_timeout 0, and at most retry_timeout after it
// failed otherwise (libmemcached counts the retry time in whole seconds and
// waits for the next one: up to a second more), on every pooled handle:
// once it is back, a call started after that (retry_timeout 0), or
// retry_timeout later, is never refused.
func TestServerBackUsedAgain(t *testing.T) {
	for _, tc := range []struct {
		retry  int
		binary bool
		rounds int
	}{{0, false, 3}, {0, true, 3}, {1, false, 1}} {
		t.Run(fmt.Sprintf("retry_timeout=%d/binary=%v", tc.retry, tc.binary), func(t *testing.T) {
			p := mctest.StartProxy(t, mctest.Start(t).Addr)
			c, err := mc.New([]string{mctest.Start(t).Addr, p.Addr}, mc.WithPoolSize(4),
				mc.WithBehaviors(map[string]any{"retry_timeout": tc.retry, "binary_protocol": tc.binary}))
			require.NoError(t, err)
			defer c.Close()
			k := keyOn(t, c, p.Addr, "back")
			require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")}))
			grace := time.Duration(tc.retry) * time.Second
			total, late, other := 0, 0, 0
			var last time.Duration
			for round := 0; round < tc.rounds; round++ {
				up, calls := p.Bounce(8, 20, grace+200*time.Millisecond, func() error {
					_, err := c.Get(bg(), k)
					return err
				})
				for _, cl := range calls {
					switch {
					case refused(cl.Err):
						total++
						last = max(last, cl.Start.Sub(up))
						if cl.Start.Sub(up) >= grace {
							late++
						}
					case cl.Err != nil:
						other++
					}
				}
			}
			t.Logf("%d rounds: %d calls refused after the server was back (the last %v after), %d of them %v or more after; %d other errors",
				tc.rounds, total, last, late, grace, other)
			assert.Zero(t, late, "calls refused though the server was back (and retry_timeout had passed)")
		})
	}
}
