package libmemcached

// Every option a client is made with (Option).

import (
	"compress/zlib"
	"runtime"
)

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
	observers  []Observer
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

// WithBatching turns implicit pipelining on or off (on by default; the
// environment variable GOLIBMC_BATCHING=off makes off the default, as the
// test suite's batching-off pass does). While
// every handle of the pool is busy, the Gets, Sets and Deletes (and their
// multi-key forms) that other goroutines issue wait in line, and the next
// free handle sends all of them in one round trip: one memcached_mget for
// the reads, the stores written back to back. Each caller gets its own
// result and error exactly as if it had called alone. A call that finds a
// handle free goes out at once: nothing waits for a batch to fill.
func WithBatching(on bool) Option {
	return func(o *options) error {
		o.batching = on
		return nil
	}
}

// WithPollMode sets where calls wait for replies (see PollMode).
func WithPollMode(m PollMode) Option {
	return func(o *options) error {
		if m < PollAuto || m > PollNever {
			return errorf("WithPollMode", "", ErrInvalidArguments, "unknown poll mode "+itoa(int64(m)))
		}
		o.pollMode = m
		return nil
	}
}

// WithNamespace prefixes every key with prefix on the wire, using
// libmemcached's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY, which PHP
// Memcached's OPT_PREFIX_KEY sets). Callers use unprefixed keys. Whether the
// prefix takes part in placement follows the _hash_with_prefix_key behavior
// (off by default: only the key is hashed). The prefix is 1 to 127 bytes of
// printable ASCII (0x21-0x7e) and leaves 250 - len(prefix) bytes for keys;
// the same holds for a namespace set by NewFromConfig's --NAMESPACE.
func WithNamespace(prefix string) Option {
	return func(o *options) error {
		if prefix == "" {
			return errorf("WithNamespace", "", ErrMalformedKey, "empty namespace")
		}
		if p := namespaceProblem(prefix); p != "" {
			return errorf("WithNamespace", "", ErrMalformedKey, p)
		}
		o.namespace = prefix
		return nil
	}
}

// WithCodec sets the Codec of SetValue and GetValue (default PylibmcCodec).
func WithCodec(codec Codec) Option {
	return func(o *options) error {
		if codec == nil {
			return errorf("WithCodec", "", ErrInvalidArguments, "nil codec")
		}
		o.codec = codec
		return nil
	}
}

// WithCompression zlib-compresses values of at least minLen bytes at level
// (1-9, or -1 for zlib's default) in SetValue, like pylibmc's
// min_compress_len and compress_level; a value is stored compressed only if
// that makes it smaller. Off by default. Compressed values (flag 8) are
// always decompressed by GetValue, whatever this setting.
func WithCompression(minLen, level int) Option {
	return func(o *options) error {
		if minLen < 1 {
			return errorf("WithCompression", "", ErrInvalidArguments, "minLen must be at least 1")
		}
		if level != zlib.DefaultCompression && (level < zlib.BestSpeed || level > zlib.BestCompression) {
			return errorf("WithCompression", "", ErrInvalidArguments, "level must be 1-9 or -1")
		}
		o.compress = compression{minLen: minLen, level: level}
		return nil
	}
}

// WithMaxDecompressedSize changes DefaultMaxDecompressedSize.
func WithMaxDecompressedSize(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return errorf("WithMaxDecompressedSize", "", ErrInvalidArguments, "size must be positive")
		}
		o.maxInflate = n
		return nil
	}
}

// WithBehaviors sets behaviors by pylibmc name when the client is created,
// after the client's defaults; see SetBehaviors.
func WithBehaviors(m map[string]any) Option {
	return func(o *options) error {
		s, err := resolveBehaviors("WithBehaviors", m)
		if err != nil {
			return err
		}
		o.behaviors = append(o.behaviors, s...)
		return nil
	}
}

// WithGomemcachePlacement places keys as github.com/bradfitz/gomemcache
// does: a key goes to servers[crc32.ChecksumIEEE(key) % len(servers)], the
// servers counted in the order given to New (or the order of
// NewFromConfig's --SERVER options), a server listed twice counting twice.
// A Go service that used gomemcache can switch to this package and find
// every key where gomemcache put it, with no cold cache, and move to
// libmemcached's own placement later (shared with PHP, Python and C
// clients; see docs/gomemcache.md for doing so without a cold cache) or
// never. The memcache package uses it for every client.
//
// libmemcached does the placing: the client's key hash is a custom
// libhashkit function (hashkit_set_custom_function) returning the whole
// CRC-32 (IEEE) of the key, where libmemcached's own "crc" hash keeps 15 of
// its bits, and the distribution is modula (hash % number of servers), which
// ignores weights as gomemcache does. Every pooled handle is a
// memcached_clone of the client's master and keeps the function;
// ServerForKey and Hash answer with it.
//
// The placement is fixed for the client's life: New fails with
// ErrInvalidArguments when WithBehaviors or the configuration string also
// sets hash (but to "crc32", the same), distribution, ketama,
// ketama_weighted or _sort_hosts to anything but libmemcached's defaults, and SetBehavior or SetBehaviors of
// any of those returns ErrInvalidArguments and changes nothing (each would
// replace the hash or the distribution and move most keys, or mix the two
// placements). To change placement, make a second client. Other behaviors
// can be set as usual. Behavior(BehaviorHash) reads HashCRC32, and
// Behaviors() reports "hash" as "crc32": the placement is {"hash": "crc32",
// "distribution": "modula"}.
//
// With WithNamespace the prefix is not hashed unless _hash_with_prefix_key
// is on; gomemcache has no namespace.
func WithGomemcachePlacement() Option {
	return func(o *options) error {
		o.gomemcache = true
		return nil
	}
}

// WithObserver installs an observer (see Observer). It may be given
// several times: every observer installed sees every event, in the order
// installed.
func WithObserver(o Observer) Option {
	return func(opts *options) error {
		if o.Operation == nil && o.Batch == nil && o.Server == nil {
			return nil
		}
		opts.observers = append(opts.observers, o)
		return nil
	}
}
