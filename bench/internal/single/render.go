package single

import (
	"fmt"
	"sort"
	"strings"

	"github.com/golibmc/libmemcached/internal/stats"
)

// Workload describes one phase for the tables.
type Workload struct {
	Phase, Unit, About string
}

// Workloads are the phases the driver runs by default, in table order: the
// three of issue 23 first (Sets, Gets, then GetMulti of 100 keys), then
// GetMultiFunc where golibmc has it, then the other rows of BENCHMARKS.md.
var Workloads = []Workload{
	{"set", "op", "Set of a 100 B value (1,000 keys)"},
	{"get", "op", "Get of a 100 B value (1,000 keys)"},
	{"getmulti", "key", "GetMulti of 100 keys (100 B values)"},
	{"getmultifunc", "key", "GetMultiFunc of 100 keys (golibmc only; C: the same mget loop)"},
	{"get10k", "op", "Get of a 10 KiB value"},
	{"set10k", "op", "Set of a 10 KiB value"},
	{"getmulti10", "key", "GetMulti of 10 keys"},
	{"getmulti1000", "key", "GetMulti of 1000 keys"},
	{"setmulti1000", "batch", "SetMulti of 1000 × 100 B (gomemcache and the memcache package: 1000 Set calls)"},
	{"set1000seq", "batch", "1000 sequential Set calls of 100 B"},
	{"incr", "op", "Increment"},
	{"pget8", "op", "Get of 100 B from 8 goroutines / threads"},
	{"pset8", "op", "Set of 100 B from 8 goroutines / threads"},
	{"pget8p4", "op", "Get of 100 B from 8 goroutines, GOMAXPROCS=4 (C: 8 threads)"},
}

// The C program has no GetMultiFunc: its row compares with its GetMulti,
// which already discards the values into one reused result.
func cPhase(phase string) string {
	if phase == "getmultifunc" {
		return "getmulti"
	}
	return phase
}

// RoundRatios returns, per round, program's phase measure divided by the C
// program's in the same round (cpu: CPU per unit; else units/s), sorted.
func (r *Result) RoundRatios(program, phase string, cpu bool) []float64 {
	a, b := r.Samples[program][phase], r.Samples[C][cPhase(phase)]
	var out []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if cpu {
			out = append(out, a[i].CPUPerUnit()/b[i].CPUPerUnit())
		} else {
			out = append(out, a[i].PerSec()/b[i].PerSec())
		}
	}
	sort.Float64s(out)
	return out
}

// RatioToC is program's median over C's median for phase (CPU per unit, or
// units/s).
func (r *Result) RatioToC(program, phase string, cpu bool) float64 {
	a, b := r.Stat(program, phase), r.Stat(C, cPhase(phase))
	if cpu {
		return a.CPUPerUnit / b.CPUPerUnit
	}
	return a.PerSec / b.PerSec
}

// PlacementRatios returns, for each pinned placement that measured phase,
// program's median over the C program's (cpu: CPU per unit; else units/s),
// with the placement's name.
func (r *Result) PlacementRatios(program, phase string, cpu bool) (names []string, ratios []float64) {
	for _, pl := range r.Placements {
		a, b := pl.Stats[program][phase], pl.Stats[C][cPhase(phase)]
		if a.N == 0 || b.N == 0 {
			continue
		}
		v := a.PerSec / b.PerSec
		if cpu {
			v = a.CPUPerUnit / b.CPUPerUnit
		}
		names, ratios = append(names, pl.Name), append(ratios, v)
	}
	return names, ratios
}

// ratioCell is "1.24× (1.10–1.38)": the ratio of the medians and the range
// of the per-round ratios.
func (r *Result) ratioCell(program, phase string, cpu bool) string {
	if !r.Has(program, phase) || !r.Has(C, cPhase(phase)) {
		return "—"
	}
	rr := r.RoundRatios(program, phase, cpu)
	s := fmt.Sprintf("%.2f×", r.RatioToC(program, phase, cpu))
	if len(rr) > 1 {
		s += fmt.Sprintf(" [%.2f–%.2f]", rr[0], rr[len(rr)-1])
	}
	return s
}

// hasMultiFunc says whether program p's getmultifunc phase is a
// GetMultiFunc of its own: golibmc's and the floor's are (the C loop's is
// its GetMulti; the others have none).
func hasMultiFunc(p string) bool { return p == Golibmc || p == Floor }

func us(ns float64) string {
	if ns >= 100e3 {
		return fmt.Sprintf("%.0f µs", ns/1e3)
	}
	return fmt.Sprintf("%.2f µs", ns/1e3)
}

