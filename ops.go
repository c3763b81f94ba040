package libmemcached

import (
	"context"
	"sync"
	"unsafe"
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
	// CompareAndSwap. It is 0 when the client's "cas" behavior is off.
	CasID uint64
}

// Get returns the item for key, or an error wrapping ErrCacheMiss.
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	const op = "Get"
	if err := c.checkKey(op, key); err != nil {
		return nil, err
	}
	var it *Item
	err := c.do(ctx, op, key, func(h *cHandle, ms int32) error {
		v, flags, cas, rc := h.get(ms, key)
		if rc != ReturnSuccess {
			return c.fail(ctx, h, op, key, rc)
		}
		it = &Item{Key: key, Value: v, Flags: flags, CasID: cas}
		return nil
	})
	return it, err
}

// GetAndTouch returns the item for key and sets its expiration to seconds.
// libmemcached 1.1 has no "gat" command, so this is a touch followed by a
// get, sent in one call to the C library: another client may change the
// item between the two.
func (c *Client) GetAndTouch(ctx context.Context, key string, seconds int32) (*Item, error) {
	const op = "GetAndTouch"
	if err := c.checkKey(op, key); err != nil {
		return nil, err
	}
	if err := checkExpiration(op, key, seconds); err != nil {
		return nil, err
	}
	var it *Item
	err := c.do(ctx, op, key, func(h *cHandle, ms int32) error {
		v, flags, cas, rc := h.getAndTouch(ms, key, seconds)
		if rc != ReturnSuccess {
			return c.fail(ctx, h, op, key, rc)
		}
		it = &Item{Key: key, Value: v, Flags: flags, CasID: cas, Expiration: seconds}
		return nil
	})
	return it, err
}

// packedPool recycles the Go buffers multi-key calls lend to C.
var packedPool = sync.Pool{New: func() any { return new(packed) }}

// GetMulti returns the items found for keys, fetched with one
// memcached_mget across all servers. Missing keys are absent from the map;
// duplicate keys give one entry. If any key is malformed nothing is sent
// and the error wraps ErrMalformedKey. If some servers fail, the items from
// the others are returned together with the error.
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]*Item, error) {
	const op = "GetMulti"
	for _, k := range keys {
		if err := c.checkKey(op, k); err != nil {
			return nil, err
		}
	}
	found := make(map[string]*Item, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	p := packedPool.Get().(*packed)
	defer packedPool.Put(p)
	p.reset(0)
	for _, k := range keys {
		p.addKey(k) // duplicates are asked twice; the map keeps one answer
	}
	// The keys of the items found are copied into one buffer that becomes
	// one string, and each Item.Key is a slice of it: one allocation for all
	// keys instead of one each, and one map operation per item. (An Item
	// kept alive keeps that string, at most the request's key bytes.)
	items := make([]Item, len(keys))
	keyBuf := make([]byte, 0, len(p.keys))
	type span struct{ off, n int }
	spans := make([]span, 0, len(keys))
	err := c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		rc := h.mget(ms, p, func(key, value []byte, flags uint32, cas uint64) {
			n := len(spans)
			if n == len(items) || len(keyBuf)+len(key) > cap(keyBuf) {
				return // more answers than keys asked: not possible, but never overflow
			}
			spans = append(spans, span{len(keyBuf), len(key)})
			keyBuf = append(keyBuf, key...)
			items[n] = Item{Value: value, Flags: flags, CasID: cas}
		})
		if n := len(spans); n > 0 {
			all := unsafe.String(unsafe.SliceData(keyBuf), len(keyBuf)) // keyBuf is not written again
			for i, sp := range spans {
				it := &items[i]
				it.Key = all[sp.off : sp.off+sp.n]
				found[it.Key] = it
			}
		}
		if rc.Success() || rc == ReturnNotFound {
			return nil
		}
		e := c.fail(ctx, h, op, "", rc)
		if rc == ReturnSomeErrors {
			// Some servers could not be asked: the others' items are returned.
			e.sentinel = ErrServerDown
		}
		return e
	})
	return found, err
}

