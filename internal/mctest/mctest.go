// Package mctest starts real memcached servers for tests: each on a free
// loopback port (or a socket in the test's temp dir), stopped by its pid when
// the test ends. It never touches a server it did not start.
package mctest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// TB is the part of testing.TB the package uses; Main provides one for
// TestMain, where there is no *testing.T yet.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// Main is a TB for TestMain: Fatalf panics, Cleanup collects functions
// that Close runs.
type Main struct{ cleanups []func() }

// Helper does nothing.
func (m *Main) Helper() {}

// Fatalf panics with the message.
func (m *Main) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// Cleanup registers fn to run at Close.
func (m *Main) Cleanup(fn func()) { m.cleanups = append(m.cleanups, fn) }

// Close runs the cleanups, last first.
func (m *Main) Close() {
	for i := len(m.cleanups) - 1; i >= 0; i-- {
		m.cleanups[i]()
	}
}

// RunWithServer is a package's TestMain: it starts one memcached for the
// Example functions, stores its address in *addr, runs the tests (m is a
// *testing.M), stops the server and exits with the tests' code.
func RunWithServer(m interface{ Run() int }, addr *string) {
	main := &Main{}
	*addr = Start(main).Addr
	code := m.Run()
	main.Close()
	os.Exit(code)
}

// Server is one memcached process started by this package.
type Server struct {
	// Addr is what a client is given: "127.0.0.1:port" or the socket path.
	Addr string
	// Port is the TCP port (0 for a unix socket server).
	Port int
	// Socket is the unix socket path ("" for TCP).
	Socket string

	args []string
	env  []string
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// binary finds memcached.
func binary(t TB) string {
	t.Helper()
	p, err := exec.LookPath("memcached")
	if err != nil {
		for _, c := range []string{"/usr/bin/memcached", "/usr/local/bin/memcached"} {
			if _, err := os.Stat(c); err == nil {
				return c
			}
		}
		t.Fatalf("memcached not found: install it (make test does: apt-get install memcached)")
	}
	return p
}

// userArgs lets memcached run as root (it refuses without -u).
func userArgs() []string {
	if os.Geteuid() != 0 {
		return nil
	}
	name := "root"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return []string{"-u", name}
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts memcached on a free loopback port with extra arguments (for
// example "-I", "2m"), waits until it accepts connections, and stops it when
// the test ends.
func Start(t TB, extra ...string) *Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port}
		s.args = append([]string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-t", "2", "-m", "64"}, extra...)
		if lastErr = s.start(t); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("starting memcached: %v", lastErr)
	return nil
}

// SlabChunkMax returns the -o argument that sets memcached's largest slab
// chunk to kib KiB: memcached 1.6.24 and later take slab_chunk_max in
// KiB, as documented, and refuse a byte count; earlier ones (Debian 11's
// 1.6.9, Debian 12's 1.6.18) take bytes.
func SlabChunkMax(t TB, kib int) string {
	t.Helper()
	out, err := exec.Command(binary(t), "-V").Output()
	if err != nil {
		t.Fatalf("memcached -V: %v", err)
	}
	var major, minor, patch int
	if _, err := fmt.Sscanf(string(out), "memcached %d.%d.%d", &major, &minor, &patch); err != nil {
		t.Fatalf("memcached -V said %q: %v", out, err)
	}
	if major > 1 || major == 1 && (minor > 6 || minor == 6 && patch >= 24) {
		return "slab_chunk_max=" + strconv.Itoa(kib)
	}
	return "slab_chunk_max=" + strconv.Itoa(kib<<10)
}

// StartN starts n servers.
func StartN(t TB, n int, extra ...string) []*Server {
	t.Helper()
	out := make([]*Server, n)
	for i := range out {
		out[i] = Start(t, extra...)
	}
	return out
}

// StartSocket starts memcached on a unix socket in the test's temp dir.
func StartSocket(t TB, extra ...string) *Server {
	t.Helper()
	dir, err := os.MkdirTemp("", "mc")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		os.Chmod(dir, 0o755)
	}
	path := filepath.Join(dir, "mc.sock")
	s := &Server{Addr: path, Socket: path}
	s.args = append([]string{"-s", path, "-t", "2", "-m", "64"}, extra...)
	if err := s.start(t); err != nil {
		t.Fatalf("starting memcached on %s: %v", path, err)
	}
	t.Cleanup(s.Stop)
	return s
}

// StartSASL starts memcached with SASL required (-S), knowing one user:
// it writes a sasldb with saslpasswd2 (Debian's sasl2-bin) and a
// memcached.conf allowing the PLAIN mechanism into a temp dir.
func StartSASL(t TB, user, password string) *Server {
	t.Helper()
	tool, err := exec.LookPath("saslpasswd2")
	if err != nil {
		t.Fatalf("saslpasswd2 not found: install sasl2-bin (make test does)")
	}
	dir, err := os.MkdirTemp("", "mcsasl")
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "sasldb2")
	cmd := exec.Command(tool, "-a", "memcached", "-c", "-p", "-f", db, user)
	cmd.Stdin = strings.NewReader(password)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("saslpasswd2: %v: %s", err, out)
	}
	conf := "mech_list: plain\nsasldb_path: " + db + "\n"
	if err := os.WriteFile(filepath.Join(dir, "memcached.conf"), []byte(conf), 0o644); err != nil {
		t.Fatalf("%v", err)
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), Port: port, env: []string{"SASL_CONF_PATH=" + dir}}
		s.args = []string{"-S", "-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-t", "2", "-m", "64"}
		if lastErr = s.start(t); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("starting memcached -S: %v", lastErr)
	return nil
}

