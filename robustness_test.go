package libmemcached_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// TestCompareAndSwapZeroCasID: with the cas behavior off Get returns CasID
// 0, and libmemcached would send a "cas" without its unique (text: memcached
// answers ERROR twice and the connection is one reply behind; binary: a plain
// set). The call is refused before anything is sent, and the connection
// stays in step: later calls on the one pooled handle get their own answers.
func TestCompareAndSwapZeroCasID(t *testing.T) {
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			opts := append([]mc.Option{mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"cas": false})}, p.opts...)
			c, servers := newClient(t, 1, opts...)
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "a", Value: []byte("A")}))
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "b", Value: []byte("B")}))
			it, err := c.Get(bg(), "a")
			require.NoError(t, err)
			if p.name == "ascii" {
				require.Zero(t, it.CasID, "the cas behavior is off")
			}
			it.CasID = 0 // binary replies always carry one: an item built by hand
			it.Value = []byte("version")
			err = c.CompareAndSwap(bg(), it)
			require.ErrorIs(t, err, mc.ErrInvalidArguments)
			assert.Contains(t, err.Error(), "CasID is 0")
			for i := 0; i < 5; i++ {
				got, err := c.Get(bg(), "b")
				require.NoError(t, err)
				require.Equal(t, "B", string(got.Value), "call %d returns b's own value", i)
				got, err = c.Get(bg(), "a")
				require.NoError(t, err)
				require.Equal(t, "A", string(got.Value), "a is unchanged (binary would have overwritten it)")
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "c", Value: []byte("C")}))
			}
			assert.Equal(t, "0", rawStats(t, servers[0].Addr)["cas_misses"], "no cas reached the server")
		})
	}
}

// TestNamespaceEveryWay writes a value that is a protocol command under
// the longest key the namespace leaves, through every way of setting a
// namespace and both protocols; one byte more is refused before anything is
// sent. The server runs nothing: another client's key survives and
// cmd_flush stays 0.
func TestNamespaceEveryWay(t *testing.T) {
	s := mctest.Start(t)
	ways := []struct {
		name string
		ns   string
		make func() (*mc.Client, error)
	}{
		{"WithNamespace", "ns:", func() (*mc.Client, error) { return mc.New([]string{s.Addr}, mc.WithNamespace("ns:")) }},
		{"WithNamespace binary", "ns:", func() (*mc.Client, error) {
			return mc.New([]string{s.Addr}, mc.WithNamespace("ns:"), mc.WithBehaviors(map[string]any{"binary_protocol": true}))
		}},
		{"--NAMESPACE", "golibmc", func() (*mc.Client, error) {
			return mc.NewFromConfig("--SERVER=" + s.Addr + " --NAMESPACE=golibmc")
		}},
		{"--NAMESPACE quoted, binary", "g:lib.mc-", func() (*mc.Client, error) {
			return mc.NewFromConfig(`--SERVER=` + s.Addr + ` --NAMESPACE="g:lib.mc-" --BINARY-PROTOCOL`)
		}},
		{"--NAMESPACE then behaviors", "golibmc", func() (*mc.Client, error) {
			c, err := mc.NewFromConfig("--SERVER=" + s.Addr + " --NAMESPACE=golibmc")
			if err == nil {
				err = c.SetBehaviors(map[string]any{"_hash_with_prefix_key": true, "binary_protocol": true})
			}
			return c, err
		}},
	}
	raw, err := mc.New([]string{s.Addr})
	require.NoError(t, err)
	defer raw.Close()
	require.NoError(t, raw.Set(bg(), &mc.Item{Key: "sentinel", Value: []byte("still here")}))
	commands := []string{"flush_all", "flush_all\r\n", "flush_all 0\r\nset x 0 0 1\r\nx", "\r\nflush_all\r\n"}
	for _, w := range ways {
		t.Run(w.name, func(t *testing.T) {
			c, err := w.make()
			require.NoError(t, err)
			defer c.Close()
			max := mc.MaxKeyLen - len(w.ns)
			key := strings.Repeat("k", max)
			for _, v := range commands {
				require.NoError(t, c.Set(bg(), &mc.Item{Key: key, Value: []byte(v)}))
				it, err := c.Get(bg(), key)
				require.NoError(t, err)
				require.Equal(t, v, string(it.Value))
				err = c.Set(bg(), &mc.Item{Key: key + "k", Value: []byte(v)})
				require.ErrorIs(t, err, mc.ErrMalformedKey, "one byte over the limit the namespace leaves")
				assert.Contains(t, err.Error(), fmt.Sprintf("the limit is %d", max))
				for _, call := range []func() error{
					func() error { _, err := c.Get(bg(), key+"k"); return err },
					func() error { _, err := c.GetMulti(bg(), []string{"x", key + "k"}); return err },
					func() error { return c.Delete(bg(), key+"k") },
					func() error { _, err := c.Increment(bg(), key+"k", 1); return err },
					func() error { return c.Touch(bg(), key+"k", 1) },
					func() error { return c.SetMulti(bg(), []*mc.Item{{Key: key + "k", Value: []byte(v)}}) },
				} {
					require.ErrorIs(t, call(), mc.ErrMalformedKey)
				}
			}
			assert.True(t, rawHas(t, s.Addr, w.ns+key), "the value is stored under the prefixed key")
		})
	}
	it, err := raw.Get(bg(), "sentinel")
	require.NoError(t, err, "another client's key survives")
	assert.Equal(t, "still here", string(it.Value))
	assert.Equal(t, "0", rawStats(t, s.Addr)["cmd_flush"], "no value ran as a command")
}

