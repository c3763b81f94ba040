package libmemcached

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// callKind says what a call does, as the pool sees it: calls of the same
// kind can share one round trip (when call.shares says they may).
type callKind uint8

const (
	callSolo    callKind = iota // any other call: runs alone
	callGet                     // Get, GetMulti: one memcached_mget for all
	callStore                   // Set, SetMulti: stores written back to back
	callDelete                  // Delete, DeleteMulti: deletes written back to back
	callRequest                 // one request of another command (call.cmd): Add, Replace, Append, Prepend, CompareAndSwap, Increment, Decrement, Touch
)

// Batch limits: what one round trip may carry (a call bigger than this
// still goes, alone). A batch of stores is one chunk of requests.
const (
	batchKeys  = 4096
	batchItems = requestChunk
	batchBytes = 1 << 20
)

// call is one caller's request: waiting in the pool's queue, leading a
// batch, or carried in another call's batch. Calls are recycled (see
// getCall): a single-key call's slices point into its own arrays, so a Get
// or Set allocates no call of its own.
type call struct {
	kind     callKind
	shares   bool // may share a round trip with other calls of its kind (WithBatching)
	op       string
	ctx      context.Context
	deadline time.Time // zero: none
	keys     []string  // the keys (get, delete) or the items' keys (store)
	items    []*Item   // store
	bytes    int       // store: value bytes
	cmd      command   // request: the command
	arg      uint64    // request: the CAS id or the delta

	// The pool's side (under pool.mu).
	state callState
	wake  chan grant // cap 1: the grant of a batch to lead, or done for a carried call
	batch []*call    // the batch this call leads (reused)

	result callResult // written by whoever ran the call

	// Tracing (see opTrace): the caller's trace, and the servers its keys
	// went to (servers of srvCfg).
	tr      *opTrace
	servers []int32
	srvCfg  *config
	srv0    [4]int32

	key1  [1]string
	item1 [1]*Item
	own   Item // a request's item made for it (Touch)
	self  [1]*call
	res1  struct {
		items [1]*Item
		errs  [1]*Error
		miss  [1]bool
		nums  [1]uint64
	}
	// The result arrays of a multi-key call, kept (emptied) for the next
	// call that takes this one from the pool; nil until one needs them.
	resN *callResult
}

type callState uint8

const (
	callNew       callState = iota
	callQueued              // in line
	callLeading             // granted a handle; runs its batch
	callCarried             // in another call's batch, its data not yet packed
	callSent                // in another call's batch, packed: the caller may leave
	callAbandoned           // its caller left (context ended, pool closed); dropped
)

// callResult is the outcome of a batchable call, per key.
type callResult struct {
	items []*Item  // get: per key, nil when missed or failed
	errs  []*Error // per key: nil on success (and on a miss, see miss)
	miss  []bool   // get: per key, a clean miss
	nums  []uint64 // request: per key, the counter's new value
}

// empty readies a recycled call's result arrays for its next call: the
// items and errors they point to are dropped now (a call in the pool
// keeps none alive), and those of a call of more than keepKeys keys are
// not kept. grow clears what the next call uses.
func (r *callResult) empty() {
	if len(r.errs) > 0 {
		clear(r.errs)
		r.errs = r.errs[:0]
	}
	if len(r.items) > 0 {
		clear(r.items)
		r.items, r.miss = r.items[:0], r.miss[:0]
	}
	if !kept(cap(r.errs)) || !kept(cap(r.items)) {
		*r = callResult{}
	}
}

// grant hands a handle (nil: the right to create one) and a batch to the
// call leading it; done instead tells a carried call its batch finished.
type grant struct {
	h     *handle
	batch []*call
	done  bool
}

var callPool = sync.Pool{New: func() any { return &call{wake: make(chan grant, 1)} }}

// getCall returns a recycled call for keys (and items, for stores), with
// its result slices ready.
func getCall(ctx context.Context, kind callKind, op string, keys []string, items []*Item) *call {
	cl := callPool.Get().(*call)
	cl.init(ctx, kind, op, keys, items)
	return cl
}

