package libmemcached

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client is a memcached client backed by libmemcached.
//
// A Client is safe for use by any number of goroutines. libmemcached's
// memcached_st is not thread-safe, so the Client keeps one configured master
// (never used for I/O) and a bounded pool of checked clones of it; each call
// takes a clone exclusively for its duration and gives it back. Behavior
// changes are made on the master and reach every pooled clone before its
// next call.
//
// A C call cannot be interrupted once it started: a context's deadline is
// applied to libmemcached's poll and connect timeouts for the call, so it
// returns within about that deadline, but cancelling a context without a
// deadline only takes effect before the call starts (while it waits for a
// connection from the pool).
type Client struct {
	pool *pool

	// mu guards master, scratch and the probes' creation; cfg is replaced
	// (under mu) by every change to the master.
	mu      sync.Mutex
	master  cMaster
	scratch *cHandle
	cfg     atomic.Pointer[config]
	closed  atomic.Bool

	ejected ejections
	probes  []*probe // per server, for the commands each server answers
	opts    options
}

// config is what the client knows of its master at one generation.
type config struct {
	gen        uint64
	servers    []serverID
	names      []string // servers' names as errors and Stats report them
	namespace  string
	maxKey     int // MaxKeyLen less the namespace
	hash       Hash
	poll       time.Duration // the poll timeout: how long a split call waits for a reply
	autoEject  bool
	ejectFor   int64 // seconds an ejected server stays out (dead_timeout, else retry_timeout)
	binary     bool
	cas        bool
	distribute Distribution
}

// Option configures a Client in New or NewFromConfig.
type Option func(*options) error

