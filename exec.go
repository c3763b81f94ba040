package libmemcached

// Running calls on a handle: batches of reads and stores (implicit
// pipelining), the other commands, and turning each key's outcome into an
// item, a miss or an error.

import (
	"context"
	"sync"
	"time"
)

// newCall makes a call of kind for keys (and items, for stores); it may
// share a round trip with others unless batching is off (WithBatching).
func (e *engine) newCall(ctx context.Context, kind callKind, op string, keys []string, items []*Item, t *opTrace) *call {
	cl := getCall(ctx, kind, op, keys, items)
	cl.shares = cl.shares && e.batching
	cl.tr = t
	return cl
}

// newCall1 makes a batchable call for one key (and item, for a store),
// held in the call's own arrays: it allocates nothing.
func (e *engine) newCall1(ctx context.Context, kind callKind, op, key string, item *Item, t *opTrace) *call {
	cl := callPool.Get().(*call)
	cl.key1[0] = key
	var items []*Item
	if item != nil {
		cl.item1[0] = item
		items = cl.item1[:]
	}
	cl.init(ctx, kind, op, cl.key1[:], items)
	cl.shares = cl.shares && e.batching
	cl.tr = t
	return cl
}

// newRequest makes a batchable call of cmd (see callRequest) for one key
// and its item (nil for a counter), with arg (the CAS id or the delta).
func (e *engine) newRequest(ctx context.Context, op string, cmd command, key string, item *Item, arg uint64, t *opTrace) *call {
	cl := e.newCall1(ctx, callRequest, op, key, item, t)
	cl.cmd, cl.arg = cmd, arg
	return cl
}

// run runs a batchable call: alone on a free handle, or in line as part of
// a batch, which this call leads (runs) or another call carries.
func (e *engine) run(cl *call) error {
	g, lead, err := e.wait(cl, "")
	if err != nil || !lead {
		return err
	}
	e.lead(g)
	return nil
}

// lead runs a granted batch on its handle and finishes every call in it.
func (e *engine) lead(g grant) {
	batch := g.batch
	kind, batchable := batch[0].kind, batch[0].shares
	observed := e.watch.batch != nil && len(batch) > 1
	for _, cl := range batch {
		observed = observed || cl.tr != nil
	}
	var start time.Time
	if observed {
		start = time.Now()
		traceBatch(batch, start)
	}
	h, cfg, err := e.prepare(g.h, batch[0].op, "", batchable)
	if err != nil {
		e.pool.packed(batch)
		for _, cl := range batch {
			for j := range cl.keys {
				cl.result.errs[j] = err
			}
		}
		finishBatch(batch)
		return
	}
	// The batch runs until the latest deadline among its calls (its leader's:
	// the pool makes the call with the latest one lead); a call with an
	// earlier deadline leaves on its own when its context ends.
	ms := remainingMS(batch[0].ctx)
	split := splitFor(e.pollMode, &h.w, len(batch))
	p := h.packedFor(batch)
	for _, cl := range batch {
		if cl.items != nil {
			for _, it := range cl.items {
				p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
			}
		} else {
			for _, k := range cl.keys {
				p.addKey(k)
			}
		}
		if kind == callRequest {
			for range cl.keys {
				p.addArg(cl.arg)
			}
		}
	}
	e.pool.packed(batch)
	switch kind {
	case callGet:
		e.execGet(h, cfg, batch, p, ms, split, observed)
	case callStore:
		e.execStore(h, cfg, batch, p, cmdSet, classOther, ms, split)
	case callDelete:
		e.execStore(h, cfg, batch, p, cmdDelete, classOther, ms, split)
	default:
		e.execStore(h, cfg, batch, p, batch[0].cmd, classOf(batch[0].cmd), ms, split)
	}
	h.unpack(p)
	var info BatchInfo
	if observed {
		info = e.batchInfo(batch, start) // before its calls are recycled
	}
	evs := e.release(h, cfg, batchable)
	finishBatch(batch)
	if info.Calls > 1 {
		e.reportBatch(info)
	}
	e.deliver(evs)
}

// finishBatch wakes the calls the batch carried.
func finishBatch(batch []*call) {
	for _, cl := range batch[1:] {
		cl.wake <- grant{done: true}
	}
}

