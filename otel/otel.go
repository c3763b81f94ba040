// Package otel turns the observer hooks of a libmemcached client
// (libmemcached.Observer) into OpenTelemetry metrics and, when asked, spans,
// following OpenTelemetry's semantic conventions for database clients
// (semconv v1.43.0).
//
// It is a module of its own, github.com/golibmc/libmemcached/otel, so that
// the client needs no OpenTelemetry dependency. Its name is the same as
// go.opentelemetry.io/otel's: import it under another, e.g. mcotel.
//
//	inst, err := mcotel.New(mcotel.WithPoolName("sessions"))
//	...
//	c, err := libmemcached.New(servers, inst.ClientOption())
//	...
//	stop, err := inst.ObservePool(c) // the pool's gauges
//	...
//	defer stop()
//
// The metrics (docs/observability.md says what each means):
//
//   - db.client.operation.duration: histogram of every operation's
//     duration, in seconds (db.system.name, db.operation.name,
//     server.address, server.port, error.type, db.response.status_code).
//   - db.client.connection.wait_time: histogram of the time each operation
//     waited for a handle or in line for a batch, in seconds.
//   - memcached.client.hits and memcached.client.misses: the keys reads
//     found and did not find.
//   - memcached.client.batch.size: histogram of the calls each implicit
//     pipelining round trip carried.
//   - memcached.client.server.events: connection failures, reconnections,
//     ejections and returns, by server.
//   - db.client.connection.count (state "used" or "idle"),
//     db.client.connection.max, db.client.connection.pending_requests and
//     memcached.client.servers.ejected: the pool's state, observed at
//     each collection (see Instrumentation.ObservePool).
//
// Spans, one per operation, are off by default (WithSpans). They never
// hold the key unless WithSpanKeys says so: keys may be personal data.
package otel

import (
	"context"
	"errors"
	"maps"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	mc "github.com/golibmc/libmemcached"
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/golibmc/libmemcached/otel"

// DefaultPoolName is the db.client.connection.pool.name of an
// Instrumentation made without WithPoolName.
const DefaultPoolName = "memcached"

// Attribute keys of this package's own (the others are semconv's).
const (
	// BatchKindKey is the kind of a batch on memcached.client.batch.size:
	// "get", "store" or "delete".
	BatchKindKey = attribute.Key("memcached.batch.kind")
	// ServerEventKey is the kind of a server event on
	// memcached.client.server.events: "connection_failed", "reconnected",
	// "ejected" or "returned".
	ServerEventKey = attribute.Key("memcached.server.event")
	// KeyKey is the key of a single-key operation, on spans only, and only
	// with WithSpanKeys.
	KeyKey = attribute.Key("memcached.key")
	// KeysKey is how many keys (or items) a span's operation named.
	KeysKey = attribute.Key("memcached.keys")
	// ServersKey lists the servers of a span's operation when it involved
	// several (with one, server.address and server.port say which).
	ServersKey = attribute.Key("memcached.servers")
	// BatchCallsKey is how many callers' calls shared a span's round trip,
	// when more than one did.
	BatchCallsKey = attribute.Key("memcached.batch.calls")
	// HitsKey and MissesKey are the keys a span's read found and did not
	// find.
	HitsKey   = attribute.Key("memcached.hits")
	MissesKey = attribute.Key("memcached.misses")
	// WaitTimeKey is the time, in seconds, a span's operation waited for a
	// handle or in line for a batch.
	WaitTimeKey = attribute.Key("memcached.wait_time")
)

// Bucket boundaries of the histograms.
var (
	// durationBuckets are semconv's advice for db.client.operation.duration.
	durationBuckets = []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}
	// waitTimeBuckets, for db.client.connection.wait_time, start lower:
	// waiting for a handle is counted in microseconds until the pool
	// saturates.
	waitTimeBuckets = []float64{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}
	// batchSizeBuckets, for memcached.client.batch.size: powers of two up
	// to the 4,096 keys a batch carries at most.
	batchSizeBuckets = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
)

