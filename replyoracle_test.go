package libmemcached_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	mc "github.com/golibmc/libmemcached"
)

// The oracles: strict reference parsers of what memcached sends in answer
// to the client's reads and stores, written from the protocol's grammar
// (memcached's protocol.txt and the binary protocol's packet layout), not
// from libmemcached. Each returns what the well-formed prefix of a reply
// carries and whether the whole reply is well formed.

// record is one item a read's reply carries.
type record struct {
	key   string
	value []byte
	flags uint32
	cas   uint64
}

// verdict is an oracle's reading of a reply.
type verdict struct {
	records []record // of the well-formed prefix
	// ok: the whole reply is well formed (and complete).
	ok bool
	// ended: the well-formed prefix ends with the reply's terminator (END,
	// NOOP; for stores, the last request's reply), and only bytes after it
	// are wrong. Those may reach the client after its call has ended, so
	// the call cannot be held to see them; the next call must not take
	// them for its own reply.
	ended bool
	why   string // why the reply is not well formed
	// outcomes (stores): each request's outcome, for the well-formed prefix.
	outcomes []outcome
}

func (v verdict) String() string {
	if v.ok {
		return fmt.Sprintf("well formed, %d records, outcomes %v", len(v.records), v.outcomes)
	}
	return fmt.Sprintf("rejected (%s; ended %v), prefix: %d records, outcomes %v", v.why, v.ended, len(v.records), v.outcomes)
}

// end is v for a reply whose terminator (what) is followed by trailing bytes.
func (v verdict) end(trailing int, what string) verdict {
	v.ended = true
	if trailing > 0 {
		v.why = "bytes after " + what
		return v
	}
	v.ok = true
	return v
}

// asked counts how many times each key was asked: memcached answers each
// asking once at most.
func askedCount(keys []string) map[string]int {
	m := map[string]int{}
	for _, k := range keys {
		m[k]++
	}
	return m
}

// decimal parses a decimal number of digits only (no sign, no space) that
// fits in bits.
func decimal(b []byte, bits int) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	return n, err == nil
}

// clientLineMax is the longest reply line the client takes, its CRLF
// included, and the longest body of a binary reply without a value
// (golibmc_policy_line_max): the client's limit, not the protocol's, far
// above what memcached sends (an item line is at most some 300 bytes,
// its error messages a few dozen).
const clientLineMax = 2048

// textLine splits the first line (ended by CRLF, with no other CR or
// LF, at most clientLineMax bytes) off p; why says what is wrong when
// there is none.
func textLine(p []byte) (line, rest []byte, why string) {
	i := bytes.Index(p, []byte("\r\n"))
	if i < 0 {
		return nil, nil, "no complete line"
	}
	if bytes.IndexByte(p[:i], '\n') >= 0 || bytes.IndexByte(p[:i], '\r') >= 0 {
		return nil, nil, "a bare CR or LF in a line"
	}
	if i+2 > clientLineMax {
		return nil, nil, "a line longer than the client takes"
	}
	return p[:i], p[i+2:], ""
}

