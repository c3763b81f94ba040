package libmemcached

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached/internal/mctest"
)

// fdOf returns a duplicate of conn's socket, closed when the test ends.
func fdOf(t *testing.T, conn interface{ File() (*os.File, error) }) int {
	f, err := conn.File()
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}

// TestVerifySocketProvesOnlyMismatches: golibmc_verify_fd calls a socket
// another connection only when the kernel says so (another local port, or
// not a socket at all); a connection the server has reset, which has no
// peer left to compare, cannot be told.
func TestVerifySocketProvesOnlyMismatches(t *testing.T) {
	if privateLayout() == 0 {
		t.Skip("no private layout for libmemcached " + libraryVersion() + ": every call waits in C")
	}
	s := mctest.Start(t)
	c, err := New([]string{s.Addr}, WithPollMode(PollNever))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Get(context.Background(), "k")
	require.ErrorIs(t, err, ErrCacheMiss)
	g, _, err := c.e.wait(getCall(context.Background(), callSolo, "test", nil, nil), "")
	require.NoError(t, err)
	h, cfg, perr := c.e.prepare(g.h, "test", "", false)
	require.Nil(t, perr)
	defer c.e.release(h, cfg, false)
	require.Equal(t, socketSame, h.c.verifySocket(0), "libmemcached's own socket")

	other, err := net.Dial("tcp", s.Addr)
	require.NoError(t, err)
	defer other.Close()
	assert.Equal(t, socketOther, h.c.verifyFD(0, fdOf(t, other.(*net.TCPConn))), "another connection to the server")
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	defer w.Close()
	assert.Equal(t, socketOther, h.c.verifyFD(0, int(r.Fd())), "not a socket")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	reset, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer reset.Close()
	peer, err := ln.Accept()
	require.NoError(t, err)
	peer.(*net.TCPConn).SetLinger(0)
	peer.Close() // an RST
	_, err = reset.Read(make([]byte, 1))
	require.ErrorIs(t, err, syscall.ECONNRESET)
	assert.Equal(t, socketUnknown, h.c.verifyFD(0, fdOf(t, reset.(*net.TCPConn))), "a connection the peer reset")
	assert.Equal(t, socketUnknown, h.c.verifyFD(0, -1), "no socket")
}

// TestRestartsKeepTheNetpoller: servers restarted again and again under
// concurrent split calls (every connection reset, many the moment they are
// made) never turn the netpoller off for the process: afterwards calls
// still wait in it (the handle's sockets are watched by the netpoller).
func TestRestartsKeepTheNetpoller(t *testing.T) {
	if privateLayout() == 0 {
		t.Skip("no private layout for libmemcached " + libraryVersion() + ": every call waits in C")
	}
	t.Cleanup(func() { splitAvailable.Store(privateLayout() != 0) }) // for the other tests, whatever happens here
	s1, s2 := mctest.Start(t), mctest.Start(t)
	p := mctest.StartProxy(t, s2.Addr)
	for _, binary := range []bool{false, true} {
		c, err := New([]string{s1.Addr, p.Addr}, WithPollMode(PollAlways), WithPoolSize(8),
			WithBehaviors(map[string]any{"retry_timeout": 0, "binary_protocol": binary}))
		require.NoError(t, err)
		defer c.Close()
		keys := make([]string, 64)
		for i := range keys {
			keys[i] = fmt.Sprint("np-", i)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var calls, failed int64
		var mu sync.Mutex
		for g := 0; g < 32; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					var err error
					if g%2 == 0 {
						_, err = c.GetMulti(ctx, keys)
					} else {
						_, err = c.Get(ctx, keys[(g+i)%len(keys)])
					}
					cancel()
					mu.Lock()
					calls++
					if err != nil && !errors.Is(err, ErrCacheMiss) {
						failed++
					}
					mu.Unlock()
				}
			}()
		}
		for round := 0; round < 6; round++ {
			s1.Restart(t)
			p.SetResetNew(true) // every connection reset as soon as it is made
			p.Reset()
			s1.Restart(t)
			p.SetResetNew(false)
		}
		close(stop)
		wg.Wait()
		t.Logf("binary=%v: %d calls through 12 restarts and 6 rounds of resets, %d failed", binary, calls, failed)
		require.True(t, splitAvailable.Load(), "the netpoller was turned off for the process")

		for ok, i := 0, 0; ok < 3; i++ { // the servers are back, and used again
			if _, err := c.GetMulti(context.Background(), keys); err == nil {
				ok++
			}
			require.Less(t, i, 10000, "the servers are not used again")
		}
		// A call alone, in PollAlways, waits in the netpoller for its server:
		// one Get per server on the handle the next call takes (the pool
		// lends the last one given back), then that handle's sockets.
		cfg := c.e.cfg.Load()
		for i := range cfg.servers {
			for k := 0; ; k++ {
				key := fmt.Sprint("np-", i, "-", k)
				if s, err := c.ServerForKey(key); err == nil && s == cfg.names[i] {
					_, err := c.Get(context.Background(), key)
					require.ErrorIs(t, err, ErrCacheMiss)
					break
				}
			}
		}
		g, _, err := c.e.wait(getCall(context.Background(), callSolo, "test", nil, nil), "")
		require.NoError(t, err)
		h, cfg, perr := c.e.prepare(g.h, "test", "", false)
		require.Nil(t, perr)
		for i := range cfg.servers {
			assert.NotNil(t, h.w.watched(i), "server %d's socket is not in the netpoller", i)
		}
		c.e.release(h, cfg, false)
	}
}