// execGet reads every key of the batch with one mget and gives each call
// its items, misses and errors.
func (e *engine) execGet(h *handle, cfg *config, batch []*call, p *packed, ms int32, split, observed bool) {
	if split {
		e.splitGet(h, cfg, p, batch[0].ctx)
	} else {
		h.c.getMulti(ms, p)
	}
	if !observed {
		if len(batch) == 1 && len(batch[0].keys) == 1 {
			if getOne(h, batch[0]) {
				return
			}
		} else if getInOrder(h, batch) {
			return
		}
	}
	ix := h.index(batch)
	got := ix.got
	var slab itemSlab
	slab.items, slab.bytes = h.c.recordSizes()
	// An item goes to every position asking its key (each its own copy); a
	// lone key's is made as getOne makes it, in one allocation.
	outOfStep := h.match(ix, p, func(first int32, v []byte, flags uint32, cas uint64) {
		if len(ix.keys) == 1 {
			got[0] = newItem(ix.keys[0], v, flags, cas)
			return
		}
		for at := first; at >= 0; at = ix.next[at] {
			got[at] = slab.item(ix.keys[at], v, flags, cas)
		}
	})
	if outOfStep == nil && observed {
		h.c.keyServers(p) // for the observers
	}
	off := 0
	for _, cl := range batch {
		for j, k := range cl.keys {
			i := off + j
			if cl.tr != nil {
				cl.noteServer(cfg, h.c.result(i).server)
			}
			switch {
			case got[i] != nil:
				cl.result.items[j] = got[i]
			default:
				cl.result.errs[j] = e.notFound(cl.ctx, h, cfg, cl.op, k, i, outOfStep)
				cl.result.miss[j] = cl.result.errs[j] == nil
			}
		}
		off += len(cl.keys)
	}
	ix.reset()
}

// getOne gives a lone Get its outcome when its read was clean: every
// server answered in step and the reply held nothing or one item, of the
// key asked. It returns false, having changed nothing, for anything else,
// which the general way (match, notFound) judges.
func getOne(h *handle, cl *call) bool {
	if h.c.dirty() {
		return false
	}
	if h.c.nrecords() == 0 {
		cl.result.miss[0] = true
		return true
	}
	k, v, flags, cas, ok := h.c.record1()
	if !ok || string(k) != cl.keys[0] {
		return false
	}
	cl.result.items[0] = newItem(cl.keys[0], v, flags, cas)
	return true
}

// An item and the bytes of its value, allocated together (newItem).
type (
	item64 struct {
		it Item
		b  [64]byte
	}
	item192 struct {
		it Item
		b  [192]byte
	}
)

// newItem makes an item holding a copy of v, capped at its length as the
// slab's are. A value of up to 192 bytes shares the item's allocation: a
// lone Get allocates once.
func newItem(key string, v []byte, flags uint32, cas uint64) *Item {
	n := len(v)
	switch {
	case n > 0 && n <= 64:
		p := new(item64)
		copy(p.b[:], v)
		p.it = Item{Key: key, Value: p.b[:n:n], Flags: flags, CasID: cas}
		return &p.it
	case n > 64 && n <= 192:
		p := new(item192)
		copy(p.b[:], v)
		p.it = Item{Key: key, Value: p.b[:n:n], Flags: flags, CasID: cas}
		return &p.it
	}
	return &Item{Key: key, Value: bytesCopy(v), Flags: flags, CasID: cas}
}

// getInOrder gives a batch's calls their items and misses when its read
// was clean (every server answered in step) and each record matched a key
// in the order the keys were asked (matchInOrder): no key index, and the
// items made in one pass. It returns false, having changed nothing, for
// anything else, which the general way (match, notFound) judges.
func getInOrder(h *handle, batch []*call) bool {
	if h.c.dirty() || h.c.nsrv() > inOrderServers {
		return false
	}
	ix := &h.ix
	for _, cl := range batch {
		ix.keys = append(ix.keys, cl.keys...)
	}
	defer h.readDone()
	valueBytes, ok := h.matchInOrder(ix.keys)
	if !ok {
		return false
	}
	slab := itemSlab{items: len(h.inOrder), bytes: valueBytes}
	got := grow(ix.got, len(ix.keys))
	ix.got = got
	out := h.c.out()
	for _, rec := range h.inOrder {
		got[rec.at] = slab.item(ix.keys[rec.at], out[rec.off:rec.off+rec.n], rec.flags, rec.cas)
	}
	off := 0
	for _, cl := range batch {
		for j := range cl.keys {
			if it := got[off+j]; it != nil {
				cl.result.items[j] = it
			} else {
				cl.result.miss[j] = true
			}
		}
		off += len(cl.keys)
	}
	return true
}

