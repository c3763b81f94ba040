package memcache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
	"github.com/golibmc/libmemcached/memcache"
)

// newClient starts n servers and returns a client for them, closed when
// the test ends.
func newClient(t *testing.T, n int) (*memcache.Client, []*mctest.Server) {
	t.Helper()
	servers := mctest.StartN(t, n)
	c := memcache.New(mctest.Addrs(servers)...)
	t.Cleanup(func() { c.Close() })
	return c, servers
}

// rawGet asks one server directly for key: its value, and whether it was there.
func rawGet(t *testing.T, addr, key string) (string, bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = fmt.Fprintf(conn, "get %s\r\n", key)
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	require.NoError(t, err)
	if line == "END\r\n" {
		return "", false
	}
	require.True(t, strings.HasPrefix(line, "VALUE "), line)
	v, err := r.ReadString('\n')
	require.NoError(t, err)
	return strings.TrimSuffix(v, "\r\n"), true
}

// rawStat reads one general stat of a server directly.
func rawStat(t *testing.T, addr, name string) string {
	t.Helper()
	c, err := libmemcached.New([]string{addr})
	require.NoError(t, err)
	defer c.Close()
	st, err := c.Stats(context.Background())
	require.NoError(t, err)
	return st[addr][name]
}

func TestSetGetAndErrors(t *testing.T) {
	c, _ := newClient(t, 2)
	require.NoError(t, c.Set(&memcache.Item{Key: "foo", Value: []byte("bar"), Flags: 42, Expiration: 100}))
	it, err := c.Get("foo")
	require.NoError(t, err)
	assert.Empty(t, cmp.Diff(&memcache.Item{Key: "foo", Value: []byte("bar"), Flags: 42, CasID: it.CasID}, it))
	assert.NotZero(t, it.CasID)

	_, err = c.Get("absent")
	assert.True(t, err == memcache.ErrCacheMiss, "Get: %v", err)
	assert.ErrorIs(t, err, libmemcached.ErrCacheMiss)
	assert.Equal(t, "memcache: cache miss", err.Error())

	assert.True(t, c.Add(&memcache.Item{Key: "foo", Value: []byte("x")}) == memcache.ErrNotStored)
	assert.NoError(t, c.Add(&memcache.Item{Key: "new", Value: []byte("x")}))
	assert.True(t, c.Replace(&memcache.Item{Key: "absent", Value: []byte("x")}) == memcache.ErrNotStored)
	assert.NoError(t, c.Replace(&memcache.Item{Key: "new", Value: []byte("y")}))
	assert.True(t, c.Append(&memcache.Item{Key: "absent", Value: []byte("x")}) == memcache.ErrNotStored)
	assert.True(t, c.Prepend(&memcache.Item{Key: "absent", Value: []byte("x")}) == memcache.ErrNotStored)
	assert.NoError(t, c.Append(&memcache.Item{Key: "new", Value: []byte(">")}))
	assert.NoError(t, c.Prepend(&memcache.Item{Key: "new", Value: []byte("<")}))
	it, err = c.Get("new")
	require.NoError(t, err)
	assert.Equal(t, "<y>", string(it.Value))

	assert.NoError(t, c.Delete("new"))
	assert.True(t, c.Delete("new") == memcache.ErrCacheMiss)
	assert.True(t, c.Touch("new", 10) == memcache.ErrCacheMiss)
	assert.NoError(t, c.Touch("foo", 10))

	_, err = c.GetAndTouch("new", 10)
	assert.True(t, err == memcache.ErrCacheMiss, "GetAndTouch: %v", err)
	it, err = c.GetAndTouch("foo", 50)
	require.NoError(t, err)
	assert.Equal(t, "bar", string(it.Value))
	assert.Zero(t, it.Expiration, "gomemcache's reads leave Expiration unset")

	// Empty and binary values.
	require.NoError(t, c.Set(&memcache.Item{Key: "empty", Value: nil}))
	it, err = c.Get("empty")
	require.NoError(t, err)
	assert.Empty(t, it.Value)
	bin := []byte("a\r\nb\x00\xff END\r\n")
	require.NoError(t, c.Set(&memcache.Item{Key: "bin", Value: bin}))
	it, err = c.Get("bin")
	require.NoError(t, err)
	assert.Equal(t, bin, it.Value)

	require.NoError(t, c.Ping())
}

