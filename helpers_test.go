package libmemcached_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// newClient starts n memcached servers and returns a client for them,
// closed when the test ends.
func newClient(t testing.TB, n int, opts ...mc.Option) (*mc.Client, []*mctest.Server) {
	t.Helper()
	servers := mctest.StartN(t, n)
	c, err := mc.New(mctest.Addrs(servers), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, servers
}

func bg() context.Context { return context.Background() }

// rawCommand sends one text-protocol command straight to a server (not
// through the client) and returns the reply lines up to the terminator.
func rawCommand(t testing.TB, addr, cmd string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, err = conn.Write([]byte(cmd + "\r\n"))
	require.NoError(t, err)
	r := bufio.NewReader(conn)
	var lines []string
	for {
		line, err := r.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		switch {
		case line == "END", line == "STORED", line == "DELETED", line == "NOT_FOUND", line == "OK",
			strings.HasPrefix(line, "ERROR"), strings.HasPrefix(line, "CLIENT_ERROR"),
			strings.HasPrefix(line, "SERVER_ERROR"), strings.HasPrefix(line, "VERSION"):
			return lines
		}
	}
}

// rawStats returns one server's general stats, read directly.
func rawStats(t testing.TB, addr string) map[string]string {
	out := map[string]string{}
	for _, l := range rawCommand(t, addr, "stats") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == "STAT" {
			out[f[1]] = f[2]
		}
	}
	return out
}

// rawHas reports whether the server holds key, asked directly.
func rawHas(t testing.TB, addr, key string) bool {
	lines := rawCommand(t, addr, "get "+key)
	return len(lines) > 1 && strings.HasPrefix(lines[0], "VALUE ")
}

// serveLoopback listens on a free loopback port until the test ends and
// runs serve on each connection, in its own goroutine (the fake servers).
func serveLoopback(t testing.TB, serve func(net.Conn)) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(conn)
		}
	}()
	return ln
}

// nextCommand reads a text-protocol client's next request line that is
// not empty and returns its fields; nil once the connection has ended.
func nextCommand(r *bufio.Reader) []string {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil
		}
		if f := strings.Fields(line); len(f) > 0 {
			return f
		}
	}
}

// scriptClient starts a scriptFake and a client of it (one handle,
// retry_timeout 0), closed when the test ends.
func scriptClient(t *testing.T, binary bool) (*scriptFake, *mc.Client) {
	fake := startScriptFake(t, binary)
	c, err := mc.New([]string{fake.addr()}, mc.WithPoolSize(1),
		mc.WithBehaviors(map[string]any{"binary_protocol": binary, "retry_timeout": 0}))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return fake, c
}

// pollModes are the netpoller policies a test runs under, by name.
var pollModes = []struct {
	name string
	mode mc.PollMode
}{{"auto", mc.PollAuto}, {"always", mc.PollAlways}, {"never", mc.PollNever}}

// queueBehind starts hold (a call that takes the client's only handle and
// waits for the paused server s), then each of calls in its own
// goroutine, and returns once all of calls wait in line; done closes when
// hold and every call have returned. The server is paused on return.
func queueBehind(t *testing.T, c *mc.Client, s *mctest.Server, hold func(), calls ...func()) (done chan struct{}) {
	t.Helper()
	s.Pause()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); hold() }()
	waitFor(t, "the first call to take the handle", func() bool { return c.PoolStats().InUse == 1 })
	for i, call := range calls {
		wg.Add(1)
		go func() { defer wg.Done(); call() }()
		waitFor(t, fmt.Sprintf("call %d to wait in line", i), func() bool { return c.PoolStats().Queued == i+1 })
	}
	done = make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// waitFor polls cond (a state the test drives, not a duration) for up to
// a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 60000; i++ {
		if cond() {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("waiting for %s", what)
}