// textReadOracle judges the reply to "get k..." (gets: "gets k..."):
// zero or more "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n", then
// "END\r\n" and nothing after. key is an asked key (at most as many times
// as it was asked), flags a 32-bit decimal, bytes the data's length, cas a
// 64-bit decimal present exactly when the request was gets; single spaces.
func textReadOracle(reply []byte, keys []string, gets bool) verdict {
	var v verdict
	left := askedCount(keys)
	p := reply
	for {
		line, rest, why := textLine(p)
		if why != "" {
			v.why = why
			return v
		}
		if string(line) == "END" {
			return v.end(len(rest), "END")
		}
		f := bytes.Split(line, []byte(" "))
		want := 4
		if gets {
			want = 5
		}
		if string(f[0]) != "VALUE" || len(f) != want {
			v.why = fmt.Sprintf("not a VALUE line of %d fields: %q", want, line)
			return v
		}
		key := string(f[1])
		if left[key] == 0 {
			v.why = fmt.Sprintf("key %q not asked (or answered more times than asked)", key)
			return v
		}
		flags, ok1 := decimal(f[2], 32)
		n, ok2 := decimal(f[3], 64)
		var cas uint64
		ok3 := true
		if gets {
			cas, ok3 = decimal(f[4], 64)
		}
		if !ok1 || !ok2 || !ok3 {
			v.why = fmt.Sprintf("a field is not a decimal in range: %q", line)
			return v
		}
		p = rest
		if n > uint64(len(p)) || uint64(len(p))-n < 2 {
			v.why = "data shorter than <bytes> + CRLF"
			return v
		}
		data := p[:n]
		if p[n] != '\r' || p[n+1] != '\n' {
			v.why = "data not followed by CRLF"
			return v
		}
		p = p[n+2:]
		left[key]--
		v.records = append(v.records, record{key: key, value: data, flags: uint32(flags), cas: cas})
	}
}

// binaryReadOracle judges the reply to a binary read (GETKQ per key, then
// NOOP; ops the opaques of those requests): zero or more GETKQ responses
// (magic 0x81, opcode 0x0d: a reply carries its request's opcode, and a
// GETK's is out of step; extras length 4 holding the flags, data type 0,
// status 0, key length that of an asked key, body length 4 + key + value,
// cas in the header), then a NOOP response (opcode 0x0a, every length 0,
// status 0) and nothing after. Every response carries the opaque of one of
// the call's requests (memcached echoes each request's; any other is a
// reply to another request, out of step).
func binaryReadOracle(reply []byte, keys []string, ops callOpaques) verdict {
	var v verdict
	left := askedCount(keys)
	p := reply
	for {
		if len(p) < 24 {
			v.why = "no complete header"
			return v
		}
		magic, op := p[0], p[1]
		klen := int(binary.BigEndian.Uint16(p[2:4]))
		ext, dtype := int(p[4]), p[5]
		status := binary.BigEndian.Uint16(p[6:8])
		body := uint64(binary.BigEndian.Uint32(p[8:12]))
		cas := binary.BigEndian.Uint64(p[16:24])
		if magic != 0x81 || dtype != 0 || status != 0 {
			v.why = fmt.Sprintf("magic %#x, data type %d, status %#x", magic, dtype, status)
			return v
		}
		if !ops.has(p) {
			v.why = fmt.Sprintf("opaque % x is not one of the call's requests", p[12:16])
			return v
		}
		switch op {
		case 0x0a:
			if klen != 0 || ext != 0 || body != 0 {
				v.why = "a NOOP with a body"
				return v
			}
			return v.end(len(p)-24, "NOOP")
		case 0x0d:
		default:
			v.why = fmt.Sprintf("opcode %#x in a read", op)
			return v
		}
		if ext != 4 || body < uint64(4+klen) {
			v.why = fmt.Sprintf("extras %d, key %d, body %d", ext, klen, body)
			return v
		}
		if uint64(len(p)-24) < body {
			v.why = "body shorter than its length"
			return v
		}
		key := string(p[28 : 28+klen])
		if left[key] == 0 {
			v.why = fmt.Sprintf("key %q not asked (or answered more times than asked)", key)
			return v
		}
		left[key]--
		v.records = append(v.records, record{key: key, value: p[28+klen : 24+body],
			flags: binary.BigEndian.Uint32(p[24:28]), cas: cas})
		p = p[24+body:]
	}
}

// outcome is what a set's reply means.
type outcome int

const (
	stored    outcome = iota
	notStored         // NOT_STORED, status 0x05: ErrNotStored
	failed            // any other error reply: an error, neither a miss nor one of the answers above
	anyError          // a status a set cannot have: an error, whichever
)

func (o outcome) String() string {
	return [...]string{"stored", "not stored", "error", "any error"}[o]
}

