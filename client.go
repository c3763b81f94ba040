package libmemcached

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Client is a memcached client backed by libmemcached.
//
// A Client is safe for use by any number of goroutines. libmemcached's
// memcached_st is not thread-safe, so the Client keeps one configured master
// (never used for I/O) and a bounded pool of clones of it; each call takes a
// clone exclusively for its duration and gives it back. Behavior changes are
// made on the master and reach every pooled clone before its next call.
//
// A C call cannot be interrupted once it started: a context's deadline is
// applied to libmemcached's poll and connect timeouts for the call, so it
// returns within about that deadline, but cancelling a context without a
// deadline only takes effect before the call starts (while it waits for a
// connection from the pool).
type Client struct {
	// closeMu is held shared by every call and exclusively by Close, so Close
	// waits for in-flight calls and later calls see closed.
	closeMu sync.RWMutex
	closed  bool

	// masterMu guards master (and scratch, whose buffer placement queries use).
	masterMu sync.Mutex
	master   cMaster
	scratch  *cHandle

	// gen is bumped by every change to the master; a pooled handle whose gen
	// is older is re-cloned before use.
	gen atomic.Uint64

	// idle holds poolSize slots: a handle, or nil for one not yet created.
	idle     chan *pooled
	poolSize int

	open   atomic.Int32 // handles created and not freed, for PoolStats
	hash   atomic.Int32 // the client's key hash, cached for Hash
	maxKey int          // MaxKeyLen less the namespace length
	opts   options
}

// pooled is a handle and the master generation it was cloned at.
type pooled struct {
	h   *cHandle
	gen uint64
}

// Option configures a Client in New or NewFromConfig.
type Option func(*options) error

type options struct {
	poolSize   int
	behaviors  []behaviorSetting // applied in order after the defaults
	namespace  string
	sasl       *saslAuth
	codec      Codec
	compress   compression
	maxInflate int
}

type saslAuth struct{ user, password string }

// DefaultPoolSize is the default number of libmemcached handles (each with
// its own connection to every server) a Client may open: enough for every
// CPU to have calls in flight while others wait on the network.
func DefaultPoolSize() int { return max(8, 4*runtime.GOMAXPROCS(0)) }

// WithPoolSize bounds the number of libmemcached handles, and so of
// concurrent calls and of connections per server. n must be >= 1.
func WithPoolSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errorf("WithPoolSize", "", ErrInvalidArguments, "pool size must be at least 1, got "+itoa(int64(n)))
		}
		o.poolSize = n
		return nil
	}
}

// WithSASL authenticates with SASL (PLAIN, over the binary protocol, which
// it turns on) as user with password (memcached_set_sasl_auth_data). A wrong
// password makes calls fail with ErrAuthFailed. The password is copied into
// libmemcached and never appears in an error or log.
func WithSASL(user, password string) Option {
	return func(o *options) error {
		if user == "" {
			return errorf("WithSASL", "", ErrInvalidArguments, "empty SASL user name")
		}
		o.sasl = &saslAuth{user: user, password: password}
		return nil
	}
}

// New returns a client for servers, given as pylibmc accepts them: "host",
// "host:port", "host:port:weight", "[::1]:port", "/path/to/socket" or
// "udp:host:port". UDP and TCP servers cannot be mixed (libmemcached's rule).
func New(servers []string, opts ...Option) (*Client, error) {
	if len(servers) == 0 {
		return nil, errorf("New", "", ErrNoServers, "no server given")
	}
	specs := make([]serverSpec, len(servers))
	udp := 0
	for i, s := range servers {
		sp, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		specs[i] = sp
		if sp.kind == ConnectionUDP {
			udp++
		}
	}
	if udp != 0 && udp != len(specs) {
		return nil, errorf("New", "", ErrInvalidArguments, "udp and tcp/unix servers cannot be mixed")
	}
	if udp != 0 && libmemcachedHasNoUDP {
		return nil, &Error{Op: "New", Code: ReturnDeprecated, sentinel: ErrNotSupported,
			Message: "libmemcached " + HeaderVersion + " no longer supports UDP servers (memcached_server_add_udp returns MEMCACHED_DEPRECATED)"}
	}
	m, ok := newCMaster()
	if !ok {
		return nil, errorf("New", "", ErrMemory, "memcached_create failed")
	}
	if udp != 0 {
		if rc := m.setBehavior(BehaviorUseUDP, 1); !rc.Success() {
			m.free()
			return nil, newError("New", "", rc, "enabling udp: "+m.lastError())
		}
	}
	for i, sp := range specs {
		if rc := m.addServer(sp.kind, sp.host, sp.port, sp.weight); !rc.Success() {
			msg := m.lastError()
			m.free()
			e := newError("New", "", rc, msg)
			e.Server = servers[i]
			return nil, e
		}
	}
	return newClient(m, opts)
}

