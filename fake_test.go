package libmemcached_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// fakeServer is a text-protocol memcached on a loopback port that keeps
// its items in a map and, with probability faultRate, answers a request
// wrongly: the reply twice, an extra line after it, a line of garbage or an
// error instead of it, another key's item instead of the one asked, the
// previous read's reply again (out of order), or half the reply and a
// closed connection. Replies to a storage command are never another
// success line, and no extra reply is sent in the middle of a pipelined
// batch: from a server that does either, libmemcached's synchronous
// storage commands can read a success line other than STORED and assert
// (see "Guarded assertions" in docs/failure-handling.md).
type fakeServer struct {
	ln        net.Listener
	mu        sync.Mutex
	items     map[string]fakeItem
	rng       *rand.Rand
	faultRate float64
	faults    map[string]int
	cas       uint64
	// storeReply, when set, is every storage command's reply, verbatim.
	storeReply string
}

type fakeItem struct {
	flags uint32
	value []byte
	cas   uint64
}

func startFake(t *testing.T, seed int64, faultRate float64) *fakeServer {
	f := &fakeServer{items: map[string]fakeItem{}, rng: rand.New(rand.NewSource(seed)),
		faultRate: faultRate, faults: map[string]int{}}
	f.ln = serveLoopback(t, f.serve)
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

// fault picks the fault for the next reply ("" for none), among kinds.
func (f *fakeServer) fault(kinds ...string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng.Float64() >= f.faultRate {
		return ""
	}
	k := kinds[f.rng.Intn(len(kinds))]
	f.faults[k]++
	return k
}

var fakeTrace, _ = os.OpenFile(os.Getenv("GOLIBMC_FAKE_TRACE"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)

func (f *fakeServer) serve(conn net.Conn) {
	defer conn.Close()
	id := conn.RemoteAddr().String()
	r := bufio.NewReader(conn)
	var lastRead string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		fields := strings.Fields(strings.TrimRight(line, "\r\n"))
		if len(fields) == 0 {
			continue
		}
		var reply string
		kinds := []string{"dup", "extra-end", "garbage", "error", "client-error", "close"}
		if r.Buffered() > 0 {
			// More requests of a pipelined batch follow: an extra reply here
			// would read exactly as the next request's (text replies carry
			// no request id), and its own would arrive late, as if
			// unsolicited (see "Guarded assertions" in docs/failure-handling.md).
			kinds = []string{"garbage", "error", "client-error", "close"}
		}
		switch cmd := fields[0]; cmd {
		case "get", "gets":
			var b strings.Builder
			f.mu.Lock()
			for _, k := range fields[1:] {
				if it, ok := f.items[k]; ok {
					fmt.Fprintf(&b, "VALUE %s %d %d", k, it.flags, len(it.value))
					if cmd == "gets" {
						fmt.Fprintf(&b, " %d", it.cas)
					}
					fmt.Fprintf(&b, "\r\n%s\r\n", it.value)
				}
			}
			other := ""
			for k, it := range f.items {
				other = fmt.Sprintf("VALUE %s %d %d 1\r\n%s\r\nEND\r\n", k, it.flags, len(it.value), it.value)
				break
			}
			f.mu.Unlock()
			b.WriteString("END\r\n")
			reply = b.String()
			switch f.fault(append(kinds, "other-key", "stale")...) {
			case "other-key":
				if other != "" {
					reply = other
				}
			case "stale":
				if lastRead != "" {
					reply, lastRead = lastRead, reply
				}
			case "dup":
				reply += reply
			case "extra-end":
				reply += "END\r\n"
			case "garbage":
				reply = "XYZZY\r\n"
			case "error":
				reply = "ERROR\r\n"
			case "client-error":
				reply = "CLIENT_ERROR bad data chunk\r\n"
			case "close":
				conn.Write([]byte(reply[:len(reply)/2]))
				return
			default:
				lastRead = reply
			}
		case "set", "add", "replace", "append", "prepend", "cas":
			if len(fields) < 5 {
				reply = "ERROR\r\n"
				break
			}
			n, _ := strconv.Atoi(fields[4])
			data := make([]byte, n+2)
			if _, err := io.ReadFull(r, data); err != nil {
				return
			}
			reply = f.store(cmd, fields, data[:n])
			reply = f.damage(reply, kinds)
			f.mu.Lock()
			if f.storeReply != "" {
				reply = f.storeReply
			}
			f.mu.Unlock()
		case "delete", "incr", "decr", "touch":
			reply = f.damage(f.keyed(cmd, fields), kinds)
		case "version":
			reply = "VERSION 1.6.18\r\n"
		case "flush_all":
			f.mu.Lock()
			f.items = map[string]fakeItem{}
			f.mu.Unlock()
			reply = "OK\r\n"
		case "quit":
			return
		default:
			reply = "ERROR\r\n"
		}
		if fakeTrace != nil {
			fmt.Fprintf(fakeTrace, "%s > %q\n%s < %q\n", id, line, id, reply)
		}
		if reply == "" {
			return // the "close" fault
		}
		if _, err := conn.Write([]byte(reply)); err != nil {
			return
		}
	}
}

// damage applies a fault to a reply that is not a read's.
func (f *fakeServer) damage(reply string, kinds []string) string {
	switch f.fault(kinds...) {
	case "dup":
		return reply + reply
	case "extra-end":
		return reply + "END\r\n"
	case "garbage":
		return "XYZZY\r\n"
	case "error":
		return "ERROR\r\n"
	case "client-error":
		return "CLIENT_ERROR bad command line format\r\n"
	case "close":
		return ""
	}
	return reply
}

func (f *fakeServer) store(cmd string, fields []string, data []byte) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fields[1]
	flags, _ := strconv.ParseUint(fields[2], 10, 32)
	old, exists := f.items[k]
	switch cmd {
	case "add":
		if exists {
			return "NOT_STORED\r\n"
		}
	case "replace", "append", "prepend":
		if !exists {
			return "NOT_STORED\r\n"
		}
		if cmd == "append" {
			data = append(append([]byte(nil), old.value...), data...)
			flags = uint64(old.flags)
		}
		if cmd == "prepend" {
			data = append(append([]byte(nil), data...), old.value...)
			flags = uint64(old.flags)
		}
	case "cas":
		if !exists {
			return "NOT_FOUND\r\n"
		}
		if len(fields) < 6 || fields[5] != strconv.FormatUint(old.cas, 10) {
			return "EXISTS\r\n"
		}
	}
	f.cas++
	f.items[k] = fakeItem{flags: uint32(flags), value: append([]byte(nil), data...), cas: f.cas}
	return "STORED\r\n"
}

