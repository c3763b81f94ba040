package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached/bench/internal/single"
)

// TestTargetsToCHoldPinnedToo: a ratio to the C loop is met only when the
// unpinned median and every pinned placement meet it; the measured cell
// names each.
func TestTargetsToCHoldPinnedToo(t *testing.T) {
	s := func(cpu, wall time.Duration) single.Sample {
		return single.Sample{Ops: 100, Units: 100, CPU: cpu, Wall: wall, Allocs: -1}
	}
	phases := func(get, gm time.Duration) map[string][]single.Sample {
		return map[string][]single.Sample{
			"get": {s(get, 4000)}, "set": {s(get, 4000)}, "getmulti": {s(100, gm)},
			"setmulti1000": {s(100, 1000)}, "set1000seq": {s(100, 5000)},
		}
	}
	r := &single.Result{Rounds: 1,
		Samples: map[string]map[string][]single.Sample{
			single.C: phases(1000, 1000), single.Golibmc: phases(1000, 1000), single.Gomemcache: phases(2000, 2000),
		},
		Placements: []single.Placement{
			{Name: "same CPU", Samples: map[string]map[string][]single.Sample{
				single.C: phases(1000, 1000), single.Golibmc: phases(1200, 1000)}},
			{Name: "different CPUs", Samples: map[string]map[string][]single.Sample{
				single.C: phases(1000, 1000), single.Golibmc: phases(1000, 2000)}},
		}}
	got := targetsOf(r)
	get := got["client CPU per Get, one goroutine, ≤ 1.05× the C loop"]
	require.NotEmpty(t, get.measured)
	assert.Equal(t, "1.00× (pinned: same CPU 1.20×, different CPUs 1.00×)", get.measured)
	assert.False(t, get.ok, "missed pinned to one CPU")
	gm := got["GetMulti(100) keys/s ≥ 0.90× the C loop"]
	assert.Equal(t, "1.00× (pinned: same CPU 1.00×, different CPUs 0.50×)", gm.measured)
	assert.False(t, gm.ok, "missed pinned to different CPUs")

	set := got["client CPU per Set, one goroutine, ≤ 1.05× the C loop"]
	assert.Equal(t, "1.00× (pinned: same CPU 1.20×, different CPUs 1.00×)", set.measured)

	// Met everywhere: met.
	r.Placements[0].Samples[single.Golibmc] = phases(1000, 1000)
	r.Placements[1].Samples[single.Golibmc] = phases(1000, 1000)
	got = targetsOf(r)
	assert.True(t, got["client CPU per Get, one goroutine, ≤ 1.05× the C loop"].ok, "met unpinned and pinned")
	assert.True(t, got["GetMulti(100) keys/s ≥ 0.90× the C loop"].ok, "met unpinned and pinned")

	// Missed unpinned, met pinned: missed.
	r.Samples[single.Golibmc] = phases(1500, 3000)
	got = targetsOf(r)
	assert.False(t, got["client CPU per Get, one goroutine, ≤ 1.05× the C loop"].ok, "missed unpinned")
	assert.False(t, got["GetMulti(100) keys/s ≥ 0.90× the C loop"].ok, "missed unpinned")

	// GetMultiFunc is judged pinned too, against the C loop's GetMulti.
	r.Samples[single.Golibmc] = phases(1000, 1000)
	r.Samples[single.Golibmc]["getmultifunc"] = []single.Sample{s(100, 1000)}
	r.Placements[0].Samples[single.Golibmc]["getmultifunc"] = []single.Sample{s(100, 1000)}
	r.Placements[1].Samples[single.Golibmc]["getmultifunc"] = []single.Sample{s(100, 2000)}
	got = targetsOf(r)
	gmf := got["GetMultiFunc(100) keys/s ≥ 0.95× the C loop"]
	assert.Equal(t, "1.00× (pinned: same CPU 1.00×, different CPUs 0.50×)", gmf.measured)
	assert.False(t, gmf.ok, "missed pinned to different CPUs")
	r.Placements[1].Samples[single.Golibmc]["getmultifunc"] = []single.Sample{s(100, 1000)}
	assert.True(t, targetsOf(r)["GetMultiFunc(100) keys/s ≥ 0.95× the C loop"].ok, "met unpinned and pinned")

	// No pinned run: the median alone decides.
	r.Samples[single.Golibmc] = phases(1000, 1000)
	r.Placements = nil
	got = targetsOf(r)
	assert.True(t, got["client CPU per Get, one goroutine, ≤ 1.05× the C loop"].ok, "unpinned only: the median decides")
	assert.Equal(t, "1.00×", got["GetMulti(100) keys/s ≥ 0.90× the C loop"].measured)
}

// targetsOf summarizes r and returns its single-goroutine targets by name.
func targetsOf(r *single.Result) map[string]target {
	r.Summarize()
	got := map[string]target{}
	for _, tg := range singleTargets(r) {
		got[tg.name] = tg
	}
	return got
}