// init readies a call from the pool.
func (cl *call) init(ctx context.Context, kind callKind, op string, keys []string, items []*Item) {
	cl.kind, cl.op, cl.ctx, cl.keys, cl.items = kind, op, ctx, keys, items
	cl.shares = kind != callSolo
	cl.state = callNew
	if dl, ok := ctx.Deadline(); ok {
		cl.deadline = dl
	}
	for _, it := range items {
		cl.bytes += len(it.Value)
	}
	n := len(keys)
	switch {
	case n == 0: // a call that carries no keys (engine.do) has no results
		cl.result.errs = cl.res1.errs[:0]
	case n == 1:
		cl.result.errs = cl.res1.errs[:]
	default:
		if cl.resN == nil {
			cl.resN = new(callResult)
		}
		cl.resN.errs = grow(cl.resN.errs, n)
		cl.result.errs = cl.resN.errs
	}
	switch {
	case kind == callGet && n == 1:
		cl.result.items, cl.result.miss = cl.res1.items[:], cl.res1.miss[:]
	case kind == callGet && n > 1:
		cl.resN.items, cl.resN.miss = grow(cl.resN.items, n), grow(cl.resN.miss, n)
		cl.result.items, cl.result.miss = cl.resN.items, cl.resN.miss
	case kind == callRequest:
		cl.result.nums = cl.res1.nums[:] // one key
	}
}

// putCall recycles cl once its caller has read the result. A call its
// caller left is not recycled: its batch may still be writing to it.
func putCall(cl *call) {
	if cl.state == callAbandoned {
		return
	}
	wake, batch, res := cl.wake, cl.batch, cl.resN
	clear(batch[:cap(batch)])
	*cl = call{wake: wake, batch: batch[:0], resN: res}
	if res != nil {
		res.empty()
	}
	callPool.Put(cl)
}

// pool lends handles to calls: at most size exist at once; an idle handle
// is reused last-in first-out (a few handles stay warm and the rest idle).
// A call that finds none waits in line; when a handle comes back, the
// first call in line takes it, together with every call in line that can
// share its round trip (same callKind, within the batch limits), and runs
// them as one batch. A call that finds a handle free and nobody waiting
// goes out at once, alone: batching never delays a call. After close,
// waiting and later calls get ErrClosed at once, and close waits for the
// calls in flight to give their handles back.
type pool struct {
	mu      sync.Mutex
	idle    []*handle
	queue   []*call
	size    int
	open    int // handles created (or being created) and not freed
	inUse   int
	batches int // batchable calls (or batches) holding a handle
	closed  bool

	sent        sync.Cond // signalled when a batch has packed its calls
	sentWaiters int

	nBatches, nCarried uint64        // see PoolStats
	done               chan struct{} // closed by close
	drained            chan struct{} // closed when, after close, no handle is in use
}

func newPool(size int) *pool {
	p := &pool{size: size, done: make(chan struct{}), drained: make(chan struct{})}
	p.sent.L = &p.mu
	return p
}

// maxBatches is how many batchable calls (or batches) may hold a handle at
// once: as many as Go runs at once (GOMAXPROCS). Past that, Gets, Sets and
// Deletes wait in line and go out together, which costs each of them a
// share of one round trip instead of a whole one: on a loaded machine the
// kernel's work per request (waking the server's thread, switching tasks)
// is most of a call's cost. The other calls may use every handle.
func maxBatches() int {
	return min(gomaxprocs(), runtime.NumCPU())
}

// take gives cl a handle at once when one is free and nobody waits (ok),
// or queues it (!ok: wait for it with await).
func (p *pool) take(cl *call) (g grant, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return grant{}, false, ErrClosed
	}
	batchable := cl.shares
	if batchable && p.batches >= maxBatches() {
		// wait in line
	} else if len(p.queue) == 0 || !batchable && !p.soloQueued() {
		if batchable {
			p.batches++
		}
		cl.self[0] = cl
		if n := len(p.idle); n > 0 {
			h := p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
			p.inUse++
			cl.state = callLeading
			return grant{h: h, batch: cl.self[:]}, true, nil
		}
		if p.open < p.size {
			p.open++
			p.inUse++
			cl.state = callLeading
			return grant{batch: cl.self[:]}, true, nil
		}
		if batchable {
			p.batches--
		}
	}
	cl.state = callQueued
	p.queue = append(p.queue, cl)
	return grant{}, false, nil
}