// checkItem validates an item before anything is sent.
func (c *Client) checkItem(op string, item *Item) error {
	if item == nil {
		return errorf(op, "", ErrInvalidArguments, errNilItem.Error())
	}
	if err := c.checkKey(op, item.Key); err != nil {
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

// storeError builds the error of a failed storage command. The binary
// protocol reports a failed condition differently from the text protocol
// (KEY_EEXISTS for Add, KEY_ENOENT for Replace/Append/Prepend); both mean
// "not stored" here, as the text protocol says.
func (c *Client) storeError(ctx context.Context, h *cHandle, op string, sop storeOp, key string, rc ReturnCode) *Error {
	e := c.fail(ctx, h, op, key, rc)
	switch {
	case sop == opAdd && rc == ReturnDataExists,
		(sop == opReplace || sop == opAppend || sop == opPrepend) && rc == ReturnNotFound:
		e.sentinel = ErrNotStored
	}
	return e
}

// store validates item and runs one storage command.
func (c *Client) store(ctx context.Context, op string, sop storeOp, item *Item) error {
	if err := c.checkItem(op, item); err != nil {
		return err
	}
	return c.do(ctx, op, item.Key, func(h *cHandle, ms int32) error {
		rc := h.store(ms, sop, item.Key, item.Value, item.Expiration, item.Flags, item.CasID)
		if rc.Success() {
			return nil
		}
		return c.storeError(ctx, h, op, sop, item.Key, rc)
	})
}

// Set stores item unconditionally.
func (c *Client) Set(ctx context.Context, item *Item) error {
	return c.store(ctx, "Set", opSet, item)
}

// Add stores item only if its key is absent; otherwise the error wraps ErrNotStored.
func (c *Client) Add(ctx context.Context, item *Item) error {
	return c.store(ctx, "Add", opAdd, item)
}

// Replace stores item only if its key is present; otherwise the error wraps ErrNotStored.
func (c *Client) Replace(ctx context.Context, item *Item) error {
	return c.store(ctx, "Replace", opReplace, item)
}

// Append appends item.Value to the existing value (flags and expiration are
// kept); if the key is absent the error wraps ErrNotStored.
func (c *Client) Append(ctx context.Context, item *Item) error {
	return c.store(ctx, "Append", opAppend, item)
}

// Prepend prepends item.Value to the existing value; if the key is absent
// the error wraps ErrNotStored.
func (c *Client) Prepend(ctx context.Context, item *Item) error {
	return c.store(ctx, "Prepend", opPrepend, item)
}

// CompareAndSwap stores item only if it has not changed since item.CasID was
// read. The error wraps ErrCASConflict if it changed, ErrCacheMiss if it
// was deleted or expired.
func (c *Client) CompareAndSwap(ctx context.Context, item *Item) error {
	return c.store(ctx, "CompareAndSwap", opCAS, item)
}

// Delete deletes key; if it is absent the error wraps ErrCacheMiss.
func (c *Client) Delete(ctx context.Context, key string) error {
	const op = "Delete"
	if err := c.checkKey(op, key); err != nil {
		return err
	}
	return c.do(ctx, op, key, func(h *cHandle, ms int32) error {
		if rc := h.deleteKey(ms, key); !rc.Success() {
			return c.fail(ctx, h, op, key, rc)
		}
		return nil
	})
}

// Increment adds delta to the decimal number stored at key and returns the
// new value. Arithmetic is unsigned 64-bit and wraps like memcached's. The
// error wraps ErrCacheMiss if the key is absent and ErrNotNumeric if the
// value is not a number.
func (c *Client) Increment(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, "Increment", false, key, delta)
}

// Decrement subtracts delta from the number stored at key and returns the
// new value; memcached clamps at 0 instead of going negative.
func (c *Client) Decrement(ctx context.Context, key string, delta uint64) (uint64, error) {
	return c.incr(ctx, "Decrement", true, key, delta)
}

func (c *Client) incr(ctx context.Context, op string, decr bool, key string, delta uint64) (uint64, error) {
	if err := c.checkKey(op, key); err != nil {
		return 0, err
	}
	var v uint64
	err := c.do(ctx, op, key, func(h *cHandle, ms int32) error {
		var rc ReturnCode
		v, rc = h.incr(ms, decr, key, delta)
		if rc.Success() {
			return nil
		}
		return c.incrError(ctx, h, ms, c.fail(ctx, h, op, key, rc))
	})
	return v, err
}

// incrError marks the server's rejection of a non-numeric value. The text
// protocol says CLIENT_ERROR. Over the binary protocol memcached answers
// DELTA_BADVAL, which libmemcached 1.1 does not decode: it reports
// UNKNOWN_READ_FAILURE (after reading the whole answer, so the connection
// stays usable). Only in that case the value is read back to tell a
// non-numeric value from a real read failure.
func (c *Client) incrError(ctx context.Context, h *cHandle, ms int32, e *Error) *Error {
	switch e.Code {
	case ReturnClientError:
		e.sentinel = ErrNotNumeric
	case ReturnUnknownReadFailure:
		if v, _, _, rc := h.get(ms, e.Key); rc == ReturnSuccess && !isDecimal(v) {
			e.sentinel = ErrNotNumeric
			e.Message = "the value is not a decimal number (binary protocol DELTA_BADVAL)"
		}
	}
	return e
}

// isDecimal reports whether v is what memcached's incr accepts: decimal
// digits, optionally followed by the spaces decr leaves behind.
func isDecimal(v []byte) bool {
	n := 0
	for _, b := range v {
		if b == ' ' && n > 0 {
			continue
		}
		if b < '0' || b > '9' {
			return false
		}
		n++
	}
	return n > 0 && n <= 20
}

// Touch sets the expiration of key to seconds; if it is absent the error
// wraps ErrCacheMiss.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	const op = "Touch"
	if err := c.checkKey(op, key); err != nil {
		return err
	}
	if err := checkExpiration(op, key, seconds); err != nil {
		return err
	}
	return c.do(ctx, op, key, func(h *cHandle, ms int32) error {
		if rc := h.touch(ms, key, seconds); !rc.Success() {
			return c.fail(ctx, h, op, key, rc)
		}
		return nil
	})
}

