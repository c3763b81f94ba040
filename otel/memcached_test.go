package otel_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a memcached this package's tests started on a free loopback
// port. The root module's internal/mctest cannot be imported from another
// module; this is the little of it these tests need: start, kill, pause
// and resume, always by the process's own pid.
type server struct {
	addr string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startServer starts memcached for a test, which kills it when it ends.
func startServer(t testing.TB) *server {
	t.Helper()
	s, err := launch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.kill)
	return s
}

// launch starts memcached on a free port, retrying when another process
// took the port meanwhile.
func launch() (*server, error) {
	bin, err := exec.LookPath("memcached")
	if err != nil {
		return nil, fmt.Errorf("memcached not found (make deps installs it): %w", err)
	}
	for attempt := 0; ; attempt++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-t", "2", "-m", "64"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root") // memcached refuses to run as root without -u
		}
		s := &server{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), port: port,
			cmd: exec.Command(bin, args...), done: make(chan struct{})}
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := s.cmd.Start(); err != nil {
			return nil, err
		}
		go func() { s.cmd.Wait(); close(s.done) }()
		if err = s.waitAccepting(); err == nil {
			return s, nil
		}
		s.kill()
		if attempt == 4 {
			return nil, err
		}
	}
}

// waitAccepting waits until the server accepts a connection, or exits.
func (s *server) waitAccepting() error {
	for i := 0; i < 1000; i++ {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("memcached on %s exited at start", s.addr)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return fmt.Errorf("memcached on %s does not accept connections", s.addr)
}

// kill ends the server (SIGKILL to its pid, as a crash would) and waits
// for it. Killing it twice is harmless.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused process dies as well, but say so
	s.cmd.Process.Kill()
	<-s.done
}

// pause stops the process (SIGSTOP): it keeps its socket and answers
// nothing. It returns once the kernel reports it stopped.
func (s *server) pause(t testing.TB) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stat := "/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/stat"
	for i := 0; i < 1000; i++ {
		b, err := os.ReadFile(stat)
		if err != nil {
			t.Fatal(err)
		}
		// "pid (comm) STATE ...": T is stopped.
		if j := strings.LastIndexByte(string(b), ')'); j > 0 && strings.HasPrefix(string(b[j:]), ") T") {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("memcached on %s did not stop", s.addr)
}

// resume continues a paused server (SIGCONT).
func (s *server) resume() { s.cmd.Process.Signal(syscall.SIGCONT) }
