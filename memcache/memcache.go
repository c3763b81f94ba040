// Package memcache is a drop-in replacement for
// github.com/bradfitz/gomemcache/memcache that runs every operation through
// libmemcached (the package github.com/golibmc/libmemcached), with the same
// exported API and the same key placement.
//
// Moving a program from gomemcache is one line, the import path:
//
//	import "github.com/golibmc/libmemcached/memcache"
//
// Keys go to the server gomemcache would pick,
// servers[crc32.ChecksumIEEE(key) % len(servers)], so a running fleet keeps
// its cache across the switch, and gomemcache and this package can share
// the servers during a rolling deploy. libmemcached places the keys itself,
// with a custom libhashkit hash (see libmemcached.WithGomemcachePlacement).
//
// The methods answer as gomemcache's do, and the errors are this package's
// variables, compared with ==: ErrCacheMiss, ErrNotStored, ErrCASConflict,
// ErrMalformedKey, ErrNoServers, ErrServerError. Each also matches the
// libmemcached package's error of the same meaning with errors.Is
// (errors.Is(ErrCacheMiss, libmemcached.ErrCacheMiss) is true). A failure to
// reach or hear from a server is a net.Error (Timeout reports timeouts) that
// unwraps to a *libmemcached.Error naming the server and libmemcached's
// return code; other failures are *libmemcached.Error values or wrap one.
//
// What differs from gomemcache, because libmemcached does the I/O (the
// guide, docs/gomemcache.md in the repository, has the details and how to
// move to libmemcached's own placement later without a cold cache):
//
//   - TLS, a DialContext and a ServerSelector other than *ServerList are
//     not supported: libmemcached makes its own connections and places keys
//     itself. New and NewFromSelector still succeed, and every call then
//     returns an error wrapping libmemcached.ErrNotSupported that says so.
//   - Connections are libmemcached's: a pool of handles, each with one
//     connection per server, at least libmemcached.DefaultPoolSize() of them
//     (MaxIdleConns when larger), kept open until Close. Timeout bounds
//     each connect and each wait for a reply. A server that failed is tried
//     again from the next call (libmemcached's retry_timeout is set to 0),
//     as gomemcache dials again on the next call.
//   - A connect timeout is reported as a timeout (a net.Error whose Timeout
//     is true); *ConnectTimeoutError is never returned.
//   - The empty key is malformed (ErrMalformedKey); gomemcache sends it and
//     memcached answers ERROR.
//   - DeleteAll flushes every server, as FlushAll does; gomemcache's
//     flushes only the first.
//   - A nil *Item gives an error wrapping libmemcached.ErrInvalidArguments,
//     where gomemcache panics.
//   - GetAndTouch is a touch then a get (libmemcached has no "gat"), not
//     one atomic command, and its item has a CasID.
//   - It needs cgo and libmemcached: built with CGO_ENABLED=0, it compiles,
//     and every call returns an error wrapping libmemcached.ErrNotSupported.
package memcache

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golibmc/libmemcached"
)

// sentinel is an error variable of this package: callers compare it with
// ==, and errors.Is also finds the libmemcached package's error of the same
// meaning through Unwrap.
type sentinel struct {
	msg string
	lib error
}

func (e *sentinel) Error() string { return e.msg }
func (e *sentinel) Unwrap() error { return e.lib }

var (
	// ErrCacheMiss means that a Get failed because the item wasn't present
	// (also Touch, Delete, Increment, Decrement, and CompareAndSwap of an
	// item no longer there). It matches libmemcached.ErrCacheMiss.
	ErrCacheMiss error = &sentinel{"memcache: cache miss", libmemcached.ErrCacheMiss}

	// ErrCASConflict means that a CompareAndSwap call failed because the
	// cached value was modified between the Get and the CompareAndSwap. It
	// matches libmemcached.ErrCASConflict.
	ErrCASConflict error = &sentinel{"memcache: compare-and-swap conflict", libmemcached.ErrCASConflict}

	// ErrNotStored means that a conditional write (Add, Replace, Append,
	// Prepend) failed because its condition was not met. It matches
	// libmemcached.ErrNotStored.
	ErrNotStored error = &sentinel{"memcache: item not stored", libmemcached.ErrNotStored}

	// ErrServerError means that the server answered with an error
	// (SERVER_ERROR), such as being out of memory. It matches
	// libmemcached.ErrServerError. (A value larger than the server's item
	// size is a *libmemcached.Error wrapping libmemcached.ErrTooLarge.)
	ErrServerError error = &sentinel{"memcache: server error", libmemcached.ErrServerError}

	// ErrNoStats means that no statistics were available. gomemcache
	// declares it and no call returns it; neither does this package.
	ErrNoStats error = &sentinel{"memcache: no statistics available", nil}

	// ErrMalformedKey is returned when an invalid key is used. Keys must be
	// 1 to 250 bytes long and not contain whitespace or control characters.
	// It matches libmemcached.ErrMalformedKey.
	ErrMalformedKey error = &sentinel{"malformed: key is too long or contains invalid characters", libmemcached.ErrMalformedKey}

	// ErrNoServers is returned when no servers are configured or available.
	// It matches libmemcached.ErrNoServers.
	ErrNoServers error = &sentinel{"memcache: no servers configured or available", libmemcached.ErrNoServers}
)