func (f *fakeServer) keyed(cmd string, fields []string) string {
	if len(fields) < 2 {
		return "ERROR\r\n"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fields[1]
	it, ok := f.items[k]
	if !ok {
		return "NOT_FOUND\r\n"
	}
	switch cmd {
	case "delete":
		delete(f.items, k)
		return "DELETED\r\n"
	case "touch":
		return "TOUCHED\r\n"
	}
	n, err := strconv.ParseUint(string(it.value), 10, 64)
	if err != nil || len(fields) < 3 {
		return "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
	}
	d, _ := strconv.ParseUint(fields[2], 10, 64)
	if cmd == "incr" {
		n += d
	} else if d > n {
		n = 0
	} else {
		n -= d
	}
	f.cas++
	it.value = []byte(strconv.FormatUint(n, 10))
	it.cas = f.cas
	f.items[k] = it
	return strconv.FormatUint(n, 10) + "\r\n"
}

// TestFakeServerNeverWrongKey runs random operations against the fake
// server while it answers one request in five wrongly. Every value is
// tagged with its key, so a value returned for the wrong key shows; none
// may, and the process must not abort. Pool size 1 puts every request on
// the same connections.
func TestFakeServerNeverWrongKey(t *testing.T) {
	for _, pool := range []int{1, 3} {
		t.Run(fmt.Sprint("pool", pool), func(t *testing.T) {
			seed := time.Now().UnixNano()
			if s := os.Getenv("GOLIBMC_FAKE_SEED"); s != "" {
				seed, _ = strconv.ParseInt(s, 10, 64)
			}
			fmt.Fprintf(os.Stderr, "fake server seed %d\n", seed)
			f := startFake(t, seed, 0.2)
			c, err := mc.New([]string{f.addr()}, mc.WithPoolSize(pool), mc.WithBehaviors(map[string]any{"_poll_timeout": 200}))
			require.NoError(t, err)
			defer c.Close()
			rng := rand.New(rand.NewSource(seed))
			keys := make([]string, 12)
			for i := range keys {
				keys[i] = fmt.Sprint("fk", i)
			}
			val := func(k string, i int) []byte { return []byte(k + "=" + strconv.Itoa(i)) }
			check := func(step int, k string, it *mc.Item) {
				if it == nil {
					return
				}
				require.Equal(t, k, it.Key, "seed %d step %d", seed, step)
				require.True(t, strings.HasPrefix(string(it.Value), k+"="), "seed %d step %d: %q holds %q", seed, step, k, it.Value)
			}
			var wg sync.WaitGroup
			for g := 0; g < pool; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					rng := rand.New(rand.NewSource(seed + int64(g)))
					for step := 0; step < 1500; step++ {
						k := keys[rng.Intn(len(keys))]
						switch rng.Intn(12) {
						case 0, 1, 2:
							it, _ := c.Get(bg(), k)
							check(step, k, it)
						case 3:
							got, _ := c.GetMulti(bg(), []string{k, keys[rng.Intn(len(keys))], "absent"})
							for gk, it := range got {
								check(step, gk, it)
							}
						case 4, 5:
							_ = c.Set(bg(), &mc.Item{Key: k, Value: val(k, step)})
						case 6:
							_ = c.SetMulti(bg(), []*mc.Item{{Key: k, Value: val(k, step)}, {Key: keys[0], Value: val(keys[0], step)}})
						case 7:
							_ = c.Add(bg(), &mc.Item{Key: k, Value: val(k, step)})
							_ = c.Append(bg(), &mc.Item{Key: k, Value: []byte("+")})
						case 8:
							_ = c.Delete(bg(), k)
						case 9:
							if it, err := c.Get(bg(), k); err == nil {
								check(step, k, it)
								it.Value = val(k, step)
								_ = c.CompareAndSwap(bg(), it)
							}
						case 10:
							ck := "ctr" + k
							if _, err := c.Increment(bg(), ck, 1); errors.Is(err, mc.ErrCacheMiss) {
								_ = c.Set(bg(), &mc.Item{Key: ck, Value: []byte("0")})
							}
							_, _ = c.Decrement(bg(), ck, 1)
						case 11:
							_ = c.Touch(bg(), k, 3600)
							_ = c.DeleteMulti(bg(), []string{k, keys[0]})
						}
					}
				}(g)
			}
			wg.Wait()
			_ = rng
			f.mu.Lock()
			t.Logf("seed %d: faults injected %v", seed, f.faults)
			f.mu.Unlock()
			// With the faults off, the client answers exactly again.
			f.mu.Lock()
			f.faultRate = 0
			f.mu.Unlock()
			for i, k := range keys {
				v := val(k, 100000+i)
				var err error
				for try := 0; try < 3; try++ { // a connection broken by the last fault may fail once
					if err = c.Set(bg(), &mc.Item{Key: k, Value: v}); err == nil {
						break
					}
				}
				require.NoError(t, err)
				it, err := c.Get(bg(), k)
				require.NoError(t, err)
				assert.Equal(t, string(v), string(it.Value))
			}
			var e *mc.Error
			_, err = c.Get(bg(), "nothing")
			require.True(t, errors.As(err, &e) && errors.Is(err, mc.ErrCacheMiss), "%v", err)
		})
	}
}

