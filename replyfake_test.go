package libmemcached_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// scriptFake is a memcached on a loopback port, text or binary, that
// answers well (goodItems for reads, success for everything else) until a
// script is armed; then the next request unit it reads gets the script's
// bytes instead, in the script's chunks (one write each), optionally
// followed by closing the connection. A request unit is one text request,
// or a binary read's quiet gets up to its NOOP, or one other binary
// request; a script for stores takes unit requests (stores, in the order
// sent) before it answers. A script that repeats answers every unit until
// it is disarmed (the reply sweep), one that does not answers one unit.
// The fuzzers and the sweep use it: the replies of reads and stores, and
// whatever else a server can send, on a real socket.
//
// Binary replies carry opaques: memcached copies each request's opaque into
// its reply, and the client rejects a reply whose opaque is not one of its
// call's requests (a late reply to an earlier request). The fake's good
// answers echo the opaque of the request each answers; a script's packets
// (unless the script is rawOpaque) carry in their opaque field an offset
// from the request each answers (answerOpaques), so that 0 is the echo and
// the script can still send the opaque of any other request.
//
// A script is never spent on a connection its client has closed: a client
// that drops a connection (after a bad reply) can leave requests there that
// the fake reads only later, once the test has armed its next script for
// the client's new connection; answering them with it would leave the
// request the script was meant for a good answer (closedAfter).
type scriptFake struct {
	ln     net.Listener
	binary bool
	script atomic.Pointer[script]
}

// script is one armed answer.
type script struct {
	unit   int      // stores to read before answering (0: one request unit)
	chunks [][]byte // the reply, one write per chunk; none: silence
	close  bool     // close the connection after the reply
	repeat bool     // answer every unit until disarmed
	// rawOpaque: binary packets go out with their opaque field as it is,
	// not read as an offset (answerOpaques).
	rawOpaque bool

	mu    sync.Mutex
	off   bool        // disarmed, or (not repeat) answered
	taken int         // units answered
	reqs  [][]request // what each answered unit asked
	sent  [][]byte    // what was sent to each (the chunks joined)
}

// request is one request the fake read.
type request struct {
	cmd   string   // text command, or binary opcode name ("op0x0d")
	op    byte     // binary opcode
	keys  []string // a text get's keys; a binary request's key
	value []byte   // a store's data
	flags uint32
	// opaque is a binary request's opaque field as sent: libmemcached puts
	// htons(request id) in it (a 16-bit id in the first two bytes, on a
	// little-endian host).
	opaque [4]byte
}

func (r request) key() string {
	if len(r.keys) == 0 {
		return ""
	}
	return r.keys[0]
}

// goodItems are what the fake holds when it answers well.
var goodItems = map[string]goodItem{
	"k1": {"good-k1", 11, 1001}, "k2": {"good-k2", 12, 1002}, "k3": {"good-k3", 13, 1003}, "k4": {"good-k4", 14, 1004},
}

type goodItem struct {
	value string
	flags uint32
	cas   uint64
}

func startScriptFake(t testing.TB, binary bool) *scriptFake {
	f := &scriptFake{binary: binary}
	f.ln = serveLoopback(t, f.serve)
	return f
}

func (f *scriptFake) addr() string { return f.ln.Addr().String() }

// arm makes s the answer to the next request unit (every unit, if s repeats).
func (f *scriptFake) arm(s *script) { f.script.Store(s) }

// disarm makes the fake answer well again. When it returns, no script
// write is in progress, and the script's units and requests are final.
func (f *scriptFake) disarm(s *script) {
	f.script.CompareAndSwap(s, nil)
	s.mu.Lock()
	s.off = true
	s.mu.Unlock()
}

// isRead reports whether a request starts a read unit.
func (r request) isRead() bool {
	return r.cmd == "get" || r.cmd == "gets" || r.op == 0x0d || r.op == 0x09
}

