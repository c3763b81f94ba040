// Command driver runs bench/single's client programs (the C loop over
// libmemcached, golibmc, gomemcache, the memcache package, the cgo floor)
// as separate processes against one memcached, alternating their order
// round after round, and reports the medians of each phase and the ratios to the C
// loop and to gomemcache. With -syscalls N it also counts the system calls
// of N single-goroutine Gets of one key and N Sets, by syscall name, under
// strace -c -f and with perf's syscall tracepoints (which do not slow the
// program down). See bench/single/README.md.
//
//	driver -c bin/single-c -golibmc bin/single-golibmc -gomemcache bin/single-gomemcache HOST:PORT
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/golibmc/libmemcached/bench/internal/machine"
	"github.com/golibmc/libmemcached/bench/internal/server"
	"github.com/golibmc/libmemcached/bench/internal/single"
)

// DefaultPhases: a short warm-up of each of the three phases of issue 23
// (reported apart, never in the tables), the three phases (20,000 Sets and
// 20,000 Gets of 100 B over 1,000 keys, 2,000 GetMulti of 100 keys),
// GetMultiFunc, then the other rows of BENCHMARKS.md.
const DefaultPhases = "warm-set:1000,warm-get:1000,warm-getmulti:100," +
	"set:20000,get:20000,getmulti:2000,getmultifunc:2000," +
	"get10k:10000,set10k:10000,getmulti10:4000,getmulti1000:100,setmulti1000:40,set1000seq:4,incr:20000," +
	"pget8:40000,pset8:40000,pget8p4:40000"

// PlacementPhases are the pinned runs' phases: fewer calls, since a round
// trip between two CPUs can take several times longer.
const PlacementPhases = "warm-set:1000,warm-get:500,set:5000,get:5000,getmulti:500,getmultifunc:500"

type program struct{ name, path string }

// serverCPU is the measured memcached's CPU time so far, when the driver
// started it (-1: unknown).
var serverCPU = func() time.Duration { return -1 }