// await waits for a queued call: it is granted a handle (and leads a
// batch), or another call's batch carried it (!lead), or its context ends
// or the pool closes (err). A call that leaves while carried first waits
// for its batch to have packed its data: after it returns, nothing reads
// its keys or items, and its batch sends it all the same (sent).
func (p *pool) await(cl *call) (g grant, lead, sent bool, err error) {
	select {
	case g := <-cl.wake:
		return g, !g.done, false, nil
	case <-p.done:
		err = ErrClosed
	case <-cl.ctx.Done():
		err = cl.ctx.Err()
	}
	p.mu.Lock()
	switch cl.state {
	case callQueued:
		p.remove(cl)
	case callCarried, callSent:
		p.sentWaiters++
		for cl.state == callCarried {
			p.sent.Wait()
		}
		p.sentWaiters--
		sent = true
	default: // made a batch's leader meanwhile: the batch must run
		p.mu.Unlock()
		return <-cl.wake, true, false, nil
	}
	select {
	case g := <-cl.wake: // its batch finished meanwhile
		p.mu.Unlock()
		return g, false, false, nil
	default:
	}
	cl.state = callAbandoned
	p.mu.Unlock()
	return grant{}, false, sent, err
}

// packed marks the carried calls of a batch as packed: their callers may
// leave now (see await).
func (p *pool) packed(batch []*call) {
	if len(batch) < 2 {
		return
	}
	p.mu.Lock()
	for _, cl := range batch[1:] {
		if cl.state == callCarried {
			cl.state = callSent
		}
	}
	if p.sentWaiters > 0 {
		p.sent.Broadcast()
	}
	p.mu.Unlock()
}

// remove takes cl out of the queue (p.mu held).
func (p *pool) remove(cl *call) {
	for i, q := range p.queue {
		if q == cl {
			copy(p.queue[i:], p.queue[i+1:])
			p.queue[len(p.queue)-1] = nil
			p.queue = p.queue[:len(p.queue)-1]
			return
		}
	}
}

// soloQueued reports whether a call that runs alone waits in line (p.mu held).
func (p *pool) soloQueued() bool {
	for _, cl := range p.queue {
		if !cl.shares {
			return true
		}
	}
	return false
}

// release gives a handle back (nil: a slot whose handle was freed or never
// created) from a batchable call or batch (batchable) or another call: to
// the first call in line that may run now, with the batch it leads, or to
// the idle list.
func (p *pool) release(h *handle, batchable bool) {
	p.mu.Lock()
	if batchable {
		p.batches--
	}
	if p.closed {
		p.inUse--
		if h != nil {
			h.w.drop()
			h.c.free()
		}
		p.open--
		p.finish()
		p.mu.Unlock()
		return
	}
	if batch := p.nextBatch(); batch != nil {
		p.mu.Unlock()
		batch[0].wake <- grant{h: h, batch: batch}
		return
	}
	p.inUse--
	if h == nil {
		p.open--
	} else {
		p.idle = append(p.idle, h)
	}
	p.mu.Unlock()
}

// nextBatch takes the first call in line that may run now (a batchable
// one only while fewer than maxBatches hold handles) and every later call
// that can share its round trip, within the batch limits; or nil (p.mu
// held).
func (p *pool) nextBatch() []*call {
	at := -1
	for i, cl := range p.queue {
		if !cl.shares || p.batches < maxBatches() {
			at = i
			break
		}
	}
	if at < 0 {
		return nil
	}
	head := p.queue[at]
	if head.shares {
		p.batches++
	}
	batch := append(head.batch[:0], head)
	keys, bytes := len(head.keys), head.bytes
	w := at // the queue is filtered in place: what stays moves up
	for _, cl := range p.queue[at+1:] {
		fits := head.shares && cl.shares && cl.kind == head.kind && keys+len(cl.keys) <= batchKeys &&
			(head.kind == callGet || keys+len(cl.keys) <= batchItems && bytes+cl.bytes <= batchBytes) &&
			(head.kind != callRequest || cl.cmd == head.cmd)
		if fits {
			batch = append(batch, cl)
			keys += len(cl.keys)
			bytes += cl.bytes
			continue
		}
		p.queue[w] = cl
		w++
	}
	clear(p.queue[w:])
	p.queue = p.queue[:w]
	// The call with the latest deadline (or none) leads: the batch runs
	// until its deadline, so the leader is never late for its own caller,
	// and a call with an earlier deadline leaves when its context ends.
	lead := 0
	for i, cl := range batch {
		if !batch[lead].deadline.IsZero() && (cl.deadline.IsZero() || cl.deadline.After(batch[lead].deadline)) {
			lead = i
		}
	}
	batch[0], batch[lead] = batch[lead], batch[0]
	head.batch = nil
	batch[0].batch = batch
	batch[0].state = callLeading
	if head.shares {
		p.nBatches++
		p.nCarried += uint64(len(batch) - 1)
	}
	for _, cl := range batch[1:] {
		cl.state = callCarried
	}
	return batch
}