// TestNamespaceValidated: a namespace must be 1 to 127 printable ASCII
// bytes, however it is given.
func TestNamespaceValidated(t *testing.T) {
	for _, ns := range []string{"", "a b", "é", "a\r\n", strings.Repeat("n", 128)} {
		_, err := mc.New([]string{"127.0.0.1:1"}, mc.WithNamespace(ns))
		require.ErrorIs(t, err, mc.ErrMalformedKey, "%q", ns)
	}
	c, err := mc.New([]string{"127.0.0.1:1"}, mc.WithNamespace(strings.Repeat("n", 127)))
	require.NoError(t, err)
	c.Close()
	_, err = mc.NewFromConfig(`--SERVER=127.0.0.1:1 --NAMESPACE="` + strings.Repeat("n", 128) + `"`)
	require.Error(t, err)
}

// TestBehaviorLimits: every numeric behavior refuses the value past its
// limit (tcp_keepidle 32768 used to be accepted, and the first connection
// aborted the process), through SetBehaviors, WithBehaviors and the raw
// SetBehavior alike; the limit itself works on a live connection.
func TestBehaviorLimits(t *testing.T) {
	c, servers := newClient(t, 1)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
	over := map[string]uint64{
		"tcp_keepidle": 32768, "connect_timeout": 1 << 31, "_poll_timeout": 1 << 31, "send_timeout": 1 << 31,
		"receive_timeout": 1 << 31, "retry_timeout": 1 << 31, "dead_timeout": 1 << 31, "_socket_send_size": 1 << 31,
		"_socket_recv_size": 1 << 31, "failure_limit": 1 << 32, "server_timeout_limit": 1 << 32,
		"_io_msg_watermark": 1 << 32, "_io_bytes_watermark": 1 << 32, "_io_key_prefetch": 1 << 32,
		"num_replicas": 1 << 32, "buffer_requests": 1, "use_udp": 1, "tcp_nodelay": 2,
	}
	zero := []string{"connect_timeout", "_poll_timeout", "failure_limit"}
	for name, v := range over {
		err := c.SetBehaviors(map[string]any{name: v})
		require.Error(t, err, name)
		require.True(t, errors.Is(err, mc.ErrInvalidArguments) || errors.Is(err, mc.ErrNotSupported), "%s: %v", name, err)
		_, err = mc.New([]string{servers[0].Addr}, mc.WithBehaviors(map[string]any{name: v}))
		require.Error(t, err, name)
	}
	for _, name := range zero {
		require.ErrorIs(t, c.SetBehaviors(map[string]any{name: 0}), mc.ErrInvalidArguments, name)
	}
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorTCPKeepIdle, 32768), mc.ErrInvalidArguments, "the raw setter checks too")
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorMax, 1), mc.ErrInvalidArguments)
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorMax+5, 1), mc.ErrInvalidArguments)
	require.ErrorIs(t, c.SetBehavior(-1, 1), mc.ErrInvalidArguments)
	for _, b := range []mc.Behavior{-1, mc.BehaviorMax, mc.BehaviorMax + 1} {
		_, err := c.Behavior(b)
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "memcached_behavior_get asserts outside the enum")
	}
	require.ErrorIs(t, c.SetBehaviors(map[string]any{"num_replicas": 1}), mc.ErrInvalidArguments, "as many replicas as servers")
	require.NoError(t, c.SetBehaviors(map[string]any{"tcp_keepidle": 32767, "tcp_keepalive": true}))
	require.NoError(t, c.DisconnectAll())
	it, err := c.Get(bg(), "k")
	require.NoError(t, err, "a new connection with TCP_KEEPIDLE 32767")
	assert.Equal(t, "v", string(it.Value))
	_, err = mc.NewFromConfig("--SERVER=" + servers[0].Addr + " --POLL-TIMEOUT=0")
	require.ErrorIs(t, err, mc.ErrInvalidArguments, "the configuration string is held to the same limits")
}

