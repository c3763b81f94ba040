package libmemcached

// Making a client: New and NewFromConfig, the options applied to the master
// they configure, and the checks a configuration passes before a client
// runs it.

import (
	"fmt"
	"runtime"
	"strings"
)

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
	privateLayout()
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
	weighted := 0 // a server weighs more than 1 (see golibmc_settle)
	for i, sp := range specs {
		if sp.weight > 1 {
			weighted = 1
		}
		if rc := m.addServer(sp.kind, sp.host, sp.port, sp.weight); !rc.Success() {
			msg := m.lastError()
			m.free()
			e := newError("New", "", rc, msg)
			e.Server = servers[i]
			return nil, e
		}
	}
	if rc := m.settle(d, weighted); !rc.Success() {
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
	privateLayout()
	if err := checkLibraryLine(op, HeaderVersion, libraryVersion()); err != nil {
		return nil, err
	}
	if config == "" {
		return nil, errorf(op, "", ErrInvalidArguments, "empty configuration string")
	}
	if err := checkConfig(config, libraryVersion()); err != nil {
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
		if rc := m.settle(-1, -1); !rc.Success() {
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
	o := options{poolSize: DefaultPoolSize(), batching: defaultBatching, pollMode: defaultPollMode}
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
	e := &engine{master: m, scratch: scratch, pool: newPool(o.poolSize), pollMode: o.pollMode, batching: o.batching,
		watch: newWatchers(o.observers)}
	e.ejected.until = map[int]int64{}
	e.cfg.Store(e.readConfig(0))
	e.probes = make([]*probe, len(e.cfg.Load().servers))
	for i := range e.probes {
		e.probes[i] = &probe{sem: make(chan struct{}, 1)}
	}
	c := &Client{e: e, codec: o.codec, compress: o.compress, maxInflate: o.maxInflate, gomemcache: o.gomemcache}
	runtime.SetFinalizer(c, (*Client).Close)
	return c, nil
}

// configure applies the defaults and the options to a new master.
func configure(m cMaster, o *options) error {
	for _, b := range append(append([]behaviorSetting(nil), defaultBehaviors...), o.behaviors...) {
		if rc := m.apply(b.b, b.v); !rc.Success() {
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
