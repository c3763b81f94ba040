package libmemcached

import (
	"context"
	"sync"
)

// Item is an item to store in, or read from, memcached.
type Item struct {
	Key   string
	Value []byte
	// Flags are opaque to memcached; codecs (such as pylibmc's) use them to
	// mark how Value is encoded.
	Flags uint32
	// Expiration is in seconds: 0 means never; up to 30 days it is relative
	// to now; above 30 days it is a Unix time (memcached's rule). Negative
	// values are rejected with ErrInvalidArguments: the two protocols read
	// them differently.
	Expiration int32
	// CasID is filled by Get, GetMulti and GetAndTouch, and checked by
	// CompareAndSwap. It is 0 when the client's "cas" behavior is off; a
	// CompareAndSwap with CasID 0 is refused (ErrInvalidArguments). The
	// multi-key stores (SetMulti, AddMulti) ignore it.
	CasID uint64
}

// packedPool recycles the Go buffers multi-key calls lend to C.
var packedPool = sync.Pool{New: func() any { return new(packed) }}

func getPacked() *packed {
	p := packedPool.Get().(*packed)
	p.reset()
	return p
}

// Get returns the item for key, or an error wrapping ErrCacheMiss.
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	const op = "Get"
	if _, err := c.begin(ctx, op, key); err != nil {
		return nil, err
	}
	if err := checkKey(c.cfg.Load(), op, key); err != nil {
		return nil, err
	}
	cl := c.newCall1(ctx, kindGet, op, key, nil)
	if err := c.run(cl, kindGet); err != nil {
		putCall(cl)
		return nil, err
	}
	it, e := cl.result.items[0], cl.result.errs[0]
	putCall(cl)
	switch {
	case it != nil:
		return it, nil
	case e != nil:
		return nil, e
	}
	return nil, &Error{Op: op, Key: key, Code: ReturnNotFound, sentinel: ErrCacheMiss}
}

// readOne turns the outcome of GetAndTouch into its item or error. An
// item for another key than the one asked is a reply out of step: the
// handle is reconnected and the key reported as a protocol error.
func (c *Client) readOne(ctx context.Context, h *handle, cfg *config, op, key string) (*Item, error) {
	var it *Item
	foreign := false
	h.c.records(func(k, v []byte, flags uint32, cas uint64, _ int) {
		if string(k) != key || it != nil {
			foreign = true
			return
		}
		it = &Item{Key: key, Value: bytesCopy(v), Flags: flags, CasID: cas}
	})
	r := h.c.result(0)
	if foreign {
		h.broken = true
		return nil, c.keyError(ctx, cfg, op, kindOther, key, keyResult{rc: ReturnProtocolError, server: r.server,
			msg: "a reply for another key arrived: the connection was out of step and is reconnected", sent: true})
	}
	if it != nil {
		return it, nil
	}
	if r.rc != ReturnSuccess { // the touch failed
		c.outcome(h, cfg, kindOther, r.rc, r.server)
		return nil, c.keyError(ctx, cfg, op, kindOther, key, r)
	}
	h.srv = h.c.servers(h.srv)
	for i, s := range h.srv {
		if s.rc != ReturnSuccess && (i == r.server || r.server < 0) {
			// The touch was applied; the read that followed failed.
			return nil, c.keyError(ctx, cfg, op, kindOther, key, keyResult{rc: s.rc, server: i, msg: s.msg, sent: true})
		}
	}
	return nil, &Error{Op: op, Key: key, Code: ReturnNotFound, sentinel: ErrCacheMiss}
}

// GetAndTouch returns the item for key and sets its expiration to seconds.
// libmemcached 1.1 has no "gat" command, so this is a touch followed by a
// get, sent in one call to the C library: another client may change the
// item between the two.
func (c *Client) GetAndTouch(ctx context.Context, key string, seconds int32) (*Item, error) {
	const op = "GetAndTouch"
	if err := checkExpiration(op, key, seconds); err != nil {
		return nil, err
	}
	var it *Item
	err := c.do(ctx, op, key, func(h *handle, cfg *config, ms int32) error {
		if err := checkKey(cfg, op, key); err != nil {
			return err
		}
		h.c.getAndTouch(ms, key, seconds)
		var err error
		it, err = c.readOne(ctx, h, cfg, op, key)
		if it != nil {
			it.Expiration = seconds
		}
		return err
	})
	return it, err
}

