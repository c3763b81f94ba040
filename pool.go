package libmemcached

import (
	"context"
	"sync"
)

// handle is one pooled libmemcached handle and what the client knows of it.
type handle struct {
	c       *cHandle
	gen     uint64         // configuration generation it was cloned at
	ejEpoch uint64         // ejections applied to it (see ejections)
	broken  bool           // an outcome did not prove its connections in step
	srv     []serverResult // scratch for the last call's per-server results
}

// pool lends handles to calls: at most size exist at once; an idle handle
// is reused last-in first-out (so a few handles stay warm and the rest
// idle), and a call that finds none waits in line. After close, waiting
// and later calls get ErrClosed at once, and closed waits for the calls in
// flight to give their handles back.
type pool struct {
	mu      sync.Mutex
	idle    []*handle
	waiters []chan *handle // FIFO; a nil handle means "create one"
	size    int
	open    int // handles created (or being created) and not freed
	inUse   int
	closed  bool
	done    chan struct{} // closed by close
	drained chan struct{} // closed when, after close, no handle is in use
}

func newPool(size int) *pool {
	return &pool{size: size, done: make(chan struct{}), drained: make(chan struct{})}
}

// acquire returns an idle handle, or (nil, true) when the caller may create
// one, waiting until either is possible, ctx ends or the pool closes.
func (p *pool) acquire(ctx context.Context) (*handle, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrClosed
	}
	if n := len(p.idle); n > 0 {
		h := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.inUse++
		p.mu.Unlock()
		return h, nil
	}
	if p.open < p.size {
		p.open++
		p.inUse++
		p.mu.Unlock()
		return nil, nil
	}
	ch := make(chan *handle, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case h := <-ch:
		return h, nil
	case <-p.done:
		return nil, ErrClosed
	case <-ctx.Done():
		p.mu.Lock()
		for i, w := range p.waiters {
			if w == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				p.mu.Unlock()
				return nil, ctx.Err()
			}
		}
		p.mu.Unlock()
		// A handle (or the right to create one) was passed on meanwhile.
		p.release(<-ch)
		return nil, ctx.Err()
	}
}

// release gives a handle back (nil: a slot whose handle was freed or never
// created), passing it to the first waiter if there is one.
func (p *pool) release(h *handle) {
	p.mu.Lock()
	if p.closed {
		p.inUse--
		if h != nil {
			h.c.free()
		}
		p.open--
		p.finish()
		p.mu.Unlock()
		return
	}
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		p.mu.Unlock()
		ch <- h
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

// takeIdle removes and returns every idle handle (DisconnectAll); their
// slots become free.
func (p *pool) takeIdle() []*handle {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.idle
	p.idle = nil
	p.open -= len(out)
	return out
}

// close marks the pool closed, wakes every waiter with ErrClosed, frees the
// idle handles and waits for the handles in use to come back.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.drained
		return
	}
	p.closed = true
	close(p.done)
	p.waiters = nil
	for _, h := range p.idle {
		h.c.free()
		p.open--
	}
	p.idle = nil
	p.finish()
	p.mu.Unlock()
	<-p.drained
}

// stats reads the pool's counters.
func (p *pool) stats() (open, inUse int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, p.inUse
}
