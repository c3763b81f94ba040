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
	// of a key are expected. Any other record (a key not asked, or one more
	// time than asked) shows its server's replies out of step: neither it
	// nor any later record of that server is taken, and that server's keys
	// not found fail instead of missing.
	got := ix.got
	var outOfStep []bool // per server, once a record showed it; nil until one does
	for i, s := range h.srv {
		if s.stale {
			outOfStep = loseStep(outOfStep, i, len(h.srv))
		}
	}
	h.c.records(func(k, v []byte, flags uint32, cas uint64, server int) {
		if outOfStep != nil && stepLost(outOfStep, server) {
			return
		}
		first := ix.find(k)
		if first < 0 || got[first] != nil && ix.seen[first] >= ix.count(first) {
			outOfStep = loseStep(outOfStep, server, len(h.srv))
			return
		}
		ix.seen[first]++
		if got[first] != nil {
			return // the same key's next answer
		}
		for at := first; at >= 0; at = ix.next[at] {
			got[at] = &Item{Key: ix.keys[at], Value: bytesCopy(v), Flags: flags, CasID: cas}
		}
	})
	if outOfStep != nil {
		h.broken = true
		h.c.keyServers(p) // which keys were that server's
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
			case outOfStep != nil && stepLost(outOfStep, r.server):
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

// loseStep marks server's replies out of step (every server's when the
// server is not known), making the list for n servers if need be.
func loseStep(lost []bool, server, n int) []bool {
	if lost == nil {
		lost = make([]bool, max(n, 1))
	}
	if server < 0 || server >= len(lost) {
		for i := range lost {
			lost[i] = true
		}
	} else {
		lost[server] = true
	}
	return lost
}

// stepLost reports whether server's replies are out of step (for a server
// not known: whether any is).
func stepLost(lost []bool, server int) bool {
	if server >= 0 && server < len(lost) {
		return lost[server]
	}
	for _, l := range lost {
		if l {
			return true
		}
	}
	return false
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

// splitGet is a read whose waits happen in the netpoller (see split).
func (c *Client) splitGet(h *handle, cfg *config, p *packed, ctx context.Context) {
	h.req = sendReq{ctx: ctx, p: p, late: h.req.late[:0]}
	c.split(h, waitDeadline(ctx, cfg))
	h.req = sendReq{late: h.req.late[:0]}
}

// sendReq is the request a split call sends and whose replies it reads.
type sendReq struct {
	ctx     context.Context
	store   bool
	cmd     command
	arg     uint64
	p       *packed
	sent    bool     // the request went out
	read    bool     // its replies were read at least once
	waiting int      // servers still waiting for bytes after the last read
	at      int      // the server whose socket is waited on
	late    []uint32 // servers that did not answer in time, for the next read
}

// step is the callback of every wait of a split call (pollConn.wait): its
// first call on a call not yet sent sends the request and says whether
// the server waited on has replies coming on that very socket; every other
// call reads what has arrived (golibmc_get_recv, golibmc_store_recv,
// without waiting) and says whether that server's reply is complete. It
// is bound once per handle (h.stepFn), so a wait allocates nothing.
func (h *handle) step(int) bool {
	r := &h.req
	if !r.sent {
		r.sent = true
		ms := remainingMS(r.ctx)
		if r.store {
			h.c.requestSend(ms, r.cmd, r.p, r.arg)
		} else {
			h.c.getSend(ms, r.p)
		}
		h.srv = h.c.servers(h.srv)
		s, pc := h.srv[r.at], h.w.watched(r.at)
		return !(pc != nil && s.wait && s.fd == pc.fd)
	}
	return h.recv(false) == 0 || !h.srv[r.at].wait
}

// recv reads what has arrived of the replies (block: waiting in C for the
// rest) and returns how many servers still wait for bytes.
func (h *handle) recv(block bool) int {
	r := &h.req
	ms := remainingMS(r.ctx)
	var n int
	if r.store {
		n = h.c.requestRecv(ms, r.cmd, r.p.len(), r.late, block)
	} else {
		n = h.c.getRecv(ms, r.p, r.late, block)
	}
	r.late = r.late[:0]
	r.read, r.waiting = true, n
	h.srv = h.c.servers(h.srv)
	return n
}

// split sends h.req and reads its replies, parking in the netpoller while
// a server's reply is incomplete, until every reply is in or deadline
// passes (a server late by then has its socket shut down and its part
// fails with a timeout). The request is sent from inside the first wait
// when a socket is already watched: its reply cannot then arrive before
// the wait starts. A socket that cannot be watched makes the rest of the
// call wait in C.
func (c *Client) split(h *handle, deadline time.Time) {
	r := &h.req
	if h.stepFn == nil {
		h.stepFn = h.step
	}
	r.at = h.w.any()
	if r.at < 0 {
		r.at = 0
		h.step(0) // sends
	}
	for i := r.at; i >= 0; i = firstWaiting(h.srv) {
		pc := h.w.watched(i)
		if r.sent {
			var err error
			if pc, err = h.w.conn(h.c, i, h.srv[i].fd); err != nil {
				h.recv(true) // the rest waits in C
				return
			}
		}
		r.at = i
		if err := pc.wait(deadline, h.stepFn); err != nil { // timed out, or the socket failed
			h.w.shutdown(i)
			r.late = append(r.late, uint32(i))
			h.recv(false)
		}
	}
	if !r.read || r.waiting > 0 { // nothing was waited for, or a socket could not be: the read ends in C
		h.recv(true)
	}
}

// firstWaiting is the first server with a reply to wait for (C flags them
// after sending and after each read), or -1.
func firstWaiting(srv []serverResult) int {
	for i, s := range srv {
		if s.wait && s.fd >= 0 {
			return i
		}
	}
	return -1
}

// execStore writes every item (or key) of the batch and gives each call
// its per-key errors.
func (c *Client) execStore(h *handle, cfg *config, batch []*call, p *packed, cmd command, ms int32, split bool) {
	rs := c.requestOn(h, cfg, batch[0].ctx, p, cmd, 0, ms, split, h.rs[:0])
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

// requestOn runs cmd (a storage command, delete, increment, decrement or
// touch) for every item of p on h and appends each item's result to rs:
// libmemcached sends the requests and golibmc reads every reply, in the
// netpoller when split (see golibmc.h, "Requests"). arg is a CAS's unique
// or a counter's delta.
func (c *Client) requestOn(h *handle, cfg *config, ctx context.Context, p *packed, cmd command, arg uint64, ms int32, split bool, rs []keyResult) []keyResult {
	if split && h.c.canRead(cmd) {
		return c.splitRequests(h, cfg, p, cmd, arg, ctx, rs)
	}
	h.c.requests(ms, cmd, p, arg)
	for i := 0; i < p.len(); i++ {
		rs = append(rs, h.c.result(i))
	}
	return rs
}

// splitRequests sends the requests in chunks; for each, the goroutine parks
// in the netpoller until every server's replies are in (see split). It
// appends each item's result to rs.
func (c *Client) splitRequests(h *handle, cfg *config, p *packed, cmd command, arg uint64, ctx context.Context, rs []keyResult) []keyResult {
	chunk := p
	if p.len() > requestChunk {
		chunk = getPacked()
		defer packedPool.Put(chunk)
	}
	for from := 0; from < p.len(); from += requestChunk {
		to := min(from+requestChunk, p.len())
		if chunk != p {
			p.slice(chunk, from, to)
		}
		h.req = sendReq{ctx: ctx, store: true, cmd: cmd, arg: arg, p: chunk, late: h.req.late[:0]}
		c.split(h, waitDeadline(ctx, cfg))
		h.req = sendReq{late: h.req.late[:0]}
		for i := 0; i < chunk.len(); i++ {
			rs = append(rs, h.c.result(i))
		}
	}
	return rs
}
