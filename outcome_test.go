package libmemcached_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// write is one write operation on key, for the outcome tests.
type write struct {
	name string
	do   func(ctx context.Context, c *mc.Client, key string) error
	// refused prepares the server so that it answers the write with a
	// failure (a known outcome); it returns that failure's sentinel.
	refused func(t *testing.T, c *mc.Client, key string) error
}

func item(key, v string) *mc.Item { return &mc.Item{Key: key, Value: []byte(v)} }

// writes are every write of the client, single-key and multi-key.
var writes = []write{
	{"Set", func(ctx context.Context, c *mc.Client, k string) error { return c.Set(ctx, item(k, "v")) },
		func(t *testing.T, c *mc.Client, k string) error { return nil }},
	{"Add", func(ctx context.Context, c *mc.Client, k string) error { return c.Add(ctx, item(k, "v")) },
		func(t *testing.T, c *mc.Client, k string) error {
			require.NoError(t, c.Set(bg(), item(k, "there")))
			return mc.ErrNotStored
		}},
	{"Replace", func(ctx context.Context, c *mc.Client, k string) error { return c.Replace(ctx, item(k, "v")) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrNotStored }},
	{"Append", func(ctx context.Context, c *mc.Client, k string) error { return c.Append(ctx, item(k, "v")) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrNotStored }},
	{"Prepend", func(ctx context.Context, c *mc.Client, k string) error { return c.Prepend(ctx, item(k, "v")) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrNotStored }},
	{"CompareAndSwap", func(ctx context.Context, c *mc.Client, k string) error {
		return c.CompareAndSwap(ctx, &mc.Item{Key: k, Value: []byte("v"), CasID: 1})
	}, func(t *testing.T, c *mc.Client, k string) error {
		require.NoError(t, c.Set(bg(), item(k, "there")))
		return mc.ErrCASConflict
	}},
	{"Delete", func(ctx context.Context, c *mc.Client, k string) error { return c.Delete(ctx, k) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrCacheMiss }},
	{"Increment", func(ctx context.Context, c *mc.Client, k string) error { _, err := c.Increment(ctx, k, 1); return err },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrCacheMiss }},
	{"Decrement", func(ctx context.Context, c *mc.Client, k string) error { _, err := c.Decrement(ctx, k, 1); return err },
		func(t *testing.T, c *mc.Client, k string) error {
			require.NoError(t, c.Set(bg(), item(k, "text")))
			return mc.ErrNotNumeric
		}},
	{"Touch", func(ctx context.Context, c *mc.Client, k string) error { return c.Touch(ctx, k, 100) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrCacheMiss }},
	{"SetMulti", func(ctx context.Context, c *mc.Client, k string) error {
		return c.SetMulti(ctx, []*mc.Item{item(k, "v"), item(k+"-2", "w")})
	}, func(t *testing.T, c *mc.Client, k string) error { return nil }},
	{"AddMulti", func(ctx context.Context, c *mc.Client, k string) error {
		return c.AddMulti(ctx, []*mc.Item{item(k, "v")})
	}, func(t *testing.T, c *mc.Client, k string) error {
		require.NoError(t, c.Set(bg(), item(k, "there")))
		return mc.ErrNotStored
	}},
	{"DeleteMulti", func(ctx context.Context, c *mc.Client, k string) error { return c.DeleteMulti(ctx, []string{k}) },
		func(t *testing.T, c *mc.Client, k string) error { return mc.ErrCacheMiss }},
	{"IncrementMulti", func(ctx context.Context, c *mc.Client, k string) error {
		return c.IncrementMulti(ctx, []string{k}, 1)
	}, func(t *testing.T, c *mc.Client, k string) error { return mc.ErrCacheMiss }},
}

// requireOutcome checks that err is a write's error of the expected kind:
// exactly one of ErrNotSent and ErrOutcomeUnknown, or neither (a server's
// answer).
func requireOutcome(t *testing.T, err error, notSent, unknown bool) {
	t.Helper()
	require.Error(t, err)
	assert.Equal(t, notSent, errors.Is(err, mc.ErrNotSent), "ErrNotSent in %v", err)
	assert.Equal(t, unknown, errors.Is(err, mc.ErrOutcomeUnknown), "ErrOutcomeUnknown in %v", err)
}

// TestWriteOutcomeAnswered: a write the server answers with a failure is
// neither ErrNotSent nor ErrOutcomeUnknown; a malformed key is not sent.
func TestWriteOutcomeAnswered(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		for i, w := range writes {
			t.Run(w.name, func(t *testing.T) {
				key := fmt.Sprint("answered-", i)
				if want := w.refused(t, c, key); want != nil {
					err := w.do(bg(), c, key)
					require.ErrorIs(t, err, want)
					requireOutcome(t, err, false, false)
				}
				requireOutcome(t, w.do(bg(), c, "bad key"), true, false)
			})
		}
	})
}

