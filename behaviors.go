package libmemcached

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// valueKind says what values a behavior takes.
type valueKind int

const (
	valueBool valueKind = iota
	valueInt
	valueHash
	valueDistribution
)

// behaviorInfo describes one behavior by its pylibmc name.
type behaviorInfo struct {
	name string
	b    Behavior
	kind valueKind
	min  uint64 // smallest value accepted (valueInt, valueBool)
	max  uint64 // largest value accepted (valueInt, valueBool)
	doc  string // meaning and unit, for errors and the README table
	why  string // why values above max are refused, when that is not obvious
}

// The limits keep every value inside what libmemcached and the OS accept
// (see docs/failure-handling.md, "Guarded assertions"): libmemcached checks
// almost none itself, and some values abort the process later.
const (
	maxInt32  = math.MaxInt32
	maxUint32 = math.MaxUint32
	// maxKeepIdle is Linux's MAX_TCP_KEEPIDLE: setsockopt(TCP_KEEPIDLE)
	// refuses more, and libmemcached asserts it succeeded (connect.cc).
	maxKeepIdle = 32767
)

// behaviorTable lists the behaviors settable by name: pylibmc 1.6.3's
// all_behaviors first, in its order, then libmemcached behaviors pylibmc
// lacks. Behaviors() reports them in this order. SetBehaviors applies a map
// in this order too, so the result does not depend on map iteration.
var behaviorTable = []behaviorInfo{
	{"no_block", BehaviorNoBlock, valueBool, 0, 1, "asynchronous I/O: writes may return before the server answered", ""},
	{"tcp_nodelay", BehaviorTCPNoDelay, valueBool, 0, 1, "TCP_NODELAY on connections (on by default in this client)", ""},
	{"tcp_keepalive", BehaviorTCPKeepAlive, valueBool, 0, 1, "SO_KEEPALIVE on connections", ""},
	{"hash", BehaviorHash, valueHash, 0, 0, "key hash algorithm, by name", ""},
	{"ketama_hash", BehaviorKetamaHash, valueHash, 0, 0, "hash used to build the consistent continuum, by name", ""},
	{"ketama", BehaviorKetama, valueBool, 0, 1, "true: distribution \"consistent ketama\" (keeps the key hash); false: modula", ""},
	{"ketama_weighted", BehaviorKetamaWeighted, valueBool, 0, 1, "true: md5 key hash, md5 continuum, weighted (PHP Memcached's OPT_LIBKETAMA_COMPATIBLE)", ""},
	{"distribution", BehaviorDistribution, valueDistribution, 0, 0, "server distribution, by name", ""},
	{"cas", BehaviorSupportCAS, valueBool, 0, 1, "use gets so Get fills CasID (on by default in this client)", ""},
	{"buffer_requests", BehaviorBufferRequests, valueBool, 0, 0, "buffer storage commands until a read or flush",
		"this client sends every Set at once and reports its outcome (SetMulti sends a batch back to back); buffered stores would stay unsent and unanswered"},
	{"verify_keys", BehaviorVerifyKey, valueBool, 0, 1, "libmemcached also checks keys (this client always checks them in Go); ASCII protocol only", ""},
	{"connect_timeout", BehaviorConnectTimeout, valueInt, 1, maxInt32, "connect timeout, milliseconds (0 would fail every connect at once)", ""},
	{"send_timeout", BehaviorSndTimeout, valueInt, 0, maxInt32, "SO_SNDTIMEO, microseconds (0: none)", ""},
	{"receive_timeout", BehaviorRcvTimeout, valueInt, 0, maxInt32, "SO_RCVTIMEO, microseconds (0: none)", ""},
	{"num_replicas", BehaviorNumberOfReplicas, valueInt, 0, maxUint32, "number of extra copies stored on other servers (binary protocol; fewer than the servers)", ""},
	{"auto_eject", BehaviorAutoEjectHosts, valueBool, 0, 1, "remove a server from the distribution after failure_limit failures", ""},
	{"retry_timeout", BehaviorRetryTimeout, valueInt, 0, maxInt32, "seconds before a failed server is tried again", ""},
	{"remove_failed", BehaviorRemoveFailedServers, valueBool, 0, 1, "same switch as auto_eject (on libmemcached 1.0.18 too)", ""},
	{"failure_limit", BehaviorServerFailureLimit, valueInt, 1, maxUint32, "consecutive failures before a server is marked failed", ""},
	{"_io_msg_watermark", BehaviorIOMsgWatermark, valueInt, 0, maxUint32, "buffered messages before an mget reads replies", ""},
	{"_io_bytes_watermark", BehaviorIOBytesWatermark, valueInt, 0, maxUint32, "buffered bytes before an mget reads replies", ""},
	{"_io_key_prefetch", BehaviorIOKeyPrefetch, valueInt, 0, maxUint32, "keys sent before an mget reads replies", ""},
	{"_hash_with_prefix_key", BehaviorHashWithPrefixKey, valueBool, 0, 1, "hash the namespace prefix together with the key", ""},
	{"_noreply", BehaviorNoReply, valueBool, 0, 1, "ask servers not to answer storage commands (errors are then lost)", ""},
	{"_sort_hosts", BehaviorSortHosts, valueBool, 0, 1, "sort servers by name before distributing (modula placement then ignores list order)", ""},
	{"_poll_timeout", BehaviorPollTimeout, valueInt, 1, maxInt32, "timeout of each wait for a server's answer, milliseconds (0 would fail every call at once)", ""},
	{"_socket_send_size", BehaviorSocketSendSize, valueInt, 0, maxInt32, "SO_SNDBUF, bytes (0: system default)", ""},
	{"_socket_recv_size", BehaviorSocketRecvSize, valueInt, 0, maxInt32, "SO_RCVBUF, bytes (0: system default)", ""},
	{"dead_timeout", BehaviorDeadTimeout, valueInt, 0, maxInt32, "seconds an ejected server stays dead before it is retried", ""},
	// libmemcached behaviors pylibmc does not list.
	{"binary_protocol", BehaviorBinaryProtocol, valueBool, 0, 1, "use the binary protocol (needed for SASL and replicas)", ""},
	{"use_udp", BehaviorUseUDP, valueBool, 0, 0, "use UDP",
		"libmemcached 1.1 deprecated UDP servers, and a UDP request has no reply to report its outcome"},
	{"server_timeout_limit", BehaviorServerTimeoutLimit, valueInt, 0, maxUint32, "consecutive timeouts before a server is marked failed (0: off)", ""},
	{"randomize_replica_read", BehaviorRandomizeReplicaRead, valueBool, 0, 1, "read from a random replica", ""},
	{"tcp_keepidle", BehaviorTCPKeepIdle, valueInt, 0, maxKeepIdle, "TCP_KEEPIDLE, seconds (Linux accepts at most 32767)", ""},
}

