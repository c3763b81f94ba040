package libmemcached

// Per-server handles (probes) and running a command on every server at
// once (fanOut).

import (
	"context"
	"sync"
)

// fanOut runs fn on every server in parallel, each on its probe handle,
// and returns nil or a *MultiError keyed by server name. t traces the
// operation (nil: not observed): every server is one of its servers.
func (e *engine) fanOut(ctx context.Context, op string, t *opTrace, fn func(i int, h *cHandle, ms int32) keyResult) error {
	if _, err := e.begin(ctx, op, ""); err != nil {
		return err
	}
	cfg := e.cfg.Load()
	if t != nil {
		for i := range cfg.servers {
			t.server(cfg, i)
		}
	}
	errs := make([]*Error, len(cfg.servers))
	var evs []serverEvents // per server, when someone watches servers
	if e.watch.server != nil {
		evs = make([]serverEvents, len(errs))
	}
	if len(errs) == 1 {
		errs[0] = e.onServer(ctx, cfg, op, 0, fn, evs)
	} else {
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.onServer(ctx, cfg, op, i, fn, evs)
			}()
		}
		wg.Wait()
	}
	for _, ev := range evs {
		e.deliver(ev)
	}
	var me *MultiError
	for i, e := range errs {
		if e == nil {
			continue
		}
		if e.Server == "" || e.sentinel == ErrClosed || e.ctxErr != nil && e.Code == ReturnSuccess {
			return e // the call itself failed, not one server
		}
		if me == nil {
			me = &MultiError{Errors: map[string]error{}}
		}
		me.Errors[cfg.names[i]] = e
	}
	if me == nil {
		return nil
	}
	return me
}

// onServer runs fn on server i's probe handle; what happened to the
// server goes to evs[i] (when evs is not nil).
func (e *engine) onServer(ctx context.Context, cfg *config, op string, i int, fn func(i int, h *cHandle, ms int32) keyResult, evs []serverEvents) *Error {
	p := e.probes[i]
	select {
	case p.sem <- struct{}{}:
	case <-e.pool.done:
		return errorf(op, "", ErrClosed, "")
	case <-ctx.Done():
		return ctxError(op, "", ctx.Err())
	}
	defer func() { <-p.sem }()
	if e.closed.Load() {
		return errorf(op, "", ErrClosed, "")
	}
	if p.h == nil || p.gen != cfg.gen {
		if p.h != nil {
			p.h.free()
			p.h = nil
		}
		e.mu.Lock()
		var msg string
		if !e.closed.Load() {
			p.h, msg = e.master.newSingleHandle(i)
		}
		e.mu.Unlock()
		if p.h == nil {
			e := errorf(op, "", ErrFailure, msg)
			e.Server = cfg.names[i]
			return e
		}
		p.gen = cfg.gen
	}
	ms := remainingMS(ctx)
	if ms == 0 {
		return ctxError(op, "", context.DeadlineExceeded)
	}
	if p.h.leftover() >= 0 { // a reply that came after its call ended (see prepare)
		if evs != nil {
			e.serverEvent(&evs[i], ServerReconnected, cfg, i, nil)
		}
		p.h.quit()
	}
	r := fn(i, p.h, ms)
	srv := p.h.servers(nil)
	if evs != nil && connectionFailure(r.rc) {
		e.serverEvent(&evs[i], ServerConnectionFailed, cfg, i, e.serverError(cfg, op, i, r.rc, r.msg))
	}
	if !inStep(classOther, r.rc) || len(srv) == 1 && (srv[0].pending > 0 || srv[0].unread > 0) {
		if evs != nil {
			e.serverEvent(&evs[i], ServerReconnected, cfg, i, nil)
		}
		p.h.quit()
	}
	if r.rc.Success() {
		return nil
	}
	err := &Error{Op: op, Server: cfg.names[i], Code: r.rc, Message: r.msg, sentinel: r.rc.sentinel(), sent: r.sent}
	return withContext(ctx, err)
}