func TestErrorsMatchBothPackages(t *testing.T) {
	for _, x := range []struct {
		ours, lib error
		text      string
	}{
		{memcache.ErrCacheMiss, libmemcached.ErrCacheMiss, "memcache: cache miss"},
		{memcache.ErrCASConflict, libmemcached.ErrCASConflict, "memcache: compare-and-swap conflict"},
		{memcache.ErrNotStored, libmemcached.ErrNotStored, "memcache: item not stored"},
		{memcache.ErrServerError, libmemcached.ErrServerError, "memcache: server error"},
		{memcache.ErrMalformedKey, libmemcached.ErrMalformedKey, "malformed: key is too long or contains invalid characters"},
		{memcache.ErrNoServers, libmemcached.ErrNoServers, "memcache: no servers configured or available"},
	} {
		assert.ErrorIs(t, x.ours, x.lib)
		assert.Equal(t, x.text, x.ours.Error(), "gomemcache's text")
	}
	assert.Equal(t, "memcache: no statistics available", memcache.ErrNoStats.Error())
	assert.False(t, errors.Is(memcache.ErrCacheMiss, libmemcached.ErrNotStored))
	a, err := net.ResolveTCPAddr("tcp", "127.0.0.1:11211")
	require.NoError(t, err)
	assert.Equal(t, "memcache: connect timeout to 127.0.0.1:11211", (&memcache.ConnectTimeoutError{Addr: a}).Error())
}

func TestMalformedKeys(t *testing.T) {
	c, servers := newClient(t, 1)
	before := rawStat(t, servers[0].Addr, "cmd_set")
	for _, k := range []string{"", "foo bar", "foo\r\nflush_all", "x\x7f", "tab\tkey", strings.Repeat("k", 251)} {
		is := func(err error, op string) {
			t.Helper()
			assert.True(t, err == memcache.ErrMalformedKey, "%s(%q): %v", op, k, err)
		}
		_, err := c.Get(k)
		is(err, "Get")
		_, err = c.GetAndTouch(k, 1)
		is(err, "GetAndTouch")
		m, err := c.GetMulti([]string{"ok", k})
		is(err, "GetMulti")
		assert.Nil(t, m)
		is(c.Touch(k, 1), "Touch")
		is(c.Delete(k), "Delete")
		_, err = c.Increment(k, 1)
		is(err, "Increment")
		_, err = c.Decrement(k, 1)
		is(err, "Decrement")
		item := &memcache.Item{Key: k, Value: []byte("v")}
		is(c.Set(item), "Set")
		is(c.Add(item), "Add")
		is(c.Replace(item), "Replace")
		is(c.Append(item), "Append")
		is(c.Prepend(item), "Prepend")
		is(c.CompareAndSwap(item), "CompareAndSwap")
	}
	assert.Equal(t, before, rawStat(t, servers[0].Addr, "cmd_set"), "nothing was sent")
	// 250 bytes and UTF-8 are fine.
	long := strings.Repeat("k", 250)
	require.NoError(t, c.Set(&memcache.Item{Key: long, Value: []byte("v")}))
	require.NoError(t, c.Set(&memcache.Item{Key: "Hello_世界", Value: []byte("v")}))
	_, err := c.Get("Hello_世界")
	require.NoError(t, err)
}

