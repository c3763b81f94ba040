package main

// The observers' cost (issue 24): Get and Set at 1 and 64 goroutines
// through golibmc with no observer, through golibmc with the otel
// module's metrics installed (an SDK MeterProvider with a manual reader,
// as a Prometheus exporter would collect), and through gomemcache, the
// three alternating in this process as the many-goroutines cells do.

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/golibmc/libmemcached/bench/internal/machine"
	mcotel "github.com/golibmc/libmemcached/otel"
)

// observerCells are the cells of the observers' table.
var observerCells = func() []cell {
	var out []cell
	for _, w := range []string{"get", "set"} {
		for _, g := range []int{1, 64} {
			out = append(out, cell{work: w, g: g, procs: 2, servers: 1})
		}
	}
	return out
}()

const (
	noObserver   = "golibmc, no observer"
	otelObserver = "golibmc, otel metrics"
)

// newObserved makes a golibmc client with the otel module's metrics
// (recorded into an SDK MeterProvider nobody collects during the cell).
func newObserved(addrs []string) concClient {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	inst, err := mcotel.New(mcotel.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	cl := newGolibmcWith(addrs, otelObserver, inst.ClientOption())
	done := cl.done
	cl.done = func() { done(); _ = mp.Shutdown(context.Background()) }
	return cl
}

// runObserverCells measures observerCells: reps rounds, each client in turn.
func runObserverCells(addr string, reps int, slice time.Duration) map[string]map[string]concResult {
	results := map[string]map[string]concResult{}
	addrs := []string{addr}
	for _, c := range observerCells {
		if !strings.Contains("observers "+c.String(), cellFilter) {
			continue
		}
		preload(addrs)
		if _, quiet := machine.WaitQuiet(&quietBudget); !quiet {
			noisyCells = append(noisyCells, "observers "+c.String())
		}
		clients := []concClient{newGolibmcWith(addrs, noObserver), newObserved(addrs), newGomemcache(addrs)}
		results[c.String()] = runAlternating(clients, c, reps, slice)
		r := results[c.String()]
		log.Printf("compare: observers %s: none %.0f/s, otel %.0f/s, gomemcache %.0f/s", c,
			r[noObserver].perSec, r[otelObserver].perSec, r["gomemcache"].perSec)
	}
	return results
}

// renderObservers writes the observers' table and its target.
func renderObservers(results map[string]map[string]concResult, reps int, slice time.Duration) (string, []target) {
	if len(results) == 0 {
		return "", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Observers (issue 24)\n\n"+
		"Get and Set through golibmc with no observer, with the otel module's metrics installed "+
		"(`mcotel.New(WithMeterProvider(sdk))`, every operation recorded into the SDK), and through gomemcache; "+
		"each cell runs its goroutines in a closed loop for %v, the three alternating in this process, %d times; medians. "+
		"One goroutine here is measured in-process (the rows above come from separate processes): read it for the "+
		"observer's cost, not against the C loop.\n\n", slice, reps)
	fmt.Fprintf(&b, "| workload | goroutines | no observer ops/s | otel metrics | gomemcache | otel ÷ none | CPU µs/op none | otel | gomemcache |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	var targets []target
	worst, at := 1e9, ""
	for _, c := range observerCells {
		r, ok := results[c.String()]
		if !ok {
			continue
		}
		n, o, g := r[noObserver], r[otelObserver], r["gomemcache"]
		x := o.perSec / n.perSec
		if x < worst {
			worst, at = x, c.String()
		}
		fmt.Fprintf(&b, "| %s | %d | %.0f | %.0f | %.0f | %.2f | %.1f | %.1f | %.1f |\n",
			c.work, c.g, n.perSec, o.perSec, g.perSec, x, n.cpu/1000, o.cpu/1000, g.cpu/1000)
	}
	targets = append(targets, target{"the otel observer installed: reported beside no observer and gomemcache (Get, Set × 1, 64 goroutines)",
		fmt.Sprintf("lowest otel ÷ none %.2f× (%s)", worst, at), true})
	return b.String(), targets
}
