package libmemcached_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// protocols runs a test under the text and the binary protocol.
var protocols = []struct {
	name string
	opts []mc.Option
}{
	{"ascii", nil},
	{"binary", []mc.Option{mc.WithBehaviors(map[string]any{"binary_protocol": true})}},
}

func forProtocols(t *testing.T, n int, fn func(t *testing.T, c *mc.Client, servers []*mctest.Server)) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			c, servers := newClient(t, n, p.opts...)
			fn(t, c, servers)
		})
	}
}

func TestSetGet(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "foo", Value: []byte("Hello world!"), Flags: 42}))
		it, err := c.Get(bg(), "foo")
		require.NoError(t, err)
		assert.Equal(t, "foo", it.Key)
		assert.Equal(t, []byte("Hello world!"), it.Value)
		assert.Equal(t, uint32(42), it.Flags)
		assert.NotZero(t, it.CasID, "cas is on by default, so Get fills CasID")

		_, err = c.Get(bg(), "missing")
		require.ErrorIs(t, err, mc.ErrCacheMiss)
		var e *mc.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, "Get", e.Op)
		assert.Equal(t, "missing", e.Key)
		assert.Equal(t, mc.ReturnNotFound, e.Code)
	})
}

func TestBinaryValues(t *testing.T) {
	values := map[string][]byte{
		"empty": {},
		"crlf":  []byte("a\r\nEND\r\nb"),
		"nul":   {0, 0, 1, 0},
		"ff":    bytes.Repeat([]byte{0xff}, 100),
		"all256": func() []byte {
			b := make([]byte, 256)
			for i := range b {
				b[i] = byte(i)
			}
			return b
		}(),
		"1mib": bytes.Repeat([]byte("0123456789abcdef"), (1<<20-1024)/16),
	}
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		for name, v := range values {
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "bin_" + name, Value: v}), name)
			it, err := c.Get(bg(), "bin_"+name)
			require.NoError(t, err, name)
			if diff := cmp.Diff(v, it.Value); diff != "" {
				t.Errorf("%s: value differs (-want +got):\n%.300s", name, diff)
			}
		}
	})
}

func TestUTF8Keys(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		keys := []string{"ключ", "键", "😀emoji", "ü" + strings.Repeat("é", 124)} // the last is 249 bytes
		for _, k := range keys {
			require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
			it, err := c.Get(bg(), k)
			require.NoError(t, err)
			assert.Equal(t, k, string(it.Value))
		}
		got, err := c.GetMulti(bg(), keys)
		require.NoError(t, err)
		assert.Len(t, got, len(keys))
	})
}