func TestCompareAndSwap(t *testing.T) {
	c, servers := newClient(t, 1)
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("v0")}))
	a, err := c.Get("k")
	require.NoError(t, err)
	b, err := c.Get("k")
	require.NoError(t, err)
	a.Value = []byte("v1")
	require.NoError(t, c.CompareAndSwap(a))
	b.Value = []byte("v2")
	assert.True(t, c.CompareAndSwap(b) == memcache.ErrCASConflict)
	v, _ := rawGet(t, servers[0].Addr, "k")
	assert.Equal(t, "v1", v)

	// An item never read (CasID 0) is answered as memcached answers
	// gomemcache's "cas ... 0", and nothing is stored.
	unread := &memcache.Item{Key: "k", Value: []byte("clobber"), Expiration: -1}
	assert.True(t, c.CompareAndSwap(unread) == memcache.ErrCASConflict)
	assert.Equal(t, &memcache.Item{Key: "k", Value: []byte("clobber"), Expiration: -1}, unread, "the caller's item is not changed")
	v, ok := rawGet(t, servers[0].Addr, "k")
	assert.True(t, ok)
	assert.Equal(t, "v1", v)
	assert.True(t, c.CompareAndSwap(&memcache.Item{Key: "none", Value: []byte("x")}) == memcache.ErrCacheMiss)
	_, ok = rawGet(t, servers[0].Addr, "none")
	assert.False(t, ok)

	// An item deleted since it was read.
	it, err := c.Get("k")
	require.NoError(t, err)
	require.NoError(t, c.Delete("k"))
	assert.True(t, c.CompareAndSwap(it) == memcache.ErrCacheMiss)
}

// TestNegativeExpiration: as in memcached's text protocol, the store is
// made and the item expires at once.
func TestNegativeExpiration(t *testing.T) {
	c, _ := newClient(t, 1)
	gone := func(key string) {
		t.Helper()
		_, err := c.Get(key)
		assert.True(t, err == memcache.ErrCacheMiss, "%s: %v", key, err)
	}
	require.NoError(t, c.Set(&memcache.Item{Key: "a", Value: []byte("old")}))
	item := &memcache.Item{Key: "a", Value: []byte("new"), Expiration: -1}
	require.NoError(t, c.Set(item))
	assert.Equal(t, int32(-1), item.Expiration, "the caller's item is not changed")
	gone("a")
	require.NoError(t, c.Add(&memcache.Item{Key: "b", Value: []byte("x"), Expiration: -100}))
	gone("b")
	require.NoError(t, c.Set(&memcache.Item{Key: "c", Value: []byte("x")}))
	assert.True(t, c.Add(&memcache.Item{Key: "c", Value: []byte("y"), Expiration: -1}) == memcache.ErrNotStored)
	require.NoError(t, c.Replace(&memcache.Item{Key: "c", Value: []byte("y"), Expiration: -1}))
	gone("c")
	require.NoError(t, c.Set(&memcache.Item{Key: "d", Value: []byte("x")}))
	require.NoError(t, c.Touch("d", -1))
	gone("d")
	require.NoError(t, c.Set(&memcache.Item{Key: "e", Value: []byte("x")}))
	it, err := c.GetAndTouch("e", -1)
	require.NoError(t, err, "gat returns the item, then it expires")
	assert.Equal(t, "x", string(it.Value))
	gone("e")
	_, err = c.GetAndTouch("e", -1)
	assert.True(t, err == memcache.ErrCacheMiss)
	require.NoError(t, c.Set(&memcache.Item{Key: "f", Value: []byte("x")}))
	it, err = c.Get("f")
	require.NoError(t, err)
	it.Expiration = -1
	require.NoError(t, c.CompareAndSwap(it))
	gone("f")
	// Append ignores the expiration (memcached keeps the item's own).
	require.NoError(t, c.Set(&memcache.Item{Key: "g", Value: []byte("x")}))
	require.NoError(t, c.Append(&memcache.Item{Key: "g", Value: []byte("y"), Expiration: -1}))
	it, err = c.Get("g")
	require.NoError(t, err)
	assert.Equal(t, "xy", string(it.Value))
}