// TestIncrementPastUint64: memcached refuses to increment a value that does
// not fit in 64 bits; both protocols say ErrNotNumeric (the binary one used
// to say ErrServerDown, retriable).
func TestIncrementPastUint64(t *testing.T) {
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		for _, v := range []string{"18446744073709551616", "99999999999999999999999", "12a", "-1"} {
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "big", Value: []byte(v)}))
			_, err := c.Increment(bg(), "big", 1)
			require.ErrorIs(t, err, mc.ErrNotNumeric, v)
			var e *mc.Error
			require.ErrorAs(t, err, &e)
			assert.False(t, e.IsRetriable(), v)
			err = c.IncrementMulti(bg(), []string{"big"}, 1)
			require.ErrorIs(t, err, mc.ErrNotNumeric, v)
		}
		// (A value of 2^63 or more is not used: memcached's safe_strtoull then
		// looks for a '-' past the end of the value.)
		require.NoError(t, c.Set(bg(), &mc.Item{Key: "big", Value: []byte("9223372036854775807")}))
		n, err := c.Increment(bg(), "big", 9223372036854775809)
		require.NoError(t, err)
		assert.Equal(t, uint64(0), n, "2^64 wraps to 0")
	})
}

// TestNotNumericKeepsTheConnection: memcached's answer to the increment
// of a value that is not a number (text: CLIENT_ERROR; binary:
// DELTA_BADVAL, which golibmc decodes) is a whole reply, read to its end:
// the connection stays in step and is kept, not reconnected per call
// (counted by the server: total_connections, read over a raw socket, which
// itself counts one). A storage command's CLIENT_ERROR still drops it.
func TestNotNumericKeepsTheConnection(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprint("binary=", binary), func(t *testing.T) {
			s := mctest.Start(t)
			c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1),
				mc.WithBehaviors(map[string]any{"binary_protocol": binary}))
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "text", Value: []byte("abc")}))
			connections := func() int {
				n, err := strconv.Atoi(rawStats(t, s.Addr)["total_connections"])
				require.NoError(t, err)
				return n
			}
			before := connections()
			for i := 0; i < 20; i++ {
				_, err := c.Increment(bg(), "text", 1)
				require.ErrorIs(t, err, mc.ErrNotNumeric)
				_, err = c.Decrement(bg(), "text", 1)
				require.ErrorIs(t, err, mc.ErrNotNumeric)
				require.ErrorIs(t, c.IncrementMulti(bg(), []string{"text"}, 1), mc.ErrNotNumeric)
			}
			it, err := c.Get(bg(), "text")
			require.NoError(t, err)
			assert.Equal(t, "abc", string(it.Value))
			assert.Equal(t, 1, connections()-before, "new connections for 60 increments of a value that is not a number (1: the raw stats)")
		})
	}

	f := startFake(t, 1, 0)
	f.mu.Lock()
	f.storeReply = "CLIENT_ERROR bad data chunk\r\n"
	f.mu.Unlock()
	p := mctest.StartProxy(t, f.addr()) // counts the connections
	fc, err := mc.New([]string{p.Addr}, mc.WithPoolSize(1))
	require.NoError(t, err)
	defer fc.Close()
	for i := 0; i < 5; i++ {
		require.ErrorIs(t, fc.Add(bg(), &mc.Item{Key: fmt.Sprint("add", i), Value: []byte("v")}), mc.ErrClientError)
	}
	assert.Equal(t, 5, p.Accepted(), "a storage command's CLIENT_ERROR proves nothing: a new connection each")
}

