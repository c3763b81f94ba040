package libmemcached_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// degradedPool starts three servers, fills 30 keys (10 per server), then
// kills (dead) or stops (hung) the middle one.
func degradedPool(t *testing.T, opts []mc.Option, hung bool) (*mc.Client, []*mctest.Server, map[string][]string) {
	servers := mctest.StartN(t, 3)
	opts = append([]mc.Option{mc.WithBehaviors(map[string]any{"distribution": "consistent ketama", "_poll_timeout": 300, "retry_timeout": 30})}, opts...)
	c, err := mc.New(mctest.Addrs(servers), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	keys := map[string][]string{}
	for i := 0; len(keys[servers[0].Addr]) < 10 || len(keys[servers[1].Addr]) < 10 || len(keys[servers[2].Addr]) < 10; i++ {
		k := fmt.Sprint("deg", i)
		s, err := c.ServerForKey(k)
		require.NoError(t, err)
		if len(keys[s]) < 10 {
			keys[s] = append(keys[s], k)
			require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
		}
	}
	if hung {
		servers[1].Pause()
		t.Cleanup(servers[1].Resume)
	} else {
		servers[1].Stop()
	}
	return c, servers, keys
}

// TestDegradedGetMulti: with one server of three dead or hung, every
// GetMulti returns the other servers' 20 items together with an error for
// each of the failed server's keys, naming it and matching ErrServerDown
// (dead) or ErrTimeout (hung); in both protocols, on every call (not only
// the first), and within its deadline.
func TestDegradedGetMulti(t *testing.T) {
	for _, p := range protocols {
		for _, hung := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/hung=%v", p.name, hung), func(t *testing.T) {
				c, servers, keys := degradedPool(t, p.opts, hung)
				var all []string
				for _, ks := range keys {
					all = append(all, ks...)
				}
				want := mc.ErrServerDown
				if hung {
					want = mc.ErrTimeout
				}
				for call := 0; call < 5; call++ {
					ctx, cancel := context.WithTimeout(bg(), time.Second)
					t0 := time.Now()
					got, err := c.GetMulti(ctx, all)
					elapsed := time.Since(t0)
					cancel()
					require.Len(t, got, 20, "call %d: the healthy servers' items", call)
					for _, k := range keys[servers[1].Addr] {
						require.NotContains(t, got, k)
					}
					require.ErrorIs(t, err, want, "call %d", call)
					var me *mc.MultiError
					require.ErrorAs(t, err, &me, "call %d", call)
					require.Len(t, me.Errors, 10, "call %d: one error per key of the failed server", call)
					for _, k := range keys[servers[1].Addr] {
						var e *mc.Error
						require.ErrorAs(t, me.Errors[k], &e)
						assert.Equal(t, servers[1].Addr, e.Server, "call %d: the error names the failed server", call)
					}
					assert.Less(t, elapsed, 900*time.Millisecond, "call %d", call)
				}
			})
		}
	}
}