func TestCounters(t *testing.T) {
	c, _ := newClient(t, 2)
	_, err := c.Increment("n", 1)
	assert.True(t, err == memcache.ErrCacheMiss)
	_, err = c.Decrement("n", 1)
	assert.True(t, err == memcache.ErrCacheMiss)
	require.NoError(t, c.Set(&memcache.Item{Key: "n", Value: []byte("42")}))
	n, err := c.Increment("n", 8)
	require.NoError(t, err)
	assert.Equal(t, uint64(50), n)
	n, err = c.Decrement("n", 100)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), n, "capped at zero")
	require.NoError(t, c.Set(&memcache.Item{Key: "n", Value: []byte("18446744073709551615")}))
	n, err = c.Increment("n", 2)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), n, "wraps")
	require.NoError(t, c.Set(&memcache.Item{Key: "n", Value: []byte("text")}))
	_, err = c.Increment("n", 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "client error")
	assert.Equal(t, "memcache: client error: cannot increment or decrement non-numeric value", err.Error())
	assert.ErrorIs(t, err, libmemcached.ErrNotNumeric)
	var le *libmemcached.Error
	assert.ErrorAs(t, err, &le)
	_, err = c.Decrement("n", 1)
	assert.ErrorIs(t, err, libmemcached.ErrNotNumeric)
	// The client is still usable (libmemcached reconnected).
	n, err = c.Increment("absent", 1)
	assert.True(t, err == memcache.ErrCacheMiss, "%d %v", n, err)
}

func TestGetMulti(t *testing.T) {
	c, _ := newClient(t, 3)
	keys := []string{"a", "b", "missing", "c", "a"}
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte(k + k), Flags: 7}))
	}
	m, err := c.GetMulti(keys)
	require.NoError(t, err)
	require.Len(t, m, 3)
	for _, k := range []string{"a", "b", "c"} {
		assert.Equal(t, k, m[k].Key)
		assert.Equal(t, k+k, string(m[k].Value))
		assert.Equal(t, uint32(7), m[k].Flags)
		assert.NotZero(t, m[k].CasID)
	}
	m, err = c.GetMulti(nil)
	require.NoError(t, err)
	assert.NotNil(t, m)
	assert.Empty(t, m)
	m, err = c.GetMulti([]string{"none1", "none2"})
	require.NoError(t, err)
	assert.Empty(t, m)
}

// TestPlacementIsGomemcaches: every key lands on the server
// ServerList.PickServer names, which is gomemcache's formula.
func TestPlacementIsGomemcaches(t *testing.T) {
	servers := mctest.StartN(t, 5)
	addrs := mctest.Addrs(servers)
	var ss memcache.ServerList
	require.NoError(t, ss.SetServers(addrs...))
	c := memcache.NewFromSelector(&ss)
	defer c.Close()
	for i := 0; i < 300; i++ {
		k := fmt.Sprintf("key-%d", i)
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte(k)}))
		a, err := ss.PickServer(k)
		require.NoError(t, err)
		assert.Equal(t, addrs[crc32.ChecksumIEEE([]byte(k))%5], a.String())
		assert.Equal(t, "tcp", a.Network())
		v, ok := rawGet(t, a.String(), k)
		assert.True(t, ok, "key %s on %s", k, a)
		assert.Equal(t, k, v)
	}
	// Only the first 256 bytes count in PickServer (no legal key is longer).
	long := strings.Repeat("x", 256)
	a1, _ := ss.PickServer(long)
	a2, _ := ss.PickServer(long + "tail")
	assert.Equal(t, a1, a2)
}

