package libmemcached

// The writes of the client's API: the storage commands, deletes,
// counters and touch, single and multi-key.

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
)

// Set stores item unconditionally.
func (c *Client) Set(ctx context.Context, item *Item) error {
	const op = "Set"
	t := c.e.trace(ctx, op, keyOf(item), 1)
	if _, err := c.e.begin(ctx, op, keyOf(item)); err != nil {
		return c.e.done(t, err)
	}
	if err := c.e.cfg.Load().checkItem(op, item); err != nil {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.runOne(c.e.newCall1(ctx, callStore, op, item.Key, item, t)))
}

// Add stores item only if its key is absent; otherwise the error wraps ErrNotStored.
func (c *Client) Add(ctx context.Context, item *Item) error {
	return c.store(ctx, "Add", cmdAdd, item)
}

// Replace stores item only if its key is present; otherwise the error wraps ErrNotStored.
func (c *Client) Replace(ctx context.Context, item *Item) error {
	return c.store(ctx, "Replace", cmdReplace, item)
}

// Append appends item.Value to the existing value (flags and expiration are
// kept); if the key is absent the error wraps ErrNotStored.
func (c *Client) Append(ctx context.Context, item *Item) error {
	return c.store(ctx, "Append", cmdAppend, item)
}

// Prepend prepends item.Value to the existing value; if the key is absent
// the error wraps ErrNotStored.
func (c *Client) Prepend(ctx context.Context, item *Item) error {
	return c.store(ctx, "Prepend", cmdPrepend, item)
}

// CompareAndSwap stores item only if it has not changed since item.CasID was
// read. The error wraps ErrCASConflict if it changed, ErrCacheMiss if it
// was deleted or expired, and ErrInvalidArguments if item.CasID is 0.
func (c *Client) CompareAndSwap(ctx context.Context, item *Item) error {
	return c.store(ctx, "CompareAndSwap", cmdCAS, item)
}

// store runs one storage command for item.
func (c *Client) store(ctx context.Context, op string, cmd command, item *Item) error {
	t := c.e.trace(ctx, op, keyOf(item), 1)
	return c.e.done(t, c.storeTraced(ctx, op, cmd, item, t))
}

// storeTraced is store, traced by t (nil: not observed). The request may
// share a round trip with other callers' requests of the same command
// (see WithBatching).
func (c *Client) storeTraced(ctx context.Context, op string, cmd command, item *Item, t *opTrace) error {
	if _, err := c.e.begin(ctx, op, keyOf(item)); err != nil {
		return err
	}
	if err := c.e.cfg.Load().checkItem(op, item); err != nil {
		return err
	}
	if cmd == cmdCAS && item.CasID == 0 {
		// libmemcached sends "cas k f e n" without the unique (text) or a
		// plain set (binary): either would corrupt the connection or the item.
		return errorf(op, item.Key, ErrInvalidArguments,
			"CasID is 0: the item was not read with a CAS id (is the \"cas\" behavior off?); read it with Get first")
	}
	if cmd == cmdSet {
		return c.runOne(c.e.newCall1(ctx, callStore, op, item.Key, item, t))
	}
	_, err := c.runRequest(c.e.newRequest(ctx, op, cmd, item.Key, item, item.CasID, t))
	return err
}

// Delete deletes key; if it is absent the error wraps ErrCacheMiss.
func (c *Client) Delete(ctx context.Context, key string) error {
	const op = "Delete"
	t := c.e.trace(ctx, op, key, 1)
	if _, err := c.e.begin(ctx, op, key); err != nil {
		return c.e.done(t, err)
	}
	if err := c.e.cfg.Load().checkKey(op, key); err != nil {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.runOne(c.e.newCall1(ctx, callDelete, op, key, nil, t)))
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
	t := c.e.trace(ctx, op, key, 1)
	if _, err := c.e.begin(ctx, op, key); err != nil {
		return 0, c.e.done(t, err)
	}
	if err := c.e.cfg.Load().checkKey(op, key); err != nil {
		return 0, c.e.done(t, err)
	}
	v, err := c.runRequest(c.e.newRequest(ctx, op, cmd, key, nil, delta, t))
	return v, c.e.done(t, err)
}