// finish closes drained once the pool is closed and nothing is in use.
// p.mu is held.
func (p *pool) finish() {
	if p.closed && p.inUse == 0 {
		select {
		case <-p.drained:
		default:
			close(p.drained)
		}
	}
}

// takeIdle removes and returns every idle handle (a configuration change);
// their slots become free.
func (p *pool) takeIdle() []*handle {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.idle
	p.idle = nil
	p.open -= len(out)
	return out
}

// close marks the pool closed, wakes every waiting call with ErrClosed,
// frees the idle handles and waits for the handles in use to come back.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.drained
		return
	}
	p.closed = true
	close(p.done)
	p.queue = nil
	for _, h := range p.idle {
		h.w.drop()
		h.c.free()
		p.open--
	}
	p.idle = nil
	p.finish()
	p.mu.Unlock()
	<-p.drained
}

// stats reads the pool's counters.
func (p *pool) stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return PoolStats{Size: p.size, Open: p.open, InUse: p.inUse, Queued: len(p.queue), Batches: p.nBatches, Carried: p.nCarried}
}

// PoolStats describes a client's pool of libmemcached handles.
type PoolStats struct {
	Size   int // the bound set by WithPoolSize
	Open   int // handles created and not yet freed (each has its own connections)
	InUse  int // handles lent to calls in flight
	Queued int // calls waiting in line for a handle

	// Implicit pipelining (see WithBatching), since the client was made:
	Batches uint64 // round trips that carried calls from the line
	Carried uint64 // calls that went in a batch another call led

	Ejected int // servers libmemcached ejected (auto_eject) that are not back yet
}

// handle is one pooled libmemcached handle and what the client knows of it.
type handle struct {
	c       *cHandle
	gen     uint64          // configuration generation it was cloned at
	ejEpoch uint64          // ejections applied to it (see ejections)
	broken  bool            // an outcome did not prove its connections in step
	lost    []int32         // the servers whose outcomes did (-1: not known), when observed
	srv     []serverResult  // scratch for the last call's per-server results
	w       waiter          // its sockets in the netpoller (split calls)
	ix      keyIndex        // scratch: a read's keys (execGet)
	inOrder []inOrderRecord // scratch: each record of a read and its position (matchInOrder)
	taken   []bool          // scratch: per position, a record matched it (matchInOrder)
	rs      []keyResult     // scratch: a batch's store results (execStore)
	p       *packed         // scratch: the last batch's keys and values, when small (packed)
	req     sendReq         // a split call's request (split)
	stepFn  func(int) bool  // h.step
	yielded int64           // when a call on it last yielded (monotonic ns; see engine.release)
	idle    int64           // when its last call ended (monotonic ns; see leftoverIdle)
	op      string          // the operation of its call (for the observers' errors)
	watched bool            // an observer watches servers: lost is kept
	events  serverEvents    // what happened to servers during its call (see release)
}

// sendReq is the request a split call sends and whose replies it reads.
type sendReq struct {
	ctx     context.Context
	store   bool
	cmd     command
	p       *packed
	sent    bool     // the request went out
	read    bool     // its replies were read at least once
	waiting int      // servers still waiting for bytes after the last read
	at      int      // the server whose socket is waited on
	late    []uint32 // servers that did not answer in time, for the next read
}
