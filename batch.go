package libmemcached

import (
	"context"
	"time"
)

// WithBatching turns implicit pipelining on or off (on by default). While
// every handle of the pool is busy, the Gets, Sets and Deletes (and their
// multi-key forms) that other goroutines issue wait in line, and the next
// free handle sends all of them in one round trip: one memcached_mget for
// the reads, the stores written back to back. Each caller gets its own
// result and error exactly as if it had called alone. A call that finds a
// handle free goes out at once: nothing waits for a batch to fill.
func WithBatching(on bool) Option {
	return func(o *options) error {
		o.batching = on
		return nil
	}
}

// newCall makes a batchable call (kindSolo when batching is off).
func (c *Client) newCall(ctx context.Context, kind batchKind, op string, keys []string, items []*Item) *call {
	cl := getCall(ctx, kind, op, keys, items)
	if !c.opts.batching {
		cl.kind = kindSolo // runs alone; its result is still a read's or a store's
	}
	return cl
}

// newCall1 makes a batchable call for one key (and item, for a store),
// held in the call's own arrays: it allocates nothing.
func (c *Client) newCall1(ctx context.Context, kind batchKind, op, key string, item *Item) *call {
	cl := callPool.Get().(*call)
	cl.key1[0] = key
	var items []*Item
	if item != nil {
		cl.item1[0] = item
		items = cl.item1[:]
	}
	cl.init(ctx, kind, op, cl.key1[:], items)
	if !c.opts.batching {
		cl.kind = kindSolo
	}
	return cl
}

// run runs a batchable call: alone on a free handle, or in line as part of
// a batch, which this call leads (runs) or another call carries.
func (c *Client) run(cl *call, kind batchKind) error {
	g, lead, err := c.wait(cl, "")
	if err != nil || !lead {
		return err
	}
	c.lead(g, kind)
	return nil
}

// runOne runs a single-key store or delete and returns its error.
func (c *Client) runOne(cl *call, kind batchKind) error {
	err := c.run(cl, kind)
	if err == nil && cl.result.errs[0] != nil {
		err = cl.result.errs[0]
	}
	putCall(cl)
	return err
}

// runMulti runs a multi-key store or delete and returns its per-key
// errors as a *MultiError (nil if none).
func (c *Client) runMulti(cl *call, kind batchKind) error {
	defer putCall(cl)
	if err := c.run(cl, kind); err != nil {
		return err
	}
	return lastOutcomes(cl.keys, cl.result.errs)
}

// lead runs a granted batch on its handle and finishes every call in it.
func (c *Client) lead(g grant, kind batchKind) {
	batch := g.batch
	batchable := batch[0].kind != kindSolo
	h, cfg, err := c.prepare(g.h, batch[0].op, "", batchable)
	if err != nil {
		c.pool.packed(batch)
		for _, cl := range batch {
			for j := range cl.keys {
				cl.result.errs[j] = err.(*Error)
			}
		}
		finishBatch(batch)
		return
	}
	// The batch runs until the latest deadline among its calls (its leader's:
	// the pool makes the call with the latest one lead); a call with an
	// earlier deadline leaves on its own when its context ends.
	ms := remainingMS(batch[0].ctx)
	split := splitFor(c.opts.pollMode, &h.w, len(batch))
	p := getPacked()
	for _, cl := range batch {
		if kind == kindStore {
			for _, it := range cl.items {
				p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
			}
		} else {
			for _, k := range cl.keys {
				p.addKey(k)
			}
		}
	}
	c.pool.packed(batch)
	if kind == kindGet {
		c.execGet(h, cfg, batch, p, ms, split)
	} else {
		cmd := cmdSet
		if kind == kindDelete {
			cmd = cmdDelete
		}
		c.execStore(h, cfg, batch, p, cmd, ms, split)
	}
	packedPool.Put(p)
	c.release(h, cfg, batchable)
	finishBatch(batch)
}

// finishBatch wakes the calls the batch carried.
func finishBatch(batch []*call) {
	for _, cl := range batch[1:] {
		cl.wake <- grant{done: true}
	}
}

// waitDeadline is when a split wait must end: the context's deadline or
// the poll timeout from now, whichever is first (zero: neither). A passed
// deadline ends the wait at once.
func waitDeadline(ctx context.Context, cfg *config) time.Time {
	var d time.Time
	if cfg.poll > 0 {
		d = time.Now().Add(cfg.poll)
	}
	if dl, ok := ctx.Deadline(); ok && (d.IsZero() || dl.Before(d)) {
		d = dl
	}
	return d
}

