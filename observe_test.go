package libmemcached_test

import (
	"context"

	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// recorder keeps every event an observer is given (copying the slices,
// which are valid only during the call).
type recorder struct {
	mu      sync.Mutex
	ops     []mc.OperationInfo
	batches []mc.BatchInfo
	events  []mc.ServerEvent
}

func (r *recorder) observer() mc.Observer {
	return mc.Observer{
		Operation: func(op mc.OperationInfo) {
			op.Servers = slices.Clone(op.Servers)
			r.mu.Lock()
			r.ops = append(r.ops, op)
			r.mu.Unlock()
		},
		Batch: func(b mc.BatchInfo) {
			r.mu.Lock()
			r.batches = append(r.batches, b)
			r.mu.Unlock()
		},
		Server: func(ev mc.ServerEvent) {
			r.mu.Lock()
			r.events = append(r.events, ev)
			r.mu.Unlock()
		},
	}
}

// take returns the operations recorded since the last take.
func (r *recorder) take() []mc.OperationInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// serverEvents returns the server events recorded so far, as
// "kind server" strings.
func (r *recorder) serverEvents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		out = append(out, ev.Kind.String()+" "+ev.Server)
	}
	return out
}

// TestObserverOperations: every method that talks to the servers reports
// one OperationInfo when it returns, with its name, key, key count,
// servers, hits and misses, and the very error the caller got; calls
// refused before anything was sent are reported too, with no server.
func TestObserverOperations(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binary), func(t *testing.T) {
			var rec recorder
			c, servers := newClient(t, 1, mc.WithObserver(rec.observer()),
				mc.WithBehaviors(map[string]any{"binary_protocol": binary}))
			addr := []string{servers[0].Addr}
			ctx := bg()
			type want struct {
				Op           string
				Key          string
				Keys         int
				Servers      []string
				Hits, Misses int
				Err          error // errors.Is target (nil: success)
			}
			steps := []struct {
				call func() error
				want want
			}{
				{func() error { return c.Set(ctx, &mc.Item{Key: "k1", Value: []byte("1")}) }, want{"Set", "k1", 1, addr, 0, 0, nil}},
				{func() error { _, err := c.Get(ctx, "k1"); return err }, want{"Get", "k1", 1, addr, 1, 0, nil}},
				{func() error { _, err := c.Get(ctx, "nope"); return err }, want{"Get", "nope", 1, addr, 0, 1, mc.ErrCacheMiss}},
				{func() error { _, err := c.Get(ctx, "bad key"); return err }, want{"Get", "bad key", 1, nil, 0, 0, mc.ErrMalformedKey}},
				{func() error { _, err := c.GetMulti(ctx, []string{"k1", "nope", "k1"}); return err }, want{"GetMulti", "", 3, addr, 2, 1, nil}},
				{func() error { _, err := c.GetAndTouch(ctx, "k1", 100); return err }, want{"GetAndTouch", "k1", 1, addr, 1, 0, nil}},
				{func() error { _, err := c.GetAndTouch(ctx, "nope", 100); return err }, want{"GetAndTouch", "nope", 1, addr, 0, 1, mc.ErrCacheMiss}},
				{func() error { return c.SetValue(ctx, "v", 42, 0) }, want{"SetValue", "v", 1, addr, 0, 0, nil}},
				{func() error { var n int; return c.GetValue(ctx, "v", &n) }, want{"GetValue", "v", 1, addr, 1, 0, nil}},
				{func() error { var n int; return c.GetValue(ctx, "nope", &n) }, want{"GetValue", "nope", 1, addr, 0, 1, mc.ErrCacheMiss}},
				{func() error { return c.Add(ctx, &mc.Item{Key: "k1", Value: []byte("x")}) }, want{"Add", "k1", 1, addr, 0, 0, mc.ErrNotStored}},
				{func() error { return c.Replace(ctx, &mc.Item{Key: "k1", Value: []byte("2")}) }, want{"Replace", "k1", 1, addr, 0, 0, nil}},
				{func() error { return c.Append(ctx, &mc.Item{Key: "k1", Value: []byte("3")}) }, want{"Append", "k1", 1, addr, 0, 0, nil}},
				{func() error { return c.Prepend(ctx, &mc.Item{Key: "k1", Value: []byte("4")}) }, want{"Prepend", "k1", 1, addr, 0, 0, nil}},
				{func() error { return c.CompareAndSwap(ctx, &mc.Item{Key: "k1", Value: []byte("x")}) }, want{"CompareAndSwap", "k1", 1, nil, 0, 0, mc.ErrInvalidArguments}},
				{func() error { _, err := c.Increment(ctx, "k1", 5); return err }, want{"Increment", "k1", 1, addr, 0, 0, nil}},
				{func() error { _, err := c.Decrement(ctx, "nope", 5); return err }, want{"Decrement", "nope", 1, addr, 0, 0, mc.ErrCacheMiss}},
				{func() error { return c.Touch(ctx, "k1", 100) }, want{"Touch", "k1", 1, addr, 0, 0, nil}},
				{func() error { return c.Touch(ctx, "k1", -1) }, want{"Touch", "k1", 1, nil, 0, 0, mc.ErrInvalidArguments}},
				{func() error { return c.Delete(ctx, "nope") }, want{"Delete", "nope", 1, addr, 0, 0, mc.ErrCacheMiss}},
				{func() error {
					return c.SetMulti(ctx, []*mc.Item{{Key: "m1", Value: []byte("1")}, {Key: "m2", Value: []byte("2")}})
				}, want{"SetMulti", "", 2, addr, 0, 0, nil}},
				{func() error { return c.SetMulti(ctx, []*mc.Item{{Key: "m1"}, nil}) }, want{"SetMulti", "", 2, nil, 0, 0, mc.ErrInvalidArguments}},
				{func() error {
					return c.AddMulti(ctx, []*mc.Item{{Key: "m1", Value: []byte("1")}, {Key: "m3", Value: []byte("3")}})
				}, want{"AddMulti", "", 2, addr, 0, 0, mc.ErrNotStored}},
				{func() error { return c.IncrementMulti(ctx, []string{"m1", "m2"}, 1) }, want{"IncrementMulti", "", 2, addr, 0, 0, nil}},
				{func() error { return c.DeleteMulti(ctx, []string{"m1", "m2", "m9"}) }, want{"DeleteMulti", "", 3, addr, 0, 0, mc.ErrCacheMiss}},
				{func() error { _, err := c.Stats(ctx); return err }, want{"Stats", "", 0, addr, 0, 0, nil}},
				{func() error { _, err := c.StatsArg(ctx, "a\nb"); return err }, want{"Stats", "", 0, nil, 0, 0, mc.ErrInvalidArguments}},
				{func() error { _, err := c.Version(ctx); return err }, want{"Version", "", 0, addr, 0, 0, nil}},
				{func() error { return c.Ping(ctx) }, want{"Ping", "", 0, addr, 0, 0, nil}},
				{func() error { return c.FlushAll(ctx) }, want{"FlushAll", "", 0, addr, 0, 0, nil}},
				{func() error { _, err := c.Get(nil, "k1"); return err }, want{"Get", "k1", 1, nil, 0, 0, mc.ErrInvalidArguments}}, //nolint:staticcheck // a nil context is refused
			}
			for _, s := range steps {
				err := s.call()
				ops := rec.take()
				require.Len(t, ops, 1, "%s: one event per call", s.want.Op)
				op := ops[0]
				got := want{op.Op, op.Key, op.Keys, op.Servers, op.Hits, op.Misses, s.want.Err}
				assert.Empty(t, cmp.Diff(s.want, got, cmp.Comparer(func(a, b error) bool { return a == b })), s.want.Op)
				if s.want.Err == nil {
					assert.NoError(t, err, s.want.Op)
				} else {
					assert.ErrorIs(t, err, s.want.Err, s.want.Op)
				}
				assert.True(t, op.Err == err, "%s: the event carries the caller's error (%v, %v)", s.want.Op, op.Err, err)
				assert.Equal(t, 1, op.BatchCalls, s.want.Op)
				assert.False(t, op.Start.IsZero(), s.want.Op)
				assert.GreaterOrEqual(t, op.Duration, op.Queued, s.want.Op)
				assert.Zero(t, op.Queued, "%s: a call that found a handle free did not wait", s.want.Op)
			}
			assert.Empty(t, rec.serverEvents(), "nothing happened to the server")
		})
	}
}