// Touch sets the expiration of key to seconds; if it is absent the error
// wraps ErrCacheMiss.
func (c *Client) Touch(ctx context.Context, key string, seconds int32) error {
	const op = "Touch"
	t := c.e.trace(ctx, op, key, 1)
	if err := checkExpiration(op, key, seconds); err != nil {
		return c.e.done(t, err)
	}
	if _, err := c.e.begin(ctx, op, key); err != nil {
		return c.e.done(t, err)
	}
	if err := c.e.cfg.Load().checkKey(op, key); err != nil {
		return c.e.done(t, err)
	}
	cl := c.e.newRequest(ctx, op, cmdTouch, key, nil, 0, t)
	cl.own = Item{Key: key, Expiration: seconds}
	cl.item1[0] = &cl.own
	cl.items = cl.item1[:]
	_, err := c.runRequest(cl)
	return c.e.done(t, err)
}

// SetMulti stores every item: the requests go out back to back and every
// reply is read, so each item's outcome is exact. Failures are reported per
// key in a *MultiError, which errors.Is and errors.As see through; with a
// key given twice, the last item decides its outcome (and the value the
// server keeps). A nil item or a malformed key rejects the whole batch
// before anything is sent.
func (c *Client) SetMulti(ctx context.Context, items []*Item) error {
	const op = "SetMulti"
	t := c.e.trace(ctx, op, "", len(items))
	if _, err := c.e.begin(ctx, op, ""); err != nil {
		return c.e.done(t, err)
	}
	keys, err := c.checkItems(op, items)
	if err != nil || len(items) == 0 {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.runMulti(c.e.newCall(ctx, callStore, op, keys, items, t)))
}

// AddMulti adds every item whose key is absent (pylibmc's add_multi); the
// keys already present are reported in a *MultiError wrapping ErrNotStored.
func (c *Client) AddMulti(ctx context.Context, items []*Item) error {
	const op = "AddMulti"
	t := c.e.trace(ctx, op, "", len(items))
	if _, err := c.e.begin(ctx, op, ""); err != nil {
		return c.e.done(t, err)
	}
	if _, err := c.checkItems(op, items); err != nil || len(items) == 0 {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.e.do(ctx, op, "", t, func(h *handle, cfg *config, ms int32) error {
		p := getPacked()
		defer packedPool.Put(p)
		for _, it := range items {
			p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
		}
		h.c.requests(ms, cmdAdd, p)
		return c.e.collect(ctx, h, cfg, op, classAdd, len(items), func(i int) string { return items[i].Key }, ms)
	}))
}

// DeleteMulti deletes every key; absent keys are reported per key in a
// *MultiError wrapping ErrCacheMiss. A malformed key rejects the whole
// batch before anything is sent.
func (c *Client) DeleteMulti(ctx context.Context, keys []string) error {
	const op = "DeleteMulti"
	t := c.e.trace(ctx, op, "", len(keys))
	if err := c.checkKeys(ctx, op, keys); err != nil || len(keys) == 0 {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.runMulti(c.e.newCall(ctx, callDelete, op, keys, nil, t)))
}

// IncrementMulti adds delta to every key (pylibmc's incr_multi). Failures
// are reported per key in a *MultiError.
func (c *Client) IncrementMulti(ctx context.Context, keys []string, delta uint64) error {
	const op = "IncrementMulti"
	t := c.e.trace(ctx, op, "", len(keys))
	if err := c.checkKeys(ctx, op, keys); err != nil || len(keys) == 0 {
		return c.e.done(t, err)
	}
	return c.e.done(t, c.e.do(ctx, op, "", t, func(h *handle, cfg *config, ms int32) error {
		p := getPacked()
		defer packedPool.Put(p)
		for _, k := range keys {
			p.addKey(k)
			p.addArg(delta)
		}
		h.c.requests(ms, cmdIncr, p)
		return c.e.collect(ctx, h, cfg, op, classCounter, len(keys), func(i int) string { return keys[i] }, ms)
	}))
}

