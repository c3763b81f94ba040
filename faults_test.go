package libmemcached_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// keyOn returns a key that c places on server addr.
func keyOn(t *testing.T, c *mc.Client, addr, prefix string) string {
	t.Helper()
	for i := 0; i < 100000; i++ {
		k := fmt.Sprint(prefix, i)
		s, err := c.ServerForKey(k)
		require.NoError(t, err)
		if s == addr {
			return k
		}
	}
	t.Fatalf("no key maps to %s", addr)
	return ""
}

// TestServerDownAtStart: a server nobody listens on fails fast, named in
// the error: the connection is refused, or the server is disabled until
// its retry timeout; never a timeout. The other servers' keys work.
func TestServerDownAtStart(t *testing.T) {
	live := mctest.StartN(t, 2)
	dead := fmt.Sprint("127.0.0.1:", mctest.FreePort(t))
	c, err := mc.New([]string{live[0].Addr, dead, live[1].Addr}, mc.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
	require.NoError(t, err)
	defer c.Close()
	failed, ok := 0, 0
	for i := 0; i < 60; i++ {
		k := fmt.Sprint("down", i)
		where, err := c.ServerForKey(k)
		require.NoError(t, err)
		err = c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")})
		if where != dead {
			require.NoError(t, err, k)
			ok++
			continue
		}
		failed++
		require.ErrorIs(t, err, mc.ErrServerDown)
		require.NotErrorIs(t, err, mc.ErrTimeout, "fails fast")
		var e *mc.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, dead, e.Server)
		assert.Contains(t, err.Error(), dead)
		assert.True(t, e.IsRetriable())
		assert.Contains(t, []mc.ReturnCode{mc.ReturnConnectionFailure, mc.ReturnServerTemporarilyDisabled}, e.Code,
			"fails fast: connection refused, or disabled until the retry timeout")
	}
	require.NotZero(t, failed)
	require.NotZero(t, ok)
	require.Error(t, c.Ping(bg()), "Ping reports the dead server")
}

// TestServerKilledWithoutEject: without auto_eject, the killed server's
// keys fail fast: with ErrServerDown naming it, from the refused
// connection or, after that, from the server disabled until its retry
// timeout; never by waiting for a timeout. The server stays in place (its
// keys are not moved, nothing is ejected) and the others keep working.
func TestServerKilledWithoutEject(t *testing.T) {
	servers := mctest.StartN(t, 3)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(2), mc.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
	require.NoError(t, err)
	defer c.Close()
	victim := keyOn(t, c, servers[1].Addr, "victim")
	other := keyOn(t, c, servers[2].Addr, "other")
	for _, k := range []string{victim, other} {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
	}
	servers[1].Stop()
	for i := 0; i < 20; i++ {
		_, err := c.Get(bg(), victim)
		require.ErrorIs(t, err, mc.ErrServerDown, "call %d", i)
		require.NotErrorIs(t, err, mc.ErrTimeout, "call %d fails fast", i)
		var e *mc.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, servers[1].Addr, e.Server, "call %d", i)
		assert.Contains(t, []mc.ReturnCode{mc.ReturnConnectionFailure, mc.ReturnServerTemporarilyDisabled}, e.Code, "call %d", i)
		where, err := c.ServerForKey(victim)
		require.NoError(t, err)
		assert.Equal(t, servers[1].Addr, where, "call %d: the key stays on the killed server", i)
		assert.Zero(t, c.PoolStats().Ejected, "call %d: nothing is ejected", i)
		it, err := c.Get(bg(), other)
		require.NoError(t, err)
		assert.Equal(t, other, string(it.Value))
	}
}