// checkItems validates a batch before anything is sent.
func (c *Client) checkItems(op string, items []*Item) error {
	for _, it := range items {
		if err := c.checkItem(op, it); err != nil {
			return err
		}
	}
	return nil
}

// SetMulti stores every item. Failures are reported per key in a
// *MultiError, which errors.Is and errors.As see through. A nil item or a
// malformed key rejects the whole batch before anything is sent.
func (c *Client) SetMulti(ctx context.Context, items []*Item) error {
	return c.storeMulti(ctx, "SetMulti", opSet, items)
}

// AddMulti adds every item whose key is absent (pylibmc's add_multi); the
// keys already present are reported in a *MultiError wrapping ErrNotStored.
func (c *Client) AddMulti(ctx context.Context, items []*Item) error {
	return c.storeMulti(ctx, "AddMulti", opAdd, items)
}

func (c *Client) storeMulti(ctx context.Context, op string, sop storeOp, items []*Item) error {
	if err := c.checkItems(op, items); err != nil {
		return err
	}
	if len(items) == 0 {
		return nil
	}
	p := packedPool.Get().(*packed)
	defer packedPool.Put(p)
	p.reset(len(items))
	for _, it := range items {
		p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
	}
	return c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		if sop == opSet && len(items) > 1 {
			c.setPipelined(ctx, h, ms, items, p)
		} else {
			h.storeMulti(ms, sop, p, false)
		}
		return c.collect(op, len(items), p, func(i int, rc ReturnCode) *Error {
			return c.storeError(ctx, h, op, sop, items[i].Key, rc)
		})
	})
}

// setPipelined stores a batch without a round trip per item and still
// learns every item's outcome, leaving it in p.rcs:
//
//  1. every set is sent back to back (libmemcached's buffered requests),
//     then all keys are read back with one mget (golibmc_set_pipelined);
//  2. a key found is stored (memcached unlinks the old item when a set
//     fails, so a key present afterwards was stored, by us or by a later
//     writer, whose value is not overwritten);
//  3. the keys not found are sent again one by one, so their exact error
//     (too large, out of memory, ...) is what the server says; a set is
//     idempotent, so sending it twice is safe.
//
// If the flush or the mget fails (a server is down or hung), the handle's
// connections are reset first; the keys read back are still known stored,
// and the rest are sent one by one as above (a hung server costs one
// timeout, not one per key: see golibmc_skip).
func (c *Client) setPipelined(ctx context.Context, h *cHandle, ms int32, items []*Item, p *packed) {
	found := make(map[string]bool, len(items))
	rc := h.setPipelined(ms, p, func(key []byte, _ int, _ uint32) {
		found[string(key)] = true
	})
	if !rc.Success() && rc != ReturnNotFound && rc != ReturnTimeout {
		h.quit()
	}
	var idx []int
	for i, it := range items {
		if rci := p.rc(i); (rci == ReturnBuffered || rci == ReturnSuccess) && found[it.Key] {
			p.setRC(i, ReturnSuccess)
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return
	}
	if ms >= 0 {
		if ms = remainingMS(ctx); ms <= 0 {
			for _, i := range idx {
				p.setRC(i, ReturnTimeout)
			}
			return
		}
	}
	retry := packedPool.Get().(*packed)
	defer packedPool.Put(retry)
	retry.reset(len(idx))
	for _, i := range idx {
		retry.addItem(items[i].Key, items[i].Value, items[i].Expiration, items[i].Flags)
	}
	h.storeMulti(ms, opSet, retry, true)
	for j, i := range idx {
		p.setRC(i, retry.rc(j))
	}
}

// collect turns per-key return codes into a *MultiError (nil if all
// succeeded); fail builds the error of key i.
func (c *Client) collect(op string, n int, p *packed, fail func(i int, rc ReturnCode) *Error) error {
	var me *MultiError
	for i := 0; i < n; i++ {
		rc := p.rc(i)
		if rc.Success() {
			continue
		}
		if me == nil {
			me = &MultiError{Errors: map[string]error{}}
		}
		e := fail(i, rc)
		me.Errors[e.Key] = e
	}
	if me == nil {
		return nil
	}
	return me
}

// DeleteMulti deletes every key; absent keys are reported per key in a
// *MultiError wrapping ErrCacheMiss. A malformed key rejects the whole
// batch before anything is sent.
func (c *Client) DeleteMulti(ctx context.Context, keys []string) error {
	const op = "DeleteMulti"
	p, err := c.packKeys(op, keys)
	if p == nil {
		return err
	}
	defer packedPool.Put(p)
	return c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		h.deleteMulti(ms, p)
		return c.collect(op, len(keys), p, func(i int, rc ReturnCode) *Error {
			return c.fail(ctx, h, op, keys[i], rc)
		})
	})
}