func TestServerList(t *testing.T) {
	var ss memcache.ServerList
	_, err := ss.PickServer("k")
	assert.True(t, err == memcache.ErrNoServers)
	n := 0
	require.NoError(t, ss.Each(func(net.Addr) error { n++; return nil }))
	assert.Zero(t, n)

	require.NoError(t, ss.SetServers("127.0.0.1:1", "/tmp/x.sock", "[::1]:2"))
	var got []string
	require.NoError(t, ss.Each(func(a net.Addr) error { got = append(got, a.Network()+" "+a.String()); return nil }))
	assert.Equal(t, []string{"tcp 127.0.0.1:1", "unix /tmp/x.sock", "tcp [::1]:2"}, got)
	stop := errors.New("stop")
	n = 0
	assert.Equal(t, stop, ss.Each(func(net.Addr) error { n++; return stop }))
	assert.Equal(t, 1, n)

	require.Error(t, ss.SetServers("127.0.0.1:3", "no port"), "unresolvable")
	got = nil
	require.NoError(t, ss.Each(func(a net.Addr) error { got = append(got, a.String()); return nil }))
	assert.Len(t, got, 3, "a failed SetServers changes nothing")
	a, err := ss.PickServer("anything")
	require.NoError(t, err)
	assert.Contains(t, []string{"127.0.0.1:1", "/tmp/x.sock", "[::1]:2"}, a.String())

	require.NoError(t, ss.SetServers("127.0.0.1:4"))
	a, err = ss.PickServer("anything")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:4", a.String())
}

// TestNoServers: New never fails; a client without servers answers
// ErrNoServers for key operations and nil for the per-server ones, as
// gomemcache does.
func TestNoServers(t *testing.T) {
	for name, c := range map[string]*memcache.Client{
		"unresolvable": memcache.New("no-port-here"),
		"none":         memcache.New(),
		"zero list":    memcache.NewFromSelector(new(memcache.ServerList)),
		"zero Client":  {},
	} {
		_, err := c.Get("k")
		assert.True(t, err == memcache.ErrNoServers, "%s: %v", name, err)
		assert.True(t, c.Set(&memcache.Item{Key: "k"}) == memcache.ErrNoServers, name)
		assert.True(t, c.DeleteAll() == memcache.ErrNoServers, name)
		m, err := c.GetMulti([]string{"k"})
		assert.True(t, err == memcache.ErrNoServers, name)
		assert.Nil(t, m)
		m, err = c.GetMulti(nil)
		assert.NoError(t, err, name)
		assert.NotNil(t, m)
		assert.NoError(t, c.FlushAll(), name)
		assert.NoError(t, c.Ping(), name)
		assert.NoError(t, c.Close(), name)
	}
}

// TestNotSupported: what libmemcached cannot do fails on first use with an
// error saying so.
func TestNotSupported(t *testing.T) {
	c := memcache.New(memcachedServer)
	c.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, address)
	}
	_, err := c.Get("k")
	assert.ErrorIs(t, err, libmemcached.ErrNotSupported)
	assert.Contains(t, err.Error(), "DialContext")
	assert.ErrorIs(t, c.Ping(), libmemcached.ErrNotSupported)
	c.DialContext = nil
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("v")}), "usable once DialContext is unset")

	s := memcache.NewFromSelector(mySelector{})
	_, err = s.Get("k")
	assert.ErrorIs(t, err, libmemcached.ErrNotSupported)
	assert.Contains(t, err.Error(), "memcache_test.mySelector")
	assert.ErrorIs(t, s.FlushAll(), libmemcached.ErrNotSupported)
}

type mySelector struct{}

func (mySelector) PickServer(string) (net.Addr, error) { return nil, memcache.ErrNoServers }
func (mySelector) Each(func(net.Addr) error) error     { return nil }

func TestBadServerSpecs(t *testing.T) {
	// A unix socket path libmemcached cannot take (sun_path holds 107 bytes).
	c := memcache.New("/" + strings.Repeat("s", 200))
	err := c.Set(&memcache.Item{Key: "k"})
	assert.ErrorIs(t, err, libmemcached.ErrInvalidArguments)
	assert.ErrorIs(t, c.Ping(), libmemcached.ErrInvalidArguments)
	assert.NoError(t, c.Close())
}