// TestAutoEjectAndReturn documents libmemcached's ejection sequence: after
// failure_limit failures the server is marked dead and its keys go to the
// other servers; every dead_timeout it is probed; once it is back, its keys
// return to it.
func TestAutoEjectAndReturn(t *testing.T) {
	servers := mctest.StartN(t, 3)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{
		"distribution": "consistent ketama", "auto_eject": true, "failure_limit": 2, "retry_timeout": 1, "dead_timeout": 2,
	}))
	require.NoError(t, err)
	defer c.Close()
	k := keyOn(t, c, servers[1].Addr, "eject")
	require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("v0")}))
	servers[1].Stop()
	killed := time.Now()
	var codes []string
	var ejected time.Duration
	for i := 0; time.Since(killed) < 15*time.Second; i++ {
		err := c.Set(bg(), &mc.Item{Key: k, Value: []byte(fmt.Sprint("v", i))})
		if err == nil {
			ejected = time.Since(killed)
			break
		}
		require.ErrorIs(t, err, mc.ErrServerDown)
		var e *mc.Error
		require.ErrorAs(t, err, &e)
		codes = append(codes, e.Code.String())
		time.Sleep(100 * time.Millisecond)
	}
	require.NotZero(t, ejected, "the key is served by another server after ejection")
	assert.Contains(t, codes, "ReturnServerMarkedDead")
	t.Logf("auto_eject: key served elsewhere %v after the kill; errors on the way: %v", ejected.Round(time.Millisecond), codes)

	servers[1].Restart(t)
	restarted := time.Now()
	var back time.Duration
	for time.Since(restarted) < 20*time.Second {
		if err := c.Set(bg(), &mc.Item{Key: k, Value: []byte("back")}); err == nil && rawHas(t, servers[1].Addr, k) {
			back = time.Since(restarted)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	require.NotZero(t, back, "the restarted server gets its keys back")
	t.Logf("auto_eject: restarted server used again %v after its restart", back.Round(time.Millisecond))
}

// TestHungServer pauses a server (SIGSTOP): every call returns after one
// poll timeout with ErrTimeout (not two: a read that waits for the reply's
// start and then again inside libmemcached would take twice as long), a
// shorter context deadline wins, and after SIGCONT the client recovers
// with its pool intact. The timeout is long (1 s) so that the bound, half
// a timeout over it, tells one wait from two on a busy machine.
func TestHungServer(t *testing.T) {
	const timeout = time.Second
	const margin = timeout / 2
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(2), mc.WithBehaviors(map[string]any{
		"_poll_timeout": int(timeout / time.Millisecond), "connect_timeout": int(timeout / time.Millisecond),
	}))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "hung", Value: []byte("v")}))
	goroutines := runtime.NumGoroutine()

	s.Pause()
	calls := map[string]func(ctx context.Context) error{
		"Get":       func(ctx context.Context) error { _, err := c.Get(ctx, "hung"); return err },
		"Set":       func(ctx context.Context) error { return c.Set(ctx, &mc.Item{Key: "hung", Value: []byte("x")}) },
		"GetMulti":  func(ctx context.Context) error { _, err := c.GetMulti(ctx, []string{"hung", "b"}); return err },
		"Increment": func(ctx context.Context) error { _, err := c.Increment(ctx, "n", 1); return err },
		"Delete":    func(ctx context.Context) error { return c.Delete(ctx, "zz") },
		"SetMulti": func(ctx context.Context) error {
			return c.SetMulti(ctx, []*mc.Item{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}})
		},
	}
	var slowest, slowestCtx time.Duration
	for name, call := range calls {
		t0 := time.Now()
		err := call(bg())
		elapsed := time.Since(t0)
		slowest = max(slowest, elapsed)
		t.Logf("hung server: %s -> %v after %v", name, err, elapsed.Round(time.Millisecond))
		require.ErrorIs(t, err, mc.ErrTimeout, name)
		assert.Less(t, elapsed, timeout+margin, "%s returns after one poll timeout", name)

		ctx, cancel := context.WithTimeout(bg(), 50*time.Millisecond)
		t0 = time.Now()
		err = call(ctx)
		elapsed = time.Since(t0)
		cancel()
		slowestCtx = max(slowestCtx, elapsed)
		require.ErrorIs(t, err, mc.ErrTimeout, name)
		require.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.Less(t, elapsed, 50*time.Millisecond+margin, "%s: the shorter context deadline wins", name)
	}
	t.Logf("hung server: calls returned ErrTimeout in at most %v (poll timeout %v; SetMulti included); with a 50ms deadline in at most %v", slowest.Round(time.Millisecond), timeout, slowestCtx.Round(time.Millisecond))

	s.Resume()
	var recovered bool
	for i := 0; i < 50 && !recovered; i++ {
		_, err := c.Get(bg(), "hung")
		recovered = err == nil || errors.Is(err, mc.ErrCacheMiss)
		if !recovered {
			time.Sleep(100 * time.Millisecond)
		}
	}
	require.True(t, recovered, "the client recovers after SIGCONT without being recreated")
	// Replies that arrived late never answer a later request: values match keys.
	for i := 0; i < 20; i++ {
		k := fmt.Sprint("after", i)
		require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
		it, err := c.Get(bg(), k)
		require.NoError(t, err)
		require.Equal(t, k, string(it.Value))
	}
	st := c.PoolStats()
	assert.Equal(t, 0, st.InUse, "every handle is back in the pool")
	assert.LessOrEqual(t, st.Open, st.Size)
	assert.LessOrEqual(t, runtime.NumGoroutine(), goroutines+2, "no goroutine leaked")
}

// TestServerRestarted: after a restart (data gone) the client reconnects by
// itself; only the first call on each pooled connection sees the old one fail.
func TestServerRestarted(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "r", Value: []byte("v")}))
	s.Restart(t)
	errs := 0
	for i := 0; i < 10; i++ {
		_, err := c.Get(bg(), "r")
		if errors.Is(err, mc.ErrCacheMiss) {
			continue
		}
		require.ErrorIs(t, err, mc.ErrServerDown)
		require.Zero(t, errs, "only the first call fails")
		errs++
	}
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "r", Value: []byte("new")}))
	it, err := c.Get(bg(), "r")
	require.NoError(t, err)
	assert.Equal(t, "new", string(it.Value))
}

// TestReplicaSurvivesPrimaryLoss: with num_replicas and the binary protocol
// libmemcached also stores a copy on the next server, and reads fall back
// to it when the primary is gone.
func TestReplicaSurvivesPrimaryLoss(t *testing.T) {
	servers := mctest.StartN(t, 3)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{
		"distribution": "consistent ketama", "binary_protocol": true, "num_replicas": 1,
	}))
	require.NoError(t, err)
	defer c.Close()
	k := keyOn(t, c, servers[1].Addr, "replica")
	require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("precious")}))
	// libmemcached sends the replica as a quiet set that stays in the write
	// buffer until the next request to that server: Ping flushes it.
	require.NoError(t, c.Ping(bg()))
	copies := 0
	for _, s := range servers {
		if rawHas(t, s.Addr, k) {
			copies++
		}
	}
	require.Equal(t, 2, copies, "the primary and one replica hold the value")
	servers[1].Stop()
	// The first request finds the primary's connection dead (ErrServerDown);
	// from then on reads go to the replica.
	_, err = c.Get(bg(), k)
	require.ErrorIs(t, err, mc.ErrServerDown)
	got, err := c.GetMulti(bg(), []string{k})
	require.NoError(t, err)
	require.Contains(t, got, k, "GetMulti reads the replica")
	assert.Equal(t, "precious", string(got[k].Value))
	it, err := c.Get(bg(), k)
	require.NoError(t, err)
	assert.Equal(t, "precious", string(it.Value), "Get reads the replica")
}