func (f *scriptFake) serve(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		req, err := f.read(r)
		if err != nil || req.cmd == "quit" || req.op == 0x07 {
			return
		}
		unit := []request{req}
		s := f.script.Load()
		if s != nil && s.unit > 0 && !req.isRead() {
			for len(unit) < s.unit {
				req, err := f.read(r)
				if err != nil || req.cmd == "quit" || req.op == 0x07 {
					return
				}
				unit = append(unit, req)
			}
		} else if f.binary && req.isRead() {
			for unit[len(unit)-1].op != 0x0a { // quiet gets until the NOOP
				req, err := f.read(r)
				if err != nil || req.op == 0x07 {
					return
				}
				unit = append(unit, req)
			}
		}
		if s != nil && closedAfter(conn) {
			s = nil // no reply here can be read: keep the script for a live connection
		}
		if s != nil {
			s.mu.Lock()
			if !s.off {
				s.off = !s.repeat
				s.taken++
				s.reqs = append(s.reqs, unit)
				chunks := s.chunks
				if f.binary && !s.rawOpaque {
					chunks = splitLike(answerOpaques(unit, bytes.Join(chunks, nil)), chunks)
				}
				s.sent = append(s.sent, bytes.Join(chunks, nil))
				for _, c := range chunks {
					if _, err := conn.Write(c); err != nil {
						break
					}
				}
				if s.close {
					s.mu.Unlock()
					return
				}
				s.mu.Unlock()
				continue
			}
			s.mu.Unlock()
		}
		var out []byte
		for _, q := range unit {
			if f.binary {
				out = append(out, stampOpaque(f.good(q), q.opaque)...)
			} else {
				out = append(out, f.good(q)...)
			}
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// closedAfter reports whether conn's client has closed the connection: its
// end of the stream (or a reset) has arrived, whatever requests before it
// are still to be read (a live client never half-closes). The kernel's
// TCP state says so: CLOSE_WAIT once the client's FIN is in, CLOSE after a
// reset.
func closedAfter(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	const tcpClose, tcpCloseWait = 7, 8 // include/net/tcp_states.h
	closed := false
	_ = raw.Control(func(fd uintptr) {
		var info syscall.TCPInfo
		n := uint32(unsafe.Sizeof(info))
		_, _, e := syscall.Syscall6(syscall.SYS_GETSOCKOPT, fd, syscall.IPPROTO_TCP, syscall.TCP_INFO,
			uintptr(unsafe.Pointer(&info)), uintptr(unsafe.Pointer(&n)), 0)
		closed = e == 0 && (info.State == tcpCloseWait || info.State == tcpClose)
	})
	return closed
}

// read reads one request.
func (f *scriptFake) read(r *bufio.Reader) (request, error) {
	if f.binary {
		return readBinaryRequest(r)
	}
	return readTextRequest(r)
}

func readTextRequest(r *bufio.Reader) (request, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return request{}, err
	}
	fields := strings.Fields(strings.TrimRight(line, "\r\n"))
	if len(fields) == 0 {
		return request{cmd: ""}, nil
	}
	req := request{cmd: fields[0], keys: fields[1:]}
	switch req.cmd {
	case "set", "add", "replace", "append", "prepend", "cas":
		if len(fields) < 5 {
			return req, nil
		}
		n, err := strconv.Atoi(fields[4])
		if err != nil || n < 0 {
			return req, nil
		}
		flags, _ := strconv.ParseUint(fields[2], 10, 32)
		req.flags = uint32(flags)
		req.keys = fields[1:2]
		data := make([]byte, n+2)
		if _, err := io.ReadFull(r, data); err != nil {
			return req, err
		}
		req.value = data[:n]
	}
	return req, nil
}

func readBinaryRequest(r *bufio.Reader) (request, error) {
	var hdr [24]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return request{}, err
	}
	if hdr[0] != 0x80 {
		return request{}, fmt.Errorf("request magic %#x", hdr[0])
	}
	body := make([]byte, binary.BigEndian.Uint32(hdr[8:12]))
	if _, err := io.ReadFull(r, body); err != nil {
		return request{}, err
	}
	ext, klen := int(hdr[4]), int(binary.BigEndian.Uint16(hdr[2:4]))
	if ext+klen > len(body) {
		return request{}, fmt.Errorf("request lengths %d+%d > %d", ext, klen, len(body))
	}
	req := request{op: hdr[1], cmd: fmt.Sprintf("op%#02x", hdr[1]), value: body[ext+klen:]}
	copy(req.opaque[:], hdr[12:16])
	if klen > 0 {
		req.keys = []string{string(body[ext : ext+klen])}
	}
	if ext >= 4 && (hdr[1] <= 0x03 || hdr[1] == 0x11 || hdr[1] == 0x12 || hdr[1] == 0x13) {
		req.flags = binary.BigEndian.Uint32(body[:4])
	}
	return req, nil
}