// autoClient starts a server and a client with PollAuto, once the
// netpoller waits are known to be on in this build (the test is skipped
// otherwise).
func autoClient(t *testing.T) {
	s := mctest.Start(t)
	c, err := New([]string{s.Addr})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = c.Get(context.Background(), "k") // the layout check at first use
	require.ErrorIs(t, err, ErrCacheMiss)
	if !splitAvailable.Load() {
		t.Skip("the netpoller waits are off in this build")
	}
}

// spin starts goroutines that keep every P busy, with more waiting for
// one; the returned func stops them and waits until they have ended.
func spin() (stop func()) {
	var done atomic.Bool
	var spinning sync.WaitGroup
	for range 4 * runtime.GOMAXPROCS(0) {
		spinning.Add(1)
		go func() {
			defer spinning.Done()
			for !done.Load() {
			}
		}()
	}
	return func() {
		done.Store(true)
		spinning.Wait()
	}
}

// TestAutoSplitsWhileGoroutinesWaitForP: PollAuto stops waiting in C for a
// lone call while goroutines wait for a P (a wait in C would hold one of
// the Ps they need), as the runtime's scheduler metric says.
func TestAutoSplitsWhileGoroutinesWaitForP(t *testing.T) {
	autoClient(t)
	stop := spin()
	defer stop()
	var w waiter
	split := false
	for i := 0; i < 100*runnableEvery && !split; i++ {
		split = splitFor(PollAuto, &w, 1)
	}
	assert.True(t, split, "a lone call waited in C while goroutines waited for a P")
	assert.Positive(t, runnable.n.Load(), "the runtime's count of runnable goroutines")
}

// TestAutoBackToCOnceNoGoroutineWaits: once goroutines stop waiting for a
// P, PollAuto waits in C again at the next decisions, not only at its next
// periodic look at the runtime's count (a goroutine runnable for a moment,
// a GC worker or a timer, used to send the next runnableEvery calls through
// the netpoller: most GetMulti calls at GOMAXPROCS=1).
func TestAutoBackToCOnceNoGoroutineWaits(t *testing.T) {
	autoClient(t)
	stop := spin()
	var w waiter
	for i := 0; i < 100*runnableEvery && runnable.n.Load() <= 0; i++ {
		splitFor(PollAuto, &w, 1)
	}
	stop()
	require.Positive(t, runnable.n.Load(), "the runtime's count of runnable goroutines while they spun")
	inC := false
	for i := 0; i < runnableEvery/2 && !inC; i++ {
		inC = !splitFor(PollAuto, &w, 1)
	}
	assert.True(t, inC, "calls still went through the netpoller after the goroutines that waited for a P ended")
}
