// Package machine reads how busy this machine is, for the benchmark
// programs that share it with other work.
package machine

import (
	"log"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// WaitQuiet waits, while *budget lasts, until the machine's CPUs are less
// than 10% busy over half a second (another session's tests share this
// kind of machine); it returns how long it waited and whether the machine
// was quiet.
func WaitQuiet(budget *time.Duration) (time.Duration, bool) {
	t0 := time.Now()
	for {
		b0, _ := CPU()
		time.Sleep(500 * time.Millisecond)
		b1, _ := CPU()
		busy := (b1 - b0).Seconds() / (0.5 * float64(runtime.NumCPU()))
		waited := time.Since(t0)
		if busy < 0.10 {
			*budget -= waited
			return waited, true
		}
		if waited >= *budget {
			if *budget > 0 {
				log.Printf("the machine is still %.0f%% busy and the wait's budget is spent: running anyway from now on", 100*busy)
			}
			*budget = 0
			return waited, false
		}
	}
}

// CPU reads /proc/stat: the CPU time all CPUs spent busy (neither
// idle nor waiting for I/O), and the time the hypervisor took from them
// (steal).
func CPU() (busy, steal time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	tick := time.Second / 100 // USER_HZ
	var sum time.Duration
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			steal = time.Duration(n) * tick
		default:
			sum += time.Duration(n) * tick
		}
	}
	return sum, steal
}
