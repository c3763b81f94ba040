package memcache

import (
	"hash/crc32"
	"net"
	"strings"
	"sync/atomic"
	"unsafe"
)

// ServerSelector is the interface that selects a memcache server as a
// function of the item's key, as in gomemcache.
//
// This package places keys inside libmemcached, so a Client works only with
// a *ServerList (New makes one): with any other ServerSelector every call
// of the Client returns an error wrapping libmemcached.ErrNotSupported. The
// interface is kept so that code naming it still compiles.
//
// All ServerSelector implementations must be safe for concurrent use by
// multiple goroutines.
type ServerSelector interface {
	// PickServer returns the server address that a given item
	// should be shared onto.
	PickServer(key string) (net.Addr, error)
	Each(func(net.Addr) error) error
}

// ServerList is gomemcache's server list: a key goes to the server at
// crc32.ChecksumIEEE(key) % len(servers), in the order the servers were
// given. A Client over a ServerList has libmemcached place keys the same
// way (libmemcached.WithGomemcachePlacement), so PickServer names the
// server the Client uses for the key. Its zero value is usable (it has no
// servers), and it is safe for concurrent use.
type ServerList struct {
	cur atomic.Pointer[serverSet] // nil: no servers
}

// serverSet is one SetServers call's servers, never changed once stored:
// a Client compares the pointer to tell whether its libmemcached client is
// still current.
type serverSet struct {
	addrs []net.Addr
}

// staticAddr is a resolved address whose Network and String are computed
// once.
type staticAddr struct{ network, str string }

func (a *staticAddr) Network() string { return a.network }
func (a *staticAddr) String() string  { return a.str }

// SetServers changes a ServerList's set of servers at runtime and is safe
// for concurrent use by multiple goroutines. Each server is given equal
// weight; a server listed several times gets proportionally more keys.
//
// A server containing "/" is a unix socket path; any other is a host:port
// resolved now (net.ResolveTCPAddr), and its address is what the Client
// connects to. SetServers returns an error if any name fails to resolve,
// and then changes nothing. No attempt is made to connect. A Client over
// the list starts using the new servers from its next call.
func (ss *ServerList) SetServers(servers ...string) error {
	addrs := make([]net.Addr, len(servers))
	for i, s := range servers {
		if strings.Contains(s, "/") {
			a, err := net.ResolveUnixAddr("unix", s)
			if err != nil {
				return err
			}
			addrs[i] = &staticAddr{a.Network(), a.String()}
			continue
		}
		a, err := net.ResolveTCPAddr("tcp", s)
		if err != nil {
			return err
		}
		addrs[i] = &staticAddr{a.Network(), a.String()}
	}
	ss.cur.Store(&serverSet{addrs: addrs})
	return nil
}

// Each calls f for each server, in order, until f returns an error, which
// Each returns.
func (ss *ServerList) Each(f func(net.Addr) error) error {
	for _, a := range ss.set().addrs {
		if err := f(a); err != nil {
			return err
		}
	}
	return nil
}

// PickServer returns the server for key: gomemcache's
// addrs[crc32.ChecksumIEEE(key) % len(addrs)] (the CRC of at most the
// first 256 bytes, as gomemcache hashes them), or ErrNoServers.
func (ss *ServerList) PickServer(key string) (net.Addr, error) {
	addrs := ss.set().addrs
	switch len(addrs) {
	case 0:
		return nil, ErrNoServers
	case 1:
		return addrs[0], nil
	}
	n := min(len(key), 256)
	// The key's own bytes, read only: no copy, no allocation per call.
	b := unsafe.Slice(unsafe.StringData(key), n)
	return addrs[crc32.ChecksumIEEE(b)%uint32(len(addrs))], nil
}

// set returns the current servers (an empty set for the zero value).
func (ss *ServerList) set() *serverSet {
	if s := ss.cur.Load(); s != nil {
		return s
	}
	return &emptySet
}

var emptySet serverSet
