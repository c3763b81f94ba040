package mctest

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy forwards a loopback port of its own to a server, and fails on
// demand the way a network or a restarting server does, without the server
// losing its data: Down stops listening (connects are refused) and resets
// every connection (the client reads ECONNRESET), Up listens again on the
// same port, Reset resets the connections and keeps listening, and
// SetResetNew makes it reset each connection as soon as it is accepted.
// The server behind it never sees a client's connection end mid-request
// differently from a client that went away.
type Proxy struct {
	// Addr is what a client is given: "127.0.0.1:port".
	Addr string
	// Backend is the server's address, for asking it directly.
	Backend string

	t          TB
	mu         sync.Mutex
	ln         net.Listener
	conns      map[*net.TCPConn]net.Conn // client side -> server side
	resetNew   bool
	closed     bool
	accepted   int
	acceptLoop sync.WaitGroup
}

// StartProxy starts a proxy to backend on a free loopback port, listening;
// it stops when the test ends.
func StartProxy(t TB, backend string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), Backend: backend, t: t, conns: map[*net.TCPConn]net.Conn{}}
	p.serve(ln)
	t.Cleanup(p.close)
	return p
}

func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.acceptLoop.Add(1)
	go func() {
		defer p.acceptLoop.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.handle(c.(*net.TCPConn))
		}
	}()
}

func (p *Proxy) handle(c *net.TCPConn) {
	p.mu.Lock()
	p.accepted++
	if p.resetNew || p.closed {
		p.mu.Unlock()
		reset(c)
		return
	}
	p.mu.Unlock()
	s, err := net.DialTimeout("tcp", p.Backend, 2*time.Second)
	if err != nil {
		reset(c)
		return
	}
	p.mu.Lock()
	if p.closed || p.ln == nil {
		p.mu.Unlock()
		reset(c)
		s.Close()
		return
	}
	p.conns[c] = s
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
		s.Close()
	}
	go func() { io.Copy(s, c); done() }()
	go func() { io.Copy(c, s); done() }()
}

// reset closes c with an RST instead of a FIN (SO_LINGER 0).
func reset(c *net.TCPConn) {
	c.SetLinger(0)
	c.Close()
}

// resetAll resets every connection (p.mu held).
func (p *Proxy) resetAll() {
	for c, s := range p.conns {
		reset(c)
		s.Close()
		delete(p.conns, c)
	}
}

// Down stops listening and resets every connection: the server looks dead
// (refused) to the client until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.resetAll()
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
		p.acceptLoop.Wait()
	}
}

// Up listens again on the proxy's port (nobody else takes a port in the
// moment it was free: the test ends if one does).
func (p *Proxy) Up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil || p.closed {
		return
	}
	var err error
	for i := 0; i < 50; i++ {
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.t.Fatalf("proxy: listening again on %s: %v", p.Addr, err)
}

// Reset resets every connection and keeps listening.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.resetAll()
	p.mu.Unlock()
}

// SetResetNew makes the proxy reset every connection it accepts from now
// on (on), or forward them again (off).
func (p *Proxy) SetResetNew(on bool) {
	p.mu.Lock()
	p.resetNew = on
	p.mu.Unlock()
}

// Accepted is how many connections the proxy has accepted.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.Down()
}

// Call is one call made by Bounce: when it started, and its error.
type Call struct {
	Start time.Time
	Err   error
}

// Bounce takes the server down (Down) under calls from n goroutines, each
// calling call over and over, until every goroutine has seen at least
// minFail calls fail; then brings it back (Up) and keeps calling until
// every goroutine has made minFail calls since and settle has passed. It
// returns when the server came back, and every call made after that.
func (p *Proxy) Bounce(n, minFail int, settle time.Duration, call func() error) (time.Time, []Call) {
	var (
		mu     sync.Mutex
		cond   = sync.NewCond(&mu)
		up     time.Time
		after  []Call
		failed = make([]int, n)
		since  = make([]int, n)
		stop   bool
		wg     sync.WaitGroup
	)
	p.Down()
	for g := 0; g < n; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				start := time.Now()
				err := call()
				mu.Lock()
				switch {
				case stop:
					mu.Unlock()
					return
				case up.IsZero():
					if err != nil {
						failed[g]++
					}
				case start.After(up):
					after = append(after, Call{start, err})
					since[g]++
				}
				cond.Broadcast()
				mu.Unlock()
			}
		}()
	}
	atLeast := func(counts []int) bool {
		for _, c := range counts {
			if c < minFail {
				return false
			}
		}
		return true
	}
	mu.Lock()
	for !atLeast(failed) {
		cond.Wait()
	}
	mu.Unlock()
	p.Up()
	mu.Lock()
	up = time.Now()
	for !atLeast(since) || time.Since(up) < settle {
		cond.Wait()
	}
	stop = true
	mu.Unlock()
	wg.Wait()
	return up, after
}
