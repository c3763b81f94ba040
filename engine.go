package libmemcached

// The engine under *Client: the master and its configuration, the flow
// of a call (begin, wait in line, a handle, run, release), how each outcome
// reads, and ejections.

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// engine runs a client's calls. It owns the master (the configured
// memcached_st, never used for I/O, and the configuration read from it),
// the pool of handles cloned from it and the line of calls waiting for
// one, implicit pipelining, the netpoller waits, ejections, and the
// per-server handles of the commands every server answers. *Client is the
// public surface on top of it: it checks what the caller gives, and shapes
// what the engine returns.
type engine struct {
	pool *pool

	// mu guards master, scratch and the probes' creation; cfg is replaced
	// (under mu) by every change to the master.
	mu      sync.Mutex
	master  cMaster
	scratch *cHandle
	cfg     atomic.Pointer[config]
	closed  atomic.Bool

	ejected ejections
	probes  []*probe // per server, for the commands each server answers

	pollMode PollMode
	batching bool
	watch    watchers // the observers
}

// config is what the client knows of its master at one generation.
type config struct {
	gen        uint64
	servers    []serverID
	names      []string // servers' names as errors and Stats report them
	keyRules            // namespace, and the longest key it leaves
	hash       Hash
	poll       time.Duration // the poll timeout: how long a split call waits for a reply
	autoEject  bool
	ejectFor   int64 // seconds an ejected server stays out (dead_timeout, else retry_timeout)
	binary     bool
	cas        bool
	distribute Distribution
}

// close closes the engine (see Client.Close); it reports whether this call
// closed it.
func (e *engine) close() bool {
	e.mu.Lock()
	if e.closed.Swap(true) {
		e.mu.Unlock()
		e.pool.close()
		return false
	}
	e.mu.Unlock()
	e.pool.close()
	for _, p := range e.probes {
		p.sem <- struct{}{} // waits for a command in flight on it
		if p.h != nil {
			p.h.free()
			p.h = nil
		}
	}
	e.mu.Lock()
	e.scratch.free()
	e.master.free()
	e.mu.Unlock()
	return true
}

// readConfig snapshots the master at generation gen. e.mu is held (or c is new).
func (e *engine) readConfig(gen uint64) *config {
	m := e.master
	cfg := &config{
		gen:        gen,
		servers:    m.servers(e.scratch),
		hash:       m.keyHash(),
		poll:       time.Duration(m.behavior(BehaviorPollTimeout)) * time.Millisecond,
		autoEject:  m.behavior(BehaviorAutoEjectHosts) != 0,
		binary:     m.behavior(BehaviorBinaryProtocol) != 0,
		cas:        m.behavior(BehaviorSupportCAS) != 0,
		distribute: Distribution(m.behavior(BehaviorDistribution)),
	}
	cfg.namespace = m.namespace()
	cfg.maxKey = MaxKeyLen - len(cfg.namespace)
	cfg.ejectFor = int64(m.behavior(BehaviorDeadTimeout))
	if cfg.ejectFor == 0 {
		cfg.ejectFor = int64(m.behavior(BehaviorRetryTimeout))
	}
	cfg.names = make([]string, len(cfg.servers))
	for i, s := range cfg.servers {
		cfg.names[i] = s.name()
	}
	return cfg
}

// begin checks that a call may start and returns the time it may take in
// ms (-1 for no deadline).
func (e *engine) begin(ctx context.Context, op, key string) (int32, error) {
	if ctx == nil {
		return 0, errorf(op, key, ErrInvalidArguments, "nil context")
	}
	if err := ctx.Err(); err != nil {
		return 0, ctxError(op, key, err)
	}
	if e.closed.Load() {
		return 0, errorf(op, key, ErrClosed, "")
	}
	ms := remainingMS(ctx)
	if ms == 0 {
		return 0, ctxError(op, key, context.DeadlineExceeded)
	}
	return ms, nil
}