// Addrs returns the addresses of servers.
func Addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr
	}
	return out
}

func (s *Server) start(t TB) error {
	cmd := exec.Command(binary(t), append(userArgs(), s.args...)...)
	if len(s.env) > 0 {
		cmd.Env = append(os.Environ(), s.env...)
	}
	cmd.Stdout = nil
	cmd.Stderr = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		network, addr := "tcp", s.Addr
		if s.Socket != "" {
			network = "unix"
		}
		c, err := net.DialTimeout(network, addr, 200*time.Millisecond)
		if err == nil {
			// Whoever answers must be the memcached just started: on a
			// port found free a moment ago, another process's server may
			// listen by now (ours then exits, unable to bind). A SASL
			// server answers no text command; a socket is in our own
			// directory.
			if network == "tcp" && !slices.Contains(s.args, "-S") {
				err = checkPid(c, cmd.Process.Pid)
			}
			c.Close()
			if err != nil {
				cmd.Process.Kill()
				<-done
				return fmt.Errorf("memcached %v: %v", s.args, err)
			}
			break
		}
		select {
		case <-done:
			return fmt.Errorf("memcached %v exited at start", s.args)
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			return fmt.Errorf("memcached %v did not accept connections: %v", s.args, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
	return nil
}

// checkPid asks the server at c for its stats and fails unless its pid is
// pid.
func checkPid(c net.Conn, pid int) error {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("stats\r\n")); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	got := ""
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading its stats: %v", err)
		}
		line = strings.TrimRight(line, "\r\n")
		if v, ok := strings.CutPrefix(line, "STAT pid "); ok {
			got = v
		}
		if line == "END" || strings.HasSuffix(line, "ERROR") {
			break
		}
	}
	if got != strconv.Itoa(pid) {
		return fmt.Errorf("the server on its port is another process's (pid %q, not %d)", got, pid)
	}
	return nil
}

// Pid returns the process id (0 when stopped).
func (s *Server) Pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) signal(sig syscall.Signal, wait bool) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	if wait {
		s.cmd = nil
	}
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	if wait {
		<-done
	}
}

// Stop ends the server and waits for it, as a crash would (SIGKILL): test
// servers hold nothing worth a graceful shutdown, which costs memcached
// about a second.
func (s *Server) Stop() { s.signal(syscall.SIGKILL, true) }

