package mctest

import (
	"net"
	"strconv"
	"testing"
	"time"
)

// TestCheckPid: a server is taken for the one just started only when it
// reports that process's pid.
func TestCheckPid(t *testing.T) {
	s := Start(t)
	for _, tc := range []struct {
		pid int
		ok  bool
	}{{s.Pid(), true}, {s.Pid() + 1, false}} {
		c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		err = checkPid(c, tc.pid)
		c.Close()
		if (err == nil) != tc.ok {
			t.Errorf("checkPid(pid %d) = %v, want ok=%v (server pid %d)", tc.pid, err, tc.ok, s.Pid())
		}
	}
}

// TestStartOnTakenPort: a memcached started on a port another server
// already holds is not taken for started, whether it has exited yet or not
// when the port answers: start fails (and Start would try another port).
func TestStartOnTakenPort(t *testing.T) {
	first := Start(t)
	for i := 0; i < 5; i++ {
		s := &Server{Addr: first.Addr, Port: first.Port}
		s.args = []string{"-l", "127.0.0.1", "-p", strconv.Itoa(first.Port), "-U", "0", "-t", "2", "-m", "64"}
		if err := s.start(t); err == nil {
			s.Stop()
			t.Fatalf("a second memcached on %s was taken for started", first.Addr)
		}
	}
	if first.Pid() == 0 {
		t.Fatal("the first server was stopped")
	}
}