// TestLongStoreReplies: stores whose replies are long (a 300-byte
// SERVER_ERROR line each, so 256 of them do not fit the first look at the
// socket), replies that overflow the receive buffer, and a server that
// streams more than any reply can be. Every key gets the server's error,
// nothing hangs, and the connection is usable after; with the system's
// receive buffer and with a small fixed one (_socket_recv_size), where the
// kernel stops the peer early and reports the socket readable below
// SO_RCVLOWAT.
func TestLongStoreReplies(t *testing.T) {
	for _, rcvbuf := range []int{0, 8192} {
		t.Run(fmt.Sprint("rcvbuf=", rcvbuf), func(t *testing.T) {
			testLongStoreReplies(t, mc.WithBehaviors(map[string]any{"_socket_recv_size": rcvbuf}))
		})
	}
}

func testLongStoreReplies(t *testing.T, opt mc.Option) {
	f := startFake(t, 1, 0)
	c, err := mc.New([]string{f.addr()}, mc.WithPoolSize(1), opt)
	require.NoError(t, err)
	defer c.Close()
	items := make([]*mc.Item, 256)
	for i := range items {
		items[i] = &mc.Item{Key: fmt.Sprint("long", i), Value: []byte("v")}
	}
	f.mu.Lock()
	f.storeReply = "SERVER_ERROR " + strings.Repeat("x", 300) + "\r\n"
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(bg(), 20*time.Second)
	defer cancel()
	err = c.SetMulti(ctx, items)
	var me *mc.MultiError
	require.ErrorAs(t, err, &me)
	require.Len(t, me.Errors, len(items))
	for k, e := range me.Errors {
		require.ErrorIs(t, e, mc.ErrServerError, k)
	}

	// Replies that do not fit the socket's receive buffer all at once
	// (256 x 2,000 bytes): the client reads them as they come.
	f.mu.Lock()
	f.storeReply = "SERVER_ERROR " + strings.Repeat("z", 1985) + "\r\n"
	f.mu.Unlock()
	err = c.SetMulti(ctx, items)
	require.ErrorAs(t, err, &me)
	require.Len(t, me.Errors, len(items))
	for k, e := range me.Errors {
		require.ErrorIs(t, e, mc.ErrServerError, k)
	}

	f.mu.Lock()
	f.storeReply = strings.Repeat("SERVER_ERROR "+strings.Repeat("y", 2100), 2) // no line end in 2,048 bytes
	f.mu.Unlock()
	err = c.SetMulti(ctx, items[:3])
	require.ErrorAs(t, err, &me)
	for k, e := range me.Errors {
		require.ErrorIs(t, e, mc.ErrProtocol, k)
	}

	f.mu.Lock()
	f.storeReply = ""
	f.mu.Unlock()
	require.NoError(t, c.Set(ctx, &mc.Item{Key: "after", Value: []byte("ok")}))
	it, err := c.Get(ctx, "after")
	require.NoError(t, err)
	require.Equal(t, "ok", string(it.Value))
}