// TestDegradedStoresAndDeletes: with one server of three dead or hung,
// SetMulti and DeleteMulti store (delete) every key of the healthy servers
// and fail each of the failed server's keys, naming it and matching
// ErrServerDown (dead) or ErrTimeout (hung), on every call; what they
// report is what a raw read of each healthy server then finds.
func TestDegradedStoresAndDeletes(t *testing.T) {
	for _, p := range protocols {
		for _, hung := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/hung=%v", p.name, hung), func(t *testing.T) {
				c, servers, keys := degradedPool(t, p.opts, hung)
				want := mc.ErrServerDown
				if hung {
					want = mc.ErrTimeout
				}
				check := func(op string, call int, err error) {
					t.Helper()
					var me *mc.MultiError
					require.ErrorAs(t, err, &me, "%s call %d", op, call)
					require.Len(t, me.Errors, 10, "%s call %d: one error per key of the failed server", op, call)
					for _, k := range keys[servers[1].Addr] {
						require.ErrorIs(t, me.Errors[k], want, "%s call %d", op, call)
						var e *mc.Error
						require.ErrorAs(t, me.Errors[k], &e)
						assert.Equal(t, servers[1].Addr, e.Server, "%s call %d: the error names the failed server", op, call)
					}
				}
				healthy := func(value string) {
					t.Helper()
					for _, i := range []int{0, 2} {
						got := rawGet(t, servers[i].Addr, "", keys[servers[i].Addr])
						if value == "" {
							assert.Empty(t, got, servers[i].Addr)
							continue
						}
						require.Len(t, got, 10, servers[i].Addr)
						for k, v := range got {
							assert.Equal(t, value+k, v.value, servers[i].Addr)
						}
					}
				}
				for call := 0; call < 3; call++ {
					value := fmt.Sprint("call", call, "-")
					var items []*mc.Item
					for _, ks := range keys {
						for _, k := range ks {
							items = append(items, &mc.Item{Key: k, Value: []byte(value + k)})
						}
					}
					ctx, cancel := context.WithTimeout(bg(), 2*time.Second)
					check("SetMulti", call, c.SetMulti(ctx, items))
					cancel()
					healthy(value)
				}
				var all []string
				for _, ks := range keys {
					all = append(all, ks...)
				}
				ctx, cancel := context.WithTimeout(bg(), 2*time.Second)
				defer cancel()
				check("DeleteMulti", 0, c.DeleteMulti(ctx, all))
				healthy("")
			})
		}
	}
}

// TestDegradedFanOut: Stats, StatsArg, Version, Ping and FlushAll with one
// server dead and another hung give the healthy server's results and one
// error per failed server, each naming it and matching the right sentinel.
func TestDegradedFanOut(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			servers := mctest.StartN(t, 3)
			opts := append([]mc.Option{mc.WithBehaviors(map[string]any{"_poll_timeout": 300, "connect_timeout": 300})}, p.opts...)
			c, err := mc.New(mctest.Addrs(servers), opts...)
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Stats(bg())
			require.NoError(t, err)
			servers[1].Stop()
			servers[2].Pause()
			defer servers[2].Resume()
			check := func(op string, err error) {
				t.Helper()
				var me *mc.MultiError
				require.ErrorAs(t, err, &me, op)
				require.Len(t, me.Errors, 2, op)
				require.ErrorIs(t, me.Errors[servers[1].Addr], mc.ErrServerDown, op)
				require.ErrorIs(t, me.Errors[servers[2].Addr], mc.ErrTimeout, op)
				var e *mc.Error
				require.ErrorAs(t, me.Errors[servers[2].Addr], &e)
				assert.Equal(t, servers[2].Addr, e.Server, op)
				assert.Equal(t, op, e.Op)
			}
			for round := 0; round < 2; round++ {
				st, err := c.Stats(bg())
				check("Stats", err)
				require.Len(t, st, 1)
				assert.NotEmpty(t, st[servers[0].Addr]["pid"])
				st, err = c.StatsArg(bg(), "settings")
				check("Stats", err)
				assert.NotEmpty(t, st[servers[0].Addr]["maxconns"])
				v, err := c.Version(bg())
				check("Version", err)
				assert.Len(t, v, 1)
				check("Ping", c.Ping(bg()))
				check("FlushAll", c.FlushAll(bg()))
			}
		})
	}
}

