package libmemcached

// Where calls wait for replies: in C, or parked in Go's netpoller between
// crossings (split calls).

import (
	"errors"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// PollMode says where a call waits for the server's reply.
//
// Blocking (PollNever), libmemcached waits in poll() inside the C call:
// the goroutine's OS thread blocks and keeps its P (Go's scheduler slot)
// until the runtime takes the P back, which costs little with few
// goroutines and much with many. Split (PollAlways), the C call only
// sends; the goroutine then parks in Go's netpoller on a duplicate of the
// server's socket, freeing its thread and P, and a second C call reads the
// reply that has arrived. Reads (Get, GetMulti) and buffered stores (Set,
// SetMulti, Delete, DeleteMulti) can be split; every other command sends
// and waits inside libmemcached.
type PollMode int

const (
	// PollAuto splits a call while more calls are in flight than
	// GOMAXPROCS or goroutines wait for a P (and always for a batch of
	// queued calls), and waits in C otherwise. It is the default.
	PollAuto PollMode = iota
	// PollAlways splits every call that can be split.
	PollAlways
	// PollNever waits in C for every call.
	PollNever
)

// defaultPollMode is PollAuto unless the environment variable
// GOLIBMC_POLL_MODE says "always" or "never" (read once, at start: a way
// to force a policy on a program without changing its code, as the test
// suite does). WithPollMode overrides it.
var defaultPollMode = func() PollMode {
	switch os.Getenv("GOLIBMC_POLL_MODE") {
	case "always":
		return PollAlways
	case "never":
		return PollNever
	}
	return PollAuto
}()

// defaultBatching is true unless the environment variable GOLIBMC_BATCHING
// says "off" (read once, at start, as GOLIBMC_POLL_MODE is). WithBatching
// overrides it.
var defaultBatching = os.Getenv("GOLIBMC_BATCHING") != "off"

// splitAvailable: the split needs each connection's socket, read through
// the private layout golibmc_layout_check validated (see privateLayout). It
// turns off for the process if a connection's socket is ever proven
// another (socketOther).
var splitAvailable atomic.Bool

// privateLayout checks, once, which mirror of libmemcached's private
// instance struct the loaded library matches (checkLayout: 0 for none),
// when the first client is made (nothing is done at import). The
// environment variable GOLIBMC_PRIVATE_LAYOUT=off makes it none without
// looking: every call then runs through libmemcached's own calls alone
// (no checked replies, no netpoller waits; see docs/development.md).
var privateLayout = sync.OnceValue(func() int {
	layout := checkLayout(os.Getenv("GOLIBMC_PRIVATE_LAYOUT") != "off")
	splitAvailable.Store(layout != 0)
	return layout
})

// waiter parks goroutines in the netpoller on the sockets of one handle:
// per server, a duplicate (F_DUPFD_CLOEXEC) of libmemcached's socket,
// wrapped in an *os.File, which registers it with the netpoller (the
// socket is non-blocking). A duplicate shares the socket, not the
// descriptor: libmemcached may close its descriptor and reuse the number
// for a new connection, so the duplicate is dropped whenever the handle's
// connections may have changed (a failure, a reconnect), and compared
// with libmemcached's descriptor before every wait.
type waiter struct {
	conns     []*pollConn
	blockRuns int // calls waited in C since the last split one (PollAuto)
}

type pollConn struct {
	fd int // libmemcached's descriptor that f duplicates; 0 with no f
	f  *os.File
	rc syscall.RawConn

	// The wait in progress (see wait); ready is pc.onReady, made once so
	// that a wait allocates nothing.
	ready func(uintptr) bool
	step  func(fd int) bool
}

// errNoSocket: a server's socket could not be duplicated or watched.
var errNoSocket = errors.New("socket not available to the netpoller")

// conn returns the netpoller wrapper of server i's socket fd on handle h.
// A new socket is first checked against libmemcached's public view of the
// connection (verifySocket). One proven another turns the split off for
// the process, and every call waits in C from then on; one that cannot be
// told (a connection the server has just reset has no peer left to
// compare) only makes this call wait for that server in C, where the
// failure is read and reported.
func (w *waiter) conn(h *cHandle, i, fd int) (*pollConn, error) {
	for len(w.conns) <= i {
		w.conns = append(w.conns, nil)
	}
	pc := w.conns[i]
	if pc == nil {
		pc = &pollConn{}
		pc.ready = pc.onReady
		w.conns[i] = pc
	}
	if pc.f != nil && pc.fd == fd {
		return pc, nil
	}
	pc.close()
	switch h.verifySocket(i) {
	case socketSame:
	case socketOther:
		splitAvailable.Store(false)
		return nil, errNoSocket
	default:
		return nil, errNoSocket
	}
	dup, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return nil, errNoSocket
	}
	f := os.NewFile(dup, "memcached")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, errNoSocket
	}
	pc.fd, pc.f, pc.rc = fd, f, rc
	return pc, nil
}