// GetMulti returns the items found for keys, fetched with one
// memcached_mget across all servers. Missing keys are absent from the map;
// duplicate keys give one entry. If any key is malformed nothing is sent
// and the error wraps ErrMalformedKey. If some servers fail, the items from
// the others are returned together with a *MultiError holding an error for
// each key whose server failed (naming the server, and wrapping
// ErrServerDown, or ErrTimeout for a server that did not answer in time).
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]*Item, error) {
	const op = "GetMulti"
	if _, err := c.begin(ctx, op, ""); err != nil {
		return nil, err
	}
	cfg := c.cfg.Load()
	for _, k := range keys {
		if err := checkKey(cfg, op, k); err != nil {
			return nil, err
		}
	}
	found := make(map[string]*Item, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	cl := c.newCall(ctx, kindGet, op, keys, nil)
	defer putCall(cl)
	if err := c.run(cl, kindGet); err != nil {
		return nil, err
	}
	var me *MultiError
	for i, k := range keys {
		switch {
		case cl.result.items[i] != nil:
			found[k] = cl.result.items[i]
		case cl.result.errs[i] != nil:
			if me == nil {
				me = &MultiError{Errors: map[string]error{}}
			}
			me.Errors[k] = cl.result.errs[i]
		}
	}
	if me == nil {
		return found, nil
	}
	for k := range found {
		delete(me.Errors, k) // a key asked twice, found once
	}
	return found, me
}

// checkItem validates an item before anything is sent.
func checkItem(cfg *config, op string, item *Item) error {
	if item == nil {
		return errorf(op, "", ErrInvalidArguments, "nil item")
	}
	if err := checkKey(cfg, op, item.Key); err != nil {
		return err
	}
	return checkExpiration(op, item.Key, item.Expiration)
}

// checkExpiration rejects negative expirations: the text protocol takes
// them as "expired already" but the binary protocol sends an unsigned
// 32-bit time (so -1 would mean the year 2106). Delete an item instead.
func checkExpiration(op, key string, exp int32) error {
	if exp < 0 {
		return errorf(op, key, ErrInvalidArguments, "negative expiration "+itoa(int64(exp))+" (use 0 for never, or Delete)")
	}
	return nil
}

// store runs one storage command for item.
func (c *Client) store(ctx context.Context, op string, cmd command, k opKind, item *Item) error {
	return c.do(ctx, op, keyOf(item), func(h *handle, cfg *config, ms int32) error {
		if err := checkItem(cfg, op, item); err != nil {
			return err
		}
		if cmd == cmdCAS && item.CasID == 0 {
			// libmemcached sends "cas k f e n" without the unique (text) or a
			// plain set (binary): either would corrupt the connection or the item.
			return errorf(op, item.Key, ErrInvalidArguments,
				"CasID is 0: the item was not read with a CAS id (is the \"cas\" behavior off?); read it with Get first")
		}
		p := getPacked()
		defer packedPool.Put(p)
		p.addItem(item.Key, item.Value, item.Expiration, item.Flags)
		rs := c.requestOn(h, cfg, ctx, p, cmd, item.CasID, ms, splitFor(c.opts.pollMode, &h.w, 1), h.rs[:0])
		r := rs[0]
		clear(rs)
		h.rs = rs[:0]
		c.outcome(h, cfg, k, r.rc, r.server)
		if r.rc.Success() {
			return nil
		}
		return c.keyError(ctx, cfg, op, k, item.Key, r)
	})
}

// bytesCopy copies b into Go memory (an empty value is empty, not nil).
func bytesCopy(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}

func keyOf(item *Item) string {
	if item == nil {
		return ""
	}
	return item.Key
}

// keyOutcome turns key i's result into nil or its error.
func (c *Client) keyOutcome(ctx context.Context, h *handle, cfg *config, op string, k opKind, key string, i int) error {
	r := h.c.result(i)
	c.outcome(h, cfg, k, r.rc, r.server)
	if r.rc.Success() {
		return nil
	}
	return c.keyError(ctx, cfg, op, k, key, r)
}

// Set stores item unconditionally.
func (c *Client) Set(ctx context.Context, item *Item) error {
	const op = "Set"
	if _, err := c.begin(ctx, op, keyOf(item)); err != nil {
		return err
	}
	if err := checkItem(c.cfg.Load(), op, item); err != nil {
		return err
	}
	cl := c.newCall1(ctx, kindStore, op, item.Key, item)
	return c.runOne(cl, kindStore)
}

// Add stores item only if its key is absent; otherwise the error wraps ErrNotStored.
func (c *Client) Add(ctx context.Context, item *Item) error {
	return c.store(ctx, "Add", cmdAdd, kindAdd, item)
}

// Replace stores item only if its key is present; otherwise the error wraps ErrNotStored.
func (c *Client) Replace(ctx context.Context, item *Item) error {
	return c.store(ctx, "Replace", cmdReplace, kindPresent, item)
}

// Append appends item.Value to the existing value (flags and expiration are
// kept); if the key is absent the error wraps ErrNotStored.
func (c *Client) Append(ctx context.Context, item *Item) error {
	return c.store(ctx, "Append", cmdAppend, kindPresent, item)
}

// Prepend prepends item.Value to the existing value; if the key is absent
// the error wraps ErrNotStored.
func (c *Client) Prepend(ctx context.Context, item *Item) error {
	return c.store(ctx, "Prepend", cmdPrepend, kindPresent, item)
}

// CompareAndSwap stores item only if it has not changed since item.CasID was
// read. The error wraps ErrCASConflict if it changed, ErrCacheMiss if it
// was deleted or expired, and ErrInvalidArguments if item.CasID is 0.
func (c *Client) CompareAndSwap(ctx context.Context, item *Item) error {
	return c.store(ctx, "CompareAndSwap", cmdCAS, kindOther, item)
}

// Delete deletes key; if it is absent the error wraps ErrCacheMiss.
func (c *Client) Delete(ctx context.Context, key string) error {
	const op = "Delete"
	if _, err := c.begin(ctx, op, key); err != nil {
		return err
	}
	if err := checkKey(c.cfg.Load(), op, key); err != nil {
		return err
	}
	return c.runOne(c.newCall1(ctx, kindDelete, op, key, nil), kindDelete)
}

// Increment adds delta to the decimal number stored at key and returns the
// new value. Arithmetic is unsigned 64-bit and wraps like memcached's. The
// error wraps ErrCacheMiss if the key is absent and ErrNotNumeric if the
// value is not a number (or does not fit in 64 bits).
func (c *Client) Increment(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, "Increment", cmdIncr, key, delta)
}