// TestErrorNamesItsServer: an error's server, code and message come from
// the call that failed, not from an earlier failure on another server.
func TestErrorNamesItsServer(t *testing.T) {
	servers := mctest.StartN(t, 2)
	dead := fmt.Sprint("127.0.0.1:", mctest.FreePort(t))
	c, err := mc.New([]string{servers[0].Addr, dead, servers[1].Addr}, mc.WithPoolSize(1),
		mc.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
	require.NoError(t, err)
	defer c.Close()
	onDead := keyOn(t, c, dead, "d")
	onA := keyOn(t, c, servers[0].Addr, "a")
	require.ErrorIs(t, c.Set(bg(), &mc.Item{Key: onDead, Value: []byte("x")}), mc.ErrServerDown)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: onA, Value: []byte("text")}))
	_, err = c.Increment(bg(), onA, 1)
	require.ErrorIs(t, err, mc.ErrNotNumeric)
	var e *mc.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, servers[0].Addr, e.Server, "the increment failed on A, not on the dead server")
	assert.NotContains(t, e.Message, "SERVER HAS FAILED")
	// In one SetMulti: A's too-large key carries its own message, the dead
	// server's key its own.
	err = c.SetMulti(bg(), []*mc.Item{{Key: onDead, Value: []byte("x")}, {Key: onA, Value: make([]byte, 2<<20)}})
	var me *mc.MultiError
	require.ErrorAs(t, err, &me)
	require.ErrorAs(t, me.Errors[onA], &e)
	assert.Equal(t, servers[0].Addr, e.Server)
	assert.Equal(t, mc.ReturnE2BIG, e.Code)
	require.ErrorIs(t, me.Errors[onDead], mc.ErrServerDown)
	require.ErrorAs(t, me.Errors[onDead], &e)
	assert.Equal(t, dead, e.Server)
}

// TestServerForKeyAfterEject: once a pooled handle ejected a dead server,
// ServerForKey names the server the key's next Set goes to, and every
// handle of the pool sends it there.
func TestServerForKeyAfterEject(t *testing.T) {
	servers := mctest.StartN(t, 3)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(4), mc.WithBehaviors(map[string]any{
		"distribution": "consistent ketama", "auto_eject": true, "failure_limit": 1, "retry_timeout": 60, "dead_timeout": 60,
	}))
	require.NoError(t, err)
	defer c.Close()
	var keys []string
	for i := 0; len(keys) < 40; i++ {
		k := fmt.Sprint("ej", i)
		if s, _ := c.ServerForKey(k); s == servers[1].Addr {
			keys = append(keys, k)
		}
	}
	servers[1].Stop()
	// Until some handle ejects the server, its keys fail.
	ejected := false
	for i := 0; i < 10 && !ejected; i++ {
		ejected = c.Set(bg(), &mc.Item{Key: keys[0], Value: []byte("x")}) == nil
	}
	require.True(t, ejected, "the server is ejected after failure_limit failures")
	// From now on, from any handle, in parallel.
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, k := range keys {
				assert.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
			}
		}()
	}
	wg.Wait()
	for _, k := range keys {
		s, err := c.ServerForKey(k)
		require.NoError(t, err)
		require.NotEqual(t, servers[1].Addr, s, "ServerForKey no longer names the ejected server")
		require.True(t, rawHas(t, s, k), "key %s is where ServerForKey says (%s)", k, s)
	}
}

// TestSetMultiDeadline: against a hung server SetMulti returns by its
// deadline, however many items it carries: not after a poll timeout (5 s
// here) per chunk, or even one. (The bound is loose on purpose: it tells
// "honours the deadline" from "waits the poll timeout", not a scheduling
// delay.)
func TestSetMultiDeadline(t *testing.T) {
	servers := mctest.StartN(t, 2)
	c, err := mc.New(mctest.Addrs(servers), mc.WithBehaviors(map[string]any{"distribution": "consistent ketama", "_poll_timeout": 5000}))
	require.NoError(t, err)
	defer c.Close()
	servers[1].Pause()
	defer servers[1].Resume()
	for _, n := range []int{10, 5000} {
		for _, d := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond} {
			items := make([]*mc.Item, n)
			for i := range items {
				items[i] = &mc.Item{Key: fmt.Sprint("dl", i), Value: []byte("v")}
			}
			ctx, cancel := context.WithTimeout(bg(), d)
			t0 := time.Now()
			err := c.SetMulti(ctx, items)
			elapsed := time.Since(t0)
			cancel()
			require.ErrorIs(t, err, mc.ErrTimeout)
			assert.Less(t, elapsed, d+2*time.Second, "%d items, deadline %v", n, d)
			t.Logf("%d items, deadline %v: returned after %v", n, d, elapsed.Round(time.Millisecond))
		}
	}
}