// watched returns server i's wrapper if its socket is in the netpoller.
func (w *waiter) watched(i int) *pollConn {
	if i < len(w.conns) && w.conns[i] != nil && w.conns[i].f != nil {
		return w.conns[i]
	}
	return nil
}

func (pc *pollConn) close() {
	if pc.f != nil {
		pc.f.Close()
	}
	pc.fd, pc.f, pc.rc = 0, nil, nil
}

// drop closes every duplicate (the handle's connections may have changed,
// or the handle waits in C from now on: a registered duplicate wakes the
// netpoller for every reply that arrives on its socket).
func (w *waiter) drop() {
	for _, pc := range w.conns {
		if pc != nil {
			pc.close()
		}
	}
	w.blockRuns = 0
}

// wait runs step once the netpoller's state for the socket has been reset,
// then each time the socket becomes readable, until step reports done or
// deadline (zero: none) passes: a byte that arrives after the reset wakes
// the wait, so none is missed, and step reads what came before it. At the
// deadline step runs once more (the netpoller gives up without calling it,
// and without calling it at all when the deadline had passed before the
// wait began). It returns errTimedOut when step never reported done.
func (pc *pollConn) wait(deadline time.Time, step func(fd int) bool) error {
	if err := pc.f.SetReadDeadline(deadline); err != nil {
		return err
	}
	pc.step = step
	err := pc.rc.Read(pc.ready)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		pc.step = nil
		return err
	}
	done := false
	err = pc.rc.Control(func(fd uintptr) { done = step(int(fd)) })
	pc.step = nil
	if err != nil {
		return err
	}
	if !done {
		return errTimedOut
	}
	return nil
}

// onReady is the netpoller's callback (pc.ready): the wait's step.
func (pc *pollConn) onReady(fd uintptr) bool { return pc.step(int(fd)) }

// any returns a socket already watched, to send a request from inside its
// wait (see wait), or -1.
func (w *waiter) any() int {
	for i := range w.conns {
		if w.watched(i) != nil {
			return i
		}
	}
	return -1
}

var errTimedOut = errors.New("timed out")

// shutdown ends server i's connection from our side, so that libmemcached
// sees the end of the stream at its next read and closes the connection
// itself: a reply arriving later can never be read as another request's.
func (w *waiter) shutdown(i int) {
	if pc := w.watched(i); pc != nil {
		pc.rc.Control(func(fd uintptr) { syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
	}
}

// inFlight counts the calls holding a handle, for PollAuto.
var inFlight atomic.Int64

// runnable is how many goroutines wait for a P, as the runtime last said
// (runtime/metrics' /sched/goroutines/runnable, Go 1.26 and later), read
// again every runnableEvery decisions of PollAuto, and at every decision
// while it says some wait: a goroutine made runnable for a moment (a GC
// worker, a timer) would otherwise send the next runnableEvery calls
// through the netpoller; -1 where the runtime does not say.
var runnable struct {
	mu    sync.Mutex
	s     [1]metrics.Sample
	n     atomic.Int64
	calls atomic.Uint32
}

const runnableEvery = 64

func runnableNow() int64 {
	if (runnable.calls.Add(1)%runnableEvery == 1 || runnable.n.Load() > 0) && runnable.mu.TryLock() {
		s := &runnable.s[0]
		s.Name = "/sched/goroutines/runnable:goroutines"
		metrics.Read(runnable.s[:])
		if s.Value.Kind() == metrics.KindUint64 {
			runnable.n.Store(int64(s.Value.Uint64()))
		} else {
			runnable.n.Store(-1)
		}
		runnable.mu.Unlock()
	}
	return runnable.n.Load()
}

// gomaxprocs is runtime.GOMAXPROCS(0), read again every 1024 calls: the
// runtime takes a lock to answer.
var procs struct {
	n     atomic.Int64
	calls atomic.Uint32
}

func gomaxprocs() int {
	if procs.calls.Add(1)%1024 == 1 || procs.n.Load() == 0 {
		procs.n.Store(int64(runtime.GOMAXPROCS(0)))
	}
	return int(procs.n.Load())
}

// splitFor decides whether a call (or batch of n calls) on a client with
// mode m waits in the netpoller.
func splitFor(m PollMode, w *waiter, n int) bool {
	if !splitAvailable.Load() {
		return false
	}
	switch m {
	case PollAlways:
		return true
	case PollNever:
		return false
	}
	// A wait in C holds its P until the runtime takes it back (a sysmon
	// tick later): when goroutines wait for a P, or more calls are in
	// flight than there are Ps, the call waits in the netpoller instead.
	if n > 1 || inFlight.Load() > int64(gomaxprocs()) || runnableNow() > 0 {
		w.blockRuns = 0
		return true
	}
	// A run of calls alone: back to waiting in C, and stop watching the
	// sockets (each registered duplicate wakes the netpoller per reply).
	if w.blockRuns++; w.blockRuns == 64 {
		w.drop()
	}
	return false
}