// Headline is the table of issue 23: CPU per Get and Set against the C
// program, GetMulti(100) keys/s against C and gomemcache, CPU per GetMulti
// key, and GetMultiFunc when golibmc has it.
func (r *Result) Headline() string {
	var b strings.Builder
	progs := []string{Golibmc, C, Gomemcache, Memcache, Floor}
	b.WriteString("| per phase: median = ratio to the C loop [range of the per-round ratios] |")
	for _, p := range progs {
		if r.Stats[p] != nil {
			fmt.Fprintf(&b, " %s |", p)
		}
	}
	b.WriteString(" golibmc ÷ gomemcache |\n|---|")
	for _, p := range progs {
		if r.Stats[p] != nil {
			b.WriteString("---:|")
		}
	}
	b.WriteString("---:|\n")
	row := func(label, phase string, cpu bool, format func(Stat) string) {
		if !r.Has(Golibmc, phase) {
			return
		}
		fmt.Fprintf(&b, "| %s |", label)
		for _, p := range progs {
			if r.Stats[p] == nil {
				continue
			}
			ph := phase
			if p == C {
				ph = cPhase(phase)
			}
			switch {
			case !r.Has(p, ph) || (phase == "getmultifunc" && p != C && !hasMultiFunc(p)):
				b.WriteString(" — |")
			case p == C:
				fmt.Fprintf(&b, " %s = 1 |", format(r.Stat(p, ph)))
			default:
				fmt.Fprintf(&b, " %s = %s |", format(r.Stat(p, ph)), r.ratioCell(p, phase, cpu))
			}
		}
		g, l := r.Stat(Gomemcache, phase), r.Stat(Golibmc, phase)
		if phase == "getmultifunc" {
			g = r.Stat(Gomemcache, "getmulti")
		}
		switch {
		case g.N > 0:
			if cpu {
				fmt.Fprintf(&b, " %.2f× the CPU |\n", l.CPUPerUnit/g.CPUPerUnit)
			} else {
				fmt.Fprintf(&b, " %.2f× |\n", l.PerSec/g.PerSec)
			}
		default:
			b.WriteString(" — |\n")
		}
	}
	cpuOf := func(s Stat) string { return us(s.CPUPerUnit) }
	rate := func(s Stat) string { return fmt.Sprintf("%.0f", s.PerSec) }
	row("CPU per Get", "get", true, cpuOf)
	row("CPU per Set", "set", true, cpuOf)
	row("GetMulti(100) keys/s", "getmulti", false, rate)
	row("CPU per GetMulti(100) key", "getmulti", true, cpuOf)
	row("GetMultiFunc(100) keys/s (gomemcache column: its GetMulti)", "getmultifunc", false, rate)
	row("CPU per GetMultiFunc(100) key", "getmultifunc", true, cpuOf)
	if r.Has(Golibmc, "getmultifunc") {
		fmt.Fprintf(&b, "\nGetMultiFunc(100): %.3f heap allocations per key (golibmc's GetMulti: %.2f).\n",
			r.Stat(Golibmc, "getmultifunc").AllocsPerUnit, r.Stat(Golibmc, "getmulti").AllocsPerUnit)
	}
	return b.String()
}

// Full is every phase: rates, CPU per unit, the ratios, and golibmc's heap
// allocations per unit.
func (r *Result) Full() string {
	var b strings.Builder
	b.WriteString("| workload | unit | golibmc /s | C loop /s | gomemcache /s | memcache package /s | golibmc ÷ C | golibmc ÷ gomemcache | memcache package ÷ gomemcache | CPU µs/unit golibmc | C loop | gomemcache | memcache package | CPU golibmc ÷ C | golibmc allocs/unit |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	num := func(x float64, ok bool, f string) string {
		if !ok {
			return "—"
		}
		return fmt.Sprintf(f, x)
	}
	for _, w := range Workloads {
		if !r.Has(Golibmc, w.Phase) && !r.Has(C, w.Phase) {
			continue
		}
		l, c, g, d := r.Stat(Golibmc, w.Phase), r.Stat(C, cPhase(w.Phase)), r.Stat(Gomemcache, w.Phase), r.Stat(Memcache, w.Phase)
		lo, co, gok, dok := l.N > 0, c.N > 0, g.N > 0, d.N > 0
		if w.Phase == "getmultifunc" {
			g, gok = r.Stat(Gomemcache, "getmulti"), false
			dok = false
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			w.About, w.Unit,
			num(l.PerSec, lo, "%.0f"), num(c.PerSec, co, "%.0f"), num(g.PerSec, gok, "%.0f"), num(d.PerSec, dok, "%.0f"),
			num(l.PerSec/c.PerSec, lo && co, "%.2f"), num(l.PerSec/g.PerSec, lo && g.N > 0, "%.2f"), num(d.PerSec/g.PerSec, dok && gok, "%.2f"),
			num(l.CPUPerUnit/1e3, lo, "%.2f"), num(c.CPUPerUnit/1e3, co, "%.2f"), num(g.CPUPerUnit/1e3, gok, "%.2f"), num(d.CPUPerUnit/1e3, dok, "%.2f"),
			num(l.CPUPerUnit/c.CPUPerUnit, lo && co, "%.2f"), num(l.AllocsPerUnit, lo, "%.2f"))
	}
	return b.String()
}