// TestObserverServers: an operation names the servers its keys went to,
// in server order, and a command every server answers names them all.
func TestObserverServers(t *testing.T) {
	var rec recorder
	c, servers := newClient(t, 3, mc.WithObserver(rec.observer()))
	addrs := mctest.Addrs(servers)
	var keys []string
	on := map[string]bool{}
	for i := 0; len(on) < 2 || len(keys) < 6; i++ {
		k := fmt.Sprint("srv", i)
		s, err := c.ServerForKey(k)
		require.NoError(t, err)
		if s == addrs[1] {
			continue // keys on the first and last servers only
		}
		on[s] = true
		keys = append(keys, k)
	}
	_, err := c.GetMulti(bg(), keys)
	require.NoError(t, err)
	var items []*mc.Item
	for _, k := range keys {
		items = append(items, &mc.Item{Key: k})
	}
	require.NoError(t, c.SetMulti(bg(), items))
	_, err = c.Stats(bg())
	require.NoError(t, err)
	ops := rec.take()
	require.Len(t, ops, 3)
	want := []string{addrs[0], addrs[2]}
	assert.Equal(t, want, ops[0].Servers, "GetMulti")
	assert.Equal(t, len(keys), ops[0].Misses)
	assert.Equal(t, want, ops[1].Servers, "SetMulti")
	assert.Equal(t, addrs, ops[2].Servers, "Stats")
	for _, k := range keys[:3] {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: k}))
		s, _ := c.ServerForKey(k)
		assert.Equal(t, []string{s}, rec.take()[0].Servers, "Set %s", k)
	}
}