const (
	// DefaultTimeout is the default timeout of each connect and of each
	// wait for a server's reply.
	DefaultTimeout = 500 * time.Millisecond

	// DefaultMaxIdleConns is gomemcache's default number of idle
	// connections per server. This package keeps a pool of at least
	// libmemcached.DefaultPoolSize() handles (each with a connection per
	// server), so it only matters when set larger.
	DefaultMaxIdleConns = 2
)

// expiredAt is what memcached itself puts in place of a negative
// expiration in the text protocol (REALTIME_MAXDELTA + 1: a Unix time in
// January 1970, so the item expires at once). Sent as it is, it means the
// same over either protocol, which a negative number does not.
const expiredAt = 60*60*24*30 + 1

// noCAS is the CAS id sent for an item that was not read (CasID 0):
// memcached never hands it out (its counter would need centuries to get
// there), so it answers EXISTS for a present key and NOT_FOUND for an
// absent one, as it answers gomemcache's "cas ... 0". (libmemcached
// formats a CAS id in 19 digits at most, so it is not math.MaxUint64.)
const noCAS = math.MaxInt64

// Item is an item to be got or stored in a memcached server. It has the
// same fields, in the same order, as libmemcached.Item, so the two convert
// into each other without copying.
type Item struct {
	// Key is the Item's key (250 bytes maximum).
	Key string

	// Value is the Item's value.
	Value []byte

	// Flags are server-opaque flags whose semantics are entirely up to the
	// app.
	Flags uint32

	// Expiration is the cache expiration time, in seconds: either a relative
	// time from now (up to 1 month), or an absolute Unix epoch time. Zero
	// means the Item has no expiration time; a negative value makes it
	// expire at once.
	Expiration int32

	// CasID is the compare and swap ID.
	//
	// It's populated by get requests and then the same value is required
	// for a CompareAndSwap request to succeed.
	CasID uint64
}

// ConnectTimeoutError is gomemcache's error for a connect that took too
// long. libmemcached reports a connect timeout as a timeout like any other,
// so this package never returns it: a timeout is a net.Error whose Timeout
// method reports true (and errors.Is(err, libmemcached.ErrTimeout)). The
// type is kept so that code naming it still compiles.
type ConnectTimeoutError struct {
	Addr net.Addr
}

func (cte *ConnectTimeoutError) Error() string {
	return "memcache: connect timeout to " + cte.Addr.String()
}

// Client is a memcache client. It is safe for unlocked use by multiple
// concurrent goroutines.
//
// On its first call a Client makes a libmemcached client for its servers,
// and makes a new one when the ServerList's servers, Timeout or
// MaxIdleConns have changed since; Close closes it, and the next call makes
// another, so the Client stays usable after Close, as in gomemcache.
type Client struct {
	// DialContext must be nil: libmemcached makes its own connections, so
	// with a DialContext set (gomemcache's way to TLS) every call returns an
	// error wrapping libmemcached.ErrNotSupported.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)

	// Timeout bounds each connect and each wait for a server's reply
	// (libmemcached's connect_timeout and _poll_timeout behaviors). If zero,
	// DefaultTimeout is used.
	Timeout time.Duration

	// MaxIdleConns, when larger than libmemcached.DefaultPoolSize(), is the
	// number of libmemcached handles the Client may open, each holding one
	// connection per server: the bound of concurrent calls. It is never
	// smaller than DefaultPoolSize, and the connections stay open.
	MaxIdleConns int

	// Observer, when any of its functions is set, watches the client's
	// calls, batches and servers, as libmemcached.WithObserver does (the
	// operations are named as the libmemcached package's methods: "Get",
	// "Set", "GetMulti"…). It is read when the libmemcached client is made:
	// set it before the first call.
	Observer libmemcached.Observer

	selector ServerSelector

	mu sync.Mutex              // serializes making and closing backends
	be atomic.Pointer[backend] // the current one, nil before the first call and after Close
}