// remainingMS is the time left until ctx's deadline in milliseconds,
// rounded up: -1 without a deadline (or one beyond 2^30 ms), 0 once passed.
func remainingMS(ctx context.Context) int32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return -1
	}
	rem := time.Until(dl)
	if rem <= 0 {
		return 0
	}
	ms := (rem + time.Millisecond - 1) / time.Millisecond
	if ms > 1<<30 {
		return -1
	}
	return int32(ms)
}

// wait takes a handle for cl: at once if one is free and nobody waits,
// else in line. lead is false when another call's batch carried cl (its
// result is in cl.result).
func (e *engine) wait(cl *call, key string) (g grant, lead bool, err error) {
	g, ok, err := e.pool.take(cl)
	sent := false
	if err == nil && !ok {
		g, lead, sent, err = e.pool.await(cl)
		if err == nil && !lead {
			return grant{}, false, nil
		}
		if lead {
			cl.tr.queuedSince()
		}
	}
	var fail *Error
	switch {
	case err == nil:
		return g, true, nil
	case err == ErrClosed:
		fail = errorf(cl.op, key, ErrClosed, "")
	default:
		fail = ctxError(cl.op, key, err)
	}
	fail.sent = sent // its batch sends it all the same
	return grant{}, false, fail
}

// keyError builds the error of one key's failed outcome, with the server
// and message captured by the same C call.
func (e *engine) keyError(ctx context.Context, cfg *config, op string, k opClass, key string, r keyResult) *Error {
	err := &Error{Op: op, Key: key, Code: r.rc, Message: r.msg, sentinel: sentinelFor(k, r.rc), sent: r.sent}
	if r.server >= 0 && r.server < len(cfg.names) {
		err.Server = cfg.names[r.server]
	}
	return withContext(ctx, err)
}

// withContext records the context's error on e when it caused the failure.
func withContext(ctx context.Context, e *Error) *Error {
	if err := ctx.Err(); err != nil {
		e.ctxErr = err
	} else if dl, ok := ctx.Deadline(); ok && e.Code == ReturnTimeout && time.Until(dl) < 5*time.Millisecond {
		// The call's timeout was the deadline's (rounded up to a millisecond);
		// the context's own timer may fire a moment later.
		e.ctxErr = context.DeadlineExceeded
	}
	return e
}

// changeMaster runs fn on the master under e.mu; when fn changed it, the
// configuration is read again and every pooled handle is re-cloned before
// its next call.
func (e *engine) changeMaster(op string, fn func(m cMaster) (changed bool, err error)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return errorf(op, "", ErrClosed, "")
	}
	changed, err := fn(e.master)
	if changed {
		e.cfg.Store(e.readConfig(e.cfg.Load().gen + 1))
		e.ejected.reset()
		for _, h := range e.pool.takeIdle() {
			h.c.free()
		}
	}
	return err
}

// withMaster runs fn on the master (and the scratch handle whose buffer
// placement queries use), under e.mu, unless the client is closed.
func (e *engine) withMaster(op string, fn func(m cMaster, scratch *cHandle) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return errorf(op, "", ErrClosed, "")
	}
	return fn(e.master, e.scratch)
}

// outcome notes one key's outcome of an operation of kind k on h: an
// outcome that does not prove the connection in step marks the handle for
// a reconnect, and a server that libmemcached ejected is ejected on every
// handle.
func (e *engine) outcome(h *handle, cfg *config, k opClass, rc ReturnCode, server int) {
	if !inStep(k, rc) {
		h.lose(server)
	}
	if rc == ReturnServerMarkedDead && cfg.autoEject && server >= 0 && e.eject(server, cfg) {
		e.serverEvent(&h.events, ServerEjected, cfg, server, nil)
	}
}

