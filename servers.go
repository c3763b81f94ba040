package libmemcached

// Server specs (New's list, a configuration string's --SERVER) and the
// checks a configuration passes.

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// DefaultPort is memcached's port, used when a server spec has none.
const DefaultPort = 11211

// maxConsistentServers is the most servers libmemcached's continuum holds
// (MEMCACHED_CONTINUUM_SIZE / MEMCACHED_POINTS_PER_SERVER); with more, a
// consistent distribution aborts the process (hosts.cc asserts).
const maxConsistentServers = 100

// checkConfig refuses what libmemcached's configuration parser would
// accept but the client must not run: a port outside 1-65535 (the parser
// wraps it: 99999 becomes 34463), a configuration file or include (they
// read arbitrary files, and an empty name aborts the process), more
// servers than a consistent distribution holds, and on libmemcached 1.0.x
// (library, the version loaded) a consistent distribution before a
// weighted server (consistentBeforeWeight).
func checkConfig(config, library string) error {
	bad := func(why string) error {
		return errorf("NewFromConfig", "", ErrInvalidArguments, why)
	}
	servers := 0
	for _, tok := range strings.Fields(config) {
		name, value, _ := strings.Cut(tok, "=")
		switch strings.ToUpper(name) {
		case "--CONFIGURE-FILE", "INCLUDE", "--INCLUDE":
			return bad(name + " is not supported: the configuration must be given in full")
		case "--SERVER", "--SERVERS", "--SOCKET":
			for _, s := range strings.Split(value, ",") {
				if s == "" {
					continue
				}
				servers++
				if strings.ToUpper(name) == "--SOCKET" {
					continue
				}
				if err := checkConfigPort(s); err != "" {
					return bad("server " + strconv.Quote(s) + ": " + err)
				}
			}
		}
	}
	if servers > maxConsistentServers {
		return bad(itoa(int64(servers)) + " servers: at most " + itoa(maxConsistentServers) + " are supported in a configuration string")
	}
	if strings.HasPrefix(library, "1.0.") && consistentBeforeWeight(config) {
		return errorf("NewFromConfig", "", ErrNotSupported, "a consistent --DISTRIBUTION before a server weighing more than 1 "+
			"makes libmemcached "+library+" write past the end of its continuum (it sizes it for 100 points a server, "+
			"then that server turns weighted ketama on and it builds 160; fixed in 1.1.0): give --DISTRIBUTION after the servers, "+
			"which places keys the same")
	}
	return nil
}

// consistentBeforeWeight reports whether config gives a consistent
// distribution before a server weighing more than 1 ("/?N", N > 1). The
// scan is libmemcached 1.0.18's lexer's, loosely: options in any case, a
// weight of up to 5 digits; a weight-like text elsewhere only errs on the
// side of refusing.
func consistentBeforeWeight(config string) bool {
	up := strings.ToUpper(config)
	const opt = "--DISTRIBUTION="
	for at := 0; ; {
		i := strings.Index(up[at:], opt)
		if i < 0 {
			return false
		}
		at += i + len(opt)
		if !strings.HasPrefix(strings.TrimLeft(up[at:], " \t\r\n"), "CONSISTENT") {
			continue
		}
		for rest := up[at:]; ; {
			j := strings.Index(rest, "/?")
			if j < 0 {
				return false
			}
			rest = rest[j+2:]
			k := 0
			for k < len(rest) && k < 5 && rest[k] >= '0' && rest[k] <= '9' {
				k++
			}
			if w, err := strconv.Atoi(rest[:k]); err == nil && w > 1 {
				return true
			}
		}
	}
}

// checkConfigPort checks the port of one --SERVER value: host, host:port,
// [v6]:port, each optionally followed by /?weight.
func checkConfigPort(s string) string {
	s, _, _ = strings.Cut(s, "/?")
	s = strings.Trim(s, "\"")
	var port string
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]:"); i >= 0 {
			port = s[i+2:]
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 && strings.Count(s, ":") == 1 {
		port = s[i+1:]
	}
	if port == "" {
		return ""
	}
	p, err := strconv.ParseUint(port, 10, 64)
	if err != nil || p == 0 || p > 65535 {
		return "port must be 1-65535"
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
		return serverSpec{}, &Error{Op: "New", Code: ReturnDeprecated, sentinel: ErrNotSupported,
			Message: fmt.Sprintf("server %q: UDP is not supported (libmemcached 1.1 deprecated it)", spec)}
	case strings.HasPrefix(rest, "tcp:"):
		rest = rest[4:]
	}
	if strings.HasPrefix(rest, "/") {
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
		if len(rest) >= 108 {
			return bad("a unix socket path must be shorter than 108 bytes (sun_path)")
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