type options struct {
	pollMode   PollMode
	batching   bool
	poolSize   int
	behaviors  []behaviorSetting // applied in order after the defaults
	namespace  string
	sasl       *saslAuth
	codec      Codec
	compress   compression
	maxInflate int
	gomemcache bool // WithGomemcachePlacement
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

// checkLibraryLine refuses to run when the libmemcached the process loaded
// is of another release line (major.minor) than the headers the package
// was compiled with: 1.0.18 and 1.1.x share a soname, so a binary built on
// one system can load the other's library, whose behaviors, hashes and
// return codes are numbered differently.
func checkLibraryLine(op, header, loaded string) error {
	line := func(v string) string {
		f := strings.SplitN(v, ".", 3)
		if len(f) < 2 {
			return v
		}
		return f[0] + "." + f[1]
	}
	if line(header) == line(loaded) {
		return nil
	}
	return errorf(op, "", ErrNotSupported, fmt.Sprintf(
		"compiled against libmemcached %s headers but loaded libmemcached %s: rebuild against the library the program runs with", header, loaded))
}

// New returns a client for servers, given as pylibmc accepts them: "host",
// "host:port", "host:port:weight", "[::1]:port" or "/path/to/socket".
// UDP servers ("udp:host:port") are refused with ErrNotSupported:
// libmemcached 1.1 no longer supports them.
//
// The behaviors (WithBehaviors) are set before the servers are added, as
// pylibmc and PHP Memcached code set them, and the distribution is built
// once: keys go where those clients put them given the same servers and
// behaviors (with a consistent distribution, a server weighing more than
// 1 makes the ring weighted, as libmemcached does for a server added under
// it). See docs/sharing.md.
func New(servers []string, opts ...Option) (*Client, error) {
	if !cgoAvailable {
		return nil, noCgo("New")
	}
	if err := checkLibraryLine("New", HeaderVersion, libraryVersion()); err != nil {
		return nil, err
	}
	if len(servers) == 0 {
		return nil, errorf("New", "", ErrNoServers, "no server given")
	}
	specs := make([]serverSpec, len(servers))
	for i, s := range servers {
		sp, err := parseServer(s)
		if err != nil {
			return nil, err
		}
		specs[i] = sp
	}
	o, err := parseOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := checkSettings("New", len(specs), o.behaviors); err != nil {
		return nil, err
	}
	m, ok := newCMaster()
	if !ok {
		return nil, errorf("New", "", ErrMemory, "memcached_create failed")
	}
	// The behaviors first, then the servers, as PHP Memcached and pylibmc
	// configure libmemcached (see golibmc_settle): the distribution is
	// built once, when every server is in.
	if err := configure(m, &o); err != nil {
		m.free()
		return nil, err
	}
	d := m.holdDistribution()
	for i, sp := range specs {
		if rc := m.addServer(sp.kind, sp.host, sp.port, sp.weight); !rc.Success() {
			msg := m.lastError()
			m.free()
			e := newError("New", "", rc, msg)
			e.Server = servers[i]
			return nil, e
		}
	}
	if rc := m.settle(d); !rc.Success() {
		msg := m.lastError()
		m.free()
		return nil, newError("New", "", rc, msg)
	}
	return newClient("New", m, o)
}

// NewFromConfig returns a client configured by a libmemcached configuration
// string (libmemcached_configuration(3)), e.g.
// "--SERVER=10.0.0.1:11211 --SERVER=10.0.0.2 --BINARY-PROTOCOL".
// An invalid string returns an error wrapping ErrInvalidArguments with
// libmemcached's description of the problem. Keys are placed as New places
// them given the same servers and behaviors, whether the string gives the
// behaviors before or after the servers; on libmemcached 1.0.x, whose
// parser overflows its continuum there (fixed in 1.1.0), a consistent
// --DISTRIBUTION before a server weighing more than 1 is refused with
// ErrNotSupported (give it after the servers).
func NewFromConfig(config string, opts ...Option) (*Client, error) {
	const op = "NewFromConfig"
	if !cgoAvailable {
		return nil, noCgo(op)
	}
	if err := checkLibraryLine(op, HeaderVersion, libraryVersion()); err != nil {
		return nil, err
	}
	if config == "" {
		return nil, errorf(op, "", ErrInvalidArguments, "empty configuration string")
	}
	if err := checkConfig(config); err != nil {
		return nil, err
	}
	m, msg := newCMasterFromConfig(config)
	if msg != "" {
		return nil, &Error{Op: op, Code: ReturnParseError, Message: cleanMessage(msg), sentinel: ErrInvalidArguments}
	}
	if m.serverCount() == 0 {
		m.free()
		return nil, &Error{Op: op, Message: "the configuration names no server", sentinel: ErrNoServers}
	}
	o, err := parseOptions(opts)
	if err == nil {
		err = checkSettings(op, m.serverCount(), o.behaviors)
	}
	if err == nil {
		err = configure(m, &o)
	}
	if err == nil {
		// The same placement as the behaviors given before the servers
		// (golibmc_settle), and a continuum built with the final key hash.
		if rc := m.settle(-1); !rc.Success() {
			err = newError(op, "", rc, m.lastError())
		}
	}
	if err != nil {
		m.free()
		return nil, err
	}
	return newClient(op, m, o)
}

// defaultBehaviors are set on every new client before the user's options:
// TCP_NODELAY for request latency, and SUPPORT_CAS so Get fills CasID.
// Neither affects key placement.
var defaultBehaviors = []behaviorSetting{
	{BehaviorTCPNoDelay, 1},
	{BehaviorSupportCAS, 1},
}

// parseOptions applies opts to the defaults.
func parseOptions(opts []Option) (options, error) {
	o := options{poolSize: DefaultPoolSize(), batching: true, pollMode: defaultPollMode}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// newClient makes a client of a configured master, settled (its
// distribution built), which it frees on failure.
func newClient(op string, m cMaster, o options) (*Client, error) {
	if err := checkMaster(op, m); err != nil {
		m.free()
		return nil, err
	}
	scratch := newScratchHandle()
	if scratch == nil {
		m.free()
		return nil, errorf(op, "", ErrMemory, "out of memory for the scratch handle")
	}
	c := &Client{master: m, scratch: scratch, pool: newPool(o.poolSize), opts: o}
	c.ejected.until = map[int]int64{}
	c.cfg.Store(c.readConfig(0))
	c.probes = make([]*probe, len(c.cfg.Load().servers))
	for i := range c.probes {
		c.probes[i] = &probe{sem: make(chan struct{}, 1)}
	}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// configure applies the defaults and the options to a new master.
func configure(m cMaster, o *options) error {
	for _, b := range append(append([]behaviorSetting(nil), defaultBehaviors...), o.behaviors...) {
		if rc := m.apply(b); !rc.Success() {
			return behaviorError("New", b.b, b.v, rc, m.lastError())
		}
	}
	if o.gomemcache {
		if err := setGomemcachePlacement(m); err != nil {
			return err
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

// settleMaster builds a changed master's distribution once from its
// settings (golibmc_settle) and checks it.
func settleMaster(op string, m cMaster) error {
	if rc := m.settle(-1); !rc.Success() {
		return newError(op, "", rc, m.lastError())
	}
	return checkMaster(op, m)
}

// checkMaster refuses a configuration the client cannot run safely,
// however it was made (options, configuration string, behaviors): UDP, a
// namespace that is not a valid key prefix, a behavior value out of range,
// and as many replicas as servers.
func checkMaster(op string, m cMaster) error {
	if m.behavior(BehaviorUseUDP) != 0 {
		return &Error{Op: op, Code: ReturnDeprecated, sentinel: ErrNotSupported,
			Message: "UDP is not supported: libmemcached " + HeaderVersion + " deprecated it, and a UDP request has no reply to report its outcome"}
	}
	if ns := m.namespace(); ns != "" {
		if p := namespaceProblem(ns); p != "" {
			return errorf(op, "", ErrMalformedKey, "namespace: "+p)
		}
	}
	for _, b := range behaviorTable {
		if err := b.check(op, m.behavior(b.b)); err != nil {
			return err
		}
	}
	if r, n := m.behavior(BehaviorNumberOfReplicas), m.serverCount(); r > 0 && r >= uint64(n) {
		return errorf(op, "", ErrInvalidArguments, fmt.Sprintf("num_replicas %d with %d servers: there must be fewer replicas than servers", r, n))
	}
	return nil
}

// readConfig snapshots the master at generation gen. c.mu is held (or c is new).
func (c *Client) readConfig(gen uint64) *config {
	m := c.master
	cfg := &config{
		gen:        gen,
		servers:    m.servers(c.scratch),
		namespace:  m.namespace(),
		hash:       m.keyHash(),
		poll:       time.Duration(m.behavior(BehaviorPollTimeout)) * time.Millisecond,
		autoEject:  m.behavior(BehaviorAutoEjectHosts) != 0,
		binary:     m.behavior(BehaviorBinaryProtocol) != 0,
		cas:        m.behavior(BehaviorSupportCAS) != 0,
		distribute: Distribution(m.behavior(BehaviorDistribution)),
	}
	cfg.maxKey = MaxKeyLen - len(cfg.namespace)
	cfg.ejectFor = int64(m.behavior(BehaviorDeadTimeout))
	if cfg.ejectFor == 0 {
		cfg.ejectFor = int64(m.behavior(BehaviorRetryTimeout))
	}
	cfg.names = make([]string, len(cfg.servers))
	for i, s := range cfg.servers {
		cfg.names[i] = s.name()
	}
	return cfg
}

// Close closes every connection and frees the C resources. Calls waiting
// for a handle return ErrClosed at once; calls in flight end within their
// own timeouts, and Close waits for them. Later calls return ErrClosed.
// Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed.Swap(true) {
		c.mu.Unlock()
		c.pool.close()
		return nil
	}
	runtime.SetFinalizer(c, nil)
	c.mu.Unlock()
	c.pool.close()
	for _, p := range c.probes {
		p.sem <- struct{}{} // waits for a command in flight on it
		if p.h != nil {
			p.h.free()
			p.h = nil
		}
	}
	c.mu.Lock()
	c.scratch.free()
	c.master.free()
	c.mu.Unlock()
	return nil
}

// begin checks that a call may start and returns the time it may take in
// ms (-1 for no deadline).
func (c *Client) begin(ctx context.Context, op, key string) (int32, error) {
	if ctx == nil {
		return 0, errorf(op, key, ErrInvalidArguments, "nil context")
	}
	if err := ctx.Err(); err != nil {
		return 0, ctxError(op, key, err)
	}
	if c.closed.Load() {
		return 0, errorf(op, key, ErrClosed, "")
	}
	ms := remainingMS(ctx)
	if ms == 0 {
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

// wait takes a handle for cl: at once if one is free and nobody waits,
// else in line. lead is false when another call's batch carried cl (its
// result is in cl.result).
func (c *Client) wait(cl *call, key string) (g grant, lead bool, err error) {
	g, ok, err := c.pool.take(cl)
	sent := false
	if err == nil && !ok {
		g, lead, sent, err = c.pool.await(cl)
		if err == nil && !lead {
			return grant{}, false, nil
		}
	}
	var e *Error
	switch {
	case err == nil:
		return g, true, nil
	case err == ErrClosed:
		e = errorf(cl.op, key, ErrClosed, "")
	default:
		e = ctxError(cl.op, key, err)
	}
	e.sent = sent // its batch sends it all the same
	return grant{}, false, e
}

// prepare readies a granted handle: a slot without one, or a handle cloned
// before the last configuration change, gets a fresh clone of the master;
// servers ejected since it was last used are ejected on it too. On failure
// the slot goes back to the pool.
func (c *Client) prepare(h *handle, op, key string, batchable bool) (*handle, *config, error) {
	cfg := c.cfg.Load()
	if h == nil || h.gen != cfg.gen {
		if h != nil {
			h.w.drop()
			h.c.free()
		}
		c.mu.Lock()
		cfg = c.cfg.Load()
		var ch *cHandle
		msg := "client closed"
		ep := c.ejected.epoch.Load()
		if !c.closed.Load() {
			ch, msg = c.master.newHandle(c.ejected.list())
		}
		c.mu.Unlock()
		if ch == nil {
			c.pool.release(nil, batchable)
			if c.closed.Load() {
				return nil, nil, errorf(op, key, ErrClosed, "")
			}
			return nil, nil, errorf(op, key, ErrFailure, msg)
		}
		h = &handle{c: ch, gen: cfg.gen, ejEpoch: ep}
	}
	if ep := c.ejected.epoch.Load(); h.ejEpoch != ep {
		idx, until := c.ejected.list()
		h.c.applyEjections(idx, until)
		h.ejEpoch = ep
	}
	inFlight.Add(1)
	return h, cfg, nil
}

// release settles a handle after a call and gives it back: a handle whose
// connections are not proven in step is disconnected first (memcached_quit),
// so a reply left on one can never be read as another request's answer.
func (c *Client) release(h *handle, cfg *config, batchable bool) {
	inFlight.Add(-1)
	h.srv = h.c.servers(h.srv)
	broken := h.broken
	for i, s := range h.srv {
		if s.unsync || s.pending > 0 || s.unread > 0 || !inStep(kindOther, s.rc) {
			broken = true
		}
		if s.rc != ReturnSuccess {
			h.w.drop() // its connections may have changed
		}
		if s.rc == ReturnServerMarkedDead && cfg.autoEject {
			c.eject(i, cfg)
		}
	}
	if broken {
		h.c.quit()
		h.w.drop()
		h.broken = false
	}
	c.pool.release(h, batchable)
}

// outcome notes one key's outcome of an operation of kind k on h: an
// outcome that does not prove the connection in step marks the handle for
// a reconnect, and a server that libmemcached ejected is ejected on every
// handle.
func (c *Client) outcome(h *handle, cfg *config, k opKind, rc ReturnCode, server int) {
	if !inStep(k, rc) {
		h.broken = true
	}
	if rc == ReturnServerMarkedDead && cfg.autoEject && server >= 0 {
		c.eject(server, cfg)
	}
}

// do runs fn alone with a handle (commands that cannot share a round
// trip): begin, wait for a handle, fn, release.
func (c *Client) do(ctx context.Context, op, key string, fn func(h *handle, cfg *config, ms int32) error) error {
	if _, err := c.begin(ctx, op, key); err != nil {
		return err
	}
	cl := getCall(ctx, kindSolo, op, nil, nil)
	g, _, err := c.wait(cl, key)
	putCall(cl)
	if err != nil {
		return err
	}
	h, cfg, err := c.prepare(g.h, op, key, false)
	if err != nil {
		return err
	}
	ms := remainingMS(ctx) // the time left after waiting in line
	if ms == 0 {
		err = ctxError(op, key, context.DeadlineExceeded)
	} else {
		err = fn(h, cfg, ms)
	}
	c.release(h, cfg, false)
	return err
}

// keyError builds the error of one key's failed outcome, with the server
// and message captured by the same C call.
func (c *Client) keyError(ctx context.Context, cfg *config, op string, k opKind, key string, r keyResult) *Error {
	e := &Error{Op: op, Key: key, Code: r.rc, Message: r.msg, sentinel: sentinelFor(k, r.rc), sent: r.sent}
	if r.server >= 0 && r.server < len(cfg.names) {
		e.Server = cfg.names[r.server]
	}
	return withContext(ctx, e)
}

// withContext records the context's error on e when it caused the failure.
func withContext(ctx context.Context, e *Error) *Error {
	if err := ctx.Err(); err != nil {
		e.ctxErr = err
	} else if dl, ok := ctx.Deadline(); ok && e.Code == ReturnTimeout && time.Until(dl) < 5*time.Millisecond {
		// The call's timeout was the deadline's (rounded up to a millisecond);
		// the context's own timer may fire a moment later.
		e.ctxErr = context.DeadlineExceeded
	}
	return e
}

// changeMaster runs fn on the master under c.mu; when fn changed it, the
// configuration is read again and every pooled handle is re-cloned before
// its next call.
func (c *Client) changeMaster(op string, fn func(m cMaster) (changed bool, err error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return errorf(op, "", ErrClosed, "")
	}
	changed, err := fn(c.master)
	if changed {
		c.cfg.Store(c.readConfig(c.cfg.Load().gen + 1))
		c.ejected.reset()
		for _, h := range c.pool.takeIdle() {
			h.c.free()
		}
	}
	return err
}

// withMaster runs fn on the master (and the scratch handle whose buffer
// placement queries use), under c.mu, unless the client is closed.
func (c *Client) withMaster(op string, fn func(m cMaster, scratch *cHandle) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return errorf(op, "", ErrClosed, "")
	}
	return fn(c.master, c.scratch)
}

// DisconnectAll closes every pooled connection (pylibmc's disconnect_all);
// the next call reconnects. Handles in use are closed when they come back.
func (c *Client) DisconnectAll() error {
	return c.changeMaster("DisconnectAll", func(cMaster) (bool, error) { return true, nil })
}

// PoolStats describes a client's pool of libmemcached handles.
type PoolStats struct {
	Size   int // the bound set by WithPoolSize
	Open   int // handles created and not yet freed (each has its own connections)
	InUse  int // handles lent to calls in flight
	Queued int // calls waiting in line for a handle

	// Implicit pipelining (see WithBatching), since the client was made:
	Batches uint64 // round trips that carried calls from the line
	Carried uint64 // calls that went in a batch another call led
}

// PoolStats returns the pool's current state.
func (c *Client) PoolStats() PoolStats {
	return c.pool.stats()
}

// checkKey validates a key for op against the namespace in force.
func checkKey(cfg *config, op, key string) error {
	if validKey(key, cfg.maxKey) {
		return nil
	}
	return errorf(op, key, ErrMalformedKey, keyProblem(key, cfg.maxKey, cfg.namespace))
}

// ejections are the servers libmemcached ejected (auto_eject) on one
// handle, shared with every other handle and the master so that they all
// send a key where ServerForKey says, until the server is retried.
type ejections struct {
	mu    sync.Mutex
	epoch atomic.Uint64
	until map[int]int64 // server index -> Unix time it is retried
}

// eject records that server i was ejected, and ejects it on the master.
func (c *Client) eject(i int, cfg *config) {
	until := time.Now().Unix() + cfg.ejectFor
	c.ejected.mu.Lock()
	if c.ejected.until[i] >= until {
		c.ejected.mu.Unlock()
		return
	}
	c.ejected.until[i] = until
	c.ejected.epoch.Add(1)
	c.ejected.mu.Unlock()
	c.mu.Lock()
	if !c.closed.Load() && c.cfg.Load().gen == cfg.gen {
		c.master.applyEjections([]uint32{uint32(i)}, []int64{until})
	}
	c.mu.Unlock()
}

// list returns the ejections still in force.
func (e *ejections) list() ([]uint32, []int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now().Unix()
	var idx []uint32
	var until []int64
	for i, t := range e.until {
		if t > now {
			idx = append(idx, uint32(i))
			until = append(until, t)
		} else {
			delete(e.until, i)
		}
	}
	return idx, until
}

func (e *ejections) reset() {
	e.mu.Lock()
	clear(e.until)
	e.epoch.Add(1)
	e.mu.Unlock()
}