// NewFromConfig returns a client configured by a libmemcached configuration
// string (libmemcached_configuration(3)), e.g.
// "--SERVER=10.0.0.1:11211 --SERVER=10.0.0.2 --BINARY-PROTOCOL".
// An invalid string returns an error wrapping ErrInvalidArguments with
// libmemcached's description of the problem.
func NewFromConfig(config string, opts ...Option) (*Client, error) {
	if config == "" {
		return nil, errorf("NewFromConfig", "", ErrInvalidArguments, "empty configuration string")
	}
	m, msg := newCMasterFromConfig(config)
	if msg != "" {
		return nil, &Error{Op: "NewFromConfig", Code: ReturnParseError, Message: msg, sentinel: ErrInvalidArguments}
	}
	return newClient(m, opts)
}

// defaultBehaviors are set on every new client before the user's options:
// TCP_NODELAY for request latency, and SUPPORT_CAS so Get fills CasID.
// Neither affects key placement.
var defaultBehaviors = []behaviorSetting{
	{BehaviorTCPNoDelay, 1},
	{BehaviorSupportCAS, 1},
}

func newClient(m cMaster, opts []Option) (*Client, error) {
	o := options{poolSize: DefaultPoolSize()}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			m.free()
			return nil, err
		}
	}
	if err := configure(m, &o); err != nil {
		m.free()
		return nil, err
	}
	scratch, ok := m.newHandle()
	if !ok {
		m.free()
		return nil, errorf("New", "", ErrMemory, "memcached_clone failed")
	}
	c := &Client{
		master:   m,
		scratch:  scratch,
		idle:     make(chan *pooled, o.poolSize),
		poolSize: o.poolSize,
		maxKey:   MaxKeyLen - len(o.namespace),
		opts:     o,
	}
	c.hash.Store(int32(m.behavior(BehaviorHash)))
	for i := 0; i < o.poolSize; i++ {
		c.idle <- nil
	}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// configure applies the defaults and the options to a new master.
func configure(m cMaster, o *options) error {
	for _, b := range append(append([]behaviorSetting(nil), defaultBehaviors...), o.behaviors...) {
		if rc := m.setBehavior(b.b, b.v); !rc.Success() {
			return behaviorError("New", b.b, b.v, rc, m.lastError())
		}
	}
	if o.namespace != "" {
		if rc := m.setNamespace(o.namespace); !rc.Success() {
			return newError("WithNamespace", "", rc, m.lastError())
		}
	}
	if o.sasl != nil {
		if rc := m.setBehavior(BehaviorBinaryProtocol, 1); !rc.Success() {
			return newError("WithSASL", "", rc, m.lastError())
		}
		if rc := m.setSASL(o.sasl.user, o.sasl.password); !rc.Success() {
			// The message is libmemcached's; it never holds the password.
			return newError("WithSASL", "", rc, m.lastError())
		}
	}
	return nil
}

// Close closes every connection and frees the C resources. Calls in flight
// finish first; later calls return ErrClosed. Close is idempotent.
func (c *Client) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	runtime.SetFinalizer(c, nil)
	// No call holds a handle now: every slot is back in idle.
	for i := 0; i < c.poolSize; i++ {
		if p := <-c.idle; p != nil {
			c.freeHandle(p)
		}
	}
	c.masterMu.Lock()
	c.scratch.free()
	c.master.free()
	c.masterMu.Unlock()
	return nil
}

