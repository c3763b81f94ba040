package main

import (
	"fmt"
	"strings"

	"github.com/golibmc/libmemcached/bench/internal/single"
)

// Report is the driver's Markdown: the table of issue 23, every phase, the
// warm-ups, and the syscall counts.
func Report(r *single.Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# One goroutine, separate processes (bench/single)\n\n")
	fmt.Fprintf(&b, "%s, memcached at %s, %d rounds; in each round every program ran once, in a rotated order "+
		"(%s first in round 1); medians over the rounds. CPU is each program's own user + system time "+
		"(getrusage RUSAGE_SELF, every thread) over each phase; phases: `%s`.\n\n",
		r.Date, r.Addr, r.Rounds, strings.Join(r.Order[0], ", "), r.Phases)
	b.WriteString(r.LoadLine() + "\n")
	b.WriteString(r.Headline())
	b.WriteString("\n## Every phase\n\n")
	b.WriteString(r.Full())
	b.WriteString("\n## Detail (medians): CPU split, context switches, wall per call\n\n")
	b.WriteString("| program | phase | CPU/unit | user | sys | context switches per call | wall per call | CPU range over rounds |\n|---|---|---:|---:|---:|---:|---:|---|\n")
	for _, p := range r.Programs {
		for _, w := range append([]string{"warm-set", "warm-get", "warm-getmulti"}, phaseNames()...) {
			s := r.Stat(p, w)
			if s.N == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %s | %.2f µs | %.2f | %.2f | %.2f | %.1f µs | %.2f–%.2f µs |\n", p, w,
				s.CPUPerUnit/1e3, s.UserPerUnit/1e3, s.SysPerUnit/1e3, s.CswPerOp, s.WallPerOp/1e3, s.MinCPU/1e3, s.MaxCPU/1e3)
		}
	}
	if t := r.PlacementTable(); t != "" {
		b.WriteString("\n## Placement: memcached and the client pinned to the same CPU, or to different CPUs\n\n")
		b.WriteString("Go programs pinned to one CPU run with GOMAXPROCS=1 (the runtime follows the affinity mask).\n\n")
		b.WriteString(t)
	}
	if t := r.SyscallTable(); t != "" {
		b.WriteString("\n## System calls per call (one goroutine, one key)\n\n")
		b.WriteString(t)
	}
	return b.String()
}

func phaseNames() []string {
	var out []string
	for _, w := range single.Workloads {
		out = append(out, w.Phase)
	}
	return out
}