// Decrement subtracts delta from the number stored at key and returns the
// new value; memcached clamps at 0 instead of going negative.
func (c *Client) Decrement(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, "Decrement", cmdDecr, key, delta)
}

func (c *Client) incr(ctx context.Context, op string, cmd command, key string, delta uint64) (uint64, error) {
	var v uint64
	err := c.do(ctx, op, key, func(h *handle, cfg *config, ms int32) error {
		if err := checkKey(cfg, op, key); err != nil {
			return err
		}
		p := getPacked()
		defer packedPool.Put(p)
		p.addKey(key)
		h.c.requests(ms, cmd, p, delta)
		r := h.c.result(0)
		if r.rc.Success() {
			v = r.num
			return nil
		}
		c.outcome(h, cfg, kindIncr, r.rc, r.server)
		return c.incrError(ctx, h, cfg, op, key, r, ms)
	})
	return v, err
}

// incrError builds the error of a failed increment. Over the binary
// protocol memcached answers a value it will not count with DELTA_BADVAL,
// which libmemcached does not decode: it reports UNKNOWN_READ_FAILURE (and
// closes the connection). Only then the value is read back, so errors.go
// (notCounter) can tell that case from a real read failure.
func (c *Client) incrError(ctx context.Context, h *handle, cfg *config, op, key string, r keyResult, ms int32) *Error {
	e := c.keyError(ctx, cfg, op, kindIncr, key, r)
	if r.rc == ReturnUnknownReadFailure && cfg.binary {
		p := getPacked()
		defer packedPool.Put(p)
		p.addKey(key)
		h.c.getMulti(ms, p)
		h.c.records(func(k, v []byte, _ uint32, _ uint64, _ int) {
			if string(k) == key {
				notCounter(e, v)
			}
		})
	}
	return e
}

// Touch sets the expiration of key to seconds; if it is absent the error
// wraps ErrCacheMiss.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	const op = "Touch"
	if err := checkExpiration(op, key, seconds); err != nil {
		return err
	}
	return c.do(ctx, op, key, func(h *handle, cfg *config, ms int32) error {
		if err := checkKey(cfg, op, key); err != nil {
			return err
		}
		p := getPacked()
		defer packedPool.Put(p)
		p.addItem(key, nil, seconds, 0)
		h.c.requests(ms, cmdTouch, p, 0)
		return c.keyOutcome(ctx, h, cfg, op, kindOther, key, 0)
	})
}

// SetMulti stores every item: the requests go out back to back and every
// reply is read, so each item's outcome is exact. Failures are reported per
// key in a *MultiError, which errors.Is and errors.As see through; with a
// key given twice, the last item decides its outcome (and the value the
// server keeps). A nil item or a malformed key rejects the whole batch
// before anything is sent.
func (c *Client) SetMulti(ctx context.Context, items []*Item) error {
	const op = "SetMulti"
	if _, err := c.begin(ctx, op, ""); err != nil {
		return err
	}
	keys, err := c.checkItems(op, items)
	if err != nil || len(items) == 0 {
		return err
	}
	return c.runMulti(c.newCall(ctx, kindStore, op, keys, items), kindStore)
}