// inStep reports whether an outcome of an operation of kind k proves that
// the connection it came on is still in step with the server: an expected
// answer was read whole, or no connection was used at all. After any other
// outcome the client closes the handle's connections before it is used
// again.
//
// Whether a reply was read whole depends on the operation. A CLIENT_ERROR
// to an increment or decrement (the text protocol's answer to a value that
// is not a number) is one line, which libmemcached reads to its end: the
// connection is in step, and keeping it saves a reconnect per such call.
// To a storage command it is not: memcached may answer CLIENT_ERROR (a
// bad data chunk) without having read the whole request, and reads what
// is left of it as a new command.
func inStep(k opClass, rc ReturnCode) bool {
	if k == classCounter && rc == ReturnClientError {
		return true
	}
	switch rc {
	case ReturnNotFound, ReturnNotStored, ReturnDataExists, ReturnE2BIG, ReturnServerMemoryAllocationFailure,
		// No connection was used, or libmemcached closed it.
		ReturnConnectionFailure, ReturnHostLookupFailure, ReturnConnectionBindFailure,
		ReturnServerMarkedDead, ReturnServerTemporarilyDisabled, ReturnNoServers:
		return true
	}
	return rc.Success()
}

// ejections are the servers libmemcached ejected (auto_eject) on one
// handle, shared with every other handle and the master so that they all
// send a key where ServerForKey says, until the server is retried.
type ejections struct {
	mu    sync.Mutex
	epoch atomic.Uint64
	until map[int]int64 // server index -> Unix time it is retried
	next  atomic.Int64  // the earliest of until (0: none), read without mu
}

// eject records that server i was ejected, and ejects it on the master.
// It reports whether the server was not already ejected.
func (e *engine) eject(i int, cfg *config) bool {
	now := time.Now().Unix()
	until := now + cfg.ejectFor
	e.ejected.mu.Lock()
	old, was := e.ejected.until[i]
	if old >= until {
		e.ejected.mu.Unlock()
		return false
	}
	fresh := !was || old <= now // not ejected, or no longer
	e.ejected.until[i] = until
	e.ejected.epoch.Add(1)
	if n := e.ejected.next.Load(); n == 0 || until < n {
		e.ejected.next.Store(until)
	}
	e.ejected.mu.Unlock()
	e.mu.Lock()
	if !e.closed.Load() && e.cfg.Load().gen == cfg.gen {
		e.master.applyEjections([]uint32{uint32(i)}, []int64{until})
	}
	e.mu.Unlock()
	return fresh
}

// list returns the ejections still in force.
func (e *ejections) list() ([]uint32, []int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now().Unix()
	var idx []uint32
	var until []int64
	for i, t := range e.until {
		if t > now {
			idx = append(idx, uint32(i))
			until = append(until, t)
		}
	}
	return idx, until
}

// expire forgets the ejections that are over and calls returned for each
// of their servers. Ejections end in expire only, so each return is seen
// once. With none in force it reads no clock.
func (e *ejections) expire(returned func(i int)) {
	n := e.next.Load()
	if n == 0 {
		return
	}
	now := time.Now().Unix()
	if n > now {
		return
	}
	e.mu.Lock()
	var next int64
	var back []int
	for i, t := range e.until {
		switch {
		case t <= now:
			delete(e.until, i)
			back = append(back, i)
		case next == 0 || t < next:
			next = t
		}
	}
	e.next.Store(next)
	e.mu.Unlock()
	slices.Sort(back)
	for _, i := range back {
		returned(i)
	}
}

// count is how many ejections are in force.
func (e *ejections) count() int {
	now := time.Now().Unix()
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, t := range e.until {
		if t > now {
			n++
		}
	}
	return n
}

func (e *ejections) reset() {
	e.mu.Lock()
	clear(e.until)
	e.next.Store(0)
	e.epoch.Add(1)
	e.mu.Unlock()
}

// probe is a handle holding one server of the client, for the commands
// every server answers on its own (stats, version, flush_all): run on a
// handle of its own, each server's outcome is its own, and one server down
// or hung costs the others nothing.
type probe struct {
	sem chan struct{} // held by the command in flight
	h   *cHandle
	gen uint64
}