func main() {
	addr := flag.String("addr", os.Getenv("MEMCACHED_SERVER"), "memcached HOST:PORT (or the last argument)")
	cBin := flag.String("c", "", "the C program (bench/single/c/single.c, built)")
	golibmcBin := flag.String("golibmc", "", "the golibmc program")
	gomemcacheBin := flag.String("gomemcache", "", "the gomemcache program")
	floorBin := flag.String("floor", "", "the cgo floor program (optional)")
	memcacheBin := flag.String("memcache", "", "the memcache package's program (optional)")
	rounds := flag.Int("rounds", 5, "rounds; each runs every program once, in a rotated order")
	phases := flag.String("phases", DefaultPhases, "PHASE:COUNT list every program runs, in this order")
	syscalls := flag.Int("syscalls", 20000, "Gets and Sets per syscall count (0: do not count)")
	sysReps := flag.Int("syscall-reps", 3, "runs per syscall count (medians)")
	sysPrograms := flag.String("syscall-programs", single.C+","+single.Golibmc, "programs whose syscalls are counted")
	quiet := flag.Duration("quiet", 2*time.Minute, "how long in all to wait, before each run, for the machine to be idle (other processes below 10% of it)")
	placeRounds := flag.Int("placement", 0, "rounds of the pinned runs (memcached and the programs on the same CPU, then on different CPUs; 0: none)")
	placePhases := flag.String("placement-phases", PlacementPhases, "PHASE:COUNT list of the pinned runs")
	jsonOut := flag.String("json", "", "write the results as JSON here (bench/compare reads it)")
	mdOut := flag.String("md", "", "write the report as Markdown here")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("single: ")
	if *addr == "" && flag.NArg() > 0 {
		*addr = flag.Arg(flag.NArg() - 1) // scripts/with-memcached.sh appends the address
	}
	if *addr == "" { // a server of our own, whose CPU we can tell apart from the rest of the machine's
		srv, err := server.Start()
		if err != nil {
			log.Fatal(err)
		}
		defer srv.Stop()
		*addr, serverCPU = srv.Addr, srv.CPU
		log.Printf("memcached pid %d on %s", srv.Pid(), srv.Addr)
	}
	var progs []program
	for _, p := range []program{{single.C, *cBin}, {single.Golibmc, *golibmcBin}, {single.Gomemcache, *gomemcacheBin}, {single.Memcache, *memcacheBin}, {single.Floor, *floorBin}} {
		if p.path != "" {
			if _, err := os.Stat(p.path); err != nil {
				log.Fatal(err)
			}
			progs = append(progs, p)
		}
	}
	if len(progs) == 0 {
		log.Fatal("no program given")
	}
	res := &single.Result{Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Addr: *addr, Rounds: *rounds, Phases: *phases, CPUs: runtime.NumCPU(),
		Samples: map[string]map[string][]single.Sample{}, Stats: map[string]map[string]single.Stat{}}
	for _, p := range progs {
		res.Programs = append(res.Programs, p.name)
		res.Samples[p.name] = map[string][]single.Sample{}
	}
	for r := 0; r < *rounds; r++ {
		var order []string
		for i := range progs {
			p := progs[(i+r)%len(progs)]
			order = append(order, p.name)
			waited, idle := machine.WaitQuiet(quiet)
			out, ld, err := run(p.path, *addr, *phases)
			if err != nil {
				log.Fatalf("%s: %v", p.name, err)
			}
			ld.Program, ld.Round, ld.Waited, ld.Quiet = p.name, r, waited, idle
			res.Load = append(res.Load, ld)
			ss, err := single.Parse(out)
			if err != nil {
				log.Fatalf("%s: %v", p.name, err)
			}
			for _, s := range ss {
				res.Samples[p.name][s.Phase] = append(res.Samples[p.name][s.Phase], s)
			}
		}
		res.Order = append(res.Order, order)
		log.Printf("round %d/%d done (%s)", r+1, *rounds, strings.Join(order, ", "))
	}
	if *placeRounds > 0 {
		if err := placements(res, progs, *placePhases, *placeRounds, quiet); err != nil {
			log.Printf("placement runs: %v", err)
		}
	}
	res.Summarize()
	if *syscalls > 0 {
		want := map[string]bool{}
		for _, n := range strings.Split(*sysPrograms, ",") {
			want[strings.TrimSpace(n)] = true
		}
		for _, tool := range tools() {
			for _, p := range progs {
				if !want[p.name] {
					continue
				}
				for _, phase := range []string{"get1", "set1"} {
					sc, err := count(tool, p, *addr, phase, *syscalls, *sysReps)
					if err != nil {
						log.Printf("%s %s %s: %v", tool.name, p.name, phase, err)
						continue
					}
					res.Syscalls = append(res.Syscalls, sc)
				}
			}
		}
	}
	report := Report(res)
	if *mdOut != "" {
		if err := os.WriteFile(*mdOut, []byte(report), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if *jsonOut != "" {
		if err := res.Save(*jsonOut); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Print(report)
}

// run runs one program over phases and returns its standard output and
// what the machine did meanwhile; its standard error goes to ours.
func run(path, addr, phases string, prefix ...string) (string, single.RunLoad, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	args := append(append([]string(nil), prefix...), path, addr, phases)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	m0 := serverCPU()
	b0, s0 := machine.CPU()
	t0 := time.Now()
	err := cmd.Run()
	ld := single.RunLoad{Wall: time.Since(t0), Server: -1}
	b1, s1 := machine.CPU()
	ld.Busy, ld.Steal = b1-b0, s1-s0
	if m1 := serverCPU(); m0 >= 0 && m1 >= 0 {
		ld.Server = m1 - m0
	}
	if cmd.ProcessState != nil {
		ld.Child = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	return out.String(), ld, err
}

// placements runs phases with a memcached of its own pinned to the last
// CPU and every program pinned first to that CPU, then to CPU 0, rounds
// times each, alternating the programs as the main runs do. It shows how
// much of a round trip's cost is where the scheduler puts the two ends.
func placements(res *single.Result, progs []program, phases string, rounds int, quiet *time.Duration) error {
	n := runtime.NumCPU()
	if n < 2 {
		return fmt.Errorf("%d CPU: nothing to place apart", n)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return err
	}
	srv, err := server.Start()
	if err != nil {
		return err
	}
	defer srv.Stop()
	last := n - 1
	if out, err := exec.Command("taskset", "-a", "-p", "-c", strconv.Itoa(last), strconv.Itoa(srv.Pid())).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset memcached: %v: %s", err, out)
	}
	for _, pl := range []single.Placement{{Name: "same CPU", Client: last, Server: last}, {Name: "different CPUs", Client: 0, Server: last}} {
		pl.Samples = map[string]map[string][]single.Sample{}
		for r := 0; r < rounds; r++ {
			for i := range progs {
				p := progs[(i+r)%len(progs)]
				machine.WaitQuiet(quiet)
				out, _, err := run(p.path, srv.Addr, phases, "taskset", "-c", strconv.Itoa(pl.Client))
				if err != nil {
					return fmt.Errorf("%s (%s): %v", p.name, pl.Name, err)
				}
				ss, err := single.Parse(out)
				if err != nil {
					return fmt.Errorf("%s (%s): %v", p.name, pl.Name, err)
				}
				if pl.Samples[p.name] == nil {
					pl.Samples[p.name] = map[string][]single.Sample{}
				}
				for _, s := range ss {
					pl.Samples[p.name][s.Phase] = append(pl.Samples[p.name][s.Phase], s)
				}
			}
		}
		res.Placements = append(res.Placements, pl)
		log.Printf("placement %q: %d rounds done", pl.Name, rounds)
	}
	return nil
}

// A tool counts a program's system calls by name.
type tool struct {
	name string
	// args are the command-line words before the program; file receives
	// the counts, which parse reads.
	args  func(file string) []string
	parse func(file string) (map[string]float64, error)
}

// perfEvents are the syscalls perf counts one by one; raw_syscalls gives
// the total.
var perfEvents = []string{"sendto", "recvfrom", "sendmsg", "recvmsg", "read", "write", "writev", "poll", "ppoll",
	"futex", "nanosleep", "clock_nanosleep", "sched_yield", "epoll_pwait", "epoll_wait", "epoll_ctl", "getpid",
	"tgkill", "rt_sigreturn", "mmap", "munmap", "madvise"}

// tools are strace -c -f (what issue 23 used: every syscall, but each one
// stops the traced thread, so the program runs several times slower and
// the Go runtime's scheduler behaves differently) and perf's tracepoints
// (counted in the kernel, near full speed), those available here.
func tools() []tool {
	var ts []tool
	if _, err := exec.LookPath("strace"); err == nil {
		ts = append(ts, tool{name: "strace -c -f",
			args:  func(f string) []string { return []string{"strace", "-c", "-f", "-o", f} },
			parse: parseStrace})
	} else {
		log.Printf("strace not found: no strace counts")
	}
	if err := exec.Command("perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "true").Run(); err == nil {
		ts = append(ts, tool{name: "perf stat (tracepoints)",
			args: func(f string) []string {
				ev := []string{"raw_syscalls:sys_enter"}
				for _, e := range perfEvents {
					ev = append(ev, "syscalls:sys_enter_"+e)
				}
				return []string{"perf", "stat", "-x,", "-o", f, "-e", strings.Join(ev, ",")}
			},
			parse: parsePerf})
	} else {
		log.Printf("perf cannot count syscall tracepoints here (%v): strace counts only", err)
	}
	return ts
}

// count measures phase (get1: Gets of one key; set1: Sets of one key) n
// times under t, reps times: each time the counts of a run with the same
// setup and no calls are subtracted from a run with n calls. Medians per
// syscall name.
func count(t tool, p program, addr, phase string, n, reps int) (single.Syscalls, error) {
	dir, err := os.MkdirTemp("", "single-syscalls")
	if err != nil {
		return single.Syscalls{}, err
	}
	defer os.RemoveAll(dir)
	base, spec := "get1:0", "get1:"+strconv.Itoa(n) // get1 sets its key first: both runs do
	if phase == "set1" {
		spec = "get1:0,set1:" + strconv.Itoa(n)
	}
	per := map[string][]float64{}
	var totals, walls []float64
	for i := 0; i < reps; i++ {
		var c [2]map[string]float64
		var out string
		for j, s := range []string{base, spec} {
			f := filepath.Join(dir, fmt.Sprintf("%d-%d.txt", i, j))
			o, _, err := run(p.path, addr, s, t.args(f)...)
			if err != nil {
				return single.Syscalls{}, err
			}
			if c[j], err = t.parse(f); err != nil {
				return single.Syscalls{}, err
			}
			out = o
		}
		ss, err := single.Parse(out)
		if err != nil || len(ss) == 0 {
			return single.Syscalls{}, fmt.Errorf("no phase line in %q (%v)", out, err)
		}
		walls = append(walls, float64(ss[len(ss)-1].Wall))
		names := map[string]bool{}
		for k := range c[1] {
			names[k] = true
		}
		for k := range c[0] {
			names[k] = true
		}
		for k := range names {
			if k == "total" {
				continue
			}
			per[k] = append(per[k], (c[1][k]-c[0][k])/float64(n))
		}
		totals = append(totals, (c[1]["total"]-c[0]["total"])/float64(n))
	}
	sc := single.Syscalls{Program: p.name, Phase: phase, Tool: t.name, Ops: n, PerCall: map[string]float64{},
		Total: single.Median(totals), Wall: time.Duration(single.Median(walls))}
	for k, v := range per {
		if m := single.Median(v); m > 0.0005 || m < -0.0005 {
			sc.PerCall[k] = m
		}
	}
	return sc, nil
}

// parseStrace reads strace -c's table: calls and name of each syscall,
// and the total.
func parseStrace(file string) (map[string]float64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 5 || strings.HasPrefix(l, "%") || strings.HasPrefix(l, "-") {
			continue
		}
		calls, err := strconv.ParseFloat(f[3], 64)
		if err != nil {
			continue
		}
		m[f[len(f)-1]] += calls
	}
	if m["total"] == 0 {
		return nil, fmt.Errorf("no strace summary in %s", file)
	}
	return m, nil
}

// parsePerf reads perf stat -x, output: count,unit,event,...
func parsePerf(file string) (map[string]float64, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ",")
		if len(f) < 3 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		switch ev := f[2]; {
		case ev == "raw_syscalls:sys_enter":
			m["total"] = v
		case strings.HasPrefix(ev, "syscalls:sys_enter_"):
			m[strings.TrimPrefix(ev, "syscalls:sys_enter_")] = v
		}
	}
	if m["total"] == 0 {
		return nil, fmt.Errorf("no perf counts in %s", file)
	}
	return m, nil
}