// check reports whether v is a value of the behavior this client accepts.
func (bi *behaviorInfo) check(op string, v uint64) error {
	if bi.kind == valueHash || bi.kind == valueDistribution || (v >= bi.min && v <= bi.max) {
		return nil
	}
	if bi.why != "" {
		return &Error{Op: op, sentinel: ErrNotSupported, Message: fmt.Sprintf("behavior %q = %d is not supported: %s", bi.name, v, bi.why)}
	}
	return errorf(op, "", ErrInvalidArguments, fmt.Sprintf("behavior %q: %d is not valid; want %s", bi.name, v, bi.want()))
}

// behaviorAliases are the spellings of pylibmc's original README, mapped to
// the 1.6 names.
var behaviorAliases = map[string]string{
	"connect timeout": "connect_timeout",
	"buffer requests": "buffer_requests",
	"verify key":      "verify_keys",
	"support cas":     "cas",
	"poll timeout":    "_poll_timeout",
	"no block":        "no_block",
	"tcp nodelay":     "tcp_nodelay",
	"sort hosts":      "_sort_hosts",
}

// deprecatedBehaviors are names libmemcached 1.x no longer supports.
var deprecatedBehaviors = map[string]string{
	"cache lookups": "MEMCACHED_BEHAVIOR_CACHE_LOOKUPS is deprecated in libmemcached 1.x (memcached_behavior_set returns MEMCACHED_DEPRECATED)",
	"cache_lookups": "MEMCACHED_BEHAVIOR_CACHE_LOOKUPS is deprecated in libmemcached 1.x (memcached_behavior_set returns MEMCACHED_DEPRECATED)",
}