// backend is one libmemcached client, made for one server set, timeout and
// pool size.
type backend struct {
	c       *libmemcached.Client // nil when there are no servers or err is set
	err     error                // why the servers could not be used
	set     *serverSet
	timeout time.Duration
	maxIdle int
	retired atomic.Bool // closed, or being closed, for a newer backend or Close
}

// New returns a memcache client using the provided server(s) with equal
// weight. If a server is listed multiple times, it gets a proportional
// amount of weight. New never fails: a server that cannot be resolved
// leaves the client without servers, and its calls return ErrNoServers, as
// with gomemcache.
func New(server ...string) *Client {
	ss := new(ServerList)
	ss.SetServers(server...)
	return NewFromSelector(ss)
}

// NewFromSelector returns a new Client using the provided ServerSelector,
// which must be a *ServerList: with any other, every call returns an error
// wrapping libmemcached.ErrNotSupported.
func NewFromSelector(ss ServerSelector) *Client {
	return &Client{selector: ss}
}

// errDialContext is returned by every call of a Client with a DialContext.
var errDialContext = fmt.Errorf("memcache: Client.DialContext is set, but libmemcached makes its own connections, so a custom dialer (or TLS) cannot be used: %w", libmemcached.ErrNotSupported)

// backend returns the libmemcached client for the Client's current
// settings, making it on first use or after a change or Close.
func (c *Client) backend() (*backend, error) {
	if c.DialContext != nil {
		return nil, errDialContext
	}
	sl, ok := c.selector.(*ServerList)
	if !ok {
		if c.selector == nil {
			return nil, ErrNoServers
		}
		return nil, fmt.Errorf("memcache: the ServerSelector is a %T, but libmemcached places keys itself, as a *ServerList does (use New or NewFromSelector with a *ServerList): %w",
			c.selector, libmemcached.ErrNotSupported)
	}
	set := sl.set()
	if b := c.be.Load(); b != nil && b.current(c, set) {
		return b, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	set = sl.set()
	old := c.be.Load()
	if old != nil && old.current(c, set) {
		return old, nil
	}
	b := newBackend(set, c.Timeout, c.MaxIdleConns, c.Observer)
	c.be.Store(b)
	if old != nil && !old.retired.Swap(true) && old.c != nil {
		// Calls in flight on it finish (Close waits for them); calls waiting
		// for one of its handles get ErrClosed and run again on b.
		go old.c.Close()
	}
	return b, nil
}

// current reports whether b was made for c's present settings and set.
func (b *backend) current(c *Client, set *serverSet) bool {
	return b.set == set && b.timeout == c.Timeout && b.maxIdle == c.MaxIdleConns && !b.retired.Load()
}

// newBackend makes the libmemcached client for set: gomemcache's placement
// over the servers in their order, Timeout (at least 1 ms) as the connect
// and poll timeouts, a failed server retried from the next call, the pool
// size, and the observer.
func newBackend(set *serverSet, timeout time.Duration, maxIdle int, obs libmemcached.Observer) *backend {
	b := &backend{set: set, timeout: timeout, maxIdle: maxIdle}
	if len(set.addrs) == 0 {
		return b
	}
	specs := make([]string, len(set.addrs))
	for i, a := range set.addrs {
		specs[i] = a.String()
		if a.Network() == "unix" {
			// libmemcached takes a socket path that starts with "/", and an
			// optional ":weight" after it: the explicit weight keeps a ':' in
			// the path from being read as one.
			p, err := filepath.Abs(a.String())
			if err != nil {
				b.err = err
				return b
			}
			specs[i] = p + ":1"
		}
	}
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ms := min(max(timeout.Milliseconds(), 1), math.MaxInt32)
	c, err := libmemcached.New(specs,
		libmemcached.WithGomemcachePlacement(),
		libmemcached.WithPoolSize(max(maxIdle, libmemcached.DefaultPoolSize())),
		libmemcached.WithBehaviors(map[string]any{"connect_timeout": ms, "_poll_timeout": ms, "retry_timeout": 0}),
		libmemcached.WithObserver(obs))
	if err != nil {
		b.err = convert(err)
		return b
	}
	b.c = c
	return b
}

// ctx is the context of every call: gomemcache's methods take none, and
// Timeout bounds each wait.
var ctx = context.Background()

// do runs fn on the libmemcached client, again on a new one if the one it
// got was closed under it (by Close or a change of settings) before the
// call was sent: a call never fails because of Close, as in gomemcache.
// With no servers it returns ErrNoServers.
func (c *Client) do(fn func(*libmemcached.Client) error) error {
	for {
		b, err := c.backend()
		if err != nil {
			return err
		}
		if b.err != nil {
			return b.err
		}
		if b.c == nil {
			return ErrNoServers
		}
		err = fn(b.c)
		if err != nil && b.retired.Load() && errors.Is(err, libmemcached.ErrClosed) {
			continue
		}
		return convert(err)
	}
}

// each is do for the calls gomemcache makes on each server in turn
// (FlushAll, Ping): with no servers there is nothing to do.
func (c *Client) each(fn func(*libmemcached.Client) error) error {
	err := c.do(fn)
	if err == ErrNoServers {
		return nil
	}
	return err
}

// legalKey is gomemcache's key check, less the empty key, which memcached
// refuses.
func legalKey(key string) bool {
	if len(key) == 0 || len(key) > libmemcached.MaxKeyLen {
		return false
	}
	for i := 0; i < len(key); i++ {
		if key[i] <= ' ' || key[i] == 0x7f {
			return false
		}
	}
	return true
}

// FlushAll removes every item from every server (flush_all).
func (c *Client) FlushAll() error {
	return c.each(func(lc *libmemcached.Client) error { return lc.FlushAll(ctx) })
}

// Get gets the item for the given key. ErrCacheMiss is returned for a
// memcache cache miss. The key must be at most 250 bytes in length.
func (c *Client) Get(key string) (item *Item, err error) {
	if !legalKey(key) {
		return nil, ErrMalformedKey
	}
	err = c.do(func(lc *libmemcached.Client) error {
		it, err := lc.Get(ctx, key)
		item = (*Item)(it)
		return err
	})
	return item, err
}

// Touch updates the expiry for the given key. The seconds parameter is
// either a Unix timestamp or, if seconds is less than 1 month, the number of
// seconds into the future at which time the item will expire. Zero means
// the item has no expiration time; a negative value makes it expire at
// once. ErrCacheMiss is returned if the key is not in the cache. The key
// must be at most 250 bytes in length.
func (c *Client) Touch(key string, seconds int32) (err error) {
	if !legalKey(key) {
		return ErrMalformedKey
	}
	return c.do(func(lc *libmemcached.Client) error { return lc.Touch(ctx, key, expiration(seconds)) })
}

// expiration maps a negative expiration to what memcached makes of it.
func expiration(exp int32) int32 {
	if exp < 0 {
		return expiredAt
	}
	return exp
}

// GetMulti is a batch version of Get: one libmemcached mget across all the
// servers. The returned map from keys to items may have fewer elements
// than the input slice, due to memcache cache misses. Each key must be at
// most 250 bytes in length. If a server fails, the items from the others
// are returned with an error for one of the failures; if no error is
// returned, the map is non-nil.
func (c *Client) GetMulti(keys []string) (map[string]*Item, error) {
	for _, k := range keys {
		if !legalKey(k) {
			return nil, ErrMalformedKey
		}
	}
	m := make(map[string]*Item, len(keys))
	if len(keys) == 0 {
		return m, nil
	}
	err := c.do(func(lc *libmemcached.Client) error {
		found, err := lc.GetMulti(ctx, keys)
		for k, it := range found {
			m[k] = (*Item)(it)
		}
		return err
	})
	if err == ErrNoServers || err == ErrMalformedKey {
		return nil, err
	}
	return m, err
}

// Set writes the given item, unconditionally.
func (c *Client) Set(item *Item) error {
	return c.store(item, false, (*libmemcached.Client).Set)
}

// Add writes the given item, if no value already exists for its key.
// ErrNotStored is returned if that condition is not met.
func (c *Client) Add(item *Item) error {
	return c.store(item, false, (*libmemcached.Client).Add)
}

// Replace writes the given item, but only if the server *does* already
// hold data for this key; else ErrNotStored is returned.
func (c *Client) Replace(item *Item) error {
	return c.store(item, false, (*libmemcached.Client).Replace)
}

// Append appends the given item to the existing item, if a value already
// exists for its key. ErrNotStored is returned if that condition is not
// met. The item's Flags and Expiration are ignored: the existing item keeps
// its own.
func (c *Client) Append(item *Item) error {
	return c.store(item, false, (*libmemcached.Client).Append)
}

// Prepend prepends the given item to the existing item, if a value already
// exists for its key. ErrNotStored is returned if that condition is not
// met. The item's Flags and Expiration are ignored: the existing item keeps
// its own.
func (c *Client) Prepend(item *Item) error {
	return c.store(item, false, (*libmemcached.Client).Prepend)
}

// CompareAndSwap writes the given item that was previously returned by
// Get, if the value was neither modified nor evicted between the Get and
// the CompareAndSwap calls. The item's Key should not change between calls
// but all other item fields may differ. ErrCASConflict is returned if the
// value was modified in between the calls, and ErrCacheMiss if it was
// evicted, expired or deleted. An item that was not read (CasID 0) is
// answered as memcached answers gomemcache for it: ErrCASConflict if the
// key is present, ErrCacheMiss if not; nothing is stored.
func (c *Client) CompareAndSwap(item *Item) error {
	return c.store(item, true, (*libmemcached.Client).CompareAndSwap)
}

// store runs one storage command for item, on a copy when the item needs
// what memcached would make of it: a negative expiration, or (for
// CompareAndSwap) a CAS id of 0.
func (c *Client) store(item *Item, cas bool, fn func(*libmemcached.Client, context.Context, *libmemcached.Item) error) error {
	if item != nil && (item.Expiration < 0 || cas && item.CasID == 0) {
		cp := *item
		cp.Expiration = expiration(cp.Expiration)
		if cas && cp.CasID == 0 {
			cp.CasID = noCAS
		}
		item = &cp
	}
	return c.do(func(lc *libmemcached.Client) error { return fn(lc, ctx, (*libmemcached.Item)(item)) })
}

// Delete deletes the item with the provided key. The error ErrCacheMiss is
// returned if the item didn't already exist in the cache.
func (c *Client) Delete(key string) error {
	if !legalKey(key) {
		return ErrMalformedKey
	}
	return c.do(func(lc *libmemcached.Client) error { return lc.Delete(ctx, key) })
}

// DeleteAll deletes all items in the cache: every server is flushed, as by
// FlushAll (gomemcache's flushes only the first server).
func (c *Client) DeleteAll() error {
	return c.do(func(lc *libmemcached.Client) error { return lc.FlushAll(ctx) })
}

// GetAndTouch gets the item for key and sets its expiration, as
// Touch does. The error ErrCacheMiss is returned if the item didn't already
// exist in the cache. libmemcached has no "gat" command, so this is a touch
// then a get (for a negative expiration, a get then the touch), and another
// client may change the item in between.
func (c *Client) GetAndTouch(key string, expiration int32) (item *Item, err error) {
	if !legalKey(key) {
		return nil, ErrMalformedKey
	}
	err = c.do(func(lc *libmemcached.Client) error {
		var it *libmemcached.Item
		var err error
		if expiration >= 0 {
			it, err = lc.GetAndTouch(ctx, key, expiration)
		} else if it, err = lc.Get(ctx, key); err == nil {
			// memcached's gat returns the item, then it expires at once.
			if err := lc.Touch(ctx, key, expiredAt); err != nil && !errors.Is(err, libmemcached.ErrCacheMiss) {
				return err
			}
		}
		item = (*Item)(it)
		return err
	})
	if item != nil {
		item.Expiration = 0 // gomemcache's reads leave it unset
	}
	return item, err
}

// Ping checks that every server answers (its version is asked). It returns
// an error if any of them is down.
func (c *Client) Ping() error {
	return c.each(func(lc *libmemcached.Client) error { return lc.Ping(ctx) })
}

// Increment atomically increments key by delta. The return value is the
// new value after being incremented or an error. If the value didn't exist
// in memcached the error is ErrCacheMiss. The value in memcached must be a
// decimal number, or an error mentioning "client error" is returned (it
// matches libmemcached.ErrNotNumeric). On 64-bit overflow, the new value
// wraps around.
func (c *Client) Increment(key string, delta uint64) (newValue uint64, err error) {
	return c.incrDecr(key, delta, (*libmemcached.Client).Increment)
}

// Decrement atomically decrements key by delta. The return value is the
// new value after being decremented or an error. If the value didn't exist
// in memcached the error is ErrCacheMiss. The value in memcached must be a
// decimal number, or an error mentioning "client error" is returned. On
// underflow, the new value is capped at zero and does not wrap around.
func (c *Client) Decrement(key string, delta uint64) (newValue uint64, err error) {
	return c.incrDecr(key, delta, (*libmemcached.Client).Decrement)
}

func (c *Client) incrDecr(key string, delta uint64, fn func(*libmemcached.Client, context.Context, string, uint64) (uint64, error)) (uint64, error) {
	if !legalKey(key) {
		return 0, ErrMalformedKey
	}
	var v uint64
	err := c.do(func(lc *libmemcached.Client) error {
		var err error
		v, err = fn(lc, ctx, key, delta)
		return err
	})
	return v, err
}

// Close closes the Client's connections: its libmemcached client is
// closed, after the calls in flight on it end. The Client may still be
// used: its next call makes a new libmemcached client. Close returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	b := c.be.Swap(nil)
	c.mu.Unlock()
	if b != nil && !b.retired.Swap(true) && b.c != nil {
		return b.c.Close()
	}
	return nil
}

