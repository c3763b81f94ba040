package libmemcached

// Items, and the checks keys, namespaces and expirations pass before
// anything is sent.

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unsafe"
)

// Item is an item to store in, or read from, memcached.
type Item struct {
	Key   string
	Value []byte
	// Flags are opaque to memcached; codecs (such as pylibmc's) use them to
	// mark how Value is encoded.
	Flags uint32
	// Expiration is in seconds: 0 means never; up to 30 days it is relative
	// to now; above 30 days it is a Unix time (memcached's rule). Negative
	// values are rejected with ErrInvalidArguments: the two protocols read
	// them differently.
	Expiration int32
	// CasID is filled by Get, GetMulti and GetAndTouch, and checked by
	// CompareAndSwap. It is 0 when the client's "cas" behavior is off; a
	// CompareAndSwap with CasID 0 is refused (ErrInvalidArguments). The
	// multi-key stores (SetMulti, AddMulti) ignore it.
	CasID uint64
}

// MaxKeyLen is the longest key memcached accepts, in bytes.
const MaxKeyLen = 250

// MaxNamespaceLen is the longest namespace (key prefix) libmemcached accepts.
const MaxNamespaceLen = 127

// validKey reports whether key is 1..max bytes with no byte <= 0x20 and no
// 0x7f: what memcached's text protocol can carry without breaking the
// request line. UTF-8 is allowed.
func validKey(key string, max int) bool {
	n := len(key)
	if n == 0 || n > max {
		return false
	}
	if n < 8 {
		for i := 0; i < n; i++ {
			if c := key[i]; c <= ' ' || c == 0x7f {
				return false
			}
		}
		return true
	}
	// Eight bytes at a time, then the last eight (overlapping the word
	// before them). b is a read-only view of the key's bytes.
	b := unsafe.Slice(unsafe.StringData(key), n)
	for i := 0; i+8 <= n; i += 8 {
		if keyWordBad(binary.LittleEndian.Uint64(b[i:])) {
			return false
		}
	}
	return n%8 == 0 || !keyWordBad(binary.LittleEndian.Uint64(b[n-8:]))
}

// keyWordBad reports whether one of the 8 bytes of x is <= 0x20 or 0x7f,
// all eight tested at once: x-0x21 borrows into a byte's top bit only when
// the byte is below 0x21 (bytes of 0x80 and up, UTF-8, have their top bit
// set in x and are masked off by ^x), and x^0x7f has a zero byte only
// where x has 0x7f. Whether any byte is flagged does not depend on the
// order the bytes were loaded in.
func keyWordBad(x uint64) bool {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	y := x ^ 0x7f*ones
	return ((x-0x21*ones)&^x|(y-ones)&^y)&tops != 0
}

// keyProblem describes why a key is malformed; max is the limit left by
// the namespace ns.
func keyProblem(key string, max int, ns string) string {
	switch {
	case len(key) == 0:
		return "empty key"
	case len(key) > max && ns != "":
		return "key is " + itoa(int64(len(key))) + " bytes; with the " + itoa(int64(len(ns))) +
			"-byte namespace " + strconv.Quote(ns) + " the limit is " + itoa(int64(max))
	case len(key) > max:
		return "key is " + itoa(int64(len(key))) + " bytes; the limit is " + itoa(int64(max))
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return fmt.Sprintf("key has byte 0x%02x at offset %d (space, control bytes and 0x7f are not allowed)", c, i)
		}
	}
	return ""
}

// namespaceProblem describes why a namespace is not a valid key prefix:
// libmemcached accepts 1 to 127 printable ASCII bytes (0x21-0x7e) in the
// text protocol, and puts them on the wire as they are in both.
func namespaceProblem(ns string) string {
	if len(ns) > MaxNamespaceLen {
		return "namespace is " + itoa(int64(len(ns))) + " bytes; the limit is " + itoa(MaxNamespaceLen)
	}
	for i := 0; i < len(ns); i++ {
		if c := ns[i]; c <= ' ' || c >= 0x7f {
			return fmt.Sprintf("namespace has byte 0x%02x at offset %d (only printable ASCII 0x21-0x7e is allowed)", c, i)
		}
	}
	return ""
}

// keyRules are what a key must be, given the namespace in force (the
// client's configuration holds them).
type keyRules struct {
	namespace string
	maxKey    int // MaxKeyLen less the namespace
}

// checkKey validates a key for op against the namespace in force.
func (cfg keyRules) checkKey(op, key string) error {
	if validKey(key, cfg.maxKey) {
		return nil
	}
	return errorf(op, key, ErrMalformedKey, keyProblem(key, cfg.maxKey, cfg.namespace))
}

// checkItem validates an item before anything is sent.
func (cfg keyRules) checkItem(op string, item *Item) error {
	if item == nil {
		return errorf(op, "", ErrInvalidArguments, "nil item")
	}
	if err := cfg.checkKey(op, item.Key); err != nil {
		return err
	}
	return checkExpiration(op, item.Key, item.Expiration)
}

// checkExpiration rejects negative expirations: the text protocol takes
// them as "expired already" but the binary protocol sends an unsigned
// 32-bit time (so -1 would mean the year 2106). Delete an item instead.
func checkExpiration(op, key string, exp int32) error {
	if exp < 0 {
		return errorf(op, key, ErrInvalidArguments, "negative expiration "+itoa(int64(exp))+" (use 0 for never, or Delete)")
	}
	return nil
}

func keyOf(item *Item) string {
	if item == nil {
		return ""
	}
	return item.Key
}

// bytesCopy copies b into Go memory (an empty value is empty, not nil).
func bytesCopy(b []byte) []byte {
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