// lateReplyServer is a text-protocol server whose first connection answers
// its first get or set twice: the reply, then, once late is closed, a
// second reply (another value for the key; NOT_STORED), after which it
// closes written. Every other request, and every other connection, gets
// the good answer ("good"; STORED).
func lateReplyServer(t *testing.T, late, written chan struct{}) string {
	var first sync.Once
	ln := serveLoopback(t, func(conn net.Conn) {
		defer conn.Close()
		trick := false
		first.Do(func() { trick = true })
		r := bufio.NewReader(conn)
		send := func(s string) bool { _, err := io.WriteString(conn, s); return err == nil }
		for {
			f := nextCommand(r)
			if f == nil {
				return
			}
			var reply, second string
			switch f[0] {
			case "get", "gets":
				value := func(v string, cas int) string {
					if f[0] == "gets" {
						return fmt.Sprintf("VALUE %s 0 %d %d\r\n%s\r\nEND\r\n", f[1], len(v), cas, v)
					}
					return fmt.Sprintf("VALUE %s 0 %d\r\n%s\r\nEND\r\n", f[1], len(v), v)
				}
				reply, second = value("good", 3), value("wrong", 2)
				if trick {
					reply = value("first", 1)
				}
			case "set":
				n, _ := strconv.Atoi(f[4])
				if _, err := r.Discard(n + 2); err != nil {
					return
				}
				reply, second = "STORED\r\n", "NOT_STORED\r\n"
			default:
				return
			}
			if !send(reply) {
				return
			}
			if trick {
				trick = false
				<-late
				ok := send(second)
				close(written)
				if !ok {
					return
				}
			}
		}
	})
	return ln.Addr().String()
}

// TestLateReplyNotTaken: a server that answers a request twice, the second
// reply arriving after the call that read the first had ended, does not
// have that second reply read as the next call's answer (over the text
// protocol nothing tells them apart): the next call finds bytes no request
// expects on the connection and starts on a new one. Found by
// FuzzTextReplies (seed-after-end-stale-value-late).
func TestLateReplyNotTaken(t *testing.T) {
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			t.Run("Get", func(t *testing.T) {
				v, err := getAfterLateReply(t, mc.WithPollMode(pm.mode))
				require.NoError(t, err)
				assert.Equal(t, "good", v, "the late second reply was read as this call's")
			})
			t.Run("Set", func(t *testing.T) {
				late, written := make(chan struct{}), make(chan struct{})
				c, err := mc.New([]string{lateReplyServer(t, late, written)}, mc.WithPoolSize(1), mc.WithPollMode(pm.mode))
				require.NoError(t, err)
				defer c.Close()
				require.NoError(t, c.Set(bg(), item("k", "v")))
				close(late)
				<-written
				require.NoError(t, c.Set(bg(), item("k", "v")), "the late NOT_STORED was read as this call's reply")
				it, err := c.Get(bg(), "k")
				require.NoError(t, err)
				assert.Equal(t, "good", string(it.Value))
			})
		})
	}
}

