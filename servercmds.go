package libmemcached

// The commands every server answers on its own: Stats, Version, Ping,
// FlushAll.

import (
	"context"
	"strconv"
	"sync"
)

// FlushAll invalidates every item on every server. If some servers fail,
// the others are flushed and the error (a *MultiError keyed by server)
// says which failed and why.
func (c *Client) FlushAll(ctx context.Context) error {
	t := c.e.trace(ctx, "FlushAll", "", 0)
	return c.e.done(t, c.e.fanOut(ctx, "FlushAll", t, func(_ int, h *cHandle, ms int32) keyResult {
		h.serverCommand(ms, srvFlush, "", 0, nil)
		return h.result(0)
	}))
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
	t := c.e.trace(ctx, op, "", 0)
	for i := 0; i < len(arg); i++ {
		if b := arg[i]; b < ' ' || b == 0x7f {
			return nil, c.e.done(t, errorf(op, "", ErrInvalidArguments, "control byte in stats argument"))
		}
	}
	var mu sync.Mutex
	out := map[string]map[string]string{}
	err := c.e.fanOut(ctx, op, t, func(i int, h *cHandle, ms int32) keyResult {
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
	return out, c.e.done(t, err)
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
	t := c.e.trace(ctx, op, "", 0)
	var mu sync.Mutex
	out := map[string]string{}
	err := c.e.fanOut(ctx, op, t, func(i int, h *cHandle, ms int32) keyResult {
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
	return out, c.e.done(t, err)
}