func TestMalformedKeys(t *testing.T) {
	bad := map[string]string{
		"empty":      "",
		"251 bytes":  strings.Repeat("k", 251),
		"space":      "a b",
		"crlf":       "x\r\nflush_all",
		"injection":  "x\r\nset y 0 0 1",
		"newline":    "a\nb",
		"nul":        "a\x00b",
		"tab":        "a\tb",
		"control":    "a\x01b",
		"del":        "a\x7fb",
		"only space": " ",
	}
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, servers []*mctest.Server) {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "y", Value: []byte("kept")}))
		before := rawStats(t, servers[0].Addr)
		for name, k := range bad {
			item := &mc.Item{Key: k, Value: []byte("v")}
			errs := map[string]error{}
			_, errs["Get"] = c.Get(bg(), k)
			_, errs["GetAndTouch"] = c.GetAndTouch(bg(), k, 10)
			errs["Set"] = c.Set(bg(), item)
			errs["Add"] = c.Add(bg(), item)
			errs["Replace"] = c.Replace(bg(), item)
			errs["Append"] = c.Append(bg(), item)
			errs["Prepend"] = c.Prepend(bg(), item)
			errs["CompareAndSwap"] = c.CompareAndSwap(bg(), item)
			errs["Delete"] = c.Delete(bg(), k)
			_, errs["Increment"] = c.Increment(bg(), k, 1)
			_, errs["Decrement"] = c.Decrement(bg(), k, 1)
			errs["Touch"] = c.Touch(bg(), k, 1)
			_, errs["GetMulti"] = c.GetMulti(bg(), []string{"y", k})
			errs["SetMulti"] = c.SetMulti(bg(), []*mc.Item{{Key: "z", Value: []byte("1")}, item})
			errs["AddMulti"] = c.AddMulti(bg(), []*mc.Item{item})
			errs["DeleteMulti"] = c.DeleteMulti(bg(), []string{"y", k})
			errs["IncrementMulti"] = c.IncrementMulti(bg(), []string{k}, 1)
			_, errs["ServerForKey"] = c.ServerForKey(k)
			for op, err := range errs {
				require.ErrorIs(t, err, mc.ErrMalformedKey, "%s with %s key", op, name)
				assert.NotContains(t, err.Error(), "\r\n", "error strings quote control bytes")
			}
		}
		// Nothing reached the server: data and counters are unchanged.
		after := rawStats(t, servers[0].Addr)
		for _, stat := range []string{"cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "delete_hits", "delete_misses", "curr_items", "incr_misses", "decr_misses"} {
			assert.Equal(t, before[stat], after[stat], "stat %s changed", stat)
		}
		it, err := c.Get(bg(), "y")
		require.NoError(t, err)
		assert.Equal(t, "kept", string(it.Value))
		_, err = c.Get(bg(), "z")
		require.ErrorIs(t, err, mc.ErrCacheMiss, "a batch with a bad key is not sent at all")
	})
}

func TestLongestKey(t *testing.T) {
	c, _ := newClient(t, 1)
	k := strings.Repeat("k", mc.MaxKeyLen)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")}))
	it, err := c.Get(bg(), k)
	require.NoError(t, err)
	assert.Equal(t, k, it.Key)
}

func TestNilItemAndContext(t *testing.T) {
	c, _ := newClient(t, 1)
	for name, err := range map[string]error{
		"Set":            c.Set(bg(), nil),
		"Add":            c.Add(bg(), nil),
		"CompareAndSwap": c.CompareAndSwap(bg(), nil),
		"SetMulti":       c.SetMulti(bg(), []*mc.Item{{Key: "a"}, nil}),
	} {
		require.ErrorIs(t, err, mc.ErrInvalidArguments, name)
	}
	//lint:ignore SA1012 checking that a nil context is an error, not a panic
	_, err := c.Get(nil, "a") //nolint:staticcheck
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
}

func TestAddReplace(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.NoError(t, c.Add(bg(), &mc.Item{Key: "k", Value: []byte("1")}))
		require.ErrorIs(t, c.Add(bg(), &mc.Item{Key: "k", Value: []byte("2")}), mc.ErrNotStored)
		require.ErrorIs(t, c.Replace(bg(), &mc.Item{Key: "absent", Value: []byte("2")}), mc.ErrNotStored)
		require.NoError(t, c.Replace(bg(), &mc.Item{Key: "k", Value: []byte("3")}))
		it, err := c.Get(bg(), "k")
		require.NoError(t, err)
		assert.Equal(t, "3", string(it.Value))
	})
}

func TestAppendPrepend(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.ErrorIs(t, c.Append(bg(), &mc.Item{Key: "ap", Value: []byte("x")}), mc.ErrNotStored)
		require.ErrorIs(t, c.Prepend(bg(), &mc.Item{Key: "ap", Value: []byte("x")}), mc.ErrNotStored)
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "ap", Value: []byte("mid"), Flags: 7}))
		require.NoError(t, c.Append(bg(), &mc.Item{Key: "ap", Value: []byte(">")}))
		require.NoError(t, c.Prepend(bg(), &mc.Item{Key: "ap", Value: []byte("<")}))
		it, err := c.Get(bg(), "ap")
		require.NoError(t, err)
		assert.Equal(t, "<mid>", string(it.Value))
		assert.Equal(t, uint32(7), it.Flags, "append keeps the flags")
	})
}

