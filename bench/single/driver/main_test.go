package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func write(t *testing.T, text string) string {
	f := filepath.Join(t.TempDir(), "counts.txt")
	require.NoError(t, os.WriteFile(f, []byte(text), 0o644))
	return f
}

func TestParseStrace(t *testing.T) {
	f := write(t, `% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ------------------
 64.68    5.685032         189     30011      1472 futex
  7.16    0.629298          31     20001           sendto
  0.00    0.000035          35         1         1 connect
------ ----------- ----------- --------- --------- ------------------
100.00    8.789818          82     50013      1473 total
`)
	m, err := parseStrace(f)
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"futex": 30011, "sendto": 20001, "connect": 1, "total": 50013}, m)

	_, err = parseStrace(write(t, "strace: exec: No such file\n"))
	require.ErrorContains(t, err, "no strace summary")
	_, err = parseStrace(filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
}

func TestParsePerf(t *testing.T) {
	f := write(t, `# started on Sat Dec  5 21:00:00 2026

68920,,raw_syscalls:sys_enter,1000,100.00,,
956,,syscalls:sys_enter_futex,1000,100.00,,
<not counted>,,syscalls:sys_enter_epoll_wait,0,100.00,,
`)
	m, err := parsePerf(f)
	require.NoError(t, err)
	assert.Equal(t, map[string]float64{"total": 68920, "futex": 956}, m)

	_, err = parsePerf(write(t, "nothing\n"))
	require.ErrorContains(t, err, "no perf counts")
}
