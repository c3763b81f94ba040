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
	split := splitFor(e.pollMode, &h.w, len(batch))
	p := getPacked()
	for _, cl := range batch {
		if kind == callStore {
			for _, it := range cl.items {
				p.addItem(it.Key, it.Value, it.Expiration, it.Flags)
			}
		} else {
			for _, k := range cl.keys {
				p.addKey(k)
			}
		}
	}
	e.pool.packed(batch)
	if kind == callGet {
		e.execGet(h, cfg, batch, p, ms, split, observed)
	} else {
		cmd := cmdSet
		if kind == callDelete {
			cmd = cmdDelete
		}
		e.execStore(h, cfg, batch, p, cmd, ms, split)
	}
	packedPool.Put(p)
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
		for i, lost := range outOfStep {
			if lost {
				h.lose(i)
			}
		}
		h.c.keyServers(p) // which keys were that server's
	} else if observed {
		h.c.keyServers(p) // for the observers
	}
	off := 0
	for _, cl := range batch {
		for j, k := range cl.keys {
			i := off + j
			r := h.c.result(i)
			if cl.tr != nil {
				cl.noteServer(cfg, r.server)
			}
			switch {
			case got[i] != nil:
				cl.result.items[j] = got[i]
			case r.server >= 0 && r.server < len(h.srv) && h.srv[r.server].rc != ReturnSuccess:
				s := h.srv[r.server]
				cl.result.errs[j] = e.keyError(cl.ctx, cfg, cl.op, classOther, k, keyResult{rc: s.rc, server: r.server, msg: s.msg})
			case outOfStep != nil && stepLost(outOfStep, r.server):
				cl.result.errs[j] = e.keyError(cl.ctx, cfg, cl.op, classOther, k, keyResult{rc: ReturnProtocolError, server: r.server,
					msg: "a reply for another key arrived: the connection was out of step and is reconnected"})
			case r.server < 0 && len(h.srv) == 1 && h.srv[0].rc != ReturnSuccess:
				s := h.srv[0]
				cl.result.errs[j] = e.keyError(cl.ctx, cfg, cl.op, classOther, k, keyResult{rc: s.rc, server: 0, msg: s.msg})
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

// execStore writes every item (or key) of the batch and gives each call
// its per-key errors.
func (e *engine) execStore(h *handle, cfg *config, batch []*call, p *packed, cmd command, ms int32, split bool) {
	rs := e.requestOn(h, cfg, batch[0].ctx, p, cmd, 0, ms, split, h.rs[:0])
	off := 0
	for _, cl := range batch {
		// With a key given more than once, its last item decides.
		for j, k := range cl.keys {
			r := rs[off+j]
			if cl.tr != nil {
				cl.noteServer(cfg, r.server)
			}
			e.outcome(h, cfg, classOther, r.rc, r.server)
			if !r.rc.Success() {
				cl.result.errs[j] = e.keyError(cl.ctx, cfg, cl.op, classOther, k, r)
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
// netpoller when split (see requests.c). arg is a CAS's unique
// or a counter's delta.
func (e *engine) requestOn(h *handle, cfg *config, ctx context.Context, p *packed, cmd command, arg uint64, ms int32, split bool, rs []keyResult) []keyResult {
	if split && h.c.canRead(cmd) {
		return e.splitRequests(h, cfg, p, cmd, arg, ctx, rs)
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
func (e *engine) splitRequests(h *handle, cfg *config, p *packed, cmd command, arg uint64, ctx context.Context, rs []keyResult) []keyResult {
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

// keyOutcome turns key i's result into nil or its error.
func (e *engine) keyOutcome(ctx context.Context, h *handle, cfg *config, op string, k opClass, key string, i int) error {
	r := h.c.result(i)
	e.outcome(h, cfg, k, r.rc, r.server)
	if r.rc.Success() {
		return nil
	}
	return e.keyError(ctx, cfg, op, k, key, r)
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
	h, cfg, err := e.prepare(g.h, op, key, false)
	if err != nil {
		return err
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