// TestCloseDoesNotRunQueuedCalls: calls waiting for a handle get ErrClosed
// while the call in flight still waits on its (paused) server: Close does
// not run them, nor wait for them, nor cut the call in flight short; it
// returns once that call has ended, and PoolStats then reads nothing open
// or in use.
func TestCloseDoesNotRunQueuedCalls(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"_poll_timeout": 60000}))
	require.NoError(t, err)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
	defer s.Resume()
	waiting := make([]func(), 9)
	errs := make(chan error, len(waiting))
	for i := range waiting {
		waiting[i] = func() { _, err := c.Get(bg(), "k"); errs <- err }
	}
	var held *mc.Item
	var heldErr error
	done := queueBehind(t, c, s, func() { held, heldErr = c.Get(bg(), "k") }, waiting...)
	closed := make(chan struct{})
	go func() { defer close(closed); c.Close() }()
	for range waiting {
		require.ErrorIs(t, <-errs, mc.ErrClosed, "a waiting call")
	}
	select {
	case <-done:
		t.Fatal("the call in flight ended while its server was paused")
	case <-closed:
		t.Fatal("Close returned before the call in flight ended")
	default:
	}
	s.Resume()
	<-done
	require.NoError(t, heldErr, "the call in flight runs to its end")
	assert.Equal(t, "v", string(held.Value))
	<-closed
	assert.Equal(t, mc.PoolStats{Size: 1}, c.PoolStats())
}

// TestSetMultiSameKeyTwice: the last item for a key decides: a small value
// then one over the item size leaves the key absent (memcached unlinks it),
// and the error says so.
func TestSetMultiSameKeyTwice(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		err := c.SetMulti(bg(), []*mc.Item{{Key: "twice", Value: []byte("small")}, {Key: "twice", Value: make([]byte, 2<<20)}})
		require.ErrorIs(t, err, mc.ErrTooLarge)
		_, err = c.Get(bg(), "twice")
		require.ErrorIs(t, err, mc.ErrCacheMiss)
		require.NoError(t, c.SetMulti(bg(), []*mc.Item{{Key: "twice", Value: make([]byte, 2<<20)}, {Key: "twice", Value: []byte("small")}}))
		it, err := c.Get(bg(), "twice")
		require.NoError(t, err)
		assert.Equal(t, "small", string(it.Value))
	})
}

// TestNoPurgeAbort: libmemcached "purges" (reads and discards replies with
// a 50 ms timeout) while writing past its watermarks; against a server that
// does not answer in time the purge closes the socket in the middle of the
// write and the next write asserts (io.cc). Stores written back to back,
// and a replicated binary GetMulti, never go past the watermarks here:
// against a hung server they time out, they do not abort.
func TestNoPurgeAbort(t *testing.T) {
	for _, watermark := range []int{500, 2} {
		servers := mctest.StartN(t, 3)
		c, err := mc.New(mctest.Addrs(servers), mc.WithBehaviors(map[string]any{
			"binary_protocol": true, "num_replicas": 1, "distribution": "consistent ketama",
			"_io_msg_watermark": watermark, "_poll_timeout": 200,
		}))
		require.NoError(t, err)
		items := make([]*mc.Item, 100)
		keys := make([]string, 600)
		for i := range keys {
			keys[i] = fmt.Sprint("purge", i)
			if i < len(items) {
				items[i] = &mc.Item{Key: keys[i], Value: make([]byte, 4000)}
			}
		}
		require.NoError(t, c.SetMulti(bg(), items))
		for _, s := range servers {
			s.Pause()
		}
		ctx, cancel := context.WithTimeout(bg(), 500*time.Millisecond)
		require.ErrorIs(t, c.SetMulti(ctx, items), mc.ErrTimeout)
		cancel()
		ctx, cancel = context.WithTimeout(bg(), 500*time.Millisecond)
		_, err = c.GetMulti(ctx, keys)
		cancel()
		require.ErrorIs(t, err, mc.ErrTimeout)
		for _, s := range servers {
			s.Resume()
		}
		got, err := c.GetMulti(bg(), keys[:len(items)])
		require.NoError(t, err, "after the servers come back")
		require.Len(t, got, len(items))
		c.Close()
	}
}