// TestObserverBatch: calls waiting in line go out in one round trip; the
// Batch event describes it (after every call has its result), and each
// call's event says how many calls shared it and how long it waited.
func TestObserverBatch(t *testing.T) {
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			var rec recorder
			s := mctest.Start(t)
			c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithPollMode(pm.mode), mc.WithBatching(true), mc.WithObserver(rec.observer()))
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "b0", Value: []byte("v")}))
			rec.take()
			var calls []func()
			for i := 0; i < 5; i++ {
				calls = append(calls, func() { c.Get(bg(), fmt.Sprint("b", i)) })
			}
			done := queueBehind(t, c, s, func() { c.Get(bg(), "hold") }, calls...)
			s.Resume()
			<-done
			ops := rec.take()
			require.Len(t, ops, 6)
			carried := 0
			for _, op := range ops {
				if op.Key == "hold" {
					assert.Equal(t, 1, op.BatchCalls)
					assert.Zero(t, op.Queued)
					assert.Equal(t, 1, op.Misses)
					continue
				}
				assert.Equal(t, 5, op.BatchCalls, op.Key)
				assert.Positive(t, op.Queued, "%s waited in line", op.Key)
				assert.Equal(t, []string{s.Addr}, op.Servers, op.Key)
				if op.Key == "b0" {
					assert.Equal(t, 1, op.Hits)
				} else {
					assert.Equal(t, 1, op.Misses, op.Key)
				}
				carried++
			}
			assert.Equal(t, 5, carried)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			require.Len(t, rec.batches, 1)
			b := rec.batches[0]
			assert.Equal(t, "get", b.Kind)
			assert.Equal(t, 5, b.Calls)
			assert.Equal(t, 5, b.Keys)
			assert.False(t, b.Start.IsZero())
		})
	}
}