// readInto reads keys (GetMultiFunc) and copies the items found into d,
// to be delivered once the handle is back in the pool. It returns the
// errors of the keys whose servers failed (a *MultiError), or nil.
func (e *engine) readInto(ctx context.Context, h *handle, cfg *config, op string, keys []string, ms int32, d *delivery, t *opTrace) error {
	p := getPacked()
	defer packedPool.Put(p)
	for _, k := range keys {
		p.addKey(k)
	}
	if splitFor(e.pollMode, &h.w, 1) {
		e.splitGet(h, cfg, p, ctx)
	} else {
		h.c.getMulti(ms, p)
	}
	if found, ok := h.readInOrder(keys, d); ok {
		if t != nil {
			t.read(found, len(keys)-found)
		}
		return nil
	}
	ix := &h.ix
	ix.keys = append(ix.keys, keys...)
	ix.build()
	defer ix.reset()
	outOfStep := h.match(ix, p, d.add)
	var me *MultiError
	hits, misses := 0, 0
	for i, k := range keys {
		if ix.found[i] {
			hits++
			continue
		}
		err := e.notFound(ctx, h, cfg, op, k, i, outOfStep)
		if err == nil {
			misses++
			continue
		}
		if me == nil {
			me = &MultiError{Errors: map[string]error{}}
		}
		me.Errors[k] = err
	}
	if t != nil {
		t.read(hits, misses)
	}
	if me == nil {
		return nil
	}
	return me
}

// readInOrder copies the items of h's last read of keys into d when the
// read was clean and each record matched a key in the order the keys were
// asked (matchInOrder), as getInOrder does for GetMulti: no key index. A
// key asked twice is answered twice and given once. It returns how many
// positions were answered; false, having changed nothing, for anything
// else, which the general way (match, notFound) judges.
func (h *handle) readInOrder(keys []string, d *delivery) (found int, ok bool) {
	if h.c.dirty() || h.c.nsrv() > inOrderServers {
		return 0, false
	}
	defer h.trimInOrder()
	if _, ok := h.matchInOrder(keys); !ok {
		return 0, false
	}
	out := h.c.out()
	once := h.ix.onceSet(len(h.inOrder))
	for i, rec := range h.inOrder {
		if once.given(keys, h.inOrder[:i], rec.at) {
			continue
		}
		d.add(rec.at, out[rec.off:rec.off+rec.n], rec.flags, rec.cas)
	}
	return len(h.inOrder), true
}

// delivery holds the items a GetMultiFunc read, copied out of C memory,
// until its handle is back in the pool and they are given to the caller's
// function. Deliveries are recycled: a read allocates nothing for its
// items once warm.
type delivery struct {
	at    []int32 // the key's first position
	flags []uint32
	cas   []uint64
	end   []int  // where each value ends in vals
	vals  []byte // the values, back to back
	item  Item   // what the function is given, reused
}

var deliveryPool = sync.Pool{New: func() any { return new(delivery) }}

// add keeps one item (see match).
func (d *delivery) add(first int32, v []byte, flags uint32, cas uint64) {
	d.at = append(d.at, first)
	d.flags = append(d.flags, flags)
	d.cas = append(d.cas, cas)
	d.vals = append(d.vals, v...)
	d.end = append(d.end, len(d.vals))
}

// deliver calls fn for each item kept, in order, until fn fails.
func (d *delivery) deliver(keys []string, fn func(*Item) error) error {
	from := 0
	for i, at := range d.at {
		to := d.end[i]
		d.item = Item{Key: keys[at], Value: d.vals[from:to:to], Flags: d.flags[i], CasID: d.cas[i]}
		from = to
		if err := fn(&d.item); err != nil {
			return err
		}
	}
	return nil
}

// recycle empties d and puts it back in the pool (unless one read made
// its buffer large: that memory is not kept).
func (d *delivery) recycle() {
	if cap(d.vals) > keepBytes || !kept(cap(d.at)) {
		return
	}
	d.at, d.flags, d.cas, d.end, d.vals = d.at[:0], d.flags[:0], d.cas[:0], d.end[:0], d.vals[:0]
	d.item = Item{}
	deliveryPool.Put(d)
}

