// Command prometheus serves a libmemcached client's metrics for Prometheus,
// through OpenTelemetry's Prometheus exporter, while it sends some traffic
// to the memcached servers it is given:
//
//	go run . -listen 127.0.0.1:9464 127.0.0.1:11211 [more servers...]
//	curl -s 127.0.0.1:9464/metrics | grep -E '^(db_client|memcached_client)'
//
// Its goroutines Get keys at random from a key space twice the size of
// what they Set: once every key has been set, about half of the reads hit. docs/observability.md
// lists the metrics and the PromQL for a dashboard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/golibmc/libmemcached"
	mcotel "github.com/golibmc/libmemcached/otel"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:9464", "address to serve /metrics on")
	workers := flag.Int("workers", 16, "goroutines sending traffic")
	keys := flag.Int("keys", 1000, "keys set (as many more are read and missed)")
	pool := flag.Int("pool", 4, "the client's pool size (fewer handles than workers makes calls queue and batch)")
	duration := flag.Duration("duration", 0, "stop after this long (0: on interrupt)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] server [server...]\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := run(ctx, flag.Args(), *listen, *workers, *keys, *pool); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, servers []string, listen string, workers, keys, poolSize int) error {
	// A registry of our own, rather than Prometheus' global one.
	reg := prometheus.NewRegistry()
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	defer mp.Shutdown(context.Background())

	inst, err := mcotel.New(mcotel.WithMeterProvider(mp), mcotel.WithPoolName("example"))
	if err != nil {
		return err
	}
	c, err := libmemcached.New(servers, inst.ClientOption(), libmemcached.WithPoolSize(poolSize))
	if err != nil {
		return err
	}
	defer c.Close()
	stopPool, err := inst.ObservePool(c)
	if err != nil {
		return err
	}
	defer stopPool()

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe() }()
	log.Printf("serving http://%s/metrics; traffic to %v", listen, servers)

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			traffic(ctx, c, keys)
		}()
	}
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	wg.Wait()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// traffic sends a Set for one call in five, a Get for the others, until
// ctx ends, pausing a little between calls.
func traffic(ctx context.Context, c *libmemcached.Client, keys int) {
	value := make([]byte, 100)
	for ctx.Err() == nil {
		call, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		if rand.IntN(5) == 0 {
			c.Set(call, &libmemcached.Item{Key: fmt.Sprint("key", rand.IntN(keys)), Value: value, Expiration: 300})
		} else {
			c.Get(call, fmt.Sprint("key", rand.IntN(2*keys)))
		}
		cancel()
		time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
	}
}