// Option configures New.
type Option func(*config)

type config struct {
	mp    metric.MeterProvider
	tp    trace.TracerProvider
	spans bool
	keys  bool
	pool  string
	attrs []attribute.KeyValue
}

// WithMeterProvider sets the MeterProvider (default: the global one,
// go.opentelemetry.io/otel.GetMeterProvider, at New).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithTracerProvider sets the TracerProvider for the spans (default: the
// global one, go.opentelemetry.io/otel.GetTracerProvider, at New).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithSpans turns a span per operation on or off (off by default). A span
// costs allocations on every call; the metrics cost none.
func WithSpans(on bool) Option {
	return func(c *config) { c.spans = on }
}

// WithSpanKeys puts the key of a single-key operation on its span
// (memcached.key) and the error's full message, which quotes it, in the
// span's status. Off by default: keys may be personal data. Metrics never
// carry keys.
func WithSpanKeys(on bool) Option {
	return func(c *config) { c.keys = on }
}

// WithPoolName sets db.client.connection.pool.name on the pool's metrics
// (default DefaultPoolName). Give each client its own Instrumentation and
// name when a program has several.
func WithPoolName(name string) Option {
	return func(c *config) { c.pool = name }
}

// WithAttributes adds attributes to every metric point and span, e.g. the
// name of the cache tier.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}

// Instrumentation records a client's events as OpenTelemetry metrics and
// spans. Install it with ClientOption (or Observer); observe the pool with
// ObservePool. Its methods are safe for concurrent use.
type Instrumentation struct {
	cfg    config
	tracer trace.Tracer // nil without WithSpans

	duration     metric.Float64Histogram
	waitTime     metric.Float64Histogram
	hits, misses metric.Int64Counter
	batchSize    metric.Int64Histogram
	serverEvents metric.Int64Counter

	pool poolObserver

	waitOpts []metric.RecordOption // pool name and the extra attributes
	ops      cache[opKey, *opAttrs]
	batches  cache[string, []metric.RecordOption]
	events   cache[eventKey, []metric.AddOption]
}

// New makes an Instrumentation: it creates the instruments on the
// MeterProvider's meter for ScopeName. The error is the MeterProvider's,
// when it refuses an instrument.
func New(opts ...Option) (*Instrumentation, error) {
	cfg := config{pool: DefaultPoolName}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.mp == nil {
		cfg.mp = gotel.GetMeterProvider()
	}
	if cfg.tp == nil {
		cfg.tp = gotel.GetTracerProvider()
	}
	in := &Instrumentation{cfg: cfg}
	meter := cfg.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	if cfg.spans {
		in.tracer = cfg.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL))
	}

	d, err1 := dbconv.NewClientOperationDuration(meter, metric.WithExplicitBucketBoundaries(durationBuckets...))
	w, err2 := dbconv.NewClientConnectionWaitTime(meter, metric.WithExplicitBucketBoundaries(waitTimeBuckets...))
	in.duration, in.waitTime = d.Inst(), w.Inst()
	var err3, err4, err5, err6 error
	in.hits, err3 = meter.Int64Counter("memcached.client.hits",
		metric.WithUnit("{key}"), metric.WithDescription("Keys that reads found."))
	in.misses, err4 = meter.Int64Counter("memcached.client.misses",
		metric.WithUnit("{key}"), metric.WithDescription("Keys that reads did not find."))
	in.batchSize, err5 = meter.Int64Histogram("memcached.client.batch.size",
		metric.WithUnit("{call}"), metric.WithExplicitBucketBoundaries(batchSizeBuckets...),
		metric.WithDescription("Calls carried by each round trip of implicit pipelining."))
	in.serverEvents, err6 = meter.Int64Counter("memcached.client.server.events",
		metric.WithUnit("{event}"), metric.WithDescription("Connection failures, reconnections, ejections and returns of servers."))
	if err := errors.Join(err1, err2, err3, err4, err5, err6, in.pool.init(meter, cfg)); err != nil {
		return nil, err
	}

	in.waitOpts = []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		append([]attribute.KeyValue{semconv.DBClientConnectionPoolName(cfg.pool)}, cfg.attrs...)...))}
	return in, nil
}