// good is the well-behaved answer to one request.
func (f *scriptFake) good(q request) []byte {
	if f.binary {
		return goodBinary(q)
	}
	switch q.cmd {
	case "get", "gets":
		var b bytes.Buffer
		for _, k := range q.keys {
			if it, ok := goodItems[k]; ok {
				fmt.Fprintf(&b, "VALUE %s %d %d", k, it.flags, len(it.value))
				if q.cmd == "gets" {
					fmt.Fprintf(&b, " %d", it.cas)
				}
				fmt.Fprintf(&b, "\r\n%s\r\n", it.value)
			}
		}
		b.WriteString("END\r\n")
		return b.Bytes()
	case "set", "add", "replace", "append", "prepend", "cas":
		return []byte("STORED\r\n")
	case "delete":
		return []byte("DELETED\r\n")
	case "incr", "decr":
		return []byte("1\r\n")
	case "touch":
		return []byte("TOUCHED\r\n")
	case "flush_all":
		return []byte("OK\r\n")
	case "version":
		return []byte("VERSION 1.6.18\r\n")
	case "stats":
		return []byte("STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n")
	case "":
		return nil
	}
	return []byte("ERROR\r\n")
}

// binPacket builds a binary response.
func binPacket(magic, op byte, status uint16, extras, key, value []byte, cas uint64) []byte {
	p := make([]byte, 24, 24+len(extras)+len(key)+len(value))
	p[0], p[1] = magic, op
	binary.BigEndian.PutUint16(p[2:4], uint16(len(key)))
	p[4] = byte(len(extras))
	binary.BigEndian.PutUint16(p[6:8], status)
	binary.BigEndian.PutUint32(p[8:12], uint32(len(extras)+len(key)+len(value)))
	binary.BigEndian.PutUint64(p[16:24], cas)
	p = append(p, extras...)
	p = append(p, key...)
	return append(p, value...)
}

// binItem is a GETK/GETKQ response carrying an item.
func binItem(op byte, key, value string, flags uint32, cas uint64) []byte {
	var ext [4]byte
	binary.BigEndian.PutUint32(ext[:], flags)
	return binPacket(0x81, op, 0, ext[:], []byte(key), []byte(value), cas)
}

var binNoopReply = binPacket(0x81, 0x0a, 0, nil, nil, nil, 0)

func goodBinary(q request) []byte {
	switch q.op {
	case 0x0c, 0x0d, 0x09, 0x00:
		if it, ok := goodItems[q.key()]; ok {
			return binItem(q.op, q.key(), it.value, it.flags, it.cas)
		}
		if q.op == 0x0c || q.op == 0x00 {
			return binPacket(0x81, q.op, 0x01, nil, nil, []byte("Not found"), 0)
		}
		return nil
	case 0x0a:
		return binNoopReply
	case 0x05, 0x06:
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], 1)
		return binPacket(0x81, q.op, 0, nil, nil, v[:], 5)
	case 0x0b:
		return binPacket(0x81, q.op, 0, nil, nil, []byte("1.6.18"), 0)
	case 0x10:
		return append(binPacket(0x81, 0x10, 0, nil, []byte("pid"), []byte("1"), 0), binPacket(0x81, 0x10, 0, nil, nil, nil, 0)...)
	case 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a: // quiet: silent on success
		return nil
	}
	return binPacket(0x81, q.op, 0, nil, nil, nil, 5)
}

// stampOpaque returns a copy of b (the good answers, which answer one
// request each; some are shared, like binNoopReply) with the opaque of
// every binary packet set to op.
func stampOpaque(b []byte, op [4]byte) []byte {
	b = bytes.Clone(b)
	for at := 0; at+24 <= len(b); at += 24 + int(binary.BigEndian.Uint32(b[at+8:at+12])) {
		copy(b[at+12:at+16], op[:])
	}
	return b
}

// splitLike cuts b into chunks of the lengths of like's.
func splitLike(b []byte, like [][]byte) [][]byte {
	out := make([][]byte, 0, len(like))
	for _, c := range like {
		out = append(out, b[:len(c)])
		b = b[len(c):]
	}
	return out
}

// requestID is the request id libmemcached put in an opaque (see request).
func requestID(op [4]byte) uint16 { return binary.BigEndian.Uint16(op[:2]) }

// idOpaque is the opaque libmemcached sends for request id.
func idOpaque(id uint16) [4]byte { return [4]byte{byte(id >> 8), byte(id)} }

// isReadUnit reports whether unit is a binary read: GETKQ per key, then NOOP.
func isReadUnit(unit []request) bool {
	return len(unit) > 1 && unit[0].op == 0x0d && unit[len(unit)-1].op == 0x0a
}

