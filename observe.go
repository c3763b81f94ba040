package libmemcached

import (
	"context"
	"time"
)

// Observer watches a client: each function, when set, is called for its
// kind of event. Install observers with WithObserver; the
// github.com/golibmc/libmemcached/otel module turns them into OpenTelemetry
// metrics and spans.
//
// The functions run synchronously, on the goroutine whose call produced
// the event, after the operation has finished and its libmemcached handle
// is back in the pool, holding no lock of the client's: a slow function
// delays only that caller, and a panic unwinds only that caller's
// goroutine, from inside the client's method it called (the client stays
// consistent and usable). A Batch event, and the server events of a
// batch's round trip, are delivered by the call that led the batch, once
// every call in it has been given its result. The values passed (and the
// slices in them) are valid only during the call: copy what you keep. A
// client with no observer does no work for them.
type Observer struct {
	// Operation is called once for every call of a method that talks to
	// the servers (the reads, the writes, Stats, Version, Ping, FlushAll)
	// when it returns, including calls refused before anything was sent.
	Operation func(OperationInfo)
	// Batch is called once for every round trip that carried the calls of
	// several callers (implicit pipelining, see WithBatching).
	Batch func(BatchInfo)
	// Server is called for what happens to a server's connections.
	Server func(ServerEvent)
}

// OperationInfo describes one operation of the client's API.
type OperationInfo struct {
	// Context is the context the call was given (nil if none): the
	// caller's span, for a tracer to make the operation's span its child.
	Context context.Context

	Op      string   // the method, e.g. "Get", "SetMulti"
	Key     string   // the key of a single-key operation ("" for the others); keys may be personal data
	Keys    int      // how many keys (or items) the operation named
	Servers []string // the servers the operation involved, as Error.Server names them (in server order)

	Start    time.Time     // when the call started
	Duration time.Duration // how long the call took
	Queued   time.Duration // of Duration, the time spent waiting for a handle or in line for a batch

	// BatchCalls is how many callers' calls shared the operation's round
	// trip: 1 when it went alone.
	BatchCalls int
	// Hits and Misses count the keys a read found and did not find
	// (a key whose server failed is neither).
	Hits, Misses int
	// Err is the error the call returned (nil on success; a miss of a
	// single-key read is its ErrCacheMiss).
	Err error
}

// BatchInfo describes a round trip that carried several callers' calls.
type BatchInfo struct {
	Kind     string        // "get", "store" or "delete"
	Calls    int           // the calls it carried, its leader included
	Keys     int           // their keys (or items) in all
	Start    time.Time     // when it was sent
	Duration time.Duration // until every reply was read
}

// ServerEventKind says what happened to a server.
type ServerEventKind int

const (
	// ServerConnectionFailed: a call could not reach the server, or its
	// connection failed or timed out (ServerEvent.Err says how: an *Error
	// naming the server). A call refused because the server is already
	// known down (ejected, or in its retry timeout) is not a new failure.
	ServerConnectionFailed ServerEventKind = iota + 1
	// ServerReconnected: the server's outcome in a call (a timeout, an
	// error, a reply out of step) did not leave the handle's connections
	// provably in step: they were closed, and the handle's next call makes
	// them again.
	ServerReconnected
	// ServerEjected: libmemcached took the server out of the distribution
	// (auto_eject); its keys go to the others until it is retried.
	ServerEjected
	// ServerReturned: an ejected server's time out is over; it is tried
	// again and its keys go back to it (reported by the first call to end
	// after that).
	ServerReturned
)

// String returns the event kind's name.
func (k ServerEventKind) String() string {
	switch k {
	case ServerConnectionFailed:
		return "connection_failed"
	case ServerReconnected:
		return "reconnected"
	case ServerEjected:
		return "ejected"
	case ServerReturned:
		return "returned"
	}
	return "ServerEventKind(" + itoa(int64(k)) + ")"
}

// ServerEvent describes something that happened to a server's connections.
type ServerEvent struct {
	Kind   ServerEventKind
	Server string // as Error.Server names it
	Time   time.Time
	Err    error // the failure, for ServerConnectionFailed
}