// execGet reads every key of the batch with one mget and gives each call
// its items, misses and errors.
func (c *Client) execGet(h *handle, cfg *config, batch []*call, p *packed, ms int32, split bool) {
	if split {
		c.splitGet(h, cfg, p, batch[0].ctx)
	} else {
		h.c.getMulti(ms, p)
	}
	h.srv = h.c.servers(h.srv)
	ix := h.index(batch)
	// An item goes to every position asking its key (each its own copy);
	// memcached answers a key asked twice twice, so up to that many records
	// of a key are expected. Any other record is out of step.
	got := ix.got
	foreign := false
	h.c.records(func(k, v []byte, flags uint32, cas uint64) {
		first := ix.find(k)
		if first < 0 {
			foreign = true // a reply out of step: never attributed to a key
			return
		}
		ix.seen[first]++
		if got[first] != nil {
			if ix.seen[first] > ix.count(first) {
				foreign = true
			}
			return // the same key's next answer
		}
		for at := first; at >= 0; at = ix.next[at] {
			got[at] = &Item{Key: ix.keys[at], Value: bytesCopy(v), Flags: flags, CasID: cas}
		}
	})
	if foreign {
		h.broken = true
	}
	off := 0
	for _, cl := range batch {
		for j, k := range cl.keys {
			i := off + j
			switch r := h.c.result(i); {
			case got[i] != nil:
				cl.result.items[j] = got[i]
			case r.server >= 0 && r.server < len(h.srv) && h.srv[r.server].rc != ReturnSuccess:
				s := h.srv[r.server]
				cl.result.errs[j] = c.keyError(cl.ctx, cfg, cl.op, kindOther, k, keyResult{rc: s.rc, server: r.server, msg: s.msg})
			case foreign:
				cl.result.errs[j] = c.keyError(cl.ctx, cfg, cl.op, kindOther, k, keyResult{rc: ReturnProtocolError, server: r.server,
					msg: "a reply for another key arrived: the connection was out of step and is reconnected"})
			case r.server < 0 && len(h.srv) == 1 && h.srv[0].rc != ReturnSuccess:
				s := h.srv[0]
				cl.result.errs[j] = c.keyError(cl.ctx, cfg, cl.op, kindOther, k, keyResult{rc: s.rc, server: 0, msg: s.msg})
			default:
				cl.result.miss[j] = true
			}
		}
		off += len(cl.keys)
	}
	ix.reset()
}

// keyIndex finds the positions of a batch's keys, for the records of a
// read. It lives on the handle and is reused: a read allocates nothing but
// its items.
type keyIndex struct {
	keys  []string // every call's keys, back to back
	next  []int32  // the next position of the same key, or -1
	seen  []int32  // per first position: records read for the key
	got   []*Item  // per position
	where map[string]int32
}

// smallIndex: up to this many keys are found by comparing them all.
const smallIndex = 16

// index builds h's key index for batch.
func (h *handle) index(batch []*call) *keyIndex {
	ix := &h.ix
	for _, cl := range batch {
		ix.keys = append(ix.keys, cl.keys...)
	}
	n := len(ix.keys)
	ix.next = grow(ix.next, n)
	ix.seen = grow(ix.seen, n)
	ix.got = grow(ix.got, n)
	if n > smallIndex && ix.where == nil {
		ix.where = make(map[string]int32, n)
	}
	for i := n - 1; i >= 0; i-- {
		ix.next[i] = -1
		if n > smallIndex {
			if j, ok := ix.where[ix.keys[i]]; ok {
				ix.next[i] = j
			}
			ix.where[ix.keys[i]] = int32(i)
			continue
		}
		for j := i + 1; j < n; j++ {
			if ix.keys[j] == ix.keys[i] {
				ix.next[i] = int32(j)
				break
			}
		}
	}
	return ix
}

// find returns the first position of key k, or -1.
func (ix *keyIndex) find(k []byte) int32 {
	if len(ix.keys) > smallIndex {
		if i, ok := ix.where[string(k)]; ok {
			return i
		}
		return -1
	}
	for i, key := range ix.keys {
		if key == string(k) {
			return int32(i)
		}
	}
	return -1
}

// count is how many positions ask the key first asked at position i.
func (ix *keyIndex) count(i int32) int32 {
	n := int32(0)
	for ; i >= 0; i = ix.next[i] {
		n++
	}
	return n
}

// reset empties the index, keeping its memory (a large map is dropped).
func (ix *keyIndex) reset() {
	if cap(ix.keys) > batchKeys { // one large GetMulti: do not keep its memory
		*ix = keyIndex{}
		return
	}
	clear(ix.keys)
	clear(ix.got)
	ix.keys = ix.keys[:0]
	clear(ix.where)
}

// grow returns s with length n, zeroed.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// splitGet is a read whose wait happens in the netpoller: the C call
// sends the mget; the goroutine parks until each asked server's reply has
// started to arrive (or the deadline); a server that did not answer in
// time has its connection shut down; a second C call reads the replies.
func (c *Client) splitGet(h *handle, cfg *config, p *packed, ctx context.Context) {
	ms := remainingMS(ctx)
	h.req = sendReq{ms: ms, p: p}
	late := c.waitReplies(h, waitDeadline(ctx, cfg))
	h.req = sendReq{}
	h.c.getRecv(remainingMS(ctx), p, late)
}