// answerOpaques returns a copy of reply, the answer to unit, with the
// opaque field of each binary packet whose header is there (packets framed
// by their body lengths) read as an offset d (a big-endian int32) and
// replaced by the opaque of the request d ids after the one the packet
// answers: d = 0 is the echo memcached sends, -1 the request before (an
// earlier call's, or another of this call's), and so on, ids wrapping at
// 16 bits as libmemcached's do.
//
// The request a packet answers: in a read, a NOOP answers the NOOP, a
// packet carrying an asked key the next GETKQ for that key not answered yet
// (the last one for it when all are), and any other packet the next GETKQ
// not answered yet (else the NOOP); otherwise packets answer the requests
// in order, the last taking every packet beyond.
func answerOpaques(unit []request, reply []byte) []byte {
	out := append([]byte(nil), reply...)
	if len(unit) == 0 {
		return out
	}
	read := isReadUnit(unit)
	used := make([]bool, len(unit))
	next := 0
	pick := func(p []byte, body uint64) int {
		if !read {
			i := min(next, len(unit)-1)
			next++
			return i
		}
		noop := len(unit) - 1
		if p[1] == 0x0a {
			return noop
		}
		ext, klen := uint64(p[4]), uint64(binary.BigEndian.Uint16(p[2:4]))
		if klen > 0 && ext+klen <= body && 24+ext+klen <= uint64(len(p)) {
			key, last := string(p[24+ext:24+ext+klen]), -1
			for i, q := range unit[:noop] {
				if q.key() == key {
					if !used[i] {
						used[i] = true
						return i
					}
					last = i
				}
			}
			if last >= 0 {
				return last
			}
		}
		for i := range unit[:noop] {
			if !used[i] {
				used[i] = true
				return i
			}
		}
		return noop
	}
	for at := 0; at+24 <= len(out); {
		p := out[at:]
		body := uint64(binary.BigEndian.Uint32(p[8:12]))
		d := int32(binary.BigEndian.Uint32(p[12:16]))
		op := idOpaque(requestID(unit[pick(p, body)].opaque) + uint16(d))
		copy(p[12:16], op[:])
		if uint64(len(p)-24) < body {
			break
		}
		at += 24 + int(body)
	}
	return out
}

// callOpaques is the set of the opaques of a call's requests (a unit).
type callOpaques map[[4]byte]bool

func opaquesOf(unit []request) callOpaques {
	m := callOpaques{}
	for _, q := range unit {
		m[q.opaque] = true
	}
	return m
}

// has reports whether the opaque of the binary packet p is one of them.
func (c callOpaques) has(p []byte) bool { return c[[4]byte(p[12:16])] }

// TestScriptFakeSkipsClosedConnection: a request the fake reads from a
// connection its client has already closed does not spend the armed
// script (a dropped connection's leftover requests, read late, once took
// the script meant for the next call on the new connection, and that call
// got a good answer); the next request on a live connection gets it.
func TestScriptFakeSkipsClosedConnection(t *testing.T) {
	for _, binaryProto := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binaryProto), func(t *testing.T) {
			fake := startScriptFake(t, binaryProto)
			big := bytes.Repeat([]byte("v"), 8000) // past what the fake's reader holds at once
			req, answer := []byte("delete k1\r\n"), []byte("SERVER_ERROR scripted\r\n")
			bigSet := []byte("set k1 0 0 8000\r\n" + string(big) + "\r\n")
			if binaryProto {
				req = binPacket(0x80, 0x04, 0, nil, []byte("k1"), nil, 0)
				answer = binPacket(0x81, 0x04, 0x84, nil, nil, []byte("scripted"), 0)
				bigSet = binPacket(0x80, 0x01, 0, make([]byte, 8), []byte("k1"), big, 0)
			}
			s := &script{chunks: [][]byte{answer}}
			fake.arm(s)
			defer fake.disarm(s)

			// The stale connection: three requests and its end arrive in one
			// segment (corked, then shut down for writing), so the fake
			// reads each request with the close already there: the first
			// with part of the large second one read ahead and the rest
			// still in the socket, before the end of the stream.
			stale, err := net.Dial("tcp", fake.addr())
			require.NoError(t, err)
			defer stale.Close()
			raw, err := stale.(*net.TCPConn).SyscallConn()
			require.NoError(t, err)
			require.NoError(t, raw.Control(func(fd uintptr) {
				require.NoError(t, syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, 1))
			}))
			_, err = stale.Write(bytes.Join([][]byte{req, bigSet, req}, nil))
			require.NoError(t, err)
			require.NoError(t, stale.(*net.TCPConn).CloseWrite())
			got, err := io.ReadAll(stale) // the fake answers, then ends the connection at the close
			require.NoError(t, err)
			require.NotContains(t, string(got), string(answer), "the closed connection got the script")

			live, err := net.Dial("tcp", fake.addr())
			require.NoError(t, err)
			defer live.Close()
			_, err = live.Write(req)
			require.NoError(t, err)
			got = make([]byte, len(answer))
			_, err = io.ReadFull(live, got)
			require.NoError(t, err)
			fake.disarm(s)
			require.Equal(t, answer, got, "the live connection got the script")
			require.Equal(t, 1, s.taken)
		})
	}
}
