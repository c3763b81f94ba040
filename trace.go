package libmemcached

// Observers (see Observer): what an observed operation gathers on its way,
// the server events a call produces, and delivering both. With no
// observer installed none of it runs: trace returns nil and every step
// below checks for that first.

import (
	"context"
	"slices"
	"sync"
	"time"
)

// watchers are the installed observers' functions, by event.
type watchers struct {
	op     []func(OperationInfo)
	batch  []func(BatchInfo)
	server []func(ServerEvent)
}

func newWatchers(obs []Observer) watchers {
	var w watchers
	for _, o := range obs {
		if o.Operation != nil {
			w.op = append(w.op, o.Operation)
		}
		if o.Batch != nil {
			w.batch = append(w.batch, o.Batch)
		}
		if o.Server != nil {
			w.server = append(w.server, o.Server)
		}
	}
	return w
}

// opTrace is what an observed operation gathers for its OperationInfo. It
// belongs to the caller's goroutine: another call's batch writes to it
// only before it packs the call (see lead), and what it learns later goes
// to the call (call.servers), which the caller reads once woken.
type opTrace struct {
	info OperationInfo
	idx  []int32 // the servers involved, in order
	cfg  *config // whose names idx indexes
	idx0 [4]int32
	srv0 [4]string
}

var tracePool = sync.Pool{New: func() any { return new(opTrace) }}

// trace starts the trace of an operation on keys keys (or items), called
// with ctx, or returns nil when no observer watches operations.
func (e *engine) trace(ctx context.Context, op, key string, keys int) *opTrace {
	if e.watch.op == nil {
		return nil
	}
	t := tracePool.Get().(*opTrace)
	t.info = OperationInfo{Context: ctx, Op: op, Key: key, Keys: keys, BatchCalls: 1, Start: time.Now()}
	t.idx = t.idx0[:0]
	return t
}

// server adds server i (of cfg) to the operation's servers.
func (t *opTrace) server(cfg *config, i int) {
	if i < 0 || i >= len(cfg.names) {
		return
	}
	if t.cfg != cfg {
		t.cfg, t.idx = cfg, t.idx[:0] // a configuration change: only the last one's servers
	}
	at, found := slices.BinarySearch(t.idx, int32(i))
	if !found {
		t.idx = slices.Insert(t.idx, at, int32(i))
	}
}

// queuedSince records that the operation waited in line from its start
// until now.
func (t *opTrace) queuedSince() {
	if t != nil {
		t.info.Queued = time.Since(t.info.Start)
	}
}

// read records a read's hits and misses.
func (t *opTrace) read(hits, misses int) {
	t.info.Hits += hits
	t.info.Misses += misses
}

// readOne records the outcome of a single-key read.
func (t *opTrace) readOne(it *Item, err error) {
	switch {
	case it != nil:
		t.info.Hits++
	case isMiss(err):
		t.info.Misses++
	}
}

// isMiss reports whether err is a single key's miss.
func isMiss(err error) bool {
	e, ok := err.(*Error)
	return ok && e.sentinel == ErrCacheMiss
}

// report ends the trace: every operation observer is given its
// OperationInfo, and the trace is recycled.
func (e *engine) report(t *opTrace, err error) {
	t.info.Duration = time.Since(t.info.Start)
	t.info.Err = err
	if len(t.idx) > 0 {
		srv := t.srv0[:0]
		for _, i := range t.idx {
			srv = append(srv, t.cfg.names[i])
		}
		t.info.Servers = srv
	}
	for _, f := range e.watch.op {
		f(t.info)
	}
	clear(t.srv0[:])
	*t = opTrace{}
	tracePool.Put(t)
}

// traceBatch records, in the traces of a batch's calls, how many calls
// shared the round trip and how long the carried ones waited in line. It
// runs before the batch packs them: until then their callers wait (see
// pool.await), so writing to their traces is safe.
func traceBatch(batch []*call, start time.Time) {
	for i, cl := range batch {
		if cl.tr == nil {
			continue
		}
		cl.tr.info.BatchCalls = len(batch)
		if i > 0 {
			cl.tr.info.Queued = start.Sub(cl.tr.info.Start)
		}
	}
}