// Observer returns the client hooks that feed the instruments.
func (in *Instrumentation) Observer() mc.Observer {
	return mc.Observer{Operation: in.operation, Batch: in.batch, Server: in.server}
}

// ClientOption returns the option that installs the Observer on a client:
// libmemcached.WithObserver(in.Observer()).
func (in *Instrumentation) ClientOption() mc.Option {
	return mc.WithObserver(in.Observer())
}

// opKey identifies the attribute set of an operation's metric points.
type opKey struct {
	op, server string // server: "" unless the operation involved exactly one
	errType    string // "" on success
	code       string // db.response.status_code, "" when none
}

// opAttrs are an operation's attributes, built once per opKey.
type opAttrs struct {
	duration []metric.RecordOption // all of them
	reads    []metric.AddOption    // without error.type and db.response.status_code
	span     []attribute.KeyValue  // all of them
	spanName string                // "{db.operation.name} {server}", or the operation alone
	read     atomic.Bool           // hits and misses were both added to once
}

func (in *Instrumentation) buildOp(k opKey) *opAttrs {
	base := []attribute.KeyValue{semconv.DBSystemNameMemcached, semconv.DBOperationName(k.op)}
	base = append(base, serverAttrs(k.server)...)
	base = append(base, in.cfg.attrs...)
	all := base
	if k.errType != "" {
		all = append(all[:len(all):len(all)], semconv.ErrorTypeKey.String(k.errType))
	}
	if k.code != "" {
		all = append(all[:len(all):len(all)], semconv.DBResponseStatusCode(k.code))
	}
	a := &opAttrs{
		duration: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(all...))},
		reads:    []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(base...))},
		span:     all,
		spanName: k.op,
	}
	if k.server != "" {
		// semconv's "{db.operation.name} {target}", the target being
		// server.address:server.port for an operation on no collection.
		a.spanName = k.op + " " + k.server
	}
	return a
}

// serverAttrs are server.address and server.port of a server named as
// Error.Server names it ("host:port", "[v6]:port" or a socket path).
func serverAttrs(server string) []attribute.KeyValue {
	if server == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(server)
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(server)}
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return []attribute.KeyValue{semconv.ServerAddress(server)}
	}
	return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(p)}
}

// operation records one operation: its duration and wait, its hits and
// misses, and its span.
func (in *Instrumentation) operation(info mc.OperationInfo) {
	k := opKey{op: info.Op}
	if len(info.Servers) == 1 {
		k.server = info.Servers[0]
	}
	if info.Err != nil {
		k.errType, k.code = classify(info.Err)
	}
	a := in.ops.get(k, in.buildOp)
	// The caller's context: the span is its span's child, and the metric
	// points may carry exemplars of it.
	ctx := info.Context
	if ctx == nil {
		ctx = context.Background()
	}
	in.duration.Record(ctx, info.Duration.Seconds(), a.duration...)
	in.waitTime.Record(ctx, info.Queued.Seconds(), in.waitOpts...)
	if info.Hits > 0 || info.Misses > 0 {
		// A zero the first time, so that a hit ratio has both series from
		// the first read; then only what changes (each Add costs the SDK).
		first := !a.read.Load() && a.read.CompareAndSwap(false, true)
		if info.Hits > 0 || first {
			in.hits.Add(ctx, int64(info.Hits), a.reads...)
		}
		if info.Misses > 0 || first {
			in.misses.Add(ctx, int64(info.Misses), a.reads...)
		}
	}
	if in.tracer != nil {
		in.span(ctx, info, a, k.errType)
	}
}