// Pause stops the process (SIGSTOP): it keeps its sockets but answers
// nothing. It returns once the kernel reports the process stopped (a signal
// is delivered asynchronously, and a request could still be served).
func (s *Server) Pause() {
	s.signal(syscall.SIGSTOP, false)
	pid := s.Pid()
	for i := 0; pid != 0 && i < 200; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		// The state follows the parenthesised command name: "pid (comm) T ...".
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] == 'T' {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Resume continues a paused process (SIGCONT).
func (s *Server) Resume() { s.signal(syscall.SIGCONT, false) }

// Restart starts the server again on the same address, empty.
func (s *Server) Restart(t TB) {
	t.Helper()
	s.Stop()
	var err error
	for i := 0; i < 50; i++ {
		if err = s.start(t); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("restarting memcached on %s: %v", s.Addr, err)
}

// Nutcracker is one twemproxy process (Debian's nutcracker) started by
// StartNutcracker.
type Nutcracker struct {
	// Pools maps each pool's name to the address it listens on.
	Pools map[string]string

	cmd  *exec.Cmd
	done chan struct{}
}

// StartNutcracker starts twemproxy with one pool per entry of pools (its
// name, and its YAML settings other than "listen", each line indented by
// two spaces), each listening on a free loopback port, its configuration,
// log and pid files in dir. It waits until every pool accepts connections
// and stops the process by its pid when the test ends. The stats server
// listens on a free loopback port too.
func StartNutcracker(t TB, dir string, pools map[string]string) *Nutcracker {
	t.Helper()
	bin, err := exec.LookPath("nutcracker")
	if err != nil {
		bin = "/usr/sbin/nutcracker"
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("nutcracker not found: install it (make test does: apt-get install nutcracker)")
		}
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		n := &Nutcracker{Pools: map[string]string{}}
		var conf strings.Builder
		// FreePort may name a port twice (nothing holds it between calls);
		// two pools listening on one port make the configuration invalid.
		used := map[int]bool{}
		port := func() int {
			for {
				if p := FreePort(t); !used[p] {
					used[p] = true
					return p
				}
			}
		}
		for name, body := range pools {
			n.Pools[name] = "127.0.0.1:" + strconv.Itoa(port())
			fmt.Fprintf(&conf, "%s:\n  listen: %s\n%s\n", name, n.Pools[name], strings.TrimRight(body, "\n"))
		}
		file := filepath.Join(dir, fmt.Sprintf("nutcracker-%d.yml", attempt))
		if err := os.WriteFile(file, []byte(conf.String()), 0o600); err != nil {
			t.Fatalf("writing the nutcracker configuration: %v", err)
		}
		if out, err := exec.Command(bin, "-t", "-c", file).CombinedOutput(); err != nil {
			t.Fatalf("nutcracker refuses its configuration: %v: %s\n%s", err, out, conf.String())
		}
		n.cmd = exec.Command(bin, "-c", file, "-a", "127.0.0.1", "-s", strconv.Itoa(port()),
			"-o", filepath.Join(dir, fmt.Sprintf("nutcracker-%d.log", attempt)),
			"-p", filepath.Join(dir, fmt.Sprintf("nutcracker-%d.pid", attempt)))
		n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if lastErr = n.cmd.Start(); lastErr != nil {
			continue
		}
		n.done = make(chan struct{})
		go func() { n.cmd.Wait(); close(n.done) }()
		if lastErr = n.waitListening(); lastErr == nil {
			t.Cleanup(n.Stop)
			return n
		}
		n.Stop()
	}
	t.Fatalf("starting nutcracker: %v", lastErr)
	return nil
}

// waitListening waits until every pool accepts connections, or the
// process exits (a port taken meanwhile).
func (n *Nutcracker) waitListening() error {
	deadline := time.Now().Add(10 * time.Second)
	for _, addr := range n.Pools {
		for {
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			select {
			case <-n.done:
				return fmt.Errorf("nutcracker exited at start")
			default:
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("nutcracker did not listen on %s: %v", addr, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// Stop kills the process by its pid and waits for it.
func (n *Nutcracker) Stop() {
	if n.cmd == nil || n.cmd.Process == nil || n.done == nil {
		return
	}
	n.cmd.Process.Kill()
	<-n.done
}