// convert turns a libmemcached error into what gomemcache returns: this
// package's variables for the outcomes gomemcache has one for, a net.Error
// for a server that could not be reached or did not answer, a "client
// error" for a value memcached will not count; else the error itself. A
// multi-part error (GetMulti, FlushAll, Ping) becomes one of its parts (the
// first by key or server name), as gomemcache returns one server's error.
func convert(err error) error {
	if err == nil {
		return nil
	}
	var me *libmemcached.MultiError
	if errors.As(err, &me) && len(me.Errors) > 0 {
		names := make([]string, 0, len(me.Errors))
		for k := range me.Errors {
			names = append(names, k)
		}
		sort.Strings(names)
		err = me.Errors[names[0]]
	}
	switch {
	case errors.Is(err, libmemcached.ErrCacheMiss):
		return ErrCacheMiss
	case errors.Is(err, libmemcached.ErrNotStored):
		return ErrNotStored
	case errors.Is(err, libmemcached.ErrCASConflict):
		return ErrCASConflict
	case errors.Is(err, libmemcached.ErrMalformedKey):
		return ErrMalformedKey
	case errors.Is(err, libmemcached.ErrNoServers):
		return ErrNoServers
	case errors.Is(err, libmemcached.ErrServerError):
		return ErrServerError
	case errors.Is(err, libmemcached.ErrNotNumeric), errors.Is(err, libmemcached.ErrClientError):
		return &clientError{err}
	case errors.Is(err, libmemcached.ErrServerDown), errors.Is(err, libmemcached.ErrTimeout):
		return &netError{err}
	}
	return err
}

// clientError is memcached's CLIENT_ERROR (an increment of a value that is
// not a number): its text says "client error" as gomemcache's does, and it
// unwraps to the libmemcached error.
type clientError struct{ err error }

func (e *clientError) Error() string {
	msg := "cannot increment or decrement non-numeric value"
	var le *libmemcached.Error
	if errors.As(e.err, &le) && le.Message != "" {
		msg = le.Message
	}
	return "memcache: client error: " + msg
}

func (e *clientError) Unwrap() error { return e.err }

// netError is a failure to reach or hear from a server, as a net.Error
// (gomemcache returns the net package's errors there). It unwraps to the
// *libmemcached.Error, which names the server and the return code.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// Timeout reports whether the server did not answer in time.
func (e *netError) Timeout() bool { return errors.Is(e.err, libmemcached.ErrTimeout) }

// Temporary is Timeout (net.Error's deprecated method).
func (e *netError) Temporary() bool { return e.Timeout() }

var _ net.Error = (*netError)(nil)