// IncrementMulti adds delta to every key (pylibmc's incr_multi). Failures
// are reported per key in a *MultiError.
func (c *Client) IncrementMulti(ctx context.Context, keys []string, delta uint64) error {
	const op = "IncrementMulti"
	p, err := c.packKeys(op, keys)
	if p == nil {
		return err
	}
	defer packedPool.Put(p)
	values := make([]uint64, len(keys))
	return c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		h.incrMulti(ms, p, delta, values)
		return c.collect(op, len(keys), p, func(i int, rc ReturnCode) *Error {
			return c.incrError(ctx, h, ms, c.fail(ctx, h, op, keys[i], rc))
		})
	})
}

// packKeys validates keys and packs them; it returns a nil *packed (and
// possibly a nil error, for an empty list) when there is nothing to send.
func (c *Client) packKeys(op string, keys []string) (*packed, error) {
	for _, k := range keys {
		if err := c.checkKey(op, k); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	p := packedPool.Get().(*packed)
	p.reset(len(keys))
	for _, k := range keys {
		p.addKey(k)
	}
	return p, nil
}

// FlushAll invalidates every item on every server.
func (c *Client) FlushAll(ctx context.Context) error {
	const op = "FlushAll"
	return c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		if rc := h.flush(ms, 0); !rc.Success() {
			return c.fail(ctx, h, op, "", rc)
		}
		return nil
	})
}

// Stats returns the general statistics of every server, keyed by server
// ("host:port", "[v6]:port" or socket path). If some servers fail, the
// others' statistics are returned together with the error.
func (c *Client) Stats(ctx context.Context) (map[string]map[string]string, error) {
	return c.StatsArg(ctx, "")
}

// StatsArg is Stats with a stats argument, such as "items", "slabs" or "settings".
func (c *Client) StatsArg(ctx context.Context, arg string) (map[string]map[string]string, error) {
	const op = "Stats"
	for i := 0; i < len(arg); i++ {
		if b := arg[i]; b < ' ' || b == 0x7f {
			return nil, errorf(op, "", ErrInvalidArguments, "control byte in stats argument")
		}
	}
	out := map[string]map[string]string{}
	err := c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		rc := h.stats(ms, arg, func(s serverID, k, v string) {
			name := s.name()
			m := out[name]
			if m == nil {
				m = map[string]string{}
				out[name] = m
			}
			m[k] = v
		})
		if !rc.Success() {
			return c.fail(ctx, h, op, "", rc)
		}
		return nil
	})
	return out, err
}

// Version returns the version each server reports, keyed like Stats.
// Servers that did not answer are absent, and the error says why.
func (c *Client) Version(ctx context.Context) (map[string]string, error) {
	const op = "Version"
	out := map[string]string{}
	err := c.do(ctx, op, "", func(h *cHandle, ms int32) error {
		rc := h.version(ms, func(s serverID, v string) {
			if v != "255.255.255" && v != "0.0.0" { // libmemcached's "unknown"
				out[s.name()] = v
			}
		})
		if !rc.Success() {
			return c.fail(ctx, h, op, "", rc)
		}
		return nil
	})
	return out, err
}

// Ping checks that every server answers (a version request to each).
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.Version(ctx)
	if e, ok := err.(*Error); ok {
		e.Op = "Ping"
	}
	return err
}

// LibraryVersion returns the version of the libmemcached the process loaded.
func LibraryVersion() string { return libraryVersion() }
