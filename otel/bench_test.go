package otel_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	mc "github.com/golibmc/libmemcached"
	mcotel "github.com/golibmc/libmemcached/otel"
)

// observed makes a client on server s with observer "none", "noop" (an
// observer doing nothing: the client's own cost of observing) or "otel"
// (the metrics of an Instrumentation on the real SDK, with a manual
// reader nobody reads: the SDK aggregates as for any exporter).
func observed(tb testing.TB, s *server, observer string) *mc.Client {
	tb.Helper()
	var opts []mc.Option
	switch observer {
	case "noop":
		opts = append(opts, mc.WithObserver(mc.Observer{
			Operation: func(mc.OperationInfo) {}, Batch: func(mc.BatchInfo) {}, Server: func(mc.ServerEvent) {}}))
	case "otel":
		inst, err := mcotel.New(mcotel.WithMeterProvider(newMeterProvider(tb, sdkmetric.WithReader(sdkmetric.NewManualReader()))))
		require.NoError(tb, err)
		opts = append(opts, inst.ClientOption())
	}
	c, err := mc.New([]string{s.addr}, opts...)
	require.NoError(tb, err)
	tb.Cleanup(func() { c.Close() })
	require.NoError(tb, c.Set(bg(), &mc.Item{Key: "k", Value: make([]byte, 100)}))
	return c
}

// TestInstrumentedClientAllocations: a Get (a hit) and a Set allocate
// no more with the instrumentation's metrics installed than with no
// observer.
func TestInstrumentedClientAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := startServer(t)
	allocs := func(observer string) (get, set float64) {
		c := observed(t, s, observer)
		it := &mc.Item{Key: "k", Value: make([]byte, 100)}
		get = testing.AllocsPerRun(500, func() { c.Get(bg(), "k") })
		set = testing.AllocsPerRun(500, func() { c.Set(bg(), it) })
		return get, set
	}
	get0, set0 := allocs("none")
	get1, set1 := allocs("otel")
	assert.Equal(t, get0, get1, "Get")
	assert.Equal(t, set0, set1, "Set")
}

// BenchmarkClient: Get (a hit) and Set of 100 bytes on one local memcached,
// from 1 and 64 goroutines, with no observer, an observer doing nothing,
// and the instrumentation's metrics.
func BenchmarkClient(b *testing.B) {
	s := startServer(b)
	value := make([]byte, 100)
	for _, op := range []string{"Get", "Set"} {
		for _, goroutines := range []int{1, 64} {
			for _, observer := range []string{"none", "noop", "otel"} {
				b.Run(fmt.Sprintf("%s/goroutines=%d/observer=%s", op, goroutines, observer), func(b *testing.B) {
					c := observed(b, s, observer)
					call := func() error { _, err := c.Get(bg(), "k"); return err }
					if op == "Set" {
						call = func() error { return c.Set(bg(), &mc.Item{Key: "k", Value: value}) }
					}
					b.ReportAllocs()
					if goroutines == 1 {
						for b.Loop() {
							if err := call(); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					b.SetParallelism(max(1, goroutines/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := call(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		}
	}
}