func TestCompareAndSwap(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "cas", Value: []byte("v1")}))
		it, err := c.Get(bg(), "cas")
		require.NoError(t, err)
		stale := *it
		it.Value = []byte("v2")
		require.NoError(t, c.CompareAndSwap(bg(), it))
		stale.Value = []byte("lost")
		require.ErrorIs(t, c.CompareAndSwap(bg(), &stale), mc.ErrCASConflict)
		got, err := c.Get(bg(), "cas")
		require.NoError(t, err)
		assert.Equal(t, "v2", string(got.Value))

		require.NoError(t, c.Delete(bg(), "cas"))
		require.ErrorIs(t, c.CompareAndSwap(bg(), got), mc.ErrCacheMiss)
	})
}

func TestDelete(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.ErrorIs(t, c.Delete(bg(), "d"), mc.ErrCacheMiss)
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "d", Value: []byte("x")}))
		require.NoError(t, c.Delete(bg(), "d"))
		_, err := c.Get(bg(), "d")
		require.ErrorIs(t, err, mc.ErrCacheMiss)
	})
}

func TestIncrementDecrement(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		_, err := c.Increment(bg(), "ctr", 1)
		require.ErrorIs(t, err, mc.ErrCacheMiss)
		_, err = c.Decrement(bg(), "ctr", 1)
		require.ErrorIs(t, err, mc.ErrCacheMiss)

		require.NoError(t, c.Set(bg(), &mc.Item{Key: "ctr", Value: []byte("10")}))
		v, err := c.Increment(bg(), "ctr", 5)
		require.NoError(t, err)
		assert.Equal(t, uint64(15), v)
		v, err = c.Decrement(bg(), "ctr", 100)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), v, "decrement clamps at 0")

		// 64-bit delta (more than the uint32 of memcached_increment).
		v, err = c.Increment(bg(), "ctr", 1<<40)
		require.NoError(t, err)
		assert.Equal(t, uint64(1<<40), v)

		// Wrap at 2^64.
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "wrap", Value: []byte(fmt.Sprint(uint64(math.MaxUint64)))}))
		v, err = c.Increment(bg(), "wrap", 2)
		require.NoError(t, err)
		assert.Equal(t, uint64(1), v)

		require.NoError(t, c.Set(bg(), &mc.Item{Key: "text", Value: []byte("hello")}))
		_, err = c.Increment(bg(), "text", 1)
		require.ErrorIs(t, err, mc.ErrNotNumeric)
		_, err = c.Decrement(bg(), "text", 1)
		require.ErrorIs(t, err, mc.ErrNotNumeric)
		// The client is still usable.
		v, err = c.Increment(bg(), "ctr", 1)
		require.NoError(t, err)
		assert.Equal(t, uint64(1<<40+1), v)
	})
}

func TestTouchAndExpiry(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.ErrorIs(t, c.Touch(bg(), "t", 10), mc.ErrCacheMiss)
		_, err := c.GetAndTouch(bg(), "t", 10)
		require.ErrorIs(t, err, mc.ErrCacheMiss)

		require.NoError(t, c.Set(bg(), &mc.Item{Key: "short", Value: []byte("x"), Expiration: 1}))
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "touched", Value: []byte("y"), Expiration: 1}))
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "gat", Value: []byte("z"), Expiration: 1}))
		require.NoError(t, c.Touch(bg(), "touched", 100))
		it, err := c.GetAndTouch(bg(), "gat", 100)
		require.NoError(t, err)
		assert.Equal(t, "z", string(it.Value))

		time.Sleep(2100 * time.Millisecond)
		_, err = c.Get(bg(), "short")
		require.ErrorIs(t, err, mc.ErrCacheMiss, "a 1 s item has expired")
		_, err = c.Get(bg(), "touched")
		require.NoError(t, err, "the touched item lives on")
		_, err = c.Get(bg(), "gat")
		require.NoError(t, err, "the GetAndTouch'ed item lives on")

		// A negative expiration is refused: the protocols disagree on it.
		require.ErrorIs(t, c.Set(bg(), &mc.Item{Key: "neg", Value: []byte("x"), Expiration: -1}), mc.ErrInvalidArguments)
		require.ErrorIs(t, c.Touch(bg(), "touched", -5), mc.ErrInvalidArguments)
		_, err = c.GetAndTouch(bg(), "touched", -5)
		require.ErrorIs(t, err, mc.ErrInvalidArguments)
		require.ErrorIs(t, c.SetMulti(bg(), []*mc.Item{{Key: "neg", Expiration: -1}}), mc.ErrInvalidArguments)
		_, err = c.Get(bg(), "neg")
		require.ErrorIs(t, err, mc.ErrCacheMiss)
		// An absolute Unix time in the future is kept.
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "abs", Value: []byte("x"), Expiration: int32(time.Now().Unix() + 3600)}))
		_, err = c.Get(bg(), "abs")
		require.NoError(t, err)
	})
}