// hashNames are pylibmc's names of the hash algorithms, plus murmur3 and
// this package's crc32.
var hashNames = map[string]Hash{
	"default": HashDefault, "md5": HashMD5, "crc": HashCRC, "fnv1_64": HashFNV164,
	"fnv1a_64": HashFNV1a64, "fnv1_32": HashFNV132, "fnv1a_32": HashFNV1a32,
	"hsieh": HashHsieh, "murmur": HashMurmur, "jenkins": HashJenkins, "murmur3": HashMurmur3,
	"crc32": HashCRC32,
}

// distributionNames are pylibmc's names of the distributions.
var distributionNames = map[string]Distribution{
	"modula": DistributionModula, "consistent": DistributionConsistent,
	"consistent ketama": DistributionConsistentKetama, "random": DistributionRandom,
	"consistent ketama spy": DistributionConsistentKetamaSpy,
	"consistent weighted":   DistributionConsistentWeighted,
	"virtual bucket":        DistributionVirtualBucket,
	"consistent max":        DistributionConsistentMax,
}

// Name returns pylibmc's name of the hash ("fnv1a_32"), or "" if it has none.
func (h Hash) Name() string { return nameOf(hashNames, h) }

// Name returns pylibmc's name of the distribution ("consistent ketama"), or "" if it has none.
func (d Distribution) Name() string { return nameOf(distributionNames, d) }

func nameOf[T comparable](m map[string]T, v T) string {
	for k, x := range m {
		if x == v {
			return k
		}
	}
	return ""
}

func choices[T any](m map[string]T) string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, fmt.Sprintf("%q", k))
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

var behaviorByName, behaviorByValue = func() (map[string]*behaviorInfo, map[Behavior]*behaviorInfo) {
	m := make(map[string]*behaviorInfo, len(behaviorTable))
	v := make(map[Behavior]*behaviorInfo, len(behaviorTable))
	for i := range behaviorTable {
		m[behaviorTable[i].name] = &behaviorTable[i]
		v[behaviorTable[i].b] = &behaviorTable[i]
	}
	return m, v
}()

// BehaviorNames lists the behavior names SetBehaviors accepts and Behaviors
// reports, in table order (pylibmc's all_behaviors first).
func BehaviorNames() []string {
	names := make([]string, len(behaviorTable))
	for i, bi := range behaviorTable {
		names[i] = bi.name
	}
	return names
}

// behaviorSetting is one behavior and its libmemcached value.
type behaviorSetting struct {
	b Behavior
	v uint64
}

func behaviorNameList() string {
	return strings.Join(BehaviorNames(), " ")
}

// lookupBehavior resolves a pylibmc name or alias.
func lookupBehavior(op, name string) (*behaviorInfo, error) {
	if canon, ok := behaviorAliases[name]; ok {
		name = canon
	}
	if why, ok := deprecatedBehaviors[name]; ok {
		return nil, &Error{Op: op, Code: ReturnDeprecated, Message: "behavior " + fmt.Sprintf("%q", name) + ": " + why, sentinel: ErrNotSupported}
	}
	bi, ok := behaviorByName[name]
	if !ok {
		return nil, errorf(op, "", ErrInvalidArguments, fmt.Sprintf("unknown behavior %q; valid names: %s", name, behaviorNameList()))
	}
	return bi, nil
}