// sendReq is the request a split call sends from inside its wait.
type sendReq struct {
	store bool
	cmd   command
	ms    int32
	p     *packed
	at    *pollConn // the socket waited on
	i     int       // its server
}

// sendFirst sends h.req and says whether the server waited on has a reply
// to wait for (the first callback of pollConn.wait); it is bound once per
// handle (h.sendFn) so that a wait allocates nothing.
func (h *handle) sendFirst(int) bool {
	if r := &h.req; r.store {
		h.c.storeSend(r.ms, r.cmd, r.p)
	} else {
		h.c.getSend(r.ms, r.p)
	}
	h.srv = h.c.servers(h.srv)
	s := h.srv[h.req.i]
	return h.req.at != nil && s.pending > 0 && s.rc == ReturnSuccess && s.unread == 0 && s.fd == h.req.at.fd
}

// waitReplies sends h.req and parks until every server with replies
// pending is readable; it returns the servers that were not by deadline,
// whose connections it shut down. The request is sent from inside the
// wait on a socket already watched, when there is one: the reply cannot
// then arrive before the wait starts, and no peek is needed to see it.
func (c *Client) waitReplies(h *handle, deadline time.Time) []uint32 {
	var late []uint32
	waited := -1
	if i := h.w.any(); i >= 0 {
		pc := h.w.conns[i]
		h.req.at, h.req.i = pc, i
		if h.sendFn == nil {
			h.sendFn = h.sendFirst
		}
		err := pc.wait(deadline, h.sendFn)
		h.req.at = nil
		waited = i
		if err == errTimedOut {
			h.w.shutdown(i)
			late = append(late, uint32(i))
		}
	} else {
		h.sendFirst(0)
	}
	for i, s := range h.srv {
		if i == waited && s.fd == h.w.conns[i].fd || s.pending == 0 || s.rc != ReturnSuccess || s.unread > 0 || s.fd < 0 {
			continue
		}
		pc, err := h.w.conn(h.c, i, s.fd)
		if err != nil {
			continue // the C read waits for it instead
		}
		if err := pc.wait(deadline, unreadable); err == errTimedOut {
			h.w.shutdown(i)
			late = append(late, uint32(i))
		}
	}
	return late
}

// execStore writes every item (or key) of the batch and gives each call
// its per-key errors.
func (c *Client) execStore(h *handle, cfg *config, batch []*call, p *packed, cmd command, ms int32, split bool) {
	rs := h.rs[:0]
	switch {
	case split && h.c.canBuffer():
		rs = c.splitStore(h, cfg, p, cmd, batch[0].ctx, rs)
	case p.len() == 1: // one store waited for in C: libmemcached's own call
		h.c.commands(ms, cmd, p, 0)
		rs = append(rs, h.c.result(0))
	default:
		h.c.stores(ms, cmd, p)
		for i := 0; i < p.len(); i++ {
			rs = append(rs, h.c.result(i))
		}
	}
	off := 0
	for _, cl := range batch {
		// With a key given more than once, its last item decides.
		for j, k := range cl.keys {
			r := rs[off+j]
			c.outcome(h, cfg, kindOther, r.rc, r.server)
			if !r.rc.Success() {
				cl.result.errs[j] = c.keyError(cl.ctx, cfg, cl.op, kindOther, k, r)
			}
		}
		off += len(cl.keys)
	}
	if cap(rs) <= batchItems {
		clear(rs)
		h.rs = rs[:0]
	}
}

// splitStore writes the batch in chunks; for each, the goroutine parks in
// the netpoller until every server's replies have started to arrive, and C
// reads them (waiting itself for a tail still on its way). It appends each
// item's result to rs.
func (c *Client) splitStore(h *handle, cfg *config, p *packed, cmd command, ctx context.Context, rs []keyResult) []keyResult {
	chunk := p
	if p.len() > storeChunk {
		chunk = getPacked()
		defer packedPool.Put(chunk)
	}
	for from := 0; from < p.len(); from += storeChunk {
		to := min(from+storeChunk, p.len())
		if chunk != p {
			p.slice(chunk, from, to)
		}
		ms := remainingMS(ctx)
		h.req = sendReq{store: true, cmd: cmd, ms: ms, p: chunk}
		late := c.waitReplies(h, waitDeadline(ctx, cfg))
		h.req = sendReq{}
		h.c.storeRecv(remainingMS(ctx), cmd, chunk.len(), late)
		for i := 0; i < chunk.len(); i++ {
			rs = append(rs, h.c.result(i))
		}
	}
	return rs
}