// noteServer records on a traced call that one of its keys went to server
// s of cfg. The batch's leader writes it after packing the call, so it
// goes to the call, not the trace: the caller copies it into its trace
// (fromCall) once woken, and a caller that left never reads it.
func (cl *call) noteServer(cfg *config, s int) {
	if s < 0 {
		return
	}
	if cl.srvCfg != cfg {
		cl.srvCfg, cl.servers = cfg, cl.srv0[:0]
	}
	if !slices.Contains(cl.servers, int32(s)) {
		cl.servers = append(cl.servers, int32(s))
	}
}

// fromCall copies into t the servers noted on its call (see noteServer).
func (t *opTrace) fromCall(cl *call) {
	for _, s := range cl.servers {
		t.server(cl.srvCfg, int(s))
	}
}

// batchInfo describes a round trip that carried several calls (none: a
// zero BatchInfo, when nobody watches batches or it carried one call).
func (e *engine) batchInfo(batch []*call, start time.Time) BatchInfo {
	if e.watch.batch == nil || len(batch) < 2 {
		return BatchInfo{}
	}
	b := BatchInfo{Calls: len(batch), Start: start, Duration: time.Since(start)}
	switch batch[0].kind {
	case callGet:
		b.Kind = "get"
	case callStore:
		b.Kind = "store"
	default:
		b.Kind = "delete"
	}
	for _, cl := range batch {
		b.Keys += len(cl.keys)
	}
	return b
}

// reportBatch gives a batch's BatchInfo to every batch observer.
func (e *engine) reportBatch(b BatchInfo) {
	for _, f := range e.watch.batch {
		f(b)
	}
}

// serverEvents are what happened to servers during one call, delivered by
// its caller once the call is over.
type serverEvents []ServerEvent

// add records an event about server i of cfg, when someone watches.
func (e *engine) serverEvent(evs *serverEvents, kind ServerEventKind, cfg *config, i int, err error) {
	if e.watch.server == nil || i < 0 || i >= len(cfg.names) {
		return
	}
	*evs = append(*evs, ServerEvent{Kind: kind, Server: cfg.names[i], Time: time.Now(), Err: err})
}

// deliver gives the events to every server observer.
func (e *engine) deliver(evs serverEvents) {
	for _, ev := range evs {
		for _, f := range e.watch.server {
			f(ev)
		}
	}
}

// connectionFailure reports whether rc says that a call could not reach a
// server or that its connection failed (a server already known down, still
// in its retry timeout, is not a new failure).
func connectionFailure(rc ReturnCode) bool {
	switch rc {
	case ReturnConnectionFailure, ReturnConnectionBindFailure, ReturnHostLookupFailure, ReturnErrno,
		ReturnWriteFailure, ReturnReadFailure, ReturnUnknownReadFailure, ReturnTimeout, ReturnServerError:
		return true
	}
	return false
}

// reconnected records a ServerReconnected event for each server whose
// outcome left h's connections out of step (when that is not known: each
// server h was connected to). h.srv holds the call's per-server results.
func (e *engine) reconnected(h *handle, cfg *config) {
	mark := make([]bool, len(h.srv))
	unknown := false
	for _, i := range h.lost {
		if i < 0 || int(i) >= len(mark) {
			unknown = true
		} else {
			mark[i] = true
		}
	}
	for i, s := range h.srv {
		if mark[i] || s.unsync || s.pending > 0 || s.unread > 0 || !inStep(classOther, s.rc) || unknown && s.fd >= 0 {
			e.serverEvent(&h.events, ServerReconnected, cfg, i, nil)
		}
	}
}

// serverError is the error a ServerConnectionFailed event carries.
func (e *engine) serverError(cfg *config, op string, i int, rc ReturnCode, msg string) error {
	return &Error{Op: op, Server: cfg.names[i], Code: rc, Message: msg, sentinel: rc.sentinel()}
}

// doneRead ends the trace t of a single-key read, if any, with its hit or
// miss, and returns err.
func (e *engine) doneRead(t *opTrace, it *Item, err error) error {
	if t != nil {
		t.readOne(it, err)
		e.report(t, err)
	}
	return err
}

// done ends the trace t, if any (see report), and returns err.
func (e *engine) done(t *opTrace, err error) error {
	if t != nil {
		e.report(t, err)
	}
	return err
}