func TestTooLarge(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		err := c.Set(bg(), &mc.Item{Key: "big", Value: make([]byte, 2<<20)})
		require.ErrorIs(t, err, mc.ErrTooLarge)
		// The client stays usable, on the same server.
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "small", Value: []byte("ok")}))
		it, err := c.Get(bg(), "small")
		require.NoError(t, err)
		assert.Equal(t, "ok", string(it.Value))
	})
}

func TestGetMulti(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, servers []*mctest.Server) {
		want := map[string]string{}
		for i := 0; i < 60; i++ {
			k := fmt.Sprintf("gm%d", i)
			want[k] = fmt.Sprintf("value-%d", i)
			require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(want[k]), Flags: uint32(i)}))
		}
		// The keys really are spread over the 3 servers.
		used := map[string]bool{}
		for k := range want {
			s, err := c.ServerForKey(k)
			require.NoError(t, err)
			used[s] = true
		}
		assert.Len(t, used, 3)

		keys := []string{"gm0", "miss1", "gm5", "gm0", "gm59", "miss2", "gm5"}
		for k := range want {
			keys = append(keys, k)
		}
		got, err := c.GetMulti(bg(), keys)
		require.NoError(t, err)
		gotValues := map[string]string{}
		for k, it := range got {
			assert.Equal(t, k, it.Key)
			gotValues[k] = string(it.Value)
			assert.NotZero(t, it.CasID)
		}
		if diff := cmp.Diff(want, gotValues); diff != "" {
			t.Fatalf("GetMulti (-want +got):\n%s", diff)
		}
		assert.Equal(t, uint32(5), got["gm5"].Flags)

		empty, err := c.GetMulti(bg(), nil)
		require.NoError(t, err)
		assert.Empty(t, empty)
		none, err := c.GetMulti(bg(), []string{"nope1", "nope2"})
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestSetMulti(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		items := []*mc.Item{
			{Key: "sm1", Value: []byte("a")},
			{Key: "sm2", Value: make([]byte, 2<<20)}, // over the 1 MiB item size
			{Key: "sm3", Value: []byte("c"), Flags: 3},
		}
		err := c.SetMulti(bg(), items)
		var me *mc.MultiError
		require.ErrorAs(t, err, &me)
		require.ErrorIs(t, err, mc.ErrTooLarge)
		assert.Len(t, me.Errors, 1)
		require.ErrorIs(t, me.Errors["sm2"], mc.ErrTooLarge)
		got, err := c.GetMulti(bg(), []string{"sm1", "sm2", "sm3"})
		require.NoError(t, err)
		assert.Len(t, got, 2)
		assert.Equal(t, uint32(3), got["sm3"].Flags)

		require.NoError(t, c.SetMulti(bg(), nil))
		require.NoError(t, c.SetMulti(bg(), []*mc.Item{{Key: "sm1", Value: []byte("z")}}))
	})
}

