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
// with each error status of the binary protocol returns a typed error (or
// a miss) or, where libmemcached takes the status as success, nothing;
// never aborts the process; and leaves the client usable for the next one. One pair is not swept: ENOMEM (0x82) to an increment or
// decrement, on which libmemcached 1.1 asserts inside memcached_increment
// (auto.cc:32) before any caller can look at the reply; it is listed in
// "Guarded assertions" (docs/failure-handling.md).
func TestBinaryStatusSweep(t *testing.T) {
	f := startBinFake(t)
	c, err := mc.New([]string{f.ln.Addr().String()}, mc.WithPoolSize(1),
		mc.WithBehaviors(map[string]any{"binary_protocol": true, "_poll_timeout": 2000}))
	require.NoError(t, err)
	defer c.Close()
	item := func() *mc.Item { return &mc.Item{Key: "k", Value: []byte("v"), CasID: 7} }
	ops := []struct {
		name    string
		counter bool
		run     func() error
	}{
		{"Get", false, func() error { _, err := c.Get(bg(), "k"); return err }},
		{"GetMulti", false, func() error { _, err := c.GetMulti(bg(), []string{"k", "l"}); return orMiss(err) }},
		{"GetAndTouch", false, func() error { _, err := c.GetAndTouch(bg(), "k", 5); return err }},
		{"Set", false, func() error { return c.Set(bg(), item()) }},
		{"Add", false, func() error { return c.Add(bg(), item()) }},
		{"Replace", false, func() error { return c.Replace(bg(), item()) }},
		{"Append", false, func() error { return c.Append(bg(), item()) }},
		{"Prepend", false, func() error { return c.Prepend(bg(), item()) }},
		{"CompareAndSwap", false, func() error { return c.CompareAndSwap(bg(), item()) }},
		{"Delete", false, func() error { return c.Delete(bg(), "k") }},
		{"Touch", false, func() error { return c.Touch(bg(), "k", 5) }},
		{"SetMulti", false, func() error { return c.SetMulti(bg(), []*mc.Item{item(), {Key: "l", Value: []byte("w")}}) }},
		{"AddMulti", false, func() error { return c.AddMulti(bg(), []*mc.Item{item(), {Key: "l", Value: []byte("w")}}) }},
		{"DeleteMulti", false, func() error { return c.DeleteMulti(bg(), []string{"k", "l"}) }},
		{"Increment", true, func() error { _, err := c.Increment(bg(), "k", 1); return err }},
		{"Decrement", true, func() error { _, err := c.Decrement(bg(), "k", 1); return err }},
		{"IncrementMulti", true, func() error { return c.IncrementMulti(bg(), []string{"k", "l"}, 1) }},
		{"FlushAll", false, func() error { return c.FlushAll(bg()) }},
		{"Version", false, func() error { _, err := c.Version(bg()); return err }},
		{"Stats", false, func() error { _, err := c.Stats(bg()); return err }},
		{"Ping", false, func() error { return c.Ping(bg()) }},
	}
	statuses := []uint16{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x20, 0x21, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86}
	n := 0
	var quiet []string
	for _, st := range statuses {
		f.status.Store(uint32(st))
		for _, op := range ops {
			if op.counter && st == 0x82 {
				continue
			}
			err := op.run()
			if err == nil {
				// libmemcached takes some statuses as success for some
				// commands (a flush answered "not found"); no real server
				// answers so. What matters is that nothing aborts.
				quiet = append(quiet, fmt.Sprintf("%s/%#x", op.name, st))
				continue
			}
			var e *mc.Error
			var me *mc.MultiError
			require.True(t, errors.As(err, &e) || errors.As(err, &me) || errors.Is(err, mc.ErrCacheMiss),
				"%s with status %#x: %v", op.name, st, err)
			n++
		}
	}
	t.Logf("%d operation x status pairs answered with an error; taken as success: %v", n, quiet)
}

// orMiss turns a GetMulti that found nothing and reported nothing into a
// miss, so that the sweep can require an error from every call.
func orMiss(err error) error {
	if err == nil {
		return fmt.Errorf("%w: nothing found", mc.ErrCacheMiss)
	}
	return err
}
