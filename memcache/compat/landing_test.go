package compat

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	gm "github.com/bradfitz/gomemcache/memcache"
	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
	"github.com/golibmc/libmemcached/memcache"
)

// landingKeys is how many keys each direction writes and reads.
const landingKeys = 1000

// TestLanding writes 1,000 keys with each client and reads every one
// through each other client, one Get per key, on 1, 2, 3 and 5 servers:
// gomemcache, the memcache package, and the libmemcached package with
// WithGomemcachePlacement (through a pool of 4 handles). Every key must be
// found with its value in every direction.
func TestLanding(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("servers=%d", n), func(t *testing.T) {
			addrs := mctest.Addrs(mctest.StartN(t, n))
			clients := newClients(t, addrs)
			for _, w := range clients {
				keys := make([]string, landingKeys)
				for i := range keys {
					keys[i] = fmt.Sprintf("landing/%s/%d/κλειδί-%d", w.name, n, i)
					require.NoError(t, w.set(keys[i], []byte("from "+w.name+" "+keys[i]), 0, 0))
				}
				for _, r := range clients {
					if r.name == w.name {
						continue
					}
					found := 0
					for _, k := range keys {
						it, err := r.get(k)
						if err == nil && string(it.value) == "from "+w.name+" "+k {
							found++
						}
					}
					t.Logf("%d servers: %d/%d keys written by %s read by %s", n, found, len(keys), w.name, r.name)
					require.Equal(t, len(keys), found, "written by %s, read by %s", w.name, r.name)
				}
			}
		})
	}
}

// TestInterleaved runs one script of GetMulti, Increment, Decrement,
// CompareAndSwap and the other calls on shared keys, with two clients taking
// turns, and compares its transcript (values, flags, counts, outcomes) with
// the one gomemcache alone produces: gomemcache with the memcache package
// either way round, and gomemcache with the libmemcached package.
func TestInterleaved(t *testing.T) {
	addrs := mctest.Addrs(mctest.StartN(t, 3))
	clients := newClients(t, addrs)
	g, m, l := clients[0], clients[1], clients[2]
	want := interleave(t, "alone", g, g)
	for _, pair := range [][2]*client{{g, m}, {m, g}, {g, l}, {l, g}, {m, l}} {
		got := interleave(t, pair[0].name+"+"+pair[1].name, pair[0], pair[1])
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s and %s interleaved differ from gomemcache alone (-alone +interleaved):\n%s", pair[0].name, pair[1].name, d)
		}
	}
	t.Logf("%d steps, identical for every pair", len(want))
}

// interleave runs the script with a and b taking turns on keys under
// prefix and returns what each step saw.
func interleave(t *testing.T, prefix string, a, b *client) []string {
	var out []string
	note := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	k := func(s string) string { return prefix + "/" + s }
	for i := 0; i < 20; i++ {
		w := []*client{a, b}[i%2]
		note("set %d: %s", i, outcome(w.set(k(fmt.Sprint("m", i)), []byte(fmt.Sprint("value-", i)), uint32(i), 0)))
	}
	keys := []string{k("missing-1")}
	for i := 0; i < 20; i++ {
		keys = append(keys, k(fmt.Sprint("m", i)))
	}
	keys = append(keys, k("missing-2"), k("m3"))
	for _, c := range []*client{a, b} {
		items, err := c.getMulti(keys)
		note("getmulti: %s %s", outcome(err), itemsString(items, prefix))
	}

	// Counters, each step by the other client.
	note("incr absent: %s", outcome2(a.incr(k("n"), 1)))
	note("set n: %s", outcome(b.set(k("n"), []byte("40"), 0, 0)))
	for i := 0; i < 10; i++ {
		c := []*client{a, b}[i%2]
		note("incr %d: %s", i, outcome2(c.incr(k("n"), uint64(i))))
		note("decr %d: %s", i, outcome2(c.decr(k("n"), 3)))
	}
	note("decr to 0: %s", outcome2(a.decr(k("n"), 1000)))
	it, err := b.get(k("n"))
	note("get n: %s %q", outcome(err), value(it))
	note("set text: %s", outcome(a.set(k("n"), []byte("text"), 0, 0)))
	_, err = b.incr(k("n"), 1)
	note("incr text: %s", outcome(err))
	note("set max: %s", outcome(b.set(k("n"), []byte("18446744073709551615"), 0, 0)))
	note("incr wraps: %s", outcome2(a.incr(k("n"), 2)))

	// CompareAndSwap with CAS ids read by the other client.
	note("set c: %s", outcome(a.set(k("c"), []byte("c0"), 1, 0)))
	ia, _ := a.get(k("c"))
	ib, _ := b.get(k("c"))
	note("cas b with a's id: %s", outcome(b.cas(k("c"), []byte("c1"), 2, ia)))
	note("cas a with b's stale id: %s", outcome(a.cas(k("c"), []byte("c2"), 3, ib)))
	it, err = a.get(k("c"))
	note("get c: %s %q flags %d", outcome(err), value(it), flags(it))
	note("cas a fresh: %s", outcome(a.cas(k("c"), []byte("c3"), 4, it)))
	note("delete c: %s", outcome(b.delete(k("c"))))
	note("cas deleted: %s", outcome(a.cas(k("c"), []byte("c4"), 5, it)))
	note("cas unread absent: %s", outcome(b.cas(k("c"), []byte("c5"), 6, nil)))
	note("set c again: %s", outcome(a.set(k("c"), []byte("c6"), 7, 0)))
	note("cas unread present: %s", outcome(b.cas(k("c"), []byte("c7"), 8, nil)))
	it, err = a.get(k("c"))
	note("get c: %s %q flags %d", outcome(err), value(it), flags(it))
	items, err := b.getMulti([]string{k("c"), k("m1")})
	note("getmulti c: %s %s", outcome(err), itemsString(items, prefix))

	// Conditional stores, expirations, touch, delete.
	note("add present: %s", outcome(a.add(k("m0"), []byte("x"))))
	note("add absent: %s", outcome(b.add(k("a"), []byte("x"))))
	note("replace absent: %s", outcome(a.replace(k("r"), []byte("x"))))
	note("replace present: %s", outcome(b.replace(k("a"), []byte("y"))))
	note("append: %s", outcome(a.appendValue(k("a"), []byte(">"))))
	note("append absent: %s", outcome(b.appendValue(k("none"), []byte(">"))))
	it, err = b.get(k("a"))
	note("get a: %s %q", outcome(err), value(it))
	note("set expired: %s", outcome(a.set(k("e"), []byte("gone"), 0, -1)))
	_, err = b.get(k("e"))
	note("get expired: %s", outcome(err))
	note("touch expire: %s", outcome(b.touch(k("a"), -1)))
	_, err = a.get(k("a"))
	note("get touched: %s", outcome(err))
	note("touch absent: %s", outcome(a.touch(k("a"), 10)))
	note("delete absent: %s", outcome(b.delete(k("a"))))
	return out
}

