// Package single holds what bench/single/driver measures and what
// bench/compare reads back: the phase samples of each client program (one
// process per program and round), their medians, and the syscall counts.
package single

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/golibmc/libmemcached/internal/stats"
)

// The programs, by the names the tables use.
const (
	C          = "C loop"
	Golibmc    = "golibmc"
	Gomemcache = "gomemcache"
	Memcache   = "memcache package"
	// Floor is the least a Go binding over libmemcached can do
	// (single/floor): what any cgo binding pays on top of the C loop.
	Floor = "cgo floor"
)

// Sample is one phase of one program's run, as the program printed it.
type Sample struct {
	Phase   string
	Ops     int64 // calls made
	Units   int64 // calls, or keys for the multi-key reads
	Wall    time.Duration
	CPU     time.Duration // user + system of the whole process, over the phase
	User    time.Duration
	Sys     time.Duration
	Nvcsw   int64 // voluntary context switches (blocking)
	Nivcsw  int64 // involuntary ones (preempted)
	Minflt  int64
	Allocs  int64 // Go heap objects allocated (-1: C)
	GCs     int64 // Go GC cycles completed (-1: C)
	Threads int64 // OS threads after the phase (0: not reported)
}

// PerSec is units per second of wall time.
func (s Sample) PerSec() float64 { return float64(s.Units) / s.Wall.Seconds() }

// CPUPerUnit is CPU nanoseconds per unit.
func (s Sample) CPUPerUnit() float64 { return float64(s.CPU.Nanoseconds()) / float64(s.Units) }

// Parse reads a program's output: one "phase=NAME key=value..." line per
// phase; phases the program skipped (it lacks the call) are left out.
func Parse(out string) ([]Sample, error) {
	var ss []Sample
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "phase=") {
			continue
		}
		kv := map[string]string{}
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		if kv["skipped"] == "1" || kv["units"] == "0" {
			continue // the client lacks the call, or a run only for its setup
		}
		num := func(k string) int64 {
			n, err := strconv.ParseInt(kv[k], 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
		s := Sample{Phase: kv["phase"], Ops: num("ops"), Units: num("units"),
			Wall: time.Duration(num("wall_ns")), CPU: time.Duration(num("cpu_ns")),
			User: time.Duration(num("user_ns")), Sys: time.Duration(num("sys_ns")),
			Nvcsw: num("nvcsw"), Nivcsw: num("nivcsw"), Minflt: num("minflt"),
			Allocs: num("allocs"), GCs: num("gcs"), Threads: num("threads")}
		if s.Units <= 0 || s.Wall <= 0 {
			return nil, fmt.Errorf("phase line without work: %q", line)
		}
		ss = append(ss, s)
	}
	return ss, sc.Err()
}

// Stat is the medians of one phase of one program over the rounds.
type Stat struct {
	N             int     // samples
	PerSec        float64 // units per second
	CPUPerUnit    float64 // ns
	WallPerOp     float64 // ns
	UserPerUnit   float64 // ns
	SysPerUnit    float64 // ns
	CswPerOp      float64 // voluntary + involuntary context switches per call
	AllocsPerUnit float64 // -1 for C
	MinCPU        float64 // the lowest and highest CPU per unit of the rounds
	MaxCPU        float64
}

// Summarize takes the medians of ss.
func Summarize(ss []Sample) Stat {
	var p, c, w, u, sy, cs, al []float64
	for _, s := range ss {
		p = append(p, s.PerSec())
		c = append(c, s.CPUPerUnit())
		w = append(w, float64(s.Wall.Nanoseconds())/float64(s.Ops))
		u = append(u, float64(s.User.Nanoseconds())/float64(s.Units))
		sy = append(sy, float64(s.Sys.Nanoseconds())/float64(s.Units))
		cs = append(cs, float64(s.Nvcsw+s.Nivcsw)/float64(s.Ops))
		a := float64(s.Allocs)
		if s.Allocs >= 0 {
			a /= float64(s.Units)
		}
		al = append(al, a)
	}
	st := Stat{N: len(ss), PerSec: stats.Median(p), CPUPerUnit: stats.Median(c), WallPerOp: stats.Median(w),
		UserPerUnit: stats.Median(u), SysPerUnit: stats.Median(sy), CswPerOp: stats.Median(cs), AllocsPerUnit: stats.Median(al)}
	for i, x := range c {
		if i == 0 || x < st.MinCPU {
			st.MinCPU = x
		}
		if x > st.MaxCPU {
			st.MaxCPU = x
		}
	}
	return st
}

// Syscalls is one program's system calls per call of one phase, by
// syscall name, counted by Tool over Ops calls (the counts of a run
// without the calls subtracted).
type Syscalls struct {
	Program string
	Phase   string // get1 or set1
	Tool    string // "strace -c -f" or "perf stat (tracepoints)"
	Ops     int
	PerCall map[string]float64
	Total   float64
	Wall    time.Duration // of the counted run: how much the tool slowed it
}

// RunLoad is what the machine did while one program ran.
type RunLoad struct {
	Program string
	Round   int
	Wall    time.Duration
	Child   time.Duration // the program's own CPU, whole run
	Busy    time.Duration // every CPU's busy time over the run (/proc/stat), the program's and memcached's included
	Server  time.Duration // memcached's CPU over the run (-1: unknown, the driver did not start it)
	Steal   time.Duration // time the hypervisor ran something else on our vCPUs
	Waited  time.Duration // for the machine to be idle before the run
	Quiet   bool          // it was (else the wait's budget ran out)
}

// Placement is the phases of issue 23 (Set, Get, GetMulti, GetMultiFunc)
// run with memcached pinned to one CPU and each program pinned to the same
// CPU or to another one.
type Placement struct {
	Name    string                         // "same CPU" or "different CPUs"
	Client  int                            // the CPU the programs ran on
	Server  int                            // the CPU memcached ran on
	Samples map[string]map[string][]Sample // program -> phase -> one per round
	Stats   map[string]map[string]Stat
}

// Result is everything one driver run measured.
type Result struct {
	Date       string
	Addr       string
	Rounds     int
	Phases     string // as given to every program
	Programs   []string
	Order      [][]string                     // the programs' order in each round
	Samples    map[string]map[string][]Sample // program -> phase -> one per round
	Stats      map[string]map[string]Stat     // program -> phase -> medians
	Syscalls   []Syscalls
	Placements []Placement
	Load       []RunLoad
	CPUs       int
}

// Summarize fills Stats from Samples.
func (r *Result) Summarize() {
	r.Stats = summarizeAll(r.Samples)
	for i := range r.Placements {
		r.Placements[i].Stats = summarizeAll(r.Placements[i].Samples)
	}
}

func summarizeAll(samples map[string]map[string][]Sample) map[string]map[string]Stat {
	out := map[string]map[string]Stat{}
	for p, byPhase := range samples {
		out[p] = map[string]Stat{}
		for ph, ss := range byPhase {
			out[p][ph] = Summarize(ss)
		}
	}
	return out
}

// Stat returns the medians of phase for program (zero if not measured).
func (r *Result) Stat(program, phase string) Stat { return r.Stats[program][phase] }

// Has reports whether program ran phase.
func (r *Result) Has(program, phase string) bool { return r.Stats[program][phase].N > 0 }

// Load reads a Result written by Save.
func Load(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Save writes r as JSON.
func (r *Result) Save(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