// TestConfigurationErrors: ports out of range are refused (libmemcached's
// parser wraps 99999 to 34463), configuration files and includes are
// refused, and messages carry neither a pointer nor a C++ source location.
func TestConfigurationErrors(t *testing.T) {
	bad := map[string]error{
		"--SERVER=127.0.0.1:99999":                  mc.ErrInvalidArguments,
		"--SERVER=127.0.0.1:0":                      mc.ErrInvalidArguments,
		"--SERVERS=127.0.0.1:11211,127.0.0.2:70000": mc.ErrInvalidArguments,
		"--SERVER=[::1]:65536":                      mc.ErrInvalidArguments,
		`--CONFIGURE-FILE=""`:                       mc.ErrInvalidArguments,
		"--CONFIGURE-FILE=/etc/passwd":              mc.ErrInvalidArguments,
		"--SERVER=127.0.0.1 INCLUDE /etc/passwd":    mc.ErrInvalidArguments,
		"--SERVER=127.0.0.1 --NOPE":                 mc.ErrInvalidArguments,
		"--BINARY-PROTOCOL":                         mc.ErrNoServers,
		"--SERVER=127.0.0.1 --USE-UDP":              mc.ErrNotSupported,
		"--SERVER=127.0.0.1 --BUFFER-REQUESTS":      mc.ErrNotSupported,
	}
	for config, want := range bad {
		_, err := mc.NewFromConfig(config)
		require.ErrorIs(t, err, want, config)
		msg := err.Error()
		assert.NotContains(t, msg, "(0x", config)
		assert.NotContains(t, msg, ".cc:", config)
		assert.NotContains(t, msg, ".yy", config)
	}
	var b strings.Builder
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&b, "--SERVER=127.0.0.1:%d ", 20000+i)
	}
	_, err := mc.NewFromConfig(b.String() + "--DISTRIBUTION=consistent")
	require.ErrorIs(t, err, mc.ErrInvalidArguments, "101 servers under a consistent distribution abort libmemcached")
	specs := make([]string, 101)
	for i := range specs {
		specs[i] = fmt.Sprintf("127.0.0.1:%d", 20000+i)
	}
	c, err := mc.New(specs)
	require.NoError(t, err, "101 servers with modula")
	defer c.Close()
	for _, b := range []map[string]any{{"ketama": true}, {"ketama_weighted": true}, {"distribution": "consistent"}} {
		require.ErrorIs(t, c.SetBehaviors(b), mc.ErrNotSupported, "%v", b)
	}
	_, err = mc.New(specs, mc.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
	require.ErrorIs(t, err, mc.ErrNotSupported)
}

// TestUnguardedCallsNotMade: libmemcached asserts inside some calls for
// inputs only their callers control (callback.cc, get.cc, error.cc: a
// callback id outside the enum, a GET_FAILURE callback with memcached_get,
// an execute callback returning MEMCACHED_ERRNO, memcached_dump). The thin
// layer never makes those calls, and takes the namespace only with
// MEMCACHED_CALLBACK_PREFIX_KEY; this keeps it so, in every C file and
// every Go file (tests aside) of the package.
func TestUnguardedCallsNotMade(t *testing.T) {
	var files []string
	for _, pattern := range []string{"*.c", "*.h", "*.go"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	require.Contains(t, files, "golibmc.h")
	require.Contains(t, files, "libmemcached.go")
	require.Contains(t, files, "read.c")
	for _, file := range files {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		for n, line := range strings.Split(string(src), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			for _, call := range []string{"memcached_fetch_execute", "memcached_mget_execute", "memcached_get(",
				"memcached_get_by_key", "memcached_dump", "MEMCACHED_CALLBACK_GET_FAILURE"} {
				assert.NotContains(t, line, call, "%s:%d", file, n+1)
			}
			if strings.Contains(line, "memcached_callback_get(") || strings.Contains(line, "memcached_callback_set(") {
				assert.Contains(t, line, "PREFIX_KEY", "%s:%d", file, n+1)
			}
		}
	}
}

// TestIncrementServerOutOfMemory: a server run with -M (no eviction) and
// full answers an increment that needs a larger item with "out of memory"
// (binary: ENOMEM); that is an error wrapping ErrServerError (code
// ReturnServerMemoryAllocationFailure; libmemcached 1.0.18 reports the text
// reply as ReturnServerError) and the client stays usable. Over the binary
// protocol libmemcached 1.1 asserts on that reply when it reads it itself
// (auto.cc:32); golibmc reads it and lends libmemcached a success instead
// (docs/failure-handling.md, "Guarded assertions").
func TestIncrementServerOutOfMemory(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprint("binary=", binary), func(t *testing.T) {
			s := mctest.Start(t, "-M", "-m", "2")
			c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1),
				mc.WithBehaviors(map[string]any{"binary_protocol": binary}))
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "ctr", Value: []byte("9")}))
			full := 0
			for i := 0; full < 3 && i < 1_000_000; i++ {
				if err := c.Set(bg(), &mc.Item{Key: fmt.Sprint("fill", i), Value: []byte("9")}); err != nil {
					require.ErrorIs(t, err, mc.ErrServerError)
					full++
				}
			}
			require.Equal(t, 3, full, "the server filled up")
			_, err = c.Increment(bg(), "ctr", 1) // "9" -> "10" needs a new item
			require.ErrorIs(t, err, mc.ErrServerError)
			var e *mc.Error
			require.ErrorAs(t, err, &e)
			assert.Contains(t, []mc.ReturnCode{mc.ReturnServerMemoryAllocationFailure, mc.ReturnServerError}, e.Code, "%v", e)
			it, err := c.Get(bg(), "ctr")
			require.NoError(t, err)
			assert.Equal(t, "9", string(it.Value))
		})
	}
}