// PlacementTable renders the pinned runs: CPU per Get and Set, GetMulti(100)
// and GetMultiFunc(100) keys/s of each program with memcached and the
// program on the same CPU or on different ones, and the ratios to the C loop.
func (r *Result) PlacementTable() string {
	if len(r.Placements) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| placement | program | CPU per Get | ÷ C | CPU per Set | ÷ C | GetMulti(100) keys/s | ÷ C | CPU per GetMulti key | ÷ C | GetMultiFunc(100) keys/s | ÷ C | wall per Get |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, pl := range r.Placements {
		c := pl.Stats[C]
		for _, p := range []string{C, Golibmc, Gomemcache, Memcache, Floor} {
			st := pl.Stats[p]
			if st == nil {
				continue
			}
			g, s, m := st["get"], st["set"], st["getmulti"]
			f, fc := "—", "—"
			if mf := st["getmultifunc"]; mf.N > 0 && hasMultiFunc(p) {
				f, fc = fmt.Sprintf("%.0f", mf.PerSec), fmt.Sprintf("%.2f×", mf.PerSec/c["getmulti"].PerSec)
			}
			fmt.Fprintf(&b, "| %s (memcached on CPU %d, client on CPU %d) | %s | %s | %.2f× | %s | %.2f× | %.0f | %.2f× | %s | %.2f× | %s | %s | %.1f µs |\n",
				pl.Name, pl.Server, pl.Client, p, us(g.CPUPerUnit), g.CPUPerUnit/c["get"].CPUPerUnit,
				us(s.CPUPerUnit), s.CPUPerUnit/c["set"].CPUPerUnit, m.PerSec, m.PerSec/c["getmulti"].PerSec,
				us(m.CPUPerUnit), m.CPUPerUnit/c["getmulti"].CPUPerUnit, f, fc, g.WallPerOp/1e3)
		}
	}
	return b.String()
}

// LoadLine says how busy the machine was while the programs ran, besides
// the program itself: the median over the runs of the other busy CPU time
// (memcached's, the driver's, anything else running) as a share of the
// machine, and the hypervisor's steal.
func (r *Result) LoadLine() string {
	if len(r.Load) == 0 || r.CPUs == 0 {
		return ""
	}
	var other []float64
	var sumOther, sumSteal, sumCap float64
	noisy, withServer := 0, true
	for _, l := range r.Load {
		if !l.Quiet {
			noisy++
		}
		capacity := l.Wall.Seconds() * float64(r.CPUs)
		o := l.Busy - l.Child
		if l.Server >= 0 {
			o -= l.Server
		} else {
			withServer = false
		}
		other = append(other, max(0, o.Seconds()/capacity))
		sumOther += o.Seconds()
		sumSteal += l.Steal.Seconds()
		sumCap += capacity
	}
	sort.Float64s(other)
	who := "everything but the program and memcached (the driver, other sessions' work)"
	if !withServer {
		who = "everything but the program (memcached, the driver, other sessions' work)"
	}
	s := fmt.Sprintf("While the programs ran, %s kept about %.0f%% of the %d CPUs busy (over all the runs; the busiest run: %.0f%%; "+
		"from /proc/stat's tick-sampled counts), and the hypervisor took %.1f%% (steal).",
		who, 100*max(0, sumOther/sumCap), r.CPUs, 100*other[len(other)-1], 100*sumSteal/sumCap)
	if noisy > 0 {
		s += fmt.Sprintf(" **%d of %d runs started while other processes kept the machine busy** (the driver waits for "+
			"it to be idle, within a budget): their numbers are less reliable.", noisy, len(r.Load))
	}
	return s + "\n"
}

// SyscallNames are the columns of the syscall table, in order; the rest
// are summed as "other".
var SyscallNames = []string{"sendto", "recvfrom", "poll", "futex", "nanosleep", "sched_yield", "epoll_pwait", "epoll_ctl", "getpid", "tgkill", "rt_sigreturn"}

// SyscallTable renders the syscall counts per call.
func (r *Result) SyscallTable() string {
	if len(r.Syscalls) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("| program | calls | counted with | syscalls per call | ")
	b.WriteString(strings.Join(SyscallNames, " | "))
	b.WriteString(" | other | wall per call while counted |\n|---|---|---|---:|")
	b.WriteString(strings.Repeat("---:|", len(SyscallNames)+2))
	b.WriteString("\n")
	for _, s := range r.Syscalls {
		what := map[string]string{"get1": "Get", "set1": "Set"}[s.Phase]
		if what == "" {
			what = s.Phase
		}
		fmt.Fprintf(&b, "| %s | %s × %d | %s | **%.2f** |", s.Program, what, s.Ops, s.Tool, s.Total)
		other := s.Total
		for _, n := range SyscallNames {
			v := s.PerCall[n]
			other -= v
			fmt.Fprintf(&b, " %s |", fz(v))
		}
		fmt.Fprintf(&b, " %s | %s |\n", fz(other), us(float64(s.Wall.Nanoseconds())/float64(s.Ops)))
	}
	return b.String()
}

// fz formats a per-call count, blank when it rounds to nothing.
func fz(v float64) string {
	if v < 0.005 && v > -0.005 {
		return ""
	}
	return fmt.Sprintf("%.2f", v)
}

// Median of xs (internal/stats).
var Median = stats.Median