// convert turns a Go value into the behavior's libmemcached value.
func (bi *behaviorInfo) convert(op string, v any) (uint64, error) {
	bad := func(want string) (uint64, error) {
		return 0, errorf(op, "", ErrInvalidArguments, fmt.Sprintf("behavior %q: %v (%T) is not valid; want %s", bi.name, v, v, want))
	}
	switch bi.kind {
	case valueHash:
		if n, ok := byName(v, hashNames, func(h Hash) bool { return h >= 0 && h < HashMax && h != HashCustom || h == HashCRC32 }); ok {
			return n, nil
		}
		return bad("one of " + choices(hashNames))
	case valueDistribution:
		if n, ok := byName(v, distributionNames, func(d Distribution) bool { return d >= 0 && d < DistributionConsistentMax }); ok {
			return n, nil
		}
		return bad("one of " + choices(distributionNames))
	}
	var n uint64
	switch x := v.(type) {
	case bool:
		if x {
			n = 1
		}
	case int, int8, int16, int32, int64:
		i := toInt64(x)
		if i < 0 {
			return bad(bi.want())
		}
		n = uint64(i)
	case uint, uint8, uint16, uint32, uint64:
		n = toUint64(x)
	case float64: // as decoded from JSON
		if x < 0 || x != math.Trunc(x) || x > math.MaxUint32 {
			return bad(bi.want())
		}
		n = uint64(x)
	default:
		return bad(bi.want())
	}
	return n, bi.check(op, n)
}

func (bi *behaviorInfo) want() string {
	if bi.kind == valueBool {
		return "a bool (or 0/1)"
	}
	return fmt.Sprintf("an integer from %d to %d (%s)", bi.min, bi.max, bi.doc)
}

// byName reads the value of an enum given by name (a string) or as its
// typed constant, which valid accepts.
func byName[T ~int | ~int32 | ~uint32](v any, names map[string]T, valid func(T) bool) (uint64, bool) {
	switch x := v.(type) {
	case string:
		if n, ok := names[x]; ok {
			return uint64(n), true
		}
	case T:
		if valid(x) {
			return uint64(x), true
		}
	}
	return 0, false
}

// resolveBehaviors validates a name -> value map into settings in table order.
func resolveBehaviors(op string, m map[string]any) ([]behaviorSetting, error) {
	var list []behaviorSetting
	for name, v := range m {
		bi, err := lookupBehavior(op, name)
		if err != nil {
			return nil, err
		}
		n, err := bi.convert(op, v)
		if err != nil {
			return nil, err
		}
		list = append(list, behaviorSetting{bi.b, n})
	}
	pos := map[Behavior]int{}
	for i, bi := range behaviorTable {
		pos[bi.b] = i
	}
	// The transport switches go first: libmemcached resets other flags when
	// they change (use_udp turns replies back on, so _noreply would be lost;
	// the binary protocol turns verify_keys off).
	pos[BehaviorUseUDP], pos[BehaviorBinaryProtocol] = -2, -1
	sort.Slice(list, func(i, j int) bool { return pos[list[i].b] < pos[list[j].b] })
	return list, nil
}

// checkSettings refuses settings that would make libmemcached abort:
// behaviors out of the enum or out of range, and a consistent distribution
// over more servers than its continuum holds.
func checkSettings(op string, servers int, s []behaviorSetting) error {
	for _, x := range s {
		if x.b < 0 || x.b >= BehaviorMax {
			return errorf(op, "", ErrInvalidArguments, fmt.Sprintf("behavior %d out of range", x.b))
		}
		if bi := behaviorByValue[x.b]; bi != nil {
			if err := bi.check(op, x.v); err != nil {
				return err
			}
		}
		if why := hashValueProblem(x.b, x.v); why != "" {
			return errorf(op, "", ErrInvalidArguments, why)
		}
		if why := hashProblem(x.b, x.v); why != "" {
			return errorf(op, "", ErrNotSupported, why)
		}
		consistent := (x.b == BehaviorKetama || x.b == BehaviorKetamaWeighted) && x.v != 0 ||
			x.b == BehaviorDistribution && isConsistent(Distribution(x.v))
		if consistent && servers > maxConsistentServers {
			return errorf(op, "", ErrNotSupported, fmt.Sprintf("%s with %d servers: a consistent distribution holds at most %d (libmemcached asserts beyond)", x.b, servers, maxConsistentServers))
		}
	}
	return nil
}