// matches reports whether err is the outcome o.
func (o outcome) matches(err error) bool {
	switch o {
	case stored:
		return err == nil
	case notStored:
		return errors.Is(err, mc.ErrNotStored)
	case anyError:
		return err != nil
	}
	return err != nil && !errors.Is(err, mc.ErrNotStored) && !errors.Is(err, mc.ErrCASConflict) &&
		!errors.Is(err, mc.ErrCacheMiss)
}

// textStoreOracle judges the replies to n text set commands: one line per
// request, in order, each STORED, NOT_STORED (the replies memcached has for
// a set: EXISTS and NOT_FOUND answer only cas and delete), ERROR,
// "CLIENT_ERROR <text>" or "SERVER_ERROR <text>" (text: at least one byte,
// no CR or LF), and nothing after.
func textStoreOracle(reply []byte, n int) verdict {
	var v verdict
	p := reply
	for len(v.outcomes) < n {
		line, rest, why := textLine(p)
		if why != "" {
			v.why = why
			return v
		}
		var o outcome
		switch s := string(line); {
		case s == "STORED":
			o = stored
		case s == "NOT_STORED":
			o = notStored
		case s == "ERROR":
			o = failed
		case len(s) > len("CLIENT_ERROR ") && s[:len("CLIENT_ERROR ")] == "CLIENT_ERROR ",
			len(s) > len("SERVER_ERROR ") && s[:len("SERVER_ERROR ")] == "SERVER_ERROR ":
			o = failed
		default:
			v.why = fmt.Sprintf("not a storage reply: %q", line)
			return v
		}
		v.outcomes = append(v.outcomes, o)
		p = rest
	}
	return v.end(len(p), "the last reply")
}

// binaryStoreOracle judges the replies to n binary SET requests (ops their
// opaques): one SET response each (magic 0x81, opcode 0x01, key and extras
// length 0, data type 0, the opaque of one of the call's requests, a body
// the client takes: clientLineMax), in order, and nothing after. Status 0
// with an empty body is stored; 0x05 not stored; the errors memcached sends
// to a set (0x03, 0x04, 0x20, 0x81-0x86, the message as the body) are
// errors. Any other status (KEY_ENOENT and KEY_EEXISTS answer only a set
// carrying a cas, as EXISTS and NOT_FOUND do in text; others memcached does
// not send) is still a reply to that request, framed by its length and
// tied to the request by its opaque: an error for it, of any kind, and the
// replies after it stay in step.
func binaryStoreOracle(reply []byte, n int, ops callOpaques) verdict {
	var v verdict
	p := reply
	for len(v.outcomes) < n {
		if len(p) < 24 {
			v.why = "no complete header"
			return v
		}
		klen := binary.BigEndian.Uint16(p[2:4])
		status := binary.BigEndian.Uint16(p[6:8])
		body := uint64(binary.BigEndian.Uint32(p[8:12]))
		if p[0] != 0x81 || p[1] != 0x01 || klen != 0 || p[4] != 0 || p[5] != 0 {
			v.why = fmt.Sprintf("not a SET response: % x", p[:8])
			return v
		}
		if !ops.has(p) {
			v.why = fmt.Sprintf("opaque % x is not one of the call's requests", p[12:16])
			return v
		}
		if body > clientLineMax {
			v.why = "a body longer than the client takes"
			return v
		}
		if uint64(len(p)-24) < body {
			v.why = "body shorter than its length"
			return v
		}
		var o outcome
		switch status {
		case 0x00:
			o = stored
			if body != 0 {
				v.why = "a success with a body"
				return v
			}
		case 0x05:
			o = notStored
		case 0x03, 0x04, 0x20, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86:
			o = failed
		default:
			o = anyError
		}
		v.outcomes = append(v.outcomes, o)
		p = p[24+body:]
	}
	return v.end(len(p), "the last reply")
}