// begin starts a call: it fails if the client is closed or ctx is done,
// and returns the timeout in ms to apply to the call (-1 for none).
// The caller must call c.end() when begin returned no error.
func (c *Client) begin(ctx context.Context, op, key string) (int32, error) {
	if ctx == nil {
		return 0, errorf(op, key, ErrInvalidArguments, "nil context")
	}
	if err := ctx.Err(); err != nil {
		return 0, ctxError(op, key, err)
	}
	c.closeMu.RLock()
	if c.closed {
		c.closeMu.RUnlock()
		return 0, errorf(op, key, ErrClosed, "")
	}
	ms := remainingMS(ctx)
	if ms == 0 {
		c.closeMu.RUnlock()
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

func (c *Client) end() { c.closeMu.RUnlock() }

// acquire takes a handle from the pool, waiting until one is free or ctx
// ends. A slot never used, or whose handle predates a master change, gets a
// fresh clone of the master.
func (c *Client) acquire(ctx context.Context, op, key string) (*pooled, error) {
	var p *pooled
	select {
	case p = <-c.idle:
	default:
		select {
		case p = <-c.idle:
		case <-ctx.Done():
			return nil, ctxError(op, key, ctx.Err())
		}
	}
	gen := c.gen.Load()
	if p != nil && p.gen == gen {
		return p, nil
	}
	c.masterMu.Lock()
	h, ok := c.master.newHandle()
	gen = c.gen.Load()
	c.masterMu.Unlock()
	if !ok {
		c.idle <- p
		return nil, errorf(op, key, ErrMemory, "memcached_clone failed")
	}
	c.open.Add(1)
	if p != nil {
		c.freeHandle(p)
	}
	return &pooled{h: h, gen: gen}, nil
}

// PoolStats describes a client's pool of libmemcached handles.
type PoolStats struct {
	Size  int // the bound set by WithPoolSize
	Open  int // handles created and not yet freed (each has its own connections)
	InUse int // handles lent to calls in flight
}

// PoolStats returns the pool's current state.
func (c *Client) PoolStats() PoolStats {
	return PoolStats{Size: c.poolSize, Open: int(c.open.Load()), InUse: c.poolSize - len(c.idle)}
}

// freeHandle frees a pooled handle's C resources.
func (c *Client) freeHandle(p *pooled) {
	p.h.free()
	c.open.Add(-1)
}

// release gives a handle back to the pool.
func (c *Client) release(p *pooled) { c.idle <- p }

// do runs fn with a handle: begin, acquire, fn, release, end. It returns
// the call's timeout so fn's errors can be completed by c.fail.
func (c *Client) do(ctx context.Context, op, key string, fn func(h *cHandle, ms int32) error) error {
	ms, err := c.begin(ctx, op, key)
	if err != nil {
		return err
	}
	defer c.end()
	p, err := c.acquire(ctx, op, key)
	if err != nil {
		return err
	}
	err = fn(p.h, ms)
	c.release(p)
	return err
}

// fail turns a failed return code into an *Error, reading libmemcached's
// message and the server involved from the handle before it goes back to
// the pool. Expected outcomes (miss, not stored, CAS conflict) skip that
// work: they are part of normal traffic.
func (c *Client) fail(ctx context.Context, h *cHandle, op, key string, rc ReturnCode) *Error {
	e := newError(op, key, rc, "")
	switch rc {
	case ReturnNotFound, ReturnNotStored, ReturnDataExists:
		return e
	}
	e.Message = h.lastError()
	if id, ok := h.lastDisconnect(); ok {
		e.Server = id.name()
	} else if key != "" {
		if id, rc := h.serverByKey(key); rc == ReturnSuccess {
			e.Server = id.name()
		}
	}
	if err := ctx.Err(); err != nil {
		e.ctxErr = err
	} else if dl, ok := ctx.Deadline(); ok && rc == ReturnTimeout && time.Until(dl) < 5*time.Millisecond {
		// The call's timeout was the deadline's (rounded up to a millisecond);
		// the context's own timer may fire a moment later.
		e.ctxErr = context.DeadlineExceeded
	}
	return e
}

// changeMaster runs fn on the master and, if it changed anything, makes
// every pooled handle re-clone before its next call.
func (c *Client) changeMaster(op string, fn func(m cMaster) error) error {
	return c.withMaster(op, func(m cMaster, _ *cHandle) error {
		err := fn(m)
		c.gen.Add(1)
		c.hash.Store(int32(c.master.behavior(BehaviorHash)))
		return err
	})
}

// withMaster runs fn on the master (and the scratch handle whose buffer
// placement queries use), under masterMu, unless the client is closed.
func (c *Client) withMaster(op string, fn func(m cMaster, scratch *cHandle) error) error {
	c.closeMu.RLock()
	defer c.closeMu.RUnlock()
	if c.closed {
		return errorf(op, "", ErrClosed, "")
	}
	c.masterMu.Lock()
	defer c.masterMu.Unlock()
	return fn(c.master, c.scratch)
}

// DisconnectAll closes every pooled connection (pylibmc's disconnect_all);
// the next call on each handle reconnects. Handles in use are closed when
// next taken from the pool.
func (c *Client) DisconnectAll() error {
	return c.changeMaster("DisconnectAll", func(cMaster) error {
		// Close the idle handles now; the generation bump catches the rest.
		n := len(c.idle)
		freed := 0
		for i := 0; i < n; i++ {
			select {
			case p := <-c.idle:
				if p != nil {
					c.freeHandle(p)
				}
				freed++
			default:
				i = n
			}
		}
		for ; freed > 0; freed-- {
			c.idle <- nil
		}
		return nil
	})
}

// checkKey validates a key for op.
func (c *Client) checkKey(op, key string) error {
	if validKey(key, c.maxKey) {
		return nil
	}
	return errorf(op, key, ErrMalformedKey, keyProblem(key, c.maxKey))
}

// libmemcachedHasNoUDP: libmemcached-awesome 1.1 deprecated UDP;
// memcached_server_add_udp refuses every server.
const libmemcachedHasNoUDP = true

var errNilItem = errors.New("nil item")