// hashProblem says why the loaded libmemcached cannot place keys with hash
// value v as behavior b ("hash", "ketama_hash"), or "" when it can.
// libmemcached 1.0.18 takes murmur3 but hashes with murmur instead (fixed
// in 1.1.0), so keys would not land where murmur3 clients put them.
func hashProblem(b Behavior, v uint64) string {
	if (b == BehaviorHash || b == BehaviorKetamaHash) && v == uint64(HashMurmur3) && strings.HasPrefix(libraryVersion(), "1.0.") {
		return fmt.Sprintf("%s = murmur3 is not supported by libmemcached %s, which hashes with murmur instead (fixed in 1.1.0)", b, libraryVersion())
	}
	return ""
}

// isConsistent reports whether d places keys on a continuum.
func isConsistent(d Distribution) bool {
	switch d {
	case DistributionConsistent, DistributionConsistentKetama, DistributionConsistentKetamaSpy, DistributionConsistentWeighted:
		return true
	}
	return false
}

// behaviorError explains libmemcached's refusal of a behavior value.
func behaviorError(op string, b Behavior, v uint64, rc ReturnCode, msg string) error {
	e := newError(op, "", rc, fmt.Sprintf("%s = %d: %s", b, v, msg))
	if (b == BehaviorHash || b == BehaviorKetamaHash) && hashRefused(e, v) {
		e.Message = fmt.Sprintf("hash %q is not supported by this libmemcached %s build (%s)", Hash(v).Name(), libraryVersion(), msg)
	}
	if b == BehaviorDistribution && v == uint64(DistributionConsistentMax) {
		e.Message = "distribution \"consistent max\" is the enum's end marker, which libmemcached refuses (" + msg + ")"
	}
	return e
}

// SetBehavior sets one libmemcached behavior to its raw value, as
// memcached_behavior_set does, after the same range checks as SetBehaviors.
// It applies to every call from the next one on.
func (c *Client) SetBehavior(b Behavior, value uint64) error {
	return c.applyBehaviors("SetBehavior", []behaviorSetting{{b, value}})
}

// SetBehaviors sets behaviors by pylibmc name (e.g. {"hash": "fnv1a_32",
// "distribution": "consistent ketama", "tcp_nodelay": true,
// "connect_timeout": 500}). Either all are applied or, on an error naming
// the valid choices, none. They are applied in BehaviorNames order, except
// use_udp and binary_protocol, which go first (libmemcached resets other
// flags when they change; it also refuses verify_keys with the binary
// protocol). Every behavior not in m keeps its value, and keys move only
// when m changes placement (hash, distribution, ketama, ketama_weighted,
// _sort_hosts): they then go where a client given all its behaviors
// before its servers puts them (see New), except that turning _sort_hosts
// off keeps the servers in the sorted order, as libmemcached does.
func (c *Client) SetBehaviors(m map[string]any) error {
	s, err := resolveBehaviors("SetBehaviors", m)
	if err != nil {
		return err
	}
	return c.applyBehaviors("SetBehaviors", s)
}