// match walks the records of h's last read of ix.keys (packed in p) and calls found once
// for each key read, with the key's first position (ix.found is set at
// every position of the key). memcached answers a key asked twice twice,
// so up to that many records of a key are expected. Any other record (a
// key not asked, or one more time than asked) shows its server's replies
// out of step: neither it nor any later record of that server is taken,
// the handle is reconnected, and the servers of the keys are recorded in
// its results (see notFound). It returns, per server, whether its replies
// were out of step (nil: none was).
func (h *handle) match(ix *keyIndex, p *packed, found func(first int32, v []byte, flags uint32, cas uint64)) []bool {
	h.srv = h.c.servers(h.srv)
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
		if first < 0 || ix.seen[first] > 0 && ix.seen[first] >= ix.count(first) {
			outOfStep = loseStep(outOfStep, server, len(h.srv))
			return
		}
		ix.seen[first]++
		if ix.seen[first] > 1 {
			return // the same key's next answer
		}
		for at := first; at >= 0; at = ix.next[at] {
			ix.found[at] = true
		}
		found(first, v, flags, cas)
	})
	if outOfStep != nil {
		for i, lost := range outOfStep {
			if lost {
				h.lose(i)
			}
		}
		h.c.keyServers(p) // which keys were that server's
	}
	return outOfStep
}

// notFound is the outcome of position i of a read that found no item for
// key: nil for a clean miss, or the error of its server (a failure, or
// replies out of step; see match).
func (e *engine) notFound(ctx context.Context, h *handle, cfg *config, op, key string, i int, outOfStep []bool) *Error {
	r := h.c.result(i)
	switch {
	case r.server >= 0 && r.server < len(h.srv) && h.srv[r.server].rc != ReturnSuccess:
		s := h.srv[r.server]
		return e.keyError(ctx, cfg, op, classOther, key, keyResult{rc: s.rc, server: r.server, msg: s.msg})
	case outOfStep != nil && stepLost(outOfStep, r.server):
		return e.keyError(ctx, cfg, op, classOther, key, keyResult{rc: ReturnProtocolError, server: r.server,
			msg: "a reply for another key arrived: the connection was out of step and is reconnected"})
	case r.server < 0 && len(h.srv) == 1 && h.srv[0].rc != ReturnSuccess:
		s := h.srv[0]
		return e.keyError(ctx, cfg, op, classOther, key, keyResult{rc: s.rc, server: 0, msg: s.msg})
	}
	return nil
}

// itemSlab makes the items of one read, and copies their values, from a
// few allocations instead of two per item: the items come from one array,
// and values up to slabValueMax share chunks of at most slabChunk bytes
// (larger ones get their own). A caller that keeps one item keeps at most
// its chunk alive. Each value is capped at its length, so appending to it
// copies instead of writing over its neighbour.
type itemSlab struct {
	items int    // items still to make (the records read)
	bytes int    // their value bytes
	array []Item // made, not yet handed out
	chunk []byte // the current chunk's free part
}

const (
	slabValueMax = 4 << 10
	slabChunk    = 64 << 10
)

// item makes the next item.
func (s *itemSlab) item(key string, v []byte, flags uint32, cas uint64) *Item {
	if len(s.array) == 0 {
		s.array = make([]Item, max(s.items, 1))
	}
	it := &s.array[0]
	s.array = s.array[1:]
	s.items--
	*it = Item{Key: key, Value: s.value(v), Flags: flags, CasID: cas}
	return it
}

