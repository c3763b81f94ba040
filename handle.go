package libmemcached

// Pooled handles: lending one to a call (cloned and ejected as the
// master), and settling it when the call gives it back.

import (
	"runtime"
	"time"
)

// prepare readies a granted handle: a slot without one, or a handle cloned
// before the last configuration change, gets a fresh clone of the master;
// servers ejected since it was last used are ejected on it too. On failure
// the slot goes back to the pool.
func (e *engine) prepare(h *handle, op, key string, batchable bool) (*handle, *config, *Error) {
	cfg := e.cfg.Load()
	if h == nil || h.gen != cfg.gen {
		if h != nil {
			h.w.drop()
			h.c.free()
		}
		e.mu.Lock()
		cfg = e.cfg.Load()
		var ch *cHandle
		msg := "client closed"
		ep := e.ejected.epoch.Load()
		if !e.closed.Load() {
			ch, msg = e.master.newHandle(e.ejected.list())
		}
		e.mu.Unlock()
		if ch == nil {
			e.pool.release(nil, batchable)
			if e.closed.Load() {
				return nil, nil, errorf(op, key, ErrClosed, "")
			}
			return nil, nil, errorf(op, key, ErrFailure, msg)
		}
		h = &handle{c: ch, gen: cfg.gen, ejEpoch: ep}
	}
	if ep := e.ejected.epoch.Load(); h.ejEpoch != ep {
		idx, until := e.ejected.list()
		h.c.applyEjections(idx, until)
		h.ejEpoch = ep
	}
	// A reply that reached a connection after its call had ended would be
	// read as this call's: start on new connections. Checked (one poll())
	// once the handle has been idle leftoverIdle: calls back to back leave
	// no time for a late reply to come between them that a check would
	// not race with, and pay no system call for it.
	if monotonic()-h.idle >= int64(leftoverIdle) {
		if i := h.c.leftover(); i >= 0 {
			if e.watch.server != nil {
				e.serverEvent(&h.events, ServerReconnected, cfg, i, nil)
			}
			h.c.quit()
			h.w.drop()
		}
	}
	inFlight.Add(1)
	h.op, h.watched = op, e.watch.server != nil
	return h, cfg, nil
}

// leftoverIdle is how long a handle must have been idle for prepare to
// look for bytes no request expects on its connections (see prepare).
var leftoverIdle = 100 * time.Microsecond

// release settles a handle after a call and gives it back: a handle whose
// connections are not proven in step is disconnected first (memcached_quit),
// so a reply left on one can never be read as another request's answer.
// It returns what happened to servers during the call, for the caller to
// deliver to the observers once its call is over (nil when none, or no
// observer watches servers).
func (e *engine) release(h *handle, cfg *config, batchable bool) serverEvents {
	inFlight.Add(-1)
	broken := h.broken
	dirty := h.c.dirty() // else every server's part was clean: nothing to settle
	if dirty && e.settle(h, cfg) {
		broken = true
	}
	if broken {
		if e.watch.server != nil {
			if !dirty {
				h.srv = h.c.servers(h.srv)
			}
			e.reconnected(h, cfg)
		}
		h.c.quit()
		h.w.drop()
		h.broken = false
	}
	h.lost = h.lost[:0]
	now := monotonic()
	h.idle = now
	e.ejected.expire(func(i int) { e.serverEvent(&h.events, ServerReturned, cfg, i, nil) })
	evs := h.events
	h.events = nil
	// A goroutine that makes calls back to back, each waiting in C, reaches
	// no scheduling point of Go's: after 10 ms the scheduler preempts it,
	// and one that is inside a C call then has its P handed to another
	// thread (a futex wake, and sysmon back at polling every 20 µs), call
	// after call. Yielding now and then, between calls, keeps that from
	// starting.
	yield := false
	if now-h.yielded > int64(yieldEvery) {
		h.yielded, yield = now, true
	}
	e.pool.release(h, batchable)
	if yield {
		runtime.Gosched()
	}
	return evs
}

// settle reads every server's part of h's last call: a server that failed
// has its connections' waiter dropped (and is reported, and ejected when
// auto_eject says so). It reports whether a connection is not proven in
// step.
func (e *engine) settle(h *handle, cfg *config) (broken bool) {
	h.srv = h.c.servers(h.srv)
	for i, s := range h.srv {
		if s.unsync || s.pending > 0 || s.unread > 0 || !inStep(classOther, s.rc) {
			broken = true
		}
		if s.rc != ReturnSuccess {
			h.w.drop() // its connections may have changed
			if e.watch.server != nil && connectionFailure(s.rc) {
				e.serverEvent(&h.events, ServerConnectionFailed, cfg, i, e.serverError(cfg, h.op, i, s.rc, s.msg))
			}
		}
		if s.rc == ReturnServerMarkedDead && cfg.autoEject && e.eject(i, cfg) {
			e.serverEvent(&h.events, ServerEjected, cfg, i, nil)
		}
	}
	return broken
}

// lose marks h's connections not proven in step by an outcome from server
// (-1: not known).
func (h *handle) lose(server int) {
	h.broken = true
	if h.watched {
		h.lost = append(h.lost, int32(server))
	}
}

// clockStart anchors monotonic (its reading carries Go's monotonic clock).
var clockStart = time.Now()

// monotonic is the time since the package started, in ns, from the
// monotonic clock alone: what a call's bookkeeping needs (how long a
// handle was idle, when it last yielded), for half of what time.Now
// costs, which reads the wall clock too.
func monotonic() int64 { return int64(time.Since(clockStart)) }

// yieldEvery is how often a goroutine making calls yields (see release):
// well under the scheduler's 10 ms.
const yieldEvery = 2 * time.Millisecond
