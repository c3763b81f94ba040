// Package server starts memcached servers for the benchmark programs: each
// on a free loopback port, stopped by its own pid.
package server

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"time"
)

// Server is one memcached this process started.
type Server struct {
	Addr string
	cmd  *exec.Cmd
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

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