// checkItems validates a batch before anything is sent and returns its keys.
func (c *Client) checkItems(op string, items []*Item) ([]string, error) {
	cfg := c.e.cfg.Load()
	keys := make([]string, len(items))
	for i, it := range items {
		if err := cfg.checkItem(op, it); err != nil {
			return nil, err
		}
		keys[i] = it.Key
	}
	return keys, nil
}

// checkKeys starts a multi-key call: ctx and every key are valid.
func (c *Client) checkKeys(ctx context.Context, op string, keys []string) error {
	if _, err := c.e.begin(ctx, op, ""); err != nil {
		return err
	}
	cfg := c.e.cfg.Load()
	for _, k := range keys {
		if err := cfg.checkKey(op, k); err != nil {
			return err
		}
	}
	return nil
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

// runOne runs a single-key store or delete and returns its error.
func (c *Client) runOne(cl *call) error {
	err := c.runOne1(cl)
	putCall(cl)
	return err
}

// runOne1 runs a single-key call and returns its error; the caller
// recycles cl.
func (c *Client) runOne1(cl *call) error {
	if err := c.e.run(cl); err != nil {
		return err
	}
	if cl.tr != nil {
		cl.tr.fromCall(cl)
	}
	if e := cl.result.errs[0]; e != nil {
		return e
	}
	return nil
}

// runRequest runs a single-key request and returns its error, and a
// counter's new value.
func (c *Client) runRequest(cl *call) (uint64, error) {
	defer putCall(cl)
	if err := c.runOne1(cl); err != nil {
		return 0, err // (a call its caller left may still be written to: nothing more is read)
	}
	return cl.result.nums[0], nil
}

// runMulti runs a multi-key store or delete and returns its per-key
// errors as a *MultiError (nil if none).
func (c *Client) runMulti(cl *call) error {
	defer putCall(cl)
	if err := c.e.run(cl); err != nil {
		return err
	}
	if cl.tr != nil {
		cl.tr.fromCall(cl)
	}
	return lastOutcomes(cl.keys, cl.result.errs)
}

// SetValue encodes v with the client's Codec (and compression) and stores it.
func (c *Client) SetValue(ctx context.Context, key string, v any, expiration int32) error {
	const op = "SetValue"
	t := c.e.trace(ctx, op, key, 1)
	value, flags, err := c.encode(v)
	if err != nil {
		return c.e.done(t, errorf(op, key, ErrUnsupportedType, err.Error()).withCause(err))
	}
	return c.e.done(t, c.storeTraced(ctx, op, cmdSet, &Item{Key: key, Value: value, Flags: flags, Expiration: expiration}, t))
}

// encode runs the codec, then compresses when configured and worth it.
func (c *Client) encode(v any) ([]byte, uint32, error) {
	value, flags, err := c.codecOrDefault().Encode(v)
	if err != nil {
		return nil, 0, err
	}
	if flags&FlagCompressed != 0 {
		return nil, 0, fmt.Errorf("%w: the codec set flag %d, which the client reserves for compression", ErrUnsupportedFlags, FlagCompressed)
	}
	cz := c.compress
	if cz.minLen > 0 && len(value) >= cz.minLen {
		var buf bytes.Buffer
		w, err := zlib.NewWriterLevel(&buf, cz.level)
		if err != nil {
			return nil, 0, err
		}
		w.Write(value)
		if err := w.Close(); err != nil {
			return nil, 0, err
		}
		if buf.Len() < len(value) {
			return buf.Bytes(), flags | FlagCompressed, nil
		}
	}
	return value, flags, nil
}
