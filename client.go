package libmemcached

// The client: making one (New, NewFromConfig, from the options and the
// master they configure), closing it, and its pool's state.

import (
	"runtime"
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
	e *engine

	// What the client does in Go around the engine's calls (see options).
	codec      Codec
	compress   compression
	maxInflate int
	gomemcache bool // WithGomemcachePlacement: placement behaviors are refused
}

// Close closes every connection and frees the C resources. Calls waiting
// for a handle return ErrClosed at once; calls in flight end within their
// own timeouts, and Close waits for them. Later calls return ErrClosed.
// Close is idempotent.
func (c *Client) Close() error {
	if c.e.close() {
		runtime.SetFinalizer(c, nil)
	}
	return nil
}

// DisconnectAll closes every pooled connection (pylibmc's disconnect_all);
// the next call reconnects. Handles in use are closed when they come back.
func (c *Client) DisconnectAll() error {
	return c.e.changeMaster("DisconnectAll", func(cMaster) (bool, error) { return true, nil })
}

// PoolStats returns the pool's current state.
func (c *Client) PoolStats() PoolStats {
	s := c.e.pool.stats()
	s.Ejected = c.e.ejected.count()
	return s
}

// LibraryVersion returns the version of the libmemcached the process loaded.
func LibraryVersion() string { return libraryVersion() }

func (c *Client) codecOrDefault() Codec {
	if c.codec != nil {
		return c.codec
	}
	return PylibmcCodec{}
}
