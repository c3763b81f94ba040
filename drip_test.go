package libmemcached_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// dripServer answers every text request correctly, but a byte at a time,
// so that every reply takes 1.6 s: each byte (at most 200 ms after the
// last) well within a per-wait timeout of 300 ms.
func dripServer(t *testing.T) string {
	value := strings.Repeat("d", 300)
	ln := serveLoopback(t, func(conn net.Conn) {
		defer conn.Close()
		r := bufio.NewReader(conn)
		for {
			f := nextCommand(r)
			if f == nil {
				return
			}
			var reply string
			switch f[0] {
			case "get", "gets":
				for _, k := range f[1:] {
					reply += fmt.Sprintf("VALUE %s 0 %d 1\r\n%s\r\n", k, len(value), value)
				}
				reply += "END\r\n"
			case "set", "add", "replace", "append", "prepend", "cas":
				var n int
				fmt.Sscan(f[4], &n)
				if _, err := r.Discard(n + 2); err != nil {
					return
				}
				reply = "STORED\r\n"
			case "delete":
				reply = "DELETED\r\n"
			case "incr", "decr":
				reply = "123456789012345678\r\n"
			case "touch":
				reply = "TOUCHED\r\n"
			default:
				reply = "ERROR\r\n"
			}
			gap := 1600 * time.Millisecond / time.Duration(len(reply))
			for i := 0; i < len(reply); i++ {
				if _, err := conn.Write([]byte{reply[i]}); err != nil {
					return
				}
				time.Sleep(gap)
			}
		}
	})
	return ln.Addr().String()
}

// TestDrippingServerKeepsDeadlines: against a server that sends correct
// replies a byte at a time, every call ends by its context's deadline (or
// within the poll timeout when it has none), with a timeout error, in
// every poll mode: the time a call takes is bounded as a whole, not per
// byte. (Each reply takes at least 1.5 s to drip; the bounds are far from
// that and far from the deadlines.)
func TestDrippingServerKeepsDeadlines(t *testing.T) {
	calls := []struct {
		name string
		do   func(ctx context.Context, c *mc.Client) error
	}{
		{"Get", func(ctx context.Context, c *mc.Client) error { _, err := c.Get(ctx, "k"); return err }},
		{"GetMulti", func(ctx context.Context, c *mc.Client) error {
			_, err := c.GetMulti(ctx, []string{"a", "b", "c"})
			return err
		}},
		{"GetAndTouch", func(ctx context.Context, c *mc.Client) error { _, err := c.GetAndTouch(ctx, "k", 10); return err }},
		{"Set", func(ctx context.Context, c *mc.Client) error { return c.Set(ctx, item("k", "v")) }},
		{"SetMulti", func(ctx context.Context, c *mc.Client) error {
			return c.SetMulti(ctx, []*mc.Item{item("a", "v"), item("b", "v")})
		}},
		{"Add", func(ctx context.Context, c *mc.Client) error { return c.Add(ctx, item("k", "v")) }},
		{"Delete", func(ctx context.Context, c *mc.Client) error { return c.Delete(ctx, "k") }},
		{"Increment", func(ctx context.Context, c *mc.Client) error { _, err := c.Increment(ctx, "k", 1); return err }},
		{"Touch", func(ctx context.Context, c *mc.Client) error { return c.Touch(ctx, "k", 10) }},
	}
	addr := dripServer(t)
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			c, err := mc.New([]string{addr}, mc.WithPollMode(pm.mode),
				mc.WithBehaviors(map[string]any{"_poll_timeout": 300}))
			require.NoError(t, err)
			defer c.Close()
			for _, call := range calls {
				t.Run(call.name+"/deadline", func(t *testing.T) {
					ctx, cancel := context.WithTimeout(bg(), 100*time.Millisecond)
					defer cancel()
					start := time.Now()
					err := call.do(ctx, c)
					took := time.Since(start)
					require.ErrorIs(t, err, mc.ErrTimeout)
					assert.Less(t, took, time.Second, "a 100 ms deadline kept for %v", took)
				})
				t.Run(call.name+"/poll-timeout", func(t *testing.T) {
					start := time.Now()
					err := call.do(bg(), c)
					took := time.Since(start)
					require.ErrorIs(t, err, mc.ErrTimeout)
					assert.Less(t, took, 1200*time.Millisecond, "a 300 ms poll timeout kept for %v", took)
				})
			}
		})
	}
}