func TestNilItem(t *testing.T) {
	c := memcache.New(memcachedServer)
	for _, f := range []func(*memcache.Item) error{c.Set, c.Add, c.Replace, c.Append, c.Prepend, c.CompareAndSwap} {
		assert.ErrorIs(t, f(nil), libmemcached.ErrInvalidArguments)
	}
}

func TestServerDownAndTimeout(t *testing.T) {
	servers := mctest.StartN(t, 2)
	addrs := mctest.Addrs(servers)
	c := memcache.New(addrs...)
	c.Timeout = 200 * time.Millisecond
	defer c.Close()
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
		require.NoError(t, c.Set(&memcache.Item{Key: keys[i], Value: []byte("v")}))
	}
	servers[1].Stop()
	var down []string
	for _, k := range keys {
		_, err := c.Get(k)
		if err == nil {
			continue
		}
		down = append(down, k)
		var ne net.Error
		require.ErrorAs(t, err, &ne, "%s: %v", k, err)
		assert.False(t, ne.Timeout())
		assert.False(t, ne.Temporary()) //nolint:staticcheck // net.Error's deprecated method, still part of it
		assert.Contains(t, err.Error(), addrs[1])
		assert.ErrorIs(t, err, libmemcached.ErrServerDown)
		var le *libmemcached.Error
		require.ErrorAs(t, err, &le)
		assert.Equal(t, addrs[1], le.Server)
	}
	require.NotEmpty(t, down)
	m, err := c.GetMulti(keys)
	assert.ErrorIs(t, err, libmemcached.ErrServerDown)
	assert.Len(t, m, len(keys)-len(down), "the live server's items come with the error")
	assert.ErrorIs(t, c.Ping(), libmemcached.ErrServerDown)
	assert.ErrorIs(t, c.FlushAll(), libmemcached.ErrServerDown)
	assert.ErrorIs(t, c.Set(&memcache.Item{Key: down[0], Value: []byte("v")}), libmemcached.ErrServerDown)

	// Back on the same port, the server is used again from the next call
	// (libmemcached does not keep it disabled, as gomemcache keeps nothing).
	servers[1].Restart(t)
	require.NoError(t, c.Set(&memcache.Item{Key: down[0], Value: []byte("back")}))
	v, ok := rawGet(t, addrs[1], down[0])
	assert.True(t, ok)
	assert.Equal(t, "back", v)

	// A server that accepts and never answers.
	servers[0].Pause()
	defer servers[0].Resume()
	isDown := map[string]bool{}
	for _, k := range down {
		isDown[k] = true
	}
	var live string
	for _, k := range keys {
		if !isDown[k] {
			live = k
			break
		}
	}
	_, err = c.Get(live)
	var ne net.Error
	require.ErrorAs(t, err, &ne, "%v", err)
	assert.True(t, ne.Timeout())
	assert.ErrorIs(t, err, libmemcached.ErrTimeout)
}

func TestServerErrorAndTooLarge(t *testing.T) {
	s := mctest.Start(t, "-m", "2", "-I", "512k", "-M")
	c := memcache.New(s.Addr)
	defer c.Close()
	err := c.Set(&memcache.Item{Key: "big", Value: make([]byte, 600<<10)})
	assert.ErrorIs(t, err, libmemcached.ErrTooLarge)
	assert.False(t, err == memcache.ErrServerError)
	v := make([]byte, 100000)
	for i := 0; i < 400; i++ {
		if err = c.Set(&memcache.Item{Key: fmt.Sprint("fill-", i), Value: v}); err != nil {
			break
		}
	}
	assert.True(t, err == memcache.ErrServerError, "memory full (-M): %v", err)
	require.NoError(t, c.Ping(), "still usable")
}

