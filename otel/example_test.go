package otel_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/golibmc/libmemcached"
	mcotel "github.com/golibmc/libmemcached/otel"
)

// memcachedServer is the address of a memcached started for the Example
// functions (the tests start their own).
var memcachedServer string

func TestMain(m *testing.M) {
	s, err := launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	memcachedServer = s.addr
	code := m.Run()
	s.kill()
	os.Exit(code)
}

func Example() {
	// In production: a MeterProvider with an exporter (Prometheus, OTLP),
	// or none given, for the global one. Here a reader the example reads.
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())

	inst, err := mcotel.New(mcotel.WithMeterProvider(mp), mcotel.WithPoolName("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := libmemcached.New([]string{memcachedServer}, inst.ClientOption())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop, err := inst.ObservePool(c)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	ctx := context.Background()
	c.Set(ctx, &libmemcached.Item{Key: "greeting", Value: []byte("hello")})
	c.Get(ctx, "greeting")
	c.Get(ctx, "no-such-key")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		log.Fatal(err)
	}
	var names []string
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			names = append(names, m.Name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Println(name)
	}
	// Output:
	// db.client.connection.count
	// db.client.connection.max
	// db.client.connection.pending_requests
	// db.client.connection.wait_time
	// db.client.operation.duration
	// memcached.client.hits
	// memcached.client.misses
	// memcached.client.servers.ejected
}

func ExampleWithSpans() {
	// In production: a TracerProvider with an exporter, or none given, for
	// the global one. Here a recorder the example reads.
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())

	inst, err := mcotel.New(mcotel.WithTracerProvider(tp), mcotel.WithSpans(true))
	if err != nil {
		log.Fatal(err)
	}
	c, err := libmemcached.New([]string{memcachedServer}, inst.ClientOption())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, &libmemcached.Item{Key: "user:42", Value: []byte("...")})
	c.GetMulti(ctx, []string{"user:42", "user:43"})

	for _, s := range spans.Ended() {
		attrs := attribute.NewSet(s.Attributes()...)
		op, _ := attrs.Value("db.operation.name")
		keys, _ := attrs.Value("memcached.keys")
		_, hasKey := attrs.Value("memcached.key")
		fmt.Println(s.SpanKind(), op.AsString(), keys.AsInt64(), "keys; the key recorded:", hasKey)
	}
	// Output:
	// client Set 1 keys; the key recorded: false
	// client GetMulti 2 keys; the key recorded: false
}

func ExampleInstrumentation_ObservePool() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	inst, err := mcotel.New(mcotel.WithMeterProvider(mp), mcotel.WithPoolName("sessions"))
	if err != nil {
		log.Fatal(err)
	}
	c, err := libmemcached.New([]string{memcachedServer}, inst.ClientOption(), libmemcached.WithPoolSize(8))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	stop, err := inst.ObservePool(c)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == "db.client.connection.max" {
				p := m.Data.(metricdata.Sum[int64]).DataPoints[0]
				pool, _ := p.Attributes.Value("db.client.connection.pool.name")
				fmt.Println(m.Name, pool.AsString(), p.Value)
			}
		}
	}
	// Output: db.client.connection.max sessions 8
}