// TestReadFailureErrors: what a read returns when its server's reply
// fails, for Get (an *Error) and for each key of a GetMulti (a
// *MultiError), in both protocols: a reply that breaks the grammar (a
// garbage line or packet; issue 20 B's value length of 2^64-1; C's binary
// key length past the body) is ErrProtocol (ReturnProtocolError); a
// connection closed before the reply is ErrServerDown; a reply that does
// not come by the deadline is ErrTimeout, and matches
// context.DeadlineExceeded. Never a miss, never an item.
func TestReadFailureErrors(t *testing.T) {
	for _, binary := range []bool{false, true} {
		garbage, huge := []byte("XYZZY\r\n"), []byte("VALUE k1 42 18446744073709551615 1\r\nhello\r\nEND\r\n")
		if binary {
			garbage = binPacket(0x81, 0x01, 0, nil, nil, nil, 0)
			huge = binPacket(0x81, 0x0d, 0, []byte{0, 0, 0, 0}, []byte("k1"), []byte("v"), 0)
			huge[2], huge[3] = 0xff, 0xff // a key length past the body
		}
		cases := []struct {
			name  string
			reply []byte
			close bool
			want  error
			code  mc.ReturnCode
		}{
			{"garbage", garbage, false, mc.ErrProtocol, mc.ReturnProtocolError},
			{"past-its-frame", huge, false, mc.ErrProtocol, mc.ReturnProtocolError},
			{"close", nil, true, mc.ErrServerDown, mc.ReturnConnectionFailure},
			{"silence", nil, false, mc.ErrTimeout, mc.ReturnTimeout},
		}
		for _, tc := range cases {
			t.Run(fmt.Sprintf("binary=%v/%s", binary, tc.name), func(t *testing.T) {
				fake, c := scriptClient(t, binary)
				check := func(err error) {
					t.Helper()
					require.ErrorIs(t, err, tc.want)
					var e *mc.Error
					require.ErrorAs(t, err, &e)
					assert.Equal(t, tc.code, e.Code, "%v", e)
					assert.Equal(t, fake.addr(), e.Server)
					assert.NotErrorIs(t, err, mc.ErrCacheMiss)
					if tc.want == mc.ErrTimeout {
						assert.ErrorIs(t, err, context.DeadlineExceeded)
					}
				}
				run := func(call func(ctx context.Context) error) {
					t.Helper()
					s := &script{close: tc.close}
					if tc.reply != nil {
						s.chunks = [][]byte{tc.reply}
					}
					fake.arm(s)
					ctx, cancel := context.WithTimeout(bg(), 300*time.Millisecond)
					err := call(ctx)
					cancel()
					fake.disarm(s)
					check(err)
				}
				run(func(ctx context.Context) error {
					it, err := c.Get(ctx, "k1")
					assert.Nil(t, it)
					return err
				})
				run(func(ctx context.Context) error {
					items, err := c.GetMulti(ctx, []string{"k1", "k2"})
					assert.Empty(t, items)
					var me *mc.MultiError
					require.ErrorAs(t, err, &me)
					require.Len(t, me.Errors, 2, "%v", err)
					for _, e := range me.Errors {
						check(e)
					}
					return err
				})
				it, err := c.Get(bg(), "k1")
				require.NoError(t, err, "the client is usable after")
				assert.Equal(t, "good-k1", string(it.Value))
			})
		}
	}
}

// TestLeftoverCheckedWhenIdle: with a threshold, a handle used again before
// it passes skips the look for late replies (the library's default leaves
// calls back to back without that system call), and one idle past it gets
// it (the suite runs with 0: every call is looked at).
func TestLeftoverCheckedWhenIdle(t *testing.T) {
	call := func(t *testing.T, idle time.Duration) (string, error) {
		defer mc.SetLeftoverIdle(idle)()
		return getAfterLateReply(t)
	}
	// Not looked at: the late reply is read as the call's, and the call's
	// own reply then either follows it in the same read (out of step: a
	// protocol error) or is left for the next call's checks.
	v, err := call(t, time.Hour)
	if err != nil {
		assert.ErrorIs(t, err, mc.ErrProtocol)
	} else {
		assert.Equal(t, "wrong", v)
	}
	v, err = call(t, 0)
	require.NoError(t, err)
	assert.Equal(t, "good", v, "looked at: new connections")
}

// getAfterLateReply reads k from a lateReplyServer (a pool of one handle),
// has it write its late second reply, and returns what the next Get of k
// gives.
func getAfterLateReply(t *testing.T, opts ...mc.Option) (string, error) {
	late, written := make(chan struct{}), make(chan struct{})
	c, err := mc.New([]string{lateReplyServer(t, late, written)}, append([]mc.Option{mc.WithPoolSize(1)}, opts...)...)
	require.NoError(t, err)
	defer c.Close()
	it, err := c.Get(bg(), "k")
	require.NoError(t, err)
	require.Equal(t, "first", string(it.Value))
	close(late)
	<-written
	if it, err = c.Get(bg(), "k"); err != nil {
		return "", err
	}
	return string(it.Value), nil
}
