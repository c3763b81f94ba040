package single

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	out := "memcached noise\n" +
		"phase=warm-get ops=10 units=10 wall_ns=1000 cpu_ns=500 user_ns=100 sys_ns=400 nvcsw=10 nivcsw=0 minflt=1 allocs=-1 gcs=-1\n" +
		"phase=getmultifunc skipped=1\n" +
		"phase=get1 ops=0 units=0 wall_ns=3 cpu_ns=0 user_ns=0 sys_ns=0 nvcsw=0 nivcsw=0 minflt=0 allocs=0 gcs=0 threads=5\n" +
		"phase=getmulti ops=2 units=200 wall_ns=2000000 cpu_ns=100000 user_ns=60000 sys_ns=40000 nvcsw=3 nivcsw=1 minflt=0 allocs=400 gcs=1 threads=6\n"
	ss, err := Parse(out)
	require.NoError(t, err)
	require.Len(t, ss, 2)
	assert.Equal(t, Sample{Phase: "warm-get", Ops: 10, Units: 10, Wall: 1000, CPU: 500, User: 100, Sys: 400, Nvcsw: 10,
		Minflt: 1, Allocs: -1, GCs: -1}, ss[0])
	g := ss[1]
	assert.Equal(t, int64(6), g.Threads)
	assert.InDelta(t, 100000.0, g.PerSec(), 1e-6)
	assert.InDelta(t, 500.0, g.CPUPerUnit(), 1e-9)

	st := Summarize([]Sample{g, {Phase: "getmulti", Ops: 2, Units: 200, Wall: time.Millisecond, CPU: 300000, Allocs: 0}})
	assert.Equal(t, 2, st.N)
	assert.InDelta(t, 1000.0, st.CPUPerUnit, 1e-9) // median of 500 and 1500
	assert.InDelta(t, 500.0, st.MinCPU, 1e-9)
	assert.InDelta(t, 1500.0, st.MaxCPU, 1e-9)
	assert.InDelta(t, 1.0, st.AllocsPerUnit, 1e-9)
}

func TestParseRejectsALineWithoutWork(t *testing.T) {
	_, err := Parse("phase=get ops=5 units=5 wall_ns=0 cpu_ns=1\n")
	require.ErrorContains(t, err, "without work")
}

func TestRatiosAndTables(t *testing.T) {
	s := func(cpu time.Duration, wall time.Duration) Sample {
		return Sample{Ops: 100, Units: 100, CPU: cpu, Wall: wall, Allocs: -1}
	}
	r := &Result{Rounds: 2, Samples: map[string]map[string][]Sample{
		C:          {"get": {s(1000, 4000), s(2000, 4000)}, "set": {s(1000, 4000), s(1000, 4000)}, "getmulti": {s(100, 1000), s(100, 1000)}},
		Golibmc:    {"get": {s(1500, 4000), s(1000, 4000)}, "set": {s(1200, 4000), s(1200, 4000)}, "getmulti": {s(200, 2000), s(200, 2000)}},
		Gomemcache: {"get": {s(3000, 8000), s(3000, 8000)}, "set": {s(3000, 8000), s(3000, 8000)}, "getmulti": {s(400, 4000), s(400, 4000)}},
	}}
	r.Summarize()
	assert.Equal(t, []float64{0.5, 1.5}, r.RoundRatios(Golibmc, "get", true))
	assert.InDelta(t, 1250.0/1500.0, r.RatioToC(Golibmc, "get", true), 1e-9)
	assert.InDelta(t, 0.5, r.RatioToC(Golibmc, "getmulti", false), 1e-9)
	h := r.Headline()
	assert.Contains(t, h, "| CPU per Get | 0.01 µs = 0.83× [0.50–1.50] |")
	assert.Contains(t, h, "GetMulti(100) keys/s | 50000000 = 0.50× [0.50–0.50]")
	assert.NotContains(t, h, "GetMultiFunc", "no row without the phase")
	assert.Contains(t, r.Full(), "| Get of a 100 B value (1,000 keys) | op |")
}