// TestWriteOutcomeNotSent: a write to a server that is not there, or one
// whose context ends while it waits in line for a handle, was not sent.
func TestWriteOutcomeNotSent(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binary), func(t *testing.T) {
			down, err := mc.New([]string{fmt.Sprint("127.0.0.1:", mctest.FreePort(t))},
				mc.WithBehaviors(map[string]any{"binary_protocol": binary}))
			require.NoError(t, err)
			defer down.Close()
			s := mctest.Start(t)
			c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1),
				mc.WithBehaviors(map[string]any{"binary_protocol": binary, "_poll_timeout": 60000}))
			require.NoError(t, err)
			defer c.Close()
			for i, w := range writes {
				t.Run(w.name, func(t *testing.T) {
					requireOutcome(t, w.do(bg(), down, "k"), true, false)

					key := fmt.Sprint("queued-", i)
					ctx, cancel := context.WithCancel(bg())
					var werr error
					done := queueBehind(t, c, s, func() { c.Get(bg(), "hold") }, func() { werr = w.do(ctx, c, key) })
					cancel()
					waitFor(t, "the queued write to leave", func() bool { return c.PoolStats().Queued == 0 })
					s.Resume()
					<-done
					requireOutcome(t, werr, true, false)
					assert.False(t, rawHas(t, s.Addr, key), "a write that was not sent landed")
				})
			}
		})
	}
}

// TestWriteOutcomeUnknown: a write sent to a server that then does not
// answer by the deadline may have been applied (it is, once the server
// resumes): ErrOutcomeUnknown. So is a write carried in another call's
// batch whose caller leaves once it was packed.
func TestWriteOutcomeUnknown(t *testing.T) {
	for _, binary := range []bool{false, true} {
		for _, pm := range pollModes {
			t.Run(fmt.Sprintf("binary=%v/%s", binary, pm.name), func(t *testing.T) {
				s := mctest.Start(t)
				c, err := mc.New([]string{s.Addr}, mc.WithPollMode(pm.mode),
					mc.WithBehaviors(map[string]any{"binary_protocol": binary, "_poll_timeout": 60000}))
				require.NoError(t, err)
				defer c.Close()
				for i, w := range writes {
					t.Run(w.name, func(t *testing.T) {
						key := fmt.Sprint("hung-", i)
						require.NoError(t, c.Set(bg(), item(key, "1")))
						s.Pause()
						ctx, cancel := context.WithTimeout(bg(), 100*time.Millisecond)
						err := w.do(ctx, c, key)
						cancel()
						s.Resume()
						requireOutcome(t, err, false, true)
						assert.ErrorIs(t, err, mc.ErrTimeout)
					})
				}
			})
		}
	}
}

// TestWriteOutcomeCarried: a Set carried in another Set's batch, whose
// caller leaves after the batch packed it, returns ErrOutcomeUnknown, and
// the value does land.
func TestWriteOutcomeCarried(t *testing.T) {
	servers := mctest.StartN(t, 2)
	c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(1), mc.WithBatching(true),
		mc.WithBehaviors(map[string]any{"_poll_timeout": 60000}))
	require.NoError(t, err)
	defer c.Close()
	// hold's key on server 0, the batch's keys on server 1.
	keyOn := func(server int, prefix string) string {
		for i := 0; ; i++ {
			k := fmt.Sprint(prefix, i)
			if s, err := c.ServerForKey(k); err == nil && s == servers[server].Addr {
				return k
			}
		}
	}
	hold, first, second := keyOn(0, "hold"), keyOn(1, "first"), keyOn(1, "second")
	servers[1].Pause()
	ctx, cancel := context.WithCancel(bg())
	var errFirst, errSecond error
	left := make(chan struct{})
	done := queueBehind(t, c, servers[0], func() { c.Get(bg(), hold) },
		func() { errFirst = c.Set(bg(), item(first, "1")) },
		func() { errSecond = c.Set(ctx, item(second, "2")); close(left) })
	servers[0].Resume() // hold returns; the two Sets go out in one batch to the paused server 1
	waitFor(t, "the batch to carry the second Set", func() bool { return c.PoolStats().Carried == 1 })
	cancel()
	<-left // the second Set's caller leaves while its batch waits for server 1
	servers[1].Resume()
	<-done
	require.NoError(t, errFirst)
	requireOutcome(t, errSecond, false, true)
	require.ErrorIs(t, errSecond, context.Canceled)
	assert.True(t, rawHas(t, servers[1].Addr, second), "the carried Set landed")
}

// TestWriteOutcomeUnknownAfterBadReply: a write the server received but
// answered with bytes that are not a reply the command can have (text:
// a garbage line; binary: a GETK response), or by closing the connection
// without a reply, may have been applied: ErrOutcomeUnknown (with
// ErrProtocol or ErrServerDown), never ErrNotSent.
func TestWriteOutcomeUnknownAfterBadReply(t *testing.T) {
	for _, binary := range []bool{false, true} {
		garbage := []byte("XYZZY\r\n")
		if binary {
			garbage = binPacket(0x81, 0x0c, 0, nil, nil, nil, 0)
		}
		for _, tc := range []struct {
			name string
			s    func() *script
			want error
		}{
			{"garbage", func() *script { return &script{chunks: [][]byte{garbage}} }, mc.ErrProtocol},
			{"close", func() *script { return &script{close: true} }, mc.ErrServerDown},
		} {
			t.Run(fmt.Sprintf("binary=%v/%s", binary, tc.name), func(t *testing.T) {
				fake, c := scriptClient(t, binary)
				for _, w := range writes {
					t.Run(w.name, func(t *testing.T) {
						s := tc.s()
						fake.arm(s)
						err := w.do(bg(), c, "k1")
						fake.disarm(s)
						require.Equal(t, 1, s.taken, "the fake answered the write with the script")
						requireOutcome(t, err, false, true)
						assert.ErrorIs(t, err, tc.want)
						require.NoError(t, c.Set(bg(), item("k1", "after")), "the client is usable after")
					})
				}
			})
		}
	}
}