// TestCloseLeavesClientUsable: Close closes the connections, and the next
// call reconnects; calls running while Close is called all succeed.
func TestCloseLeavesClientUsable(t *testing.T) {
	c, servers := newClient(t, 2)
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("v")}))
	require.NoError(t, c.Close())
	require.NoError(t, c.Close(), "idempotent")
	it, err := c.Get("k")
	require.NoError(t, err)
	assert.Equal(t, "v", string(it.Value))

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	progress := make(chan struct{}, 1) // a call has completed
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				k := fmt.Sprintf("g%d-%d", g, i)
				if err := c.Set(&memcache.Item{Key: k, Value: []byte(k)}); err != nil {
					errs <- err
				}
				if _, err := c.Get(k); err != nil {
					errs <- err
				}
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}(g)
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	// Closes interleaved with the calls: each after another call completed.
	for i := 0; i < 20; i++ {
		require.NoError(t, c.Close())
		select {
		case <-progress:
		case <-finished:
		}
	}
	<-finished
	close(errs)
	for err := range errs {
		t.Errorf("call during Close: %v", err)
	}
	for _, s := range servers {
		assert.NotEqual(t, "0", rawStat(t, s.Addr, "curr_items"))
	}
}

// TestSettingsChangeAtRuntime: SetServers, Timeout and MaxIdleConns take
// effect from the next call.
func TestSettingsChangeAtRuntime(t *testing.T) {
	servers := mctest.StartN(t, 2)
	var ss memcache.ServerList
	require.NoError(t, ss.SetServers(servers[0].Addr))
	c := memcache.NewFromSelector(&ss)
	defer c.Close()
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("first")}))
	require.NoError(t, ss.SetServers(servers[1].Addr))
	_, err := c.Get("k")
	assert.True(t, err == memcache.ErrCacheMiss, "the new server has no k: %v", err)
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("second")}))
	v, _ := rawGet(t, servers[1].Addr, "k")
	assert.Equal(t, "second", v)
	v, _ = rawGet(t, servers[0].Addr, "k")
	assert.Equal(t, "first", v)

	c.Timeout = time.Second
	c.MaxIdleConns = 64
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Get("k")
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	assert.LessOrEqual(t, rawStatInt(t, servers[1].Addr, "curr_connections"), 64+10)
}

func rawStatInt(t *testing.T, addr, name string) int {
	var n int
	_, err := fmt.Sscan(rawStat(t, addr, name), &n)
	require.NoError(t, err)
	return n
}

// TestUnixSocketServers: a path (here relative, as gomemcache allows) is a
// unix socket, and counts in the placement like any server.
func TestUnixSocketServers(t *testing.T) {
	sock := mctest.StartSocket(t)
	tcp := mctest.Start(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, sock.Addr)
	require.NoError(t, err)
	require.Contains(t, rel, "/")
	c := memcache.New(rel, tcp.Addr)
	defer c.Close()
	var ss memcache.ServerList
	require.NoError(t, ss.SetServers(rel, tcp.Addr))
	onSocket := 0
	for i := 0; i < 100; i++ {
		k := fmt.Sprint("u", i)
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte(k)}))
		a, err := ss.PickServer(k)
		require.NoError(t, err)
		_, onTCP := rawGet(t, tcp.Addr, k)
		assert.Equal(t, a.Network() == "tcp", onTCP, "key %s", k)
		if !onTCP {
			onSocket++
		}
	}
	assert.Positive(t, onSocket)
	require.NoError(t, c.Ping())
}

// TestDeleteAllFlushesEveryServer: unlike gomemcache's (first server only).
func TestDeleteAllFlushesEveryServer(t *testing.T) {
	c, servers := newClient(t, 3)
	for i := 0; i < 60; i++ {
		require.NoError(t, c.Set(&memcache.Item{Key: fmt.Sprint("d", i), Value: []byte("v")}))
	}
	require.NoError(t, c.DeleteAll())
	for i := 0; i < 60; i++ {
		_, err := c.Get(fmt.Sprint("d", i))
		require.True(t, err == memcache.ErrCacheMiss)
	}
	for _, s := range servers {
		assert.Equal(t, "0", rawStat(t, s.Addr, "curr_items"))
	}
	require.NoError(t, c.Set(&memcache.Item{Key: "x", Value: []byte("v")}))
	require.NoError(t, c.FlushAll())
	_, err := c.Get("x")
	assert.True(t, err == memcache.ErrCacheMiss)
}