// outcome names an error by what it means, with the comparison each
// client's callers use.
func outcome(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err == gm.ErrCacheMiss, err == memcache.ErrCacheMiss, isLib(err, libmemcached.ErrCacheMiss):
		return "cache miss"
	case err == gm.ErrCASConflict, err == memcache.ErrCASConflict, isLib(err, libmemcached.ErrCASConflict):
		return "cas conflict"
	case err == gm.ErrNotStored, err == memcache.ErrNotStored, isLib(err, libmemcached.ErrNotStored):
		return "not stored"
	case strings.Contains(err.Error(), "client error"), isLib(err, libmemcached.ErrNotNumeric):
		return "client error"
	}
	return "other: " + err.Error()
}

// isLib reports a libmemcached package error (not a memcache package one,
// which matches with errors.Is too but must match with ==).
func isLib(err, target error) bool {
	var e *libmemcached.Error
	return errors.As(err, &e) && errors.Is(err, target)
}

func outcome2(n uint64, err error) string {
	if err != nil {
		return outcome(err)
	}
	return fmt.Sprint(n)
}

func value(it *item) string {
	if it == nil {
		return ""
	}
	return string(it.value)
}

func flags(it *item) uint32 {
	if it == nil {
		return 0
	}
	return it.flags
}

func itemsString(items map[string]*item, prefix string) string {
	var parts []string
	for k, it := range items {
		parts = append(parts, fmt.Sprintf("%s=%q/%d", strings.TrimPrefix(k, prefix), it.value, it.flags))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// item is what a read returns, whichever client read it.
type item struct {
	value []byte
	flags uint32
	cas   uint64
}

// client is one of the three clients, behind one set of functions.
type client struct {
	name        string
	set         func(key string, value []byte, flags uint32, exp int32) error
	add         func(key string, value []byte) error
	replace     func(key string, value []byte) error
	appendValue func(key string, value []byte) error
	get         func(key string) (*item, error)
	getMulti    func(keys []string) (map[string]*item, error)
	incr        func(key string, delta uint64) (uint64, error)
	decr        func(key string, delta uint64) (uint64, error)
	cas         func(key string, value []byte, flags uint32, read *item) error // read nil: CAS id 0
	delete      func(key string) error
	touch       func(key string, seconds int32) error
}

// itemFields is the underlying type of both packages' Item.
type itemFields = struct {
	Key        string
	Value      []byte
	Flags      uint32
	Expiration int32
	CasID      uint64
}

// gomemcacheAPI is gomemcache's Client API, for either package's Item.
type gomemcacheAPI[I ~itemFields] interface {
	Set(*I) error
	Add(*I) error
	Replace(*I) error
	Append(*I) error
	CompareAndSwap(*I) error
	Get(string) (*I, error)
	GetMulti([]string) (map[string]*I, error)
	Increment(string, uint64) (uint64, error)
	Decrement(string, uint64) (uint64, error)
	Delete(string) error
	Touch(string, int32) error
}

var (
	_ gomemcacheAPI[gm.Item]       = (*gm.Client)(nil)
	_ gomemcacheAPI[memcache.Item] = (*memcache.Client)(nil)
)

// gomemcacheAPIClient drives gomemcache or the memcache package, with the
// same code: their APIs are the same.
func gomemcacheAPIClient[I ~itemFields](name string, c gomemcacheAPI[I]) *client {
	mk := func(k string, v []byte, f uint32, e int32, cas uint64) *I {
		it := I(itemFields{Key: k, Value: v, Flags: f, Expiration: e, CasID: cas})
		return &it
	}
	read := func(p *I) *item {
		it := itemFields(*p)
		return &item{it.Value, it.Flags, it.CasID}
	}
	return &client{
		name:        name,
		set:         func(k string, v []byte, f uint32, e int32) error { return c.Set(mk(k, v, f, e, 0)) },
		add:         func(k string, v []byte) error { return c.Add(mk(k, v, 0, 0, 0)) },
		replace:     func(k string, v []byte) error { return c.Replace(mk(k, v, 0, 0, 0)) },
		appendValue: func(k string, v []byte) error { return c.Append(mk(k, v, 0, 0, 0)) },
		get: func(k string) (*item, error) {
			it, err := c.Get(k)
			if err != nil {
				return nil, err
			}
			return read(it), nil
		},
		getMulti: func(keys []string) (map[string]*item, error) {
			got, err := c.GetMulti(keys)
			out := map[string]*item{}
			for k, it := range got {
				out[k] = read(it)
			}
			return out, err
		},
		incr: c.Increment,
		decr: c.Decrement,
		cas: func(k string, v []byte, f uint32, r *item) error {
			var id uint64
			if r != nil {
				id = r.cas
			}
			return c.CompareAndSwap(mk(k, v, f, 0, id))
		},
		delete: c.Delete,
		touch:  c.Touch,
	}
}

// newClients returns gomemcache, the memcache package and the libmemcached
// package with gomemcache's placement, for the same servers.
func newClients(t *testing.T, addrs []string) []*client {
	g := gm.New(addrs...)
	m := memcache.New(addrs...)
	l, err := libmemcached.New(addrs, libmemcached.WithGomemcachePlacement(), libmemcached.WithPoolSize(4))
	require.NoError(t, err)
	t.Cleanup(func() { g.Close(); m.Close(); l.Close() })
	ctx := context.Background()
	return []*client{
		gomemcacheAPIClient[gm.Item]("gomemcache", g),
		gomemcacheAPIClient[memcache.Item]("memcache", m),
		{
			// The libmemcached package refuses negative expirations and CAS
			// id 0 (ErrInvalidArguments), so the script's steps with those
			// go through memcached's own meaning of them, as the memcache
			// package does: an expiration in January 1970, and a CAS id
			// memcached never hands out.
			name: "libmemcached",
			set: func(k string, v []byte, f uint32, e int32) error {
				if e < 0 {
					e = 60*60*24*30 + 1
				}
				return l.Set(ctx, &libmemcached.Item{Key: k, Value: v, Flags: f, Expiration: e})
			},
			add:         func(k string, v []byte) error { return l.Add(ctx, &libmemcached.Item{Key: k, Value: v}) },
			replace:     func(k string, v []byte) error { return l.Replace(ctx, &libmemcached.Item{Key: k, Value: v}) },
			appendValue: func(k string, v []byte) error { return l.Append(ctx, &libmemcached.Item{Key: k, Value: v}) },
			get: func(k string) (*item, error) {
				it, err := l.Get(ctx, k)
				if err != nil {
					return nil, err
				}
				return &item{it.Value, it.Flags, it.CasID}, nil
			},
			getMulti: func(keys []string) (map[string]*item, error) {
				got, err := l.GetMulti(ctx, keys)
				out := map[string]*item{}
				for k, it := range got {
					out[k] = &item{it.Value, it.Flags, it.CasID}
				}
				return out, err
			},
			incr: func(k string, d uint64) (uint64, error) { return l.Increment(ctx, k, d) },
			decr: func(k string, d uint64) (uint64, error) { return l.Decrement(ctx, k, d) },
			cas: func(k string, v []byte, f uint32, read *item) error {
				id := uint64(1<<63 - 1)
				if read != nil {
					id = read.cas
				}
				return l.CompareAndSwap(ctx, &libmemcached.Item{Key: k, Value: v, Flags: f, CasID: id})
			},
			delete: func(k string) error { return l.Delete(ctx, k) },
			touch: func(k string, s int32) error {
				if s < 0 {
					s = 60*60*24*30 + 1
				}
				return l.Touch(ctx, k, s)
			},
		},
	}
}