func TestAddMultiDeleteMultiIncrementMulti(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "am1", Value: []byte("1")}))
		err := c.AddMulti(bg(), []*mc.Item{{Key: "am1", Value: []byte("x")}, {Key: "am2", Value: []byte("2")}})
		var me *mc.MultiError
		require.ErrorAs(t, err, &me)
		require.ErrorIs(t, err, mc.ErrNotStored)
		assert.Equal(t, []string{"am1"}, keysOf(me.Errors))

		require.NoError(t, c.IncrementMulti(bg(), []string{"am1", "am2"}, 10))
		it, err := c.Get(bg(), "am2")
		require.NoError(t, err)
		assert.Equal(t, "12", string(it.Value))
		err = c.IncrementMulti(bg(), []string{"am1", "nope"}, 1)
		require.ErrorIs(t, err, mc.ErrCacheMiss)

		err = c.DeleteMulti(bg(), []string{"am1", "am2", "am3"})
		require.ErrorAs(t, err, &me)
		require.ErrorIs(t, err, mc.ErrCacheMiss)
		assert.Equal(t, []string{"am3"}, keysOf(me.Errors))
		got, err := c.GetMulti(bg(), []string{"am1", "am2"})
		require.NoError(t, err)
		assert.Empty(t, got)
		require.NoError(t, c.DeleteMulti(bg(), nil))
	})
}

func keysOf(m map[string]error) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestFlushAll(t *testing.T) {
	c, _ := newClient(t, 3)
	for i := 0; i < 20; i++ {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: fmt.Sprint("f", i), Value: []byte("x")}))
	}
	require.NoError(t, c.FlushAll(bg()))
	for i := 0; i < 20; i++ {
		_, err := c.Get(bg(), fmt.Sprint("f", i))
		require.ErrorIs(t, err, mc.ErrCacheMiss)
	}
}

func TestStatsVersionPing(t *testing.T) {
	c, servers := newClient(t, 3)
	require.NoError(t, c.Ping(bg()))
	stats, err := c.Stats(bg())
	require.NoError(t, err)
	require.Len(t, stats, 3)
	versions, err := c.Version(bg())
	require.NoError(t, err)
	for _, s := range servers {
		st, ok := stats[s.Addr]
		require.True(t, ok, "stats keyed by %s", s.Addr)
		assert.Equal(t, fmt.Sprint(s.Pid()), st["pid"], "the stats of %s come from its own process", s.Addr)
		assert.Equal(t, rawStats(t, s.Addr)["version"], versions[s.Addr])
	}
	items, err := c.StatsArg(bg(), "settings")
	require.NoError(t, err)
	assert.Equal(t, "1048576", items[servers[0].Addr]["item_size_max"])
	_, err = c.StatsArg(bg(), "bad\r\nflush_all")
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
}

func TestUnixSocket(t *testing.T) {
	s := mctest.StartSocket(t)
	c, err := mc.New([]string{s.Addr})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "sock", Value: []byte("yes")}))
	it, err := c.Get(bg(), "sock")
	require.NoError(t, err)
	assert.Equal(t, "yes", string(it.Value))
	where, err := c.ServerForKey("sock")
	require.NoError(t, err)
	assert.Equal(t, s.Addr, where)
	st, err := c.Stats(bg())
	require.NoError(t, err)
	assert.Contains(t, st, s.Addr)
}

func TestServerSpecs(t *testing.T) {
	good := []string{"localhost", "127.0.0.1:11311", "127.0.0.1:11311:5", "[::1]", "[::1]:11400",
		"[::1]:11400:2", "/tmp/x.sock", "/tmp/x.sock:3", "tcp:127.0.0.1:1"}
	for _, s := range good {
		c, err := mc.New([]string{s})
		require.NoError(t, err, s)
		require.NoError(t, c.Close())
	}
	_, err := mc.New([]string{"udp:127.0.0.1:11211", "udp:127.0.0.2"})
	require.ErrorIs(t, err, mc.ErrNotSupported, "libmemcached 1.1 dropped UDP")
	assert.Contains(t, err.Error(), "UDP")

	bad := []string{"", " ", "host:", "host:0", "host:65536", "host:x", "host:1:0", "host:1:w",
		"a:1:2:3", "[::1", "[nothex]:1", "[::1]x", "ho st:1", "host\r\n:1", "/tmp/s:0", ":11211"}
	for _, s := range bad {
		_, err := mc.New([]string{s})
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "%q", s)
	}
	_, err = mc.New(nil)
	require.ErrorIs(t, err, mc.ErrNoServers)
	_, err = mc.New([]string{"udp:127.0.0.1", "127.0.0.1"})
	require.ErrorIs(t, err, mc.ErrNotSupported)
	_, err = mc.New([]string{"/tmp/" + strings.Repeat("s", 108)})
	require.ErrorIs(t, err, mc.ErrInvalidArguments, "a socket path longer than sun_path")
	_, err = mc.New([]string{"127.0.0.1"}, mc.WithPoolSize(0))
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
}

