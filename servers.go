package libmemcached

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// MaxKeyLen is the longest key memcached accepts, in bytes.
const MaxKeyLen = 250

// DefaultPort is memcached's port, used when a server spec has none.
const DefaultPort = 11211

// validKey reports whether key is 1..max bytes with no byte <= 0x20 and no
// 0x7f: what memcached's text protocol can carry without breaking the
// request line. UTF-8 is allowed.
func validKey(key string, max int) bool {
	if len(key) == 0 || len(key) > max {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// keyProblem describes why a key is malformed.
func keyProblem(key string, max int) string {
	switch {
	case len(key) == 0:
		return "empty key"
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

// serverSpec is one parsed entry of New's server list.
type serverSpec struct {
	kind   ConnectionType
	host   string
	port   uint16
	weight uint32
}

// parseServer parses a server spec as pylibmc accepts them:
//
//	"host", "host:port", "host:port:weight", "[::1]", "[::1]:port",
//	"[::1]:port:weight", "/path/to/socket", "/path/to/socket:weight",
//	"udp:host:port" (and the other forms after "udp:" or "tcp:").
func parseServer(spec string) (serverSpec, error) {
	s := serverSpec{kind: ConnectionTCP, port: DefaultPort, weight: 1}
	bad := func(why string) (serverSpec, error) {
		return serverSpec{}, errorf("New", "", ErrInvalidArguments, fmt.Sprintf("server %q: %s", spec, why))
	}
	rest := strings.TrimSpace(spec)
	if rest == "" {
		return bad("empty server spec")
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; c < ' ' || c == 0x7f || c == ' ' {
			return bad("control byte or space in server spec")
		}
	}
	switch {
	case strings.HasPrefix(rest, "udp:"):
		s.kind = ConnectionUDP
		rest = rest[4:]
	case strings.HasPrefix(rest, "tcp:"):
		rest = rest[4:]
	}
	if strings.HasPrefix(rest, "/") {
		if s.kind == ConnectionUDP {
			return bad("a unix socket cannot be udp")
		}
		s.kind = ConnectionUnixSocket
		s.port = 0
		if i := strings.LastIndexByte(rest, ':'); i > 0 {
			w, err := strconv.ParseUint(rest[i+1:], 10, 32)
			if err != nil || w == 0 {
				return bad("weight must be a positive integer")
			}
			s.weight = uint32(w)
			rest = rest[:i]
		}
		s.host = rest
		return s, nil
	}
	var fields []string
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return bad("missing ] after IPv6 address")
		}
		s.host = rest[1:end]
		if net.ParseIP(s.host) == nil {
			return bad("not an IPv6 address between [ ]")
		}
		tail := rest[end+1:]
		if tail != "" {
			if tail[0] != ':' {
				return bad("expected :port after ]")
			}
			fields = strings.Split(tail[1:], ":")
		}
	} else {
		parts := strings.Split(rest, ":")
		s.host = parts[0]
		fields = parts[1:]
	}
	if s.host == "" {
		return bad("empty host")
	}
	if len(fields) > 2 {
		return bad("too many ':' (use [addr]:port for IPv6)")
	}
	if len(fields) >= 1 {
		p, err := strconv.ParseUint(fields[0], 10, 16)
		if err != nil || p == 0 {
			return bad("port must be 1-65535")
		}
		s.port = uint16(p)
	}
	if len(fields) == 2 {
		w, err := strconv.ParseUint(fields[1], 10, 32)
		if err != nil || w == 0 {
			return bad("weight must be a positive integer")
		}
		s.weight = uint32(w)
	}
	return s, nil
}

// name formats a server the way the client reports it: "host:port",
// "[v6addr]:port", or the socket path.
func (id serverID) name() string {
	if id.port == 0 || strings.HasPrefix(id.host, "/") {
		return id.host
	}
	if strings.IndexByte(id.host, ':') >= 0 {
		return "[" + id.host + "]:" + itoa(int64(id.port))
	}
	return id.host + ":" + itoa(int64(id.port))
}