// value copies v.
func (s *itemSlab) value(v []byte) []byte {
	n := len(v)
	if n == 0 {
		return []byte{} // as a copy of it would be: empty, not nil
	}
	if n > slabValueMax {
		s.bytes -= n
		return bytesCopy(v)
	}
	if cap(s.chunk) < n {
		s.chunk = make([]byte, min(max(s.bytes, n), slabChunk))
	}
	out := s.chunk[:n:n]
	copy(out, v)
	s.chunk = s.chunk[n:]
	s.bytes -= n
	return out
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

// execStore runs cmd for every item (or key) of the batch, of class k,
// and gives each call its per-key errors (and a counter's value).
func (e *engine) execStore(h *handle, cfg *config, batch []*call, p *packed, cmd command, k opClass, ms int32, split bool) {
	rs := e.requestOn(h, cfg, batch[0].ctx, p, cmd, ms, split, h.rs[:0])
	off := 0
	for _, cl := range batch {
		// With a key given more than once, its last item decides.
		for j, key := range cl.keys {
			r := rs[off+j]
			if cl.tr != nil {
				cl.noteServer(cfg, r.server)
			}
			e.outcome(h, cfg, k, r.rc, r.server)
			switch {
			case r.rc.Success():
				if cl.result.nums != nil {
					cl.result.nums[j] = r.num
				}
			case k == classCounter:
				cl.result.errs[j] = e.incrError(cl.ctx, h, cfg, cl.op, key, r, ms)
			default:
				cl.result.errs[j] = e.keyError(cl.ctx, cfg, cl.op, k, key, r)
			}
		}
		off += len(cl.keys)
	}
	if cap(rs) <= batchItems {
		clear(rs)
		h.rs = rs[:0]
	}
}

// classOf is the class of a request's outcomes (see inStep and
// sentinelFor).
func classOf(cmd command) opClass {
	switch cmd {
	case cmdAdd:
		return classAdd
	case cmdReplace, cmdAppend, cmdPrepend:
		return classPresent
	case cmdIncr, cmdDecr:
		return classCounter
	}
	return classOther
}

// requestOn runs cmd (a storage command, delete, increment, decrement or
// touch) for every item of p on h and appends each item's result to rs:
// libmemcached sends the requests and golibmc reads every reply, in the
// netpoller when split (see requests.c). Each item's CAS unique or delta
// or a counter's delta.
func (e *engine) requestOn(h *handle, cfg *config, ctx context.Context, p *packed, cmd command, ms int32, split bool, rs []keyResult) []keyResult {
	if split && h.c.canRead(cmd) {
		return e.splitRequests(h, cfg, p, cmd, ctx, rs)
	}
	h.c.requests(ms, cmd, p)
	for i := 0; i < p.len(); i++ {
		rs = append(rs, h.c.result(i))
	}
	return rs
}

// splitRequests sends the requests in chunks; for each, the goroutine parks
// in the netpoller until every server's replies are in (see split). It
// appends each item's result to rs.
func (e *engine) splitRequests(h *handle, cfg *config, p *packed, cmd command, ctx context.Context, rs []keyResult) []keyResult {
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
		h.req = sendReq{ctx: ctx, store: true, cmd: cmd, p: chunk, late: h.req.late[:0]}
		e.split(h, waitDeadline(ctx, cfg))
		h.req = sendReq{late: h.req.late[:0]}
		for i := 0; i < chunk.len(); i++ {
			rs = append(rs, h.c.result(i))
		}
	}
	return rs
}

// readOne turns the outcome of GetAndTouch into its item or error. An
// item for another key than the one asked is a reply out of step: the
// handle is reconnected and the key reported as a protocol error.
func (e *engine) readOne(ctx context.Context, h *handle, cfg *config, op, key string) (*Item, error) {
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
		h.lose(r.server)
		return nil, e.keyError(ctx, cfg, op, classOther, key, keyResult{rc: ReturnProtocolError, server: r.server,
			msg: "a reply for another key arrived: the connection was out of step and is reconnected", sent: true})
	}
	if it != nil {
		return it, nil
	}
	if r.rc != ReturnSuccess { // the touch failed
		e.outcome(h, cfg, classOther, r.rc, r.server)
		return nil, e.keyError(ctx, cfg, op, classOther, key, r)
	}
	h.srv = h.c.servers(h.srv)
	for i, s := range h.srv {
		if s.rc != ReturnSuccess && (i == r.server || r.server < 0) {
			// The touch was applied; the read that followed failed.
			return nil, e.keyError(ctx, cfg, op, classOther, key, keyResult{rc: s.rc, server: i, msg: s.msg, sent: true})
		}
	}
	return nil, &Error{Op: op, Key: key, Code: ReturnNotFound, sentinel: ErrCacheMiss}
}

// collect turns the per-key outcomes of a multi-key call into a
// *MultiError (nil if all succeeded). With a key given more than once, its
// last item decides.
func (e *engine) collect(ctx context.Context, h *handle, cfg *config, op string, k opClass, n int, key func(int) string, ms int32) error {
	type failure struct {
		i int
		r keyResult
	}
	var fails []failure
	for i := 0; i < n; i++ {
		r := h.c.result(i)
		e.outcome(h, cfg, k, r.rc, r.server)
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
		case k == classCounter:
			me.Errors[kf] = e.incrError(ctx, h, cfg, op, kf, f.r, ms)
		default:
			me.Errors[kf] = e.keyError(ctx, cfg, op, k, kf, f.r)
		}
	}
	if len(me.Errors) == 0 {
		return nil
	}
	return me
}