func TestServerNamesAsGiven(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{fmt.Sprintf("127.0.0.1:%d:3", s.Port)})
	require.NoError(t, err)
	defer c.Close()
	where, err := c.ServerForKey("k")
	require.NoError(t, err)
	assert.Equal(t, s.Addr, where, "host:port, weight dropped")
	c2, err := mc.New([]string{"localhost"})
	require.NoError(t, err)
	defer c2.Close()
	where, err = c2.ServerForKey("k")
	require.NoError(t, err)
	assert.Equal(t, "localhost:11211", where, "the default port is filled in")
}

func TestNewFromConfig(t *testing.T) {
	servers := mctest.StartN(t, 2)
	cfg := fmt.Sprintf("--SERVER=%s --SERVER=%s --BINARY-PROTOCOL --HASH=FNV1A_32", servers[0].Addr, servers[1].Addr)
	c, err := mc.NewFromConfig(cfg)
	require.NoError(t, err)
	defer c.Close()
	b, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), b["binary_protocol"])
	assert.Equal(t, "fnv1a_32", b["hash"])
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "cfg", Value: []byte("v")}))
	it, err := c.Get(bg(), "cfg")
	require.NoError(t, err)
	assert.Equal(t, "v", string(it.Value))
	st, err := c.Stats(bg())
	require.NoError(t, err)
	assert.Len(t, st, 2)

	for _, bad := range []string{"", "--NOPE", "--SERVER=", "--HASH=nothing --SERVER=127.0.0.1"} {
		_, err := mc.NewFromConfig(bad)
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "%q", bad)
	}
	_, err = mc.NewFromConfig("--SERVER=127.0.0.1", mc.WithPoolSize(-1))
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
}

func TestClose(t *testing.T) {
	c, _ := newClient(t, 1)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "a", Value: []byte("1")}))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "Close is idempotent")
	_, err := c.Get(bg(), "a")
	require.ErrorIs(t, err, mc.ErrClosed)
	require.ErrorIs(t, c.Set(bg(), &mc.Item{Key: "a"}), mc.ErrClosed)
	_, err = c.GetMulti(bg(), []string{"a"})
	require.ErrorIs(t, err, mc.ErrClosed)
	_, err = c.Stats(bg())
	require.ErrorIs(t, err, mc.ErrClosed)
	require.ErrorIs(t, c.SetBehaviors(map[string]any{"tcp_nodelay": true}), mc.ErrClosed)
	_, err = c.Behaviors()
	require.ErrorIs(t, err, mc.ErrClosed)
	_, err = c.ServerForKey("a")
	require.ErrorIs(t, err, mc.ErrClosed)
	require.ErrorIs(t, c.DisconnectAll(), mc.ErrClosed)
}