// checkItems validates a batch before anything is sent and returns its keys.
func (c *Client) checkItems(op string, items []*Item) ([]string, error) {
	cfg := c.cfg.Load()
	keys := make([]string, len(items))
	for i, it := range items {
		if err := checkItem(cfg, op, it); err != nil {
			return nil, err
		}
		keys[i] = it.Key
	}
	return keys, nil
}

// lastOutcomes makes per-key errors a *MultiError (nil if none); with a
// key given more than once, its last item decides.
func lastOutcomes(keys []string, errs []*Error) error {
	var me *MultiError
	for i, k := range keys {
		switch {
		case errs[i] != nil:
			if me == nil {
				me = &MultiError{Errors: map[string]error{}}
			}
			me.Errors[k] = errs[i]
		case me != nil:
			delete(me.Errors, k)
		}
	}
	if me == nil || len(me.Errors) == 0 {
		return nil
	}
	return me
}

// AddMulti adds every item whose key is absent (pylibmc's add_multi); the
// keys already present are reported in a *MultiError wrapping ErrNotStored.
func (c *Client) AddMulti(ctx context.Context, items []*Item) error {
	const op = "AddMulti"
	if _, err := c.begin(ctx, op, ""); err != nil {
		return err
	}
	if _, err := c.checkItems(op, items); err != nil || len(items) == 0 {
		return err
	}
	return c.do(ctx, op, "", func(h *handle, cfg *config, ms int32) error {
		p := getPacked()
		defer packedPool.Put(p)
		for _, it := range items {
			p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
		}
		h.c.requests(ms, cmdAdd, p, 0)
		return c.collect(ctx, h, cfg, op, kindAdd, len(items), func(i int) string { return items[i].Key }, ms)
	})
}

// collect turns the per-key outcomes of a multi-key call into a
// *MultiError (nil if all succeeded). With a key given more than once, its
// last item decides.
func (c *Client) collect(ctx context.Context, h *handle, cfg *config, op string, k opKind, n int, key func(int) string, ms int32) error {
	type failure struct {
		i int
		r keyResult
	}
	var fails []failure
	for i := 0; i < n; i++ {
		r := h.c.result(i)
		c.outcome(h, cfg, k, r.rc, r.server)
		if !r.rc.Success() {
			fails = append(fails, failure{i, r})
		}
	}
	if len(fails) == 0 {
		return nil
	}
	last := make(map[string]int, n)
	for i := 0; i < n; i++ {
		last[key(i)] = i
	}
	me := &MultiError{Errors: map[string]error{}}
	for _, f := range fails {
		kf := key(f.i)
		switch {
		case last[kf] != f.i:
		case k == kindIncr:
			me.Errors[kf] = c.incrError(ctx, h, cfg, op, kf, f.r, ms)
		default:
			me.Errors[kf] = c.keyError(ctx, cfg, op, k, kf, f.r)
		}
	}
	if len(me.Errors) == 0 {
		return nil
	}
	return me
}

// DeleteMulti deletes every key; absent keys are reported per key in a
// *MultiError wrapping ErrCacheMiss. A malformed key rejects the whole
// batch before anything is sent.
func (c *Client) DeleteMulti(ctx context.Context, keys []string) error {
	const op = "DeleteMulti"
	if err := c.checkKeys(ctx, op, keys); err != nil || len(keys) == 0 {
		return err
	}
	return c.runMulti(c.newCall(ctx, kindDelete, op, keys, nil), kindDelete)
}

// IncrementMulti adds delta to every key (pylibmc's incr_multi). Failures
// are reported per key in a *MultiError.
func (c *Client) IncrementMulti(ctx context.Context, keys []string, delta uint64) error {
	const op = "IncrementMulti"
	if err := c.checkKeys(ctx, op, keys); err != nil || len(keys) == 0 {
		return err
	}
	return c.do(ctx, op, "", func(h *handle, cfg *config, ms int32) error {
		p := getPacked()
		defer packedPool.Put(p)
		for _, k := range keys {
			p.addKey(k)
		}
		h.c.requests(ms, cmdIncr, p, delta)
		return c.collect(ctx, h, cfg, op, kindIncr, len(keys), func(i int) string { return keys[i] }, ms)
	})
}

// checkKeys starts a multi-key call: ctx and every key are valid.
func (c *Client) checkKeys(ctx context.Context, op string, keys []string) error {
	if _, err := c.begin(ctx, op, ""); err != nil {
		return err
	}
	cfg := c.cfg.Load()
	for _, k := range keys {
		if err := checkKey(cfg, op, k); err != nil {
			return err
		}
	}
	return nil
}

// LibraryVersion returns the version of the libmemcached the process loaded.
func LibraryVersion() string { return libraryVersion() }
