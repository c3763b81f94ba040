package libmemcached

// The reads of the client's API: Get, GetMulti, GetAndTouch.

import "context"

// Get returns the item for key, or an error wrapping ErrCacheMiss.
func (c *Client) Get(ctx context.Context, key string) (*Item, error) {
	t := c.e.trace(ctx, "Get", key, 1)
	it, err := c.get(ctx, "Get", key, t)
	return it, c.e.doneRead(t, it, err)
}

// get is Get, as op, traced by t (nil: not observed).
func (c *Client) get(ctx context.Context, op, key string, t *opTrace) (*Item, error) {
	if _, err := c.e.begin(ctx, op, key); err != nil {
		return nil, err
	}
	if err := c.e.cfg.Load().checkKey(op, key); err != nil {
		return nil, err
	}
	cl := c.e.newCall1(ctx, callGet, op, key, nil, t)
	if err := c.e.run(cl); err != nil {
		putCall(cl)
		return nil, err
	}
	it, e := cl.result.items[0], cl.result.errs[0]
	if t != nil {
		t.fromCall(cl)
	}
	putCall(cl)
	switch {
	case it != nil:
		return it, nil
	case e != nil:
		return nil, e
	}
	return nil, &Error{Op: op, Key: key, Code: ReturnNotFound, sentinel: ErrCacheMiss}
}

// GetMulti returns the items found for keys, fetched with one
// memcached_mget across all servers. Missing keys are absent from the map;
// duplicate keys give one entry. If any key is malformed nothing is sent
// and the error wraps ErrMalformedKey. If some servers fail, the items from
// the others are returned together with a *MultiError holding an error for
// each key whose server failed (naming the server, and wrapping
// ErrServerDown, or ErrTimeout for a server that did not answer in time).
func (c *Client) GetMulti(ctx context.Context, keys []string) (map[string]*Item, error) {
	t := c.e.trace(ctx, "GetMulti", "", len(keys))
	found, err := c.getMulti(ctx, keys, t)
	return found, c.e.done(t, err)
}

// getMulti is GetMulti, traced by t (nil: not observed).
func (c *Client) getMulti(ctx context.Context, keys []string, t *opTrace) (map[string]*Item, error) {
	const op = "GetMulti"
	if _, err := c.e.begin(ctx, op, ""); err != nil {
		return nil, err
	}
	cfg := c.e.cfg.Load()
	for _, k := range keys {
		if err := cfg.checkKey(op, k); err != nil {
			return nil, err
		}
	}
	found := make(map[string]*Item, len(keys))
	if len(keys) == 0 {
		return found, nil
	}
	cl := c.e.newCall(ctx, callGet, op, keys, nil, t)
	defer putCall(cl)
	if err := c.e.run(cl); err != nil {
		return nil, err
	}
	if t != nil {
		t.fromCall(cl)
	}
	var me *MultiError
	hits, misses := 0, 0
	for i, k := range keys {
		switch {
		case cl.result.items[i] != nil:
			found[k] = cl.result.items[i]
			hits++
		case cl.result.miss[i]:
			misses++
		case cl.result.errs[i] != nil:
			if me == nil {
				me = &MultiError{Errors: map[string]error{}}
			}
			me.Errors[k] = cl.result.errs[i]
		}
	}
	if t != nil {
		t.read(hits, misses)
	}
	if me == nil {
		return found, nil
	}
	for k := range found {
		delete(me.Errors, k) // a key asked twice, found once
	}
	return found, me
}

// GetMultiFunc reads keys as GetMulti does, but builds no map and makes no
// Item: fn is called once for each key found (a key given twice is
// delivered once), on the calling goroutine, after the replies have been
// read, in the order they arrived. The *Item and its Value belong to the
// client: they are valid only until fn returns and are reused for the
// next key, so copy what you keep (as with database/sql's RawBytes). fn
// runs after the call has given its connection back, so it may call the
// client.
//
// An error from fn stops the delivery (the replies were read whole, so the
// connections stay in step) and GetMultiFunc returns it. If any key is
// malformed nothing is sent and the error wraps ErrMalformedKey. If some
// servers fail, every item the others returned is delivered first, then
// the error is a *MultiError with an error for each key whose server
// failed, as GetMulti gives.
func (c *Client) GetMultiFunc(ctx context.Context, keys []string, fn func(it *Item) error) error {
	const op = "GetMultiFunc"
	t := c.e.trace(ctx, op, "", len(keys))
	if fn == nil {
		return c.e.done(t, errorf(op, "", ErrInvalidArguments, "nil function"))
	}
	if err := c.checkKeys(ctx, op, keys); err != nil || len(keys) == 0 {
		return c.e.done(t, err)
	}
	d := deliveryPool.Get().(*delivery)
	defer d.recycle()
	err := c.e.do(ctx, op, "", t, func(h *handle, cfg *config, ms int32) error {
		return c.e.readInto(ctx, h, cfg, op, keys, ms, d, t)
	})
	if ferr := d.deliver(keys, fn); ferr != nil {
		err = ferr
	}
	return c.e.done(t, err)
}

// GetAndTouch returns the item for key and sets its expiration to seconds.
// libmemcached 1.1 has no "gat" command, so this is a touch followed by a
// get, sent in one call to the C library: another client may change the
// item between the two.
func (c *Client) GetAndTouch(ctx context.Context, key string, seconds int32) (*Item, error) {
	const op = "GetAndTouch"
	t := c.e.trace(ctx, op, key, 1)
	if err := checkExpiration(op, key, seconds); err != nil {
		return nil, c.e.doneRead(t, nil, err)
	}
	var it *Item
	err := c.e.do(ctx, op, key, t, func(h *handle, cfg *config, ms int32) error {
		if err := cfg.checkKey(op, key); err != nil {
			return err
		}
		h.c.getAndTouch(ms, key, seconds)
		var err error
		it, err = c.e.readOne(ctx, h, cfg, op, key)
		if it != nil {
			it.Expiration = seconds
		}
		return err
	})
	return it, c.e.doneRead(t, it, err)
}

// GetValue reads key and decodes it into dst with the client's Codec,
// decompressing a compressed value first. A miss wraps ErrCacheMiss; a
// value the codec cannot decode wraps ErrUnsupportedFlags (pickles) or
// ErrUnsupportedType, and Get still returns it raw.
func (c *Client) GetValue(ctx context.Context, key string, dst any) error {
	const op = "GetValue"
	t := c.e.trace(ctx, op, key, 1)
	it, err := c.getValue(ctx, op, key, dst, t)
	return c.e.doneRead(t, it, err)
}

// getValue is GetValue, as op, traced by t (nil: not observed); it
// returns the item read, even when it could not be decoded.
func (c *Client) getValue(ctx context.Context, op, key string, dst any, t *opTrace) (*Item, error) {
	if dst == nil {
		return nil, errorf(op, key, ErrInvalidArguments, "nil destination")
	}
	it, err := c.get(ctx, op, key, t)
	if err != nil {
		return nil, err
	}
	if err := c.decode(it.Value, it.Flags, dst); err != nil {
		return it, errorf(op, key, nil, err.Error()).withCause(err)
	}
	return it, nil
}

// decode decompresses (bounded) when flag 8 is set, then runs the codec.
func (c *Client) decode(value []byte, flags uint32, dst any) error {
	if flags&FlagCompressed != 0 {
		limit := c.maxInflate
		if limit == 0 {
			limit = DefaultMaxDecompressedSize
		}
		var err error
		if value, err = inflate(value, limit); err != nil {
			return err
		}
		flags &^= FlagCompressed
	}
	return c.codecOrDefault().Decode(value, flags, dst)
}