// span records the operation's span after the fact, with its start and
// end times.
func (in *Instrumentation) span(ctx context.Context, info mc.OperationInfo, a *opAttrs, errType string) {
	_, sp := in.tracer.Start(ctx, a.spanName, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithTimestamp(info.Start), trace.WithAttributes(a.span...))
	if sp.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, 8)
		attrs = append(attrs, KeysKey.Int(info.Keys))
		if info.Keys >= 2 {
			attrs = append(attrs, semconv.DBOperationBatchSize(info.Keys))
		}
		if len(info.Servers) > 1 {
			attrs = append(attrs, ServersKey.StringSlice(info.Servers))
		}
		if info.BatchCalls > 1 {
			attrs = append(attrs, BatchCallsKey.Int(info.BatchCalls))
		}
		if info.Hits > 0 || info.Misses > 0 {
			attrs = append(attrs, HitsKey.Int(info.Hits), MissesKey.Int(info.Misses))
		}
		if info.Queued > 0 {
			attrs = append(attrs, WaitTimeKey.Float64(info.Queued.Seconds()))
		}
		if in.cfg.keys && info.Key != "" {
			attrs = append(attrs, KeyKey.String(info.Key))
		}
		sp.SetAttributes(attrs...)
		if errType != "" {
			desc := errType
			if in.cfg.keys {
				desc = info.Err.Error()
			}
			sp.SetStatus(codes.Error, desc)
		}
	}
	sp.End(trace.WithTimestamp(info.Start.Add(info.Duration)))
}

// batch records the size of a round trip of implicit pipelining.
func (in *Instrumentation) batch(b mc.BatchInfo) {
	opts := in.batches.get(b.Kind, func(kind string) []metric.RecordOption {
		attrs := append([]attribute.KeyValue{semconv.DBSystemNameMemcached, BatchKindKey.String(kind),
			semconv.DBClientConnectionPoolName(in.cfg.pool)}, in.cfg.attrs...)
		return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	})
	in.batchSize.Record(context.Background(), int64(b.Calls), opts...)
}

// eventKey identifies the attribute set of a server event.
type eventKey struct {
	kind    mc.ServerEventKind
	server  string
	errType string
}

// server counts a server event.
func (in *Instrumentation) server(ev mc.ServerEvent) {
	k := eventKey{kind: ev.Kind, server: ev.Server}
	if ev.Err != nil {
		k.errType, _ = classify(ev.Err)
	}
	opts := in.events.get(k, func(k eventKey) []metric.AddOption {
		attrs := append([]attribute.KeyValue{semconv.DBSystemNameMemcached, ServerEventKey.String(k.kind.String())},
			serverAttrs(k.server)...)
		if k.errType != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(k.errType))
		}
		attrs = append(attrs, in.cfg.attrs...)
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attrs...))}
	})
	in.serverEvents.Add(context.Background(), 1, opts...)
}

// cacheLimit bounds a cache: past it, attributes are built for each call
// instead of kept (a client's servers, operations and error types are far
// fewer).
const cacheLimit = 4096

// cache maps a key to what was built for it once. Reads take no lock: the
// map is replaced, never changed, when an entry is added.
type cache[K comparable, V any] struct {
	m  atomic.Pointer[map[K]V]
	mu sync.Mutex
}

// get returns the value for k, building it with build the first time.
func (c *cache[K, V]) get(k K, build func(K) V) V {
	if m := c.m.Load(); m != nil {
		if v, ok := (*m)[k]; ok {
			return v
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
	}
	v := build(k)
	if old != nil && len(*old) >= cacheLimit {
		return v
	}
	m := map[K]V{}
	if old != nil {
		m = maps.Clone(*old)
	}
	m[k] = v
	c.m.Store(&m)
	return v
}