// applyBehaviors applies settings to a copy of the master and swaps it in
// only if libmemcached accepted all of them and the result passes the
// checks a new client passes. The copy keeps every other behavior, and
// the placement ends as a client given all its behaviors before its
// servers places keys (golibmc_settle).
func (c *Client) applyBehaviors(op string, s []behaviorSetting) error {
	if err := checkSettings(op, len(c.e.cfg.Load().servers), s); err != nil {
		return err
	}
	if err := c.checkPlacementChange(op, s); err != nil {
		return err
	}
	return c.e.changeMaster(op, func(m cMaster) (bool, error) {
		// A checked copy of the master (every behavior, the weighted flag
		// memcached_clone drops), changed only where s says, and settled:
		// placement moves only when s changes it.
		next, msg := m.cloneForChange()
		if msg != "" {
			return false, errorf(op, "", ErrFailure, msg)
		}
		for _, x := range s {
			if rc := next.apply(x.b, x.v); !rc.Success() {
				err := behaviorError(op, x.b, x.v, rc, next.lastError())
				next.free()
				return false, err
			}
		}
		if err := settleMaster(op, next); err != nil {
			next.free()
			return false, err
		}
		m.free()
		c.e.master = next
		return true, nil
	})
}

// Behavior returns the current value of one libmemcached behavior.
func (c *Client) Behavior(b Behavior) (uint64, error) {
	if b < 0 || b >= BehaviorMax {
		return 0, errorf("Behavior", "", ErrInvalidArguments, fmt.Sprintf("behavior %d out of range", b))
	}
	var v uint64
	err := c.e.withMaster("Behavior", func(m cMaster, _ *cHandle) error {
		v = m.behavior(b)
		if b == BehaviorHash {
			v = uint64(m.keyHash())
		}
		return nil
	})
	return v, err
}

// Behaviors returns every behavior of BehaviorNames with its value:
// uint64 for flags and numbers (as pylibmc reports them), and names
// (string) for hash, ketama_hash and distribution.
func (c *Client) Behaviors() (map[string]any, error) {
	out := make(map[string]any, len(behaviorTable))
	err := c.e.withMaster("Behaviors", func(m cMaster, _ *cHandle) error {
		for _, bi := range behaviorTable {
			v := m.behavior(bi.b)
			if bi.b == BehaviorHash {
				v = uint64(m.keyHash())
			}
			switch bi.kind {
			case valueHash:
				out[bi.name] = Hash(v).Name()
			case valueDistribution:
				out[bi.name] = Distribution(v).Name()
			default:
				out[bi.name] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// hashValueProblem says why v is not a value of hash behavior b, or "":
// libmemcached leaves the hash as it was and reports success for a value
// past its enum.
func hashValueProblem(b Behavior, v uint64) string {
	if b != BehaviorHash && b != BehaviorKetamaHash {
		return ""
	}
	switch {
	case v == uint64(HashCRC32) && b == BehaviorKetamaHash:
		return `ketama_hash "crc32" is not supported: the CRC-32 is a custom key hash ("hash"), and libmemcached takes ketama_hash as one of its own algorithms`
	case v == uint64(HashCRC32):
		return ""
	case v >= uint64(HashMax):
		return fmt.Sprintf("%s = %d is not a hash algorithm; want one of %s", b, v, choices(hashNames))
	}
	return ""
}

// placementBehaviors are the behaviors that change the key hash or the
// distribution; a client with gomemcache's placement refuses them.
var placementBehaviors = []Behavior{BehaviorHash, BehaviorDistribution, BehaviorKetama, BehaviorKetamaWeighted, BehaviorSortHosts}

// checkPlacementChange refuses, on a client with gomemcache's placement, a
// behavior change that would replace its hash or distribution.
func (c *Client) checkPlacementChange(op string, s []behaviorSetting) error {
	if !c.gomemcache {
		return nil
	}
	for _, x := range s {
		for _, b := range placementBehaviors {
			if x.b == b {
				return errorf(op, "", ErrInvalidArguments, fmt.Sprintf(
					"%s cannot change on a client with gomemcache's placement (WithGomemcachePlacement): it would move most keys; make a second client to change placement", x.b))
			}
		}
	}
	return nil
}

// settleMaster builds a changed master's distribution once from its
// settings (golibmc_settle) and checks it.
func settleMaster(op string, m cMaster) error {
	if rc := m.settle(-1, -1); !rc.Success() {
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