// TestContext: a canceled context's error matches ErrCanceled and
// context.Canceled; an expired one ErrTimeout and context.DeadlineExceeded;
// a live deadline is applied to the call and the poll timeout restored.
func TestContext(t *testing.T) {
	c, _ := newClient(t, 1)
	ctx, cancel := context.WithCancel(bg())
	cancel()
	_, err := c.Get(ctx, "a")
	require.ErrorIs(t, err, mc.ErrCanceled)
	require.ErrorIs(t, err, context.Canceled)
	expired, cancel2 := context.WithDeadline(bg(), time.Now().Add(-time.Second))
	defer cancel2()
	_, err = c.Get(expired, "a")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, mc.ErrTimeout)
	err = c.Set(expired, &mc.Item{Key: "a"})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, err, mc.ErrTimeout)

	// A live deadline is applied to the call and restored afterwards.
	ctx3, cancel3 := context.WithTimeout(bg(), time.Minute)
	defer cancel3()
	require.NoError(t, c.Set(ctx3, &mc.Item{Key: "a", Value: []byte("1")}))
	_, err = c.Get(ctx3, "a")
	require.NoError(t, err)
	poll, err := c.Behavior(mc.BehaviorPollTimeout)
	require.NoError(t, err)
	assert.Equal(t, uint64(5000), poll)
}

// TestPoolWaitHonoursContext: a call waiting in line for the only handle
// (held by a call on a paused server) ends with its context; the holding
// call ends with its own timeout; the client recovers once the server
// resumes.
func TestPoolWaitHonoursContext(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "a", Value: []byte("1")}))
	var held error
	done := queueBehind(t, c, s, func() {
		ctx, cancel := context.WithTimeout(bg(), 3*time.Second)
		defer cancel()
		_, held = c.Get(ctx, "a")
	})
	ctx, cancel := context.WithTimeout(bg(), 100*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, "a")
	require.ErrorIs(t, err, context.DeadlineExceeded, "waiting for a pooled handle ends with the context")
	<-done
	require.ErrorIs(t, held, mc.ErrTimeout, "the call on the paused server times out")
	s.Resume()
	_, err = c.Get(bg(), "a")
	require.NoError(t, err, "recovers after the server resumes")
}

func TestErrorDetails(t *testing.T) {
	c, servers := newClient(t, 1)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "text", Value: []byte("abc")}))
	_, err := c.Increment(bg(), "text", 1)
	var e *mc.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "Increment", e.Op)
	assert.Equal(t, "text", e.Key)
	assert.Equal(t, servers[0].Addr, e.Server)
	assert.Equal(t, mc.ReturnClientError, e.Code)
	assert.Contains(t, e.Message, "non-numeric")
	assert.NotContains(t, e.Message, "0x", "libmemcached's handle address is trimmed")
	assert.False(t, e.IsRetriable())

	err = c.Set(bg(), &mc.Item{Key: "x\r\nflush_all"})
	require.ErrorAs(t, err, &e)
	assert.Contains(t, err.Error(), `"x\x0d\x0aflush_all"`)
	assert.True(t, errors.Is(err, mc.ErrMalformedKey))
}

// TestSetMultiPipelinedOutcomes: the pipelined SetMulti still reports the
// exact outcome of each key: duplicates, an item that replaces a value but
// is too large, and keys whose server is down.
func TestSetMultiPipelinedOutcomes(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, servers []*mctest.Server) {
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "old", Value: []byte("old value")}))
		var items []*mc.Item
		for i := 0; i < 200; i++ {
			items = append(items, &mc.Item{Key: fmt.Sprint("pl", i), Value: []byte(fmt.Sprint("v", i)), Flags: uint32(i)})
		}
		items = append(items, &mc.Item{Key: "pl7", Value: []byte("second")}, &mc.Item{Key: "old", Value: make([]byte, 2<<20)})
		err := c.SetMulti(bg(), items)
		var me *mc.MultiError
		require.ErrorAs(t, err, &me)
		assert.Equal(t, []string{"old"}, keysOf(me.Errors))
		require.ErrorIs(t, me.Errors["old"], mc.ErrTooLarge)
		_, err = c.Get(bg(), "old")
		require.ErrorIs(t, err, mc.ErrCacheMiss, "memcached drops the old value when a set fails")
		it, err := c.Get(bg(), "pl7")
		require.NoError(t, err)
		assert.Equal(t, "second", string(it.Value), "the last duplicate wins")
		got, err := c.GetMulti(bg(), []string{"pl0", "pl199"})
		require.NoError(t, err)
		assert.Len(t, got, 2)

		// One server down: its keys fail with ErrServerDown, the others are stored.
		servers[1].Stop()
		err = c.SetMulti(bg(), items[:200])
		require.ErrorAs(t, err, &me)
		require.ErrorIs(t, err, mc.ErrServerDown)
		assert.NotEmpty(t, me.Errors)
		assert.Less(t, len(me.Errors), 200)
		for k, e := range me.Errors {
			where, err := c.ServerForKey(k)
			require.NoError(t, err)
			assert.Equal(t, servers[1].Addr, where, "only keys of the dead server fail")
			var ee *mc.Error
			require.ErrorAs(t, e, &ee)
			assert.Equal(t, servers[1].Addr, ee.Server, "the error names the server")
		}
		for _, it := range items[:200] {
			if _, failed := me.Errors[it.Key]; failed {
				continue
			}
			got, err := c.Get(bg(), it.Key)
			require.NoError(t, err, it.Key)
			assert.Equal(t, it.Value, got.Value)
		}
	})
}