// TestPlacementTableGetMultiFunc: the pinned runs show golibmc's and the
// floor's GetMultiFunc rate and its ratio to the C loop's GetMulti;
// gomemcache has none.
func TestPlacementTableGetMultiFunc(t *testing.T) {
	s := func(cpu, wall time.Duration) Sample {
		return Sample{Ops: 100, Units: 100, CPU: cpu, Wall: wall, Allocs: -1}
	}
	phases := func(gmf bool) map[string][]Sample {
		m := map[string][]Sample{"get": {s(1000, 4000)}, "set": {s(1000, 4000)}, "getmulti": {s(100, 1000)}}
		if gmf {
			m["getmultifunc"] = []Sample{s(100, 2000)}
		}
		return m
	}
	r := &Result{Rounds: 1, Samples: map[string]map[string][]Sample{C: phases(false)},
		Placements: []Placement{{Name: "same CPU", Server: 1, Client: 1, Samples: map[string]map[string][]Sample{
			C: phases(false), Golibmc: phases(true), Gomemcache: phases(true), Floor: phases(true)}}}}
	r.Summarize()
	tab := r.PlacementTable()
	assert.Contains(t, tab, "| GetMultiFunc(100) keys/s | ÷ C |")
	assert.Contains(t, tab, "| golibmc | 0.01 µs | 1.00× | 0.01 µs | 1.00× | 100000000 | 1.00× | 0.00 µs | 1.00× | 50000000 | 0.50× |")
	assert.Contains(t, tab, "| gomemcache | 0.01 µs | 1.00× | 0.01 µs | 1.00× | 100000000 | 1.00× | 0.00 µs | 1.00× | — | — |")
	assert.Contains(t, tab, "| cgo floor | 0.01 µs | 1.00× | 0.01 µs | 1.00× | 100000000 | 1.00× | 0.00 µs | 1.00× | 50000000 | 0.50× |")
	names, ratios := r.PlacementRatios(Golibmc, "getmultifunc", false)
	assert.Equal(t, []string{"same CPU"}, names)
	assert.Equal(t, []float64{0.5}, ratios)
}

// TestHeadlineFloor: the cgo floor has its column with its ratios to the
// C loop, GetMultiFunc's rows included (gomemcache has none there).
func TestHeadlineFloor(t *testing.T) {
	s := func(cpu, wall time.Duration) Sample {
		return Sample{Ops: 100, Units: 100, CPU: cpu, Wall: wall, Allocs: -1}
	}
	phases := func(get time.Duration) map[string][]Sample {
		return map[string][]Sample{"get": {s(get, 4000)}, "set": {s(get, 4000)}, "getmulti": {s(100, 1000)},
			"getmultifunc": {s(100, 1000)}}
	}
	r := &Result{Rounds: 1, Samples: map[string]map[string][]Sample{
		C: phases(1000), Golibmc: phases(1200), Gomemcache: phases(2000), Floor: phases(1030)}}
	r.Summarize()
	h := r.Headline()
	assert.Contains(t, h, "| golibmc | C loop | gomemcache | cgo floor | golibmc ÷ gomemcache |")
	assert.Contains(t, h, "| CPU per Get | 0.01 µs = 1.20× | 0.01 µs = 1 | 0.02 µs = 2.00× | 0.01 µs = 1.03× | 0.60× the CPU |")
	assert.Contains(t, h, "| GetMultiFunc(100) keys/s (gomemcache column: its GetMulti) | 100000000 = 1.00× | 100000000 = 1 | — | 100000000 = 1.00× | 1.00× |")
	delete(r.Samples, Gomemcache)
	r.Summarize()
	assert.Contains(t, r.Headline(), "| GetMultiFunc(100) keys/s (gomemcache column: its GetMulti) | 100000000 = 1.00× | 100000000 = 1 | 100000000 = 1.00× | — |\n",
		"no gomemcache: no ratio to it")
}