// TestObserverServerEvents: a killed server's connection failures, the
// reconnect after a call that timed out, and auto_eject's ejection and the
// server's return are each reported once, naming the server.
func TestObserverServerEvents(t *testing.T) {
	t.Run("killed", func(t *testing.T) {
		var rec recorder
		c, servers := newClient(t, 1, mc.WithObserver(rec.observer()))
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
		servers[0].Stop()
		_, err := c.Get(bg(), "k")
		require.ErrorIs(t, err, mc.ErrServerDown)
		rec.mu.Lock()
		defer rec.mu.Unlock()
		var failed []mc.ServerEvent
		for _, ev := range rec.events {
			if ev.Kind == mc.ServerConnectionFailed {
				failed = append(failed, ev)
			}
		}
		require.NotEmpty(t, failed, "events: %v", rec.events)
		for _, ev := range failed {
			assert.Equal(t, servers[0].Addr, ev.Server)
			assert.ErrorIs(t, ev.Err, mc.ErrServerDown)
			var e *mc.Error
			require.ErrorAs(t, ev.Err, &e)
			assert.Equal(t, servers[0].Addr, e.Server)
			assert.False(t, ev.Time.IsZero())
		}
	})
	t.Run("timeout", func(t *testing.T) {
		var rec recorder
		c, servers := newClient(t, 1, mc.WithObserver(rec.observer()))
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
		servers[0].Pause()
		ctx, cancel := context.WithTimeout(bg(), 200*time.Millisecond)
		_, err := c.Get(ctx, "k")
		cancel()
		servers[0].Resume()
		require.ErrorIs(t, err, mc.ErrTimeout)
		addr := servers[0].Addr
		assert.Equal(t, []string{"connection_failed " + addr, "reconnected " + addr}, rec.serverEvents())
		_, err = c.Get(bg(), "k")
		require.NoError(t, err)
		assert.Len(t, rec.serverEvents(), 2, "a good call after it adds nothing")
	})
	t.Run("eject and return", func(t *testing.T) {
		var rec recorder
		servers := mctest.StartN(t, 2)
		c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(1), mc.WithObserver(rec.observer()), mc.WithBehaviors(map[string]any{
			"distribution": "consistent ketama", "auto_eject": true, "failure_limit": 1, "retry_timeout": 1, "dead_timeout": 1,
		}))
		require.NoError(t, err)
		defer c.Close()
		dead := servers[1].Addr
		k := keyOn(t, c, dead, "ej")
		servers[1].Stop()
		count := func(kind string) int {
			n := 0
			for _, ev := range rec.serverEvents() {
				if ev == kind+" "+dead {
					n++
				}
			}
			return n
		}
		waitFor(t, "the server's ejection", func() bool {
			c.Get(bg(), k)
			return count("ejected") > 0
		})
		assert.Equal(t, 1, count("ejected"), "%v", rec.serverEvents())
		assert.Equal(t, 1, c.PoolStats().Ejected)
		waitFor(t, "the server's return", func() bool {
			c.Get(bg(), "other")
			return count("returned") > 0
		})
		assert.Equal(t, 1, count("returned"), "%v", rec.serverEvents())
		for _, ev := range rec.serverEvents() {
			assert.Contains(t, ev, dead, "only the dead server has events")
		}
	})
}

// TestObserverPanics: an observer that panics unwinds its caller's call,
// as if the call had panicked, and the client stays consistent: its
// handle is back in the pool and every later call works.
func TestObserverPanics(t *testing.T) {
	for _, batching := range []bool{true, false} {
		t.Run(fmt.Sprintf("batching=%v", batching), func(t *testing.T) {
			armed := true
			c, _ := newClient(t, 1, mc.WithPoolSize(1), mc.WithBatching(batching), mc.WithObserver(mc.Observer{
				Operation: func(op mc.OperationInfo) {
					if armed && op.Op == "Get" {
						armed = false
						panic("observer")
					}
				},
			}))
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
			assert.PanicsWithValue(t, "observer", func() { c.Get(bg(), "k") })
			assert.Equal(t, 0, c.PoolStats().InUse)
			it, err := c.Get(bg(), "k")
			require.NoError(t, err)
			assert.Equal(t, "v", string(it.Value))
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "k2"}))
		})
	}
}

// TestObserversInOrder: every observer installed sees every event, in the
// order installed; one that watches only some events is skipped for the
// others.
func TestObserversInOrder(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	obs := func(name string) mc.Observer {
		return mc.Observer{Operation: func(op mc.OperationInfo) {
			mu.Lock()
			seen = append(seen, name+":"+op.Op)
			mu.Unlock()
		}}
	}
	c, _ := newClient(t, 1, mc.WithObserver(obs("a")), mc.WithObserver(mc.Observer{}), mc.WithObserver(obs("b")))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k"}))
	_, err := c.Get(bg(), "k")
	require.NoError(t, err)
	assert.Equal(t, []string{"a:Set", "b:Set", "a:Get", "b:Get"}, seen)
}

// TestObserverCostsNoAllocations: an observer installed adds no
// allocation to a Get or a Set (the traces are recycled), and none is
// made without one.
func TestObserverCostsNoAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	allocs := func(opts ...mc.Option) (get, set float64) {
		c, _ := newClient(t, 1, opts...)
		it := &mc.Item{Key: "k", Value: []byte("value")}
		require.NoError(t, c.Set(bg(), it))
		get = testing.AllocsPerRun(200, func() { c.Get(bg(), "k") })
		set = testing.AllocsPerRun(200, func() { c.Set(bg(), it) })
		return get, set
	}
	n := 0
	get0, set0 := allocs()
	get1, set1 := allocs(mc.WithObserver(mc.Observer{
		Operation: func(mc.OperationInfo) { n++ }, Batch: func(mc.BatchInfo) {}, Server: func(mc.ServerEvent) {},
	}))
	assert.Equal(t, get0, get1, "Get")
	assert.Equal(t, set0, set1, "Set")
	assert.Positive(t, n)
}
