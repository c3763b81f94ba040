package libmemcached

import (
	"context"
	"strconv"
	"sync"
)

// probe is a handle holding one server of the client, for the commands
// every server answers on its own (stats, version, flush_all): run on a
// handle of its own, each server's outcome is its own, and one server down
// or hung costs the others nothing.
type probe struct {
	sem chan struct{} // held by the command in flight
	h   *cHandle
	gen uint64
}

// fanOut runs fn on every server in parallel, each on its probe handle,
// and returns nil or a *MultiError keyed by server name.
func (e *engine) fanOut(ctx context.Context, op string, fn func(i int, h *cHandle, ms int32) keyResult) error {
	if _, err := e.begin(ctx, op, ""); err != nil {
		return err
	}
	cfg := e.cfg.Load()
	errs := make([]*Error, len(cfg.servers))
	if len(errs) == 1 {
		errs[0] = e.onServer(ctx, cfg, op, 0, fn)
	} else {
		var wg sync.WaitGroup
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = e.onServer(ctx, cfg, op, i, fn)
			}()
		}
		wg.Wait()
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

// onServer runs fn on server i's probe handle.
func (e *engine) onServer(ctx context.Context, cfg *config, op string, i int, fn func(i int, h *cHandle, ms int32) keyResult) *Error {
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
	r := fn(i, p.h, ms)
	srv := p.h.servers(nil)
	if !inStep(kindOther, r.rc) || len(srv) == 1 && (srv[0].pending > 0 || srv[0].unread > 0) {
		p.h.quit()
	}
	if r.rc.Success() {
		return nil
	}
	err := &Error{Op: op, Server: cfg.names[i], Code: r.rc, Message: r.msg, sentinel: r.rc.sentinel(), sent: r.sent}
	return withContext(ctx, err)
}

// FlushAll invalidates every item on every server. If some servers fail,
// the others are flushed and the error (a *MultiError keyed by server)
// says which failed and why.
func (c *Client) FlushAll(ctx context.Context) error {
	return c.e.fanOut(ctx, "FlushAll", func(_ int, h *cHandle, ms int32) keyResult {
		h.serverCommand(ms, srvFlush, "", 0, nil)
		return h.result(0)
	})
}

// Stats returns the general statistics of every server, keyed by server
// ("host:port", "[v6]:port" or socket path). If some servers fail, the
// others' statistics are returned together with a *MultiError keyed by
// server.
func (c *Client) Stats(ctx context.Context) (map[string]map[string]string, error) {
	return c.StatsArg(ctx, "")
}

// StatsArg is Stats with a stats argument, such as "items", "slabs" or "settings".
func (c *Client) StatsArg(ctx context.Context, arg string) (map[string]map[string]string, error) {
	const op = "Stats"
	for i := 0; i < len(arg); i++ {
		if b := arg[i]; b < ' ' || b == 0x7f {
			return nil, errorf(op, "", ErrInvalidArguments, "control byte in stats argument")
		}
	}
	var mu sync.Mutex
	out := map[string]map[string]string{}
	err := c.e.fanOut(ctx, op, func(i int, h *cHandle, ms int32) keyResult {
		m := map[string]string{}
		h.serverCommand(ms, srvStats, arg, 0, func(k, v string) { m[k] = v })
		r := h.result(0)
		if len(m) > 0 && r.rc.Success() {
			mu.Lock()
			out[c.e.cfg.Load().names[i]] = m
			mu.Unlock()
		}
		return r
	})
	return out, err
}

// Version returns the version each server reports, keyed like Stats.
// Servers that did not answer are absent, and the error (a *MultiError
// keyed by server) says why.
func (c *Client) Version(ctx context.Context) (map[string]string, error) {
	return c.versions(ctx, "Version", srvVersion)
}

// Ping checks that every server answers: each is asked its version on a
// new connection (libmemcached asks a connection its version only once).
// The error (a *MultiError keyed by server) names the servers that did not.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.versions(ctx, "Ping", srvPing)
	return err
}

func (c *Client) versions(ctx context.Context, op string, sop serverOp) (map[string]string, error) {
	var mu sync.Mutex
	out := map[string]string{}
	err := c.e.fanOut(ctx, op, func(i int, h *cHandle, ms int32) keyResult {
		h.serverCommand(ms, sop, "", 0, nil)
		r := h.result(0)
		if r.rc.Success() {
			v := r.num
			mu.Lock()
			out[c.e.cfg.Load().names[i]] = strconv.Itoa(int(v>>16&0xff)) + "." + strconv.Itoa(int(v>>8&0xff)) + "." + strconv.Itoa(int(v&0xff))
			mu.Unlock()
		}
		return r
	})
	return out, err
}