// TestSetMultiLargeBatch sends a batch far over libmemcached's purge
// watermarks (5000 items, 5 MB) in chunks, and reads every item back.
func TestSetMultiLargeBatch(t *testing.T) {
	forProtocols(t, 2, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		items := make([]*mc.Item, 5000)
		keys := make([]string, len(items))
		for i := range items {
			keys[i] = fmt.Sprint("big-batch-", i)
			items[i] = &mc.Item{Key: keys[i], Value: bytes.Repeat([]byte{byte(i)}, 1000)}
		}
		require.NoError(t, c.SetMulti(bg(), items))
		got, err := c.GetMulti(bg(), keys)
		require.NoError(t, err)
		require.Len(t, got, len(items))
		for i, k := range keys {
			require.Equal(t, items[i].Value, got[k].Value)
		}
	})
}

// TestResponsesStayInStep: every call reads exactly its own answers, so a
// later call on the same pooled handle never takes a stale one (a binary
// Get once left its NOOP unread and the next Delete "succeeded" on it).
func TestResponsesStayInStep(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, servers []*mctest.Server) {
		for i := 0; i < 400; i++ {
			key := fmt.Sprint("step", i%40)
			v := []byte(fmt.Sprint("v", i))
			require.NoError(t, c.Set(bg(), &mc.Item{Key: key, Value: v}))
			it, err := c.Get(bg(), key)
			require.NoError(t, err)
			require.Equal(t, v, it.Value)
			_, err = c.GetMulti(bg(), []string{key, "absent"})
			require.NoError(t, err)
			require.NoError(t, c.SetMulti(bg(), []*mc.Item{{Key: key, Value: v}, {Key: key + "b", Value: v}}))
			n, err := c.Increment(bg(), "step-ctr", 1)
			if err == nil {
				require.Equal(t, uint64(i), n)
			} else {
				require.ErrorIs(t, err, mc.ErrCacheMiss)
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "step-ctr", Value: []byte("0")}))
			}
			require.NoError(t, c.Delete(bg(), key))
			require.False(t, rawHas(t, servers[0].Addr, key), "iteration %d: the delete reached the server", i)
		}
	})
}

// TestHugeGetMulti: 20,000 keys in one GetMulti, over both protocols.
func TestHugeGetMulti(t *testing.T) {
	forProtocols(t, 3, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		keys := make([]string, 20000)
		items := make([]*mc.Item, 0, len(keys)/2)
		for i := range keys {
			keys[i] = fmt.Sprint("huge-", i)
			if i%2 == 0 {
				items = append(items, &mc.Item{Key: keys[i], Value: []byte(keys[i])})
			}
		}
		require.NoError(t, c.SetMulti(bg(), items))
		got, err := c.GetMulti(bg(), keys)
		require.NoError(t, err)
		require.Len(t, got, len(items))
		for _, it := range items {
			require.Equal(t, it.Value, got[it.Key].Value)
		}
	})
}
