// Package server starts memcached servers for the benchmark programs: each
// on a free loopback port, stopped by its own pid.
package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Server is one memcached this process started.
type Server struct {
	Addr string
	cmd  *exec.Cmd
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// CPU is the server's user + system time so far (/proc/PID/stat, every
// thread), or -1 if it cannot be read.
func (s *Server) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(s.Pid()) + "/stat")
	if err != nil {
		return -1
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:])) // from field 3 (state) on
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return -1
	}
	return time.Duration(ut+st) * (time.Second / 100) // USER_HZ
}

// Stop kills the server (by its pid) and waits for it.
func (s *Server) Stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

// Start starts memcached on a free loopback port (memcached -l 127.0.0.1
// -U 0, with its defaults otherwise) and waits until it accepts.
func Start() (*Server, error) {
	for attempt := 0; attempt < 20; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		cmd := exec.Command("memcached", args...)
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), cmd: cmd}
		for i := 0; i < 100; i++ {
			if conn, err := net.Dial("tcp", s.Addr); err == nil {
				conn.Close()
				return s, nil
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.Stop() // another process took the port first: try another
	}
	return nil, fmt.Errorf("could not start memcached on a free loopback port")
}