// TestServerListedTwice counts twice, as in gomemcache.
func TestServerListedTwice(t *testing.T) {
	servers := mctest.StartN(t, 2)
	a, b := servers[0].Addr, servers[1].Addr
	c := memcache.New(a, a, b)
	defer c.Close()
	onA := 0
	for i := 0; i < 300; i++ {
		k := fmt.Sprint("t", i)
		require.NoError(t, c.Set(&memcache.Item{Key: k, Value: []byte("v")}))
		want := []string{a, a, b}[crc32.ChecksumIEEE([]byte(k))%3]
		_, ok := rawGet(t, want, k)
		require.True(t, ok, "key %s on %s", k, want)
		if want == a {
			onA++
		}
	}
	assert.Greater(t, onA, 150, "about two thirds on the server listed twice")
}

// TestServerBackUsedAtOnce: a server that failed is tried again from the
// next call, on every pooled connection, as gomemcache dials again: once
// it is back, no call started after that is refused without trying it
// (libmemcached kept it disabled until its next whole second).
func TestServerBackUsedAtOnce(t *testing.T) {
	p := mctest.StartProxy(t, mctest.Start(t).Addr)
	c := memcache.New(p.Addr)
	defer c.Close()
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("v")}))
	refused, other := 0, 0
	for round := 0; round < 3; round++ {
		_, calls := p.Bounce(8, 20, 200*time.Millisecond, func() error {
			_, err := c.Get("k")
			return err
		})
		for _, cl := range calls {
			var e *libmemcached.Error
			switch {
			case errors.As(cl.Err, &e) && e.Code == libmemcached.ReturnServerTemporarilyDisabled:
				refused++
			case cl.Err != nil:
				other++
			}
		}
	}
	assert.Zero(t, refused, "calls refused though the server was back")
	t.Logf("3 rounds: %d calls refused after the server was back, %d other errors", refused, other)
}

// TestObserver: the Observer field watches the client's calls as
// libmemcached.WithObserver does: one event per call, named as the
// libmemcached method that ran it, with the server and the caller's
// error's cause.
func TestObserver(t *testing.T) {
	servers := mctest.StartN(t, 1)
	c := memcache.New(mctest.Addrs(servers)...)
	t.Cleanup(func() { c.Close() })
	var mu sync.Mutex
	var ops []libmemcached.OperationInfo
	c.Observer = libmemcached.Observer{Operation: func(op libmemcached.OperationInfo) {
		op.Servers = append([]string(nil), op.Servers...) // valid only during the call
		mu.Lock()
		ops = append(ops, op)
		mu.Unlock()
	}}
	require.NoError(t, c.Set(&memcache.Item{Key: "k", Value: []byte("v")}))
	_, err := c.Get("k")
	require.NoError(t, err)
	_, err = c.Get("absent")
	require.ErrorIs(t, err, memcache.ErrCacheMiss)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, ops, 3)
	var got []string
	for _, op := range ops {
		got = append(got, fmt.Sprintf("%s %s %v hits=%d misses=%d", op.Op, op.Key, op.Servers, op.Hits, op.Misses))
	}
	addr := servers[0].Addr
	assert.Equal(t, []string{
		"Set k [" + addr + "] hits=0 misses=0",
		"Get k [" + addr + "] hits=1 misses=0",
		"Get absent [" + addr + "] hits=0 misses=1",
	}, got)
	assert.ErrorIs(t, ops[2].Err, libmemcached.ErrCacheMiss)
}
