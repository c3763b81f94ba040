package libmemcached_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// binFake is a binary-protocol server that answers every request with one
// status (and a short message), except NOOP, which ends a pipelined read:
// the shape of any memcached-speaking server that refuses something.
type binFake struct {
	ln     net.Listener
	status atomic.Uint32
}

func startBinFake(t *testing.T) *binFake {
	f := &binFake{}
	f.ln = serveLoopback(t, f.serve)
	return f
}

// Binary opcodes the fake needs to know: NOOP, and the quiet ones, which
// are answered only when they fail (as memcached does).
const (
	binNoop = 0x0a
)

var binQuiet = map[byte]bool{0x09: true, 0x0d: true, 0x11: true, 0x12: true, 0x13: true, 0x14: true, 0x15: true,
	0x16: true, 0x17: true, 0x18: true, 0x19: true, 0x1a: true}

func (f *binFake) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	var hdr [24]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil || hdr[0] != 0x80 {
			return
		}
		body := binary.BigEndian.Uint32(hdr[8:12])
		if _, err := io.CopyN(io.Discard, r, int64(body)); err != nil {
			return
		}
		op := hdr[1]
		status := uint16(f.status.Load())
		if op == binNoop {
			status = 0
		} else if binQuiet[op] && (status == 0 || status == 0x01 && (op == 0x09 || op == 0x0d)) {
			continue // quiet: no reply on success, nor for a get's miss
		}
		var msg []byte
		if status != 0 {
			msg = []byte("fake refusal")
		}
		var out [24]byte
		out[0], out[1] = 0x81, op
		binary.BigEndian.PutUint16(out[6:8], status)
		binary.BigEndian.PutUint32(out[8:12], uint32(len(msg)))
		copy(out[12:16], hdr[12:16]) // opaque
		if _, err := conn.Write(append(out[:], msg...)); err != nil {
			return
		}
	}
}

// TestBinaryStatusSweep: every operation against a server that answers
// with each error status of the binary protocol returns exactly the error
// that status means for that operation (sentinel and return code, on every
// key or server a multi-part call names; binaryStatusWant), never aborts
// the process, and leaves the client usable: right after each, a Set the
// server accepts succeeds on the same client, and no handle is left in
// use. One pair is not swept: ENOMEM (0x82) to an increment or decrement,
// on which libmemcached 1.1 asserts inside memcached_increment (auto.cc:32)
// before any caller can look at the reply; it is listed in "Guarded
// assertions" (docs/failure-handling.md).
func TestBinaryStatusSweep(t *testing.T) {
	f := startBinFake(t)
	addr := f.ln.Addr().String()
	c, err := mc.New([]string{addr}, mc.WithPoolSize(1),
		mc.WithBehaviors(map[string]any{"binary_protocol": true, "_poll_timeout": 2000}))
	require.NoError(t, err)
	defer c.Close()
	item := func() *mc.Item { return &mc.Item{Key: "k", Value: []byte("v"), CasID: 7} }
	keys := []string{"k", "l"}
	server := []string{addr}
	// parts: the keys (or servers) a multi-part call reports one error for
	// each; nil for a call that returns one *Error.
	ops := []struct {
		name  string
		parts []string
		run   func() error
	}{
		{"Get", nil, func() error { _, err := c.Get(bg(), "k"); return err }},
		{"GetMulti", keys, func() error {
			got, err := c.GetMulti(bg(), keys)
			if len(got) != 0 {
				return fmt.Errorf("GetMulti found %d items", len(got))
			}
			return err
		}},
		{"GetAndTouch", nil, func() error { _, err := c.GetAndTouch(bg(), "k", 5); return err }},
		{"Set", nil, func() error { return c.Set(bg(), item()) }},
		{"Add", nil, func() error { return c.Add(bg(), item()) }},
		{"Replace", nil, func() error { return c.Replace(bg(), item()) }},
		{"Append", nil, func() error { return c.Append(bg(), item()) }},
		{"Prepend", nil, func() error { return c.Prepend(bg(), item()) }},
		{"CompareAndSwap", nil, func() error { return c.CompareAndSwap(bg(), item()) }},
		{"Delete", nil, func() error { return c.Delete(bg(), "k") }},
		{"Touch", nil, func() error { return c.Touch(bg(), "k", 5) }},
		{"SetMulti", keys, func() error { return c.SetMulti(bg(), []*mc.Item{item(), {Key: "l", Value: []byte("w")}}) }},
		{"AddMulti", keys, func() error { return c.AddMulti(bg(), []*mc.Item{item(), {Key: "l", Value: []byte("w")}}) }},
		{"DeleteMulti", keys, func() error { return c.DeleteMulti(bg(), keys) }},
		{"Increment", nil, func() error { _, err := c.Increment(bg(), "k", 1); return err }},
		{"Decrement", nil, func() error { _, err := c.Decrement(bg(), "k", 1); return err }},
		{"IncrementMulti", keys, func() error { return c.IncrementMulti(bg(), keys, 1) }},
		{"FlushAll", server, func() error { return c.FlushAll(bg()) }},
		{"Version", server, func() error { _, err := c.Version(bg()); return err }},
		{"Stats", server, func() error { _, err := c.Stats(bg()); return err }},
		{"Ping", server, func() error { return c.Ping(bg()) }},
	}
	statuses := []uint16{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x20, 0x21, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86}
	for _, st := range statuses {
		for _, op := range ops {
			if counterOps[op.name] && st == 0x82 {
				continue
			}
			what := fmt.Sprintf("%s answered %#x", op.name, st)
			f.status.Store(uint32(st))
			err := op.run()
			want, code := binaryStatusWant(op.name, st)
			if want == nil {
				require.NoError(t, err, what)
			} else {
				// Every part of the error, one *Error per key or server for
				// a multi-part call, carries the sentinel and the code.
				var parts []error
				var me *mc.MultiError
				if op.parts != nil {
					require.ErrorAs(t, err, &me, what)
					assert.ElementsMatch(t, op.parts, keysOf(me.Errors), what)
					for _, part := range me.Errors {
						parts = append(parts, part)
					}
				} else {
					require.False(t, errors.As(err, &me), "%s: %v is one error", what, err)
					parts = []error{err}
				}
				for _, part := range parts {
					var e *mc.Error
					require.ErrorAs(t, part, &e, what)
					require.ErrorIs(t, part, want, what)
					require.Equal(t, code, e.Code, what)
				}
			}
			f.status.Store(0)
			require.NoError(t, c.Set(bg(), item()), "the client is usable after %s", what)
			require.Zero(t, c.PoolStats().InUse, "the handle is back after %s", what)
		}
	}
}

