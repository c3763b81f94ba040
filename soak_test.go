package libmemcached_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// errorKind names an error by the sentinel it matches.
func errorKind(err error) string {
	for _, s := range []struct {
		name string
		err  error
	}{
		{"ErrCacheMiss", mc.ErrCacheMiss}, {"ErrNotStored", mc.ErrNotStored}, {"ErrCASConflict", mc.ErrCASConflict},
		{"ErrTimeout", mc.ErrTimeout}, {"ErrServerDown", mc.ErrServerDown}, {"ErrServerError", mc.ErrServerError},
		{"ErrProtocol", mc.ErrProtocol}, {"ErrNotNumeric", mc.ErrNotNumeric},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other: " + err.Error()
}

// TestSoak runs 16 goroutines of mixed operations against 3 servers while
// one of them is killed and restarted again and again. Nothing may panic
// or race, and every value read back must be one written for that key.
// GOLIBMC_SOAK=2m (make soak) runs it for 2 minutes with a kill every 20 s;
// by default it runs 6 s with a kill every 2 s.
func TestSoak(t *testing.T) {
	duration, every := 6*time.Second, 2*time.Second
	if v := os.Getenv("GOLIBMC_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err)
		duration, every = d, 20*time.Second
	}
	servers := mctest.StartN(t, 3)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(8), mc.WithBehaviors(map[string]any{
		"distribution": "consistent ketama", "_poll_timeout": 500, "connect_timeout": 500, "retry_timeout": 1,
	}))
	require.NoError(t, err)
	defer c.Close()

	var (
		mu     sync.Mutex
		kinds  = map[string]int{}
		bad    []string
		ops    atomic.Int64
		reads  atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
		record = func(err error) {
			if err == nil {
				return
			}
			var me *mc.MultiError
			mu.Lock()
			defer mu.Unlock()
			if errors.As(err, &me) {
				for _, e := range me.Errors {
					kinds[errorKind(e)]++
				}
				return
			}
			kinds[errorKind(err)]++
		}
		check = func(key string, value []byte) {
			reads.Add(1)
			if !bytes.HasPrefix(value, []byte(key+"|")) {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s = %.40q", key, value))
				mu.Unlock()
			}
		}
	)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			keys := make([]string, 20)
			for i := range keys {
				keys[i] = fmt.Sprintf("soak-%d-%d", w, i)
			}
			value := func(k string, seq int) []byte {
				return []byte(fmt.Sprintf("%s|%d|%s", k, seq, strings.Repeat("x", r.IntN(2000))))
			}
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				k := keys[r.IntN(len(keys))]
				switch r.IntN(8) {
				case 0, 1:
					record(c.Set(bg(), &mc.Item{Key: k, Value: value(k, seq)}))
				case 2, 3:
					it, err := c.Get(bg(), k)
					record(err)
					if err == nil {
						check(k, it.Value)
					}
				case 4:
					got, err := c.GetMulti(bg(), keys[:5+r.IntN(15)])
					record(err)
					for gk, it := range got {
						check(gk, it.Value)
					}
				case 5:
					items := make([]*mc.Item, 5)
					for i := range items {
						kk := keys[r.IntN(len(keys))]
						items[i] = &mc.Item{Key: kk, Value: value(kk, seq)}
					}
					record(c.SetMulti(bg(), items))
				case 6:
					record(c.Delete(bg(), k))
				case 7:
					ctr := fmt.Sprintf("soak-ctr-%d", w)
					if _, err := c.Increment(bg(), ctr, 1); errors.Is(err, mc.ErrCacheMiss) {
						record(c.Add(bg(), &mc.Item{Key: ctr, Value: []byte("0")}))
					} else {
						record(err)
					}
				}
				ops.Add(1)
			}
		}(w)
	}
	deadline := time.Now().Add(duration)
	kills := 0
	for time.Now().Add(every).Before(deadline.Add(time.Millisecond)) {
		time.Sleep(every / 2)
		servers[1].Stop()
		kills++
		time.Sleep(every / 2)
		servers[1].Restart(t)
	}
	time.Sleep(time.Until(deadline))
	close(stop)
	wg.Wait()

	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	var summary strings.Builder
	for _, k := range names {
		fmt.Fprintf(&summary, " %s=%d", k, kinds[k])
	}
	t.Logf("soak: %v, %d operations, %d values read back and checked, %d kill/restart cycles; errors by kind:%s",
		duration, ops.Load(), reads.Load(), kills, summary.String())
	require.Empty(t, bad, "values read back that were never written for their key")
	for k := range kinds {
		require.False(t, strings.HasPrefix(k, "other"), "unexpected error kind %s", k)
	}
	require.Greater(t, reads.Load(), int64(100))
	st := c.PoolStats()
	require.Zero(t, st.InUse)
	// After the last restart the client works for every key again.
	require.Eventually(t, func() bool {
		for i := 0; i < 50; i++ {
			k := fmt.Sprint("final-", i)
			if c.Set(bg(), &mc.Item{Key: k, Value: []byte(k + "|")}) != nil {
				return false
			}
		}
		return true
	}, 10*time.Second, 200*time.Millisecond)
}