// incrError builds the error of a failed increment. Over the binary
// protocol memcached answers a value it will not count with DELTA_BADVAL,
// which libmemcached does not decode: it reports UNKNOWN_READ_FAILURE (and
// closes the connection). Only then the value is read back, so errors.go
// (notCounter) can tell that case from a real read failure.
func (e *engine) incrError(ctx context.Context, h *handle, cfg *config, op, key string, r keyResult, ms int32) *Error {
	err := e.keyError(ctx, cfg, op, classCounter, key, r)
	if r.rc == ReturnUnknownReadFailure && cfg.binary {
		p := getPacked()
		defer packedPool.Put(p)
		p.addKey(key)
		h.c.getMulti(ms, p)
		h.c.records(func(k, v []byte, _ uint32, _ uint64, _ int) {
			if string(k) == key {
				notCounter(err, v)
			}
		})
	}
	return err
}

// packedPool recycles the Go buffers multi-key calls lend to C.
var packedPool = sync.Pool{New: func() any { return new(packed) }}

func getPacked() *packed {
	p := packedPool.Get().(*packed)
	p.reset()
	return p
}

// A handle keeps a buffer for the batches that hold at most packKeepKeys
// keys and packKeepBytes bytes of values (lone calls, small batches): they
// pack into it without the two sync.Pool visits a call would make. A
// larger batch packs into a buffer from packedPool, as before, where the
// GC can take it: an idle handle never holds a large batch's values.
const (
	packKeepKeys  = 256
	packKeepBytes = 16 << 10
)

// packedFor returns an empty buffer for batch: h's own when the batch is
// small, else one from packedPool.
func (h *handle) packedFor(batch []*call) *packed {
	keys, bytes := 0, 0
	for _, cl := range batch {
		keys += len(cl.keys)
		bytes += cl.bytes
	}
	if keys > packKeepKeys || bytes > packKeepBytes {
		return getPacked()
	}
	if h.p == nil {
		h.p = new(packed)
	}
	h.p.reset()
	return h.p
}

// unpack takes back the buffer packedFor returned: h's own stays with h
// unless its keys made it grow past the limits; another goes back to
// packedPool.
func (h *handle) unpack(p *packed) {
	if p != h.p {
		packedPool.Put(p)
	} else if keys, bytes := p.room(); keys > packKeepKeys || bytes > 2*packKeepBytes {
		h.p = nil
	}
}

// do runs fn alone with a handle (commands that cannot share a round
// trip): begin, wait for a handle, fn, release. t traces the operation
// (nil: not observed): the servers of fn's results are its servers.
func (e *engine) do(ctx context.Context, op, key string, t *opTrace, fn func(h *handle, cfg *config, ms int32) error) error {
	if _, err := e.begin(ctx, op, key); err != nil {
		return err
	}
	cl := getCall(ctx, callSolo, op, nil, nil)
	cl.tr = t
	g, _, err := e.wait(cl, key)
	putCall(cl)
	if err != nil {
		return err
	}
	h, cfg, perr := e.prepare(g.h, op, key, false)
	if perr != nil { // a *Error: never assigned to err while nil
		return perr
	}
	ms := remainingMS(ctx) // the time left after waiting in line
	h.c.forget()
	if ms == 0 {
		err = ctxError(op, key, context.DeadlineExceeded)
	} else {
		err = fn(h, cfg, ms)
	}
	if t != nil {
		for i := range h.c.resultCount() {
			t.server(cfg, h.c.result(i).server)
		}
	}
	e.deliver(e.release(h, cfg, false))
	return err
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

// splitGet is a read whose waits happen in the netpoller (see split).
func (e *engine) splitGet(h *handle, cfg *config, p *packed, ctx context.Context) {
	h.req = sendReq{ctx: ctx, p: p, late: h.req.late[:0]}
	e.split(h, waitDeadline(ctx, cfg))
	h.req = sendReq{late: h.req.late[:0]}
}

// step is the callback of every wait of a split call (pollConn.wait): its
// first call on a call not yet sent sends the request and says whether
// the server waited on has replies coming on that very socket; every other
// call reads what has arrived (golibmc_get_recv, golibmc_request_recv,
// without waiting) and says whether that server's reply is complete. It
// is bound once per handle (h.stepFn), so a wait allocates nothing.
func (h *handle) step(int) bool {
	r := &h.req
	if !r.sent {
		r.sent = true
		ms := remainingMS(r.ctx)
		if r.store {
			h.c.requestSend(ms, r.cmd, r.p)
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
func (e *engine) split(h *handle, deadline time.Time) {
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