// counterOps are the operations whose non-numeric status is theirs.
var counterOps = map[string]bool{"Increment": true, "Decrement": true, "IncrementMulti": true}

// binaryStatusWant is what an operation returns when the server answers it
// with one binary status: the sentinel (nil: no error) and the return
// code. A status that is not a possible answer to a read (it exists, too
// large, not stored) is a reply out of step (ErrProtocol); a status
// libmemcached does not know (unknown command, not my vbucket, the
// authentication statuses other than "auth error", busy, ...) is an
// unknown read failure, the server taken as down.
func binaryStatusWant(op string, status uint16) (error, mc.ReturnCode) {
	read := op == "Get" || op == "GetMulti"
	switch status {
	case 0x01: // key not found
		switch op {
		case "GetMulti":
			return nil, mc.ReturnSuccess // a miss: no items, no error
		case "Replace", "Append", "Prepend":
			return mc.ErrNotStored, mc.ReturnNotFound
		}
		return mc.ErrCacheMiss, mc.ReturnNotFound
	case 0x02: // key exists
		switch {
		case read:
			return mc.ErrProtocol, mc.ReturnProtocolError
		case op == "Add" || op == "AddMulti":
			return mc.ErrNotStored, mc.ReturnDataExists
		}
		return mc.ErrCASConflict, mc.ReturnDataExists
	case 0x03: // value too large
		if read {
			return mc.ErrProtocol, mc.ReturnProtocolError
		}
		return mc.ErrTooLarge, mc.ReturnE2BIG
	case 0x04: // invalid arguments
		return mc.ErrInvalidArguments, mc.ReturnInvalidArguments
	case 0x05: // item not stored
		if read {
			return mc.ErrProtocol, mc.ReturnProtocolError
		}
		return mc.ErrNotStored, mc.ReturnNotStored
	case 0x06: // incr/decr on a non-numeric value
		if counterOps[op] {
			return mc.ErrNotNumeric, mc.ReturnClientError
		}
	case 0x20: // authentication error
		return mc.ErrAuthFailed, mc.ReturnAuthFailure
	case 0x82: // out of memory
		return mc.ErrServerError, mc.ReturnServerMemoryAllocationFailure
	}
	return mc.ErrServerDown, mc.ReturnUnknownReadFailure
}
