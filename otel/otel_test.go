package otel_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	mc "github.com/golibmc/libmemcached"
	mcotel "github.com/golibmc/libmemcached/otel"
)

// harness is an Instrumentation on the real SDK: a manual metric reader
// and an in-memory span recorder.
type harness struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	inst   *mcotel.Instrumentation
}

func newHarness(t *testing.T, opts ...mcotel.Option) *harness {
	t.Helper()
	h := &harness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	mp := newMeterProvider(t, sdkmetric.WithReader(h.reader))
	tp := newTracerProvider(t, sdktrace.WithSpanProcessor(h.spans))
	var err error
	h.inst, err = mcotel.New(append([]mcotel.Option{mcotel.WithMeterProvider(mp), mcotel.WithTracerProvider(tp)}, opts...)...)
	require.NoError(t, err)
	return h
}

// newMeterProvider is an SDK MeterProvider, shut down when the test ends.
func newMeterProvider(tb testing.TB, opts ...sdkmetric.Option) *sdkmetric.MeterProvider {
	mp := sdkmetric.NewMeterProvider(opts...)
	tb.Cleanup(func() { assert.NoError(tb, mp.Shutdown(context.Background())) })
	return mp
}

// newTracerProvider is an SDK TracerProvider, shut down when the test ends.
func newTracerProvider(tb testing.TB, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	tp := sdktrace.NewTracerProvider(opts...)
	tb.Cleanup(func() { assert.NoError(tb, tp.Shutdown(context.Background())) })
	return tp
}

// client makes a client for servers with the harness's observer, and
// observes its pool.
func (h *harness) client(t *testing.T, servers []*server, opts ...mc.Option) *mc.Client {
	t.Helper()
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.addr
	}
	c, err := mc.New(addrs, append([]mc.Option{h.inst.ClientOption()}, opts...)...)
	require.NoError(t, err)
	stop, err := h.inst.ObservePool(c)
	require.NoError(t, err)
	t.Cleanup(func() { stop(); c.Close() })
	return c
}

// metrics collects the instruments' points, by metric name.
func (h *harness) metrics(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, mcotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// histogram returns the point of a histogram with exactly attrs (a zero
// point, Count 0, when there is none).
func histogram[N int64 | float64](t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) metricdata.HistogramDataPoint[N] {
	t.Helper()
	requireRecorded(t, m)
	want := attribute.NewSet(attrs...)
	data, ok := m.Data.(metricdata.Histogram[N])
	require.True(t, ok, "%s is a histogram of %T: %T", m.Name, N(0), m.Data)
	for _, p := range data.DataPoints {
		if p.Attributes.Equals(&want) {
			return p
		}
	}
	return metricdata.HistogramDataPoint[N]{}
}

// requireRecorded stops the test when a metric it looks up has no point
// at all.
func requireRecorded(t *testing.T, m metricdata.Metrics) {
	t.Helper()
	if m.Data == nil {
		t.Fatal("the metric has no point: does the client call its observers?")
	}
}

// sum returns the value of a counter (or up-down counter) for exactly
// attrs, and whether it has that point.
func sum(t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) (int64, bool) {
	t.Helper()
	requireRecorded(t, m)
	want := attribute.NewSet(attrs...)
	data, ok := m.Data.(metricdata.Sum[int64])
	require.True(t, ok, "%s is an int64 sum: %T", m.Name, m.Data)
	for _, p := range data.DataPoints {
		if p.Attributes.Equals(&want) {
			return p.Value, true
		}
	}
	return 0, false
}

// histogramAttrs lists the attribute sets of a histogram's points.
func histogramAttrs(m metricdata.Metrics) []string {
	var out []string
	if data, ok := m.Data.(metricdata.Histogram[float64]); ok {
		for _, p := range data.DataPoints {
			out = append(out, p.Attributes.Encoded(attribute.DefaultEncoder()))
		}
	}
	return out
}

// on are the attributes of an operation on server s (nil: on several).
func on(op string, s *server, extra ...attribute.KeyValue) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.DBSystemNameMemcached, semconv.DBOperationName(op)}
	if s != nil {
		attrs = append(attrs, semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(s.port))
	}
	return append(attrs, extra...)
}

// pool are the attributes of the pool's metrics.
func pool(extra ...attribute.KeyValue) []attribute.KeyValue {
	return append([]attribute.KeyValue{semconv.DBClientConnectionPoolName(mcotel.DefaultPoolName)}, extra...)
}

// keyOn returns a key c places on server s.
func keyOn(t *testing.T, c *mc.Client, s *server, prefix string) string {
	t.Helper()
	for i := 0; i < 100000; i++ {
		k := fmt.Sprint(prefix, i)
		where, err := c.ServerForKey(k)
		require.NoError(t, err)
		if where == s.addr {
			return k
		}
	}
	t.Fatalf("no key maps to %s", s.addr)
	return ""
}

func bg() context.Context { return context.Background() }

// TestHitsMissesAndDurations: a Set, a Get hit, a Get miss, a GetMulti on
// one server and one on two: each a duration point with its operation and,
// for one server, server.address and server.port; no error.type (a miss is
// no failure); hits and misses counted per operation; a wait time per
// operation; the pool's gauges; no span (spans are off by default).
func TestHitsMissesAndDurations(t *testing.T) {
	h := newHarness(t)
	s := []*server{startServer(t), startServer(t)}
	c := h.client(t, s, mc.WithPoolSize(3))
	k0, k1, miss0 := keyOn(t, c, s[0], "a"), keyOn(t, c, s[1], "b"), keyOn(t, c, s[0], "miss")

	require.NoError(t, c.Set(bg(), &mc.Item{Key: k0, Value: []byte("v0")}))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: k1, Value: []byte("v1")}))
	_, err := c.Get(bg(), k0)
	require.NoError(t, err)
	_, err = c.Get(bg(), miss0)
	require.ErrorIs(t, err, mc.ErrCacheMiss)
	items, err := c.GetMulti(bg(), []string{k0, miss0})
	require.NoError(t, err)
	require.Len(t, items, 1)
	items, err = c.GetMulti(bg(), []string{k0, k1, miss0})
	require.NoError(t, err)
	require.Len(t, items, 2)

	m := h.metrics(t)
	d := m["db.client.operation.duration"]
	assert.Equal(t, "s", d.Unit)
	for _, p := range []struct {
		op     string
		server *server // nil: both
		count  uint64
	}{{"Set", s[0], 1}, {"Set", s[1], 1}, {"Get", s[0], 2}, {"GetMulti", s[0], 1}, {"GetMulti", nil, 1}} {
		pt := histogram[float64](t, d, on(p.op, p.server)...)
		assert.Equal(t, p.count, pt.Count, "%s on %v: %v", p.op, p.server, histogramAttrs(d))
		assert.Equal(t, []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10}, pt.Bounds, "semconv's buckets")
	}
	for _, a := range histogramAttrs(d) {
		assert.NotContains(t, a, "error.type")
	}

	for _, want := range []struct {
		metric string
		op     string
		server *server
		value  int64
	}{
		{"memcached.client.hits", "Get", s[0], 1},
		{"memcached.client.misses", "Get", s[0], 1},
		{"memcached.client.hits", "GetMulti", s[0], 1},
		{"memcached.client.misses", "GetMulti", s[0], 1},
		{"memcached.client.hits", "GetMulti", nil, 2},
		{"memcached.client.misses", "GetMulti", nil, 1},
	} {
		v, ok := sum(t, m[want.metric], on(want.op, want.server)...)
		assert.True(t, ok, "%s %s", want.metric, want.op)
		assert.Equal(t, want.value, v, "%s %s", want.metric, want.op)
	}
	_, ok := sum(t, m["memcached.client.hits"], on("Set", s[0])...)
	assert.False(t, ok, "a store counts no hit")

	wait := histogram[float64](t, m["db.client.connection.wait_time"], pool()...)
	assert.Equal(t, uint64(6), wait.Count, "a wait time per operation")

	st := c.PoolStats()
	used, _ := sum(t, m["db.client.connection.count"], pool(semconv.DBClientConnectionStateUsed)...)
	idle, _ := sum(t, m["db.client.connection.count"], pool(semconv.DBClientConnectionStateIdle)...)
	size, _ := sum(t, m["db.client.connection.max"], pool()...)
	pending, okPending := sum(t, m["db.client.connection.pending_requests"], pool()...)
	ejected, okEjected := sum(t, m["memcached.client.servers.ejected"], pool()...)
	assert.Equal(t, []int64{0, int64(st.Open), 3, 0, 0}, []int64{used, idle, size, pending, ejected})
	assert.True(t, okPending && okEjected)
	assert.Empty(t, h.spans.Ended(), "spans are off by default")
}

// TestSpans: with WithSpans, one client span per operation, named after
// it and its server ("{db.operation.name} {target}"), timed by the client, with the semconv attributes, its keys, hits
// and misses, and an error status for a failure (a malformed key, refused
// before anything is sent) but not for a miss; the key is left out, in
// the attributes and in the status, unless WithSpanKeys.
func TestSpans(t *testing.T) {
	for _, keys := range []bool{false, true} {
		t.Run(fmt.Sprint("keys=", keys), func(t *testing.T) {
			h := newHarness(t, mcotel.WithSpans(true), mcotel.WithSpanKeys(keys))
			s := startServer(t)
			c := h.client(t, []*server{s})
			before := time.Now()
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "secret-k", Value: []byte("v")}))
			_, err := c.Get(bg(), "secret-k")
			require.NoError(t, err)
			_, err = c.Get(bg(), "secret-miss")
			require.ErrorIs(t, err, mc.ErrCacheMiss)
			_, err = c.Get(bg(), "secret bad")
			require.ErrorIs(t, err, mc.ErrMalformedKey)
			after := time.Now()

			spans := h.spans.Ended()
			require.Len(t, spans, 4)
			for i, want := range []struct {
				name   string
				hits   int
				misses int
				status codes.Code
			}{{"Set", 0, 0, codes.Unset}, {"Get", 1, 0, codes.Unset}, {"Get", 0, 1, codes.Unset}, {"Get", 0, 0, codes.Error}} {
				sp := spans[i]
				if want.status == codes.Error {
					assert.Equal(t, want.name, sp.Name(), "span %d: refused before it reached a server", i)
				} else {
					assert.Equal(t, want.name+" "+s.addr, sp.Name(), "span %d: the operation and its server", i)
				}
				assert.Equal(t, trace.SpanKindClient, sp.SpanKind())
				assert.Equal(t, mcotel.ScopeName, sp.InstrumentationScope().Name)
				assert.False(t, sp.StartTime().Before(before) || sp.EndTime().After(after) || sp.EndTime().Before(sp.StartTime()),
					"span %d: %v to %v, within the calls' %v to %v", i, sp.StartTime(), sp.EndTime(), before, after)
				attrs := attribute.NewSet(sp.Attributes()...)
				v, _ := attrs.Value(semconv.DBSystemNameKey)
				assert.Equal(t, "memcached", v.AsString())
				v, _ = attrs.Value(semconv.DBOperationNameKey)
				assert.Equal(t, want.name, v.AsString())
				v, _ = attrs.Value(mcotel.KeysKey)
				assert.Equal(t, int64(1), v.AsInt64())
				v, ok := attrs.Value(mcotel.HitsKey)
				assert.Equal(t, want.hits+want.misses > 0, ok, "span %d", i)
				assert.Equal(t, int64(want.hits), v.AsInt64())
				v, _ = attrs.Value(mcotel.MissesKey)
				assert.Equal(t, int64(want.misses), v.AsInt64())
				assert.Equal(t, want.status, sp.Status().Code, "span %d", i)
				key, ok := attrs.Value(mcotel.KeyKey)
				assert.Equal(t, keys, ok, "span %d: the key only with WithSpanKeys", i)
				if keys {
					assert.Contains(t, key.AsString(), "secret")
				}
				if want.status == codes.Error {
					v, _ = attrs.Value(semconv.ErrorTypeKey)
					assert.Equal(t, "malformed_key", v.AsString())
					assert.Equal(t, keys, strings.Contains(sp.Status().Description, "secret"), "status %q", sp.Status().Description)
					continue
				}
				_, ok = attrs.Value(semconv.ErrorTypeKey)
				assert.False(t, ok, "span %d", i)
				v, _ = attrs.Value(semconv.ServerPortKey)
				assert.Equal(t, int64(s.port), v.AsInt64())
			}
		})
	}
}

// TestKilledServer: calls on a killed server fail with ErrServerDown;
// their duration points carry error.type "server_down", the return code
// and the server: the first call's connection failure, then the calls
// refused while libmemcached waits out its retry timeout. The connection
// failure is counted once, on the server, with its error.type (the calls
// refused are no new failure); the other server's calls stay clean.
func TestKilledServer(t *testing.T) {
	h := newHarness(t)
	s := []*server{startServer(t), startServer(t)}
	c := h.client(t, s, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"distribution": "consistent ketama", "retry_timeout": 600}))
	victim, other := keyOn(t, c, s[0], "victim"), keyOn(t, c, s[1], "other")
	require.NoError(t, c.Set(bg(), &mc.Item{Key: other, Value: []byte("v")}))
	s[0].kill()
	const calls = 5
	for i := 0; i < calls; i++ {
		_, err := c.Get(bg(), victim)
		require.ErrorIs(t, err, mc.ErrServerDown)
		_, err = c.Get(bg(), other)
		require.NoError(t, err)
	}

	m := h.metrics(t)
	d := m["db.client.operation.duration"]
	for code, n := range map[string]uint64{"ReturnConnectionFailure": 1, "ReturnServerTemporarilyDisabled": calls - 1} {
		p := histogram[float64](t, d, on("Get", s[0], semconv.ErrorTypeKey.String("server_down"), semconv.DBResponseStatusCode(code))...)
		assert.Equal(t, n, p.Count, "Gets failing with %s: %v", code, histogramAttrs(d))
	}
	assert.Equal(t, uint64(calls), histogram[float64](t, d, on("Get", s[1])...).Count)

	events := m["memcached.client.server.events"]
	failed := func(s *server) (int64, bool) {
		return sum(t, events, semconv.DBSystemNameMemcached, mcotel.ServerEventKey.String("connection_failed"),
			semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(s.port), semconv.ErrorTypeKey.String("server_down"))
	}
	n, ok := failed(s[0])
	assert.True(t, ok, "the connection failure on the killed server is counted")
	assert.Equal(t, int64(1), n)
	_, ok = failed(s[1])
	assert.False(t, ok, "no failure on the live server")
}

// TestTimeout: a Get on a paused server (SIGSTOP) with a deadline fails
// with ErrTimeout; its duration point carries error.type "timeout"; the
// timeout is counted as a connection failure of type "timeout", and the
// handle's connections as reconnected; its span has an Error status;
// after SIGCONT the next Get is clean.
func TestTimeout(t *testing.T) {
	h := newHarness(t, mcotel.WithSpans(true))
	s := startServer(t)
	c := h.client(t, []*server{s}, mc.WithPoolSize(1))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
	s.pause(t)
	ctx, cancel := context.WithTimeout(bg(), 100*time.Millisecond)
	_, err := c.Get(ctx, "k")
	cancel()
	s.resume()
	require.ErrorIs(t, err, mc.ErrTimeout)
	_, err = c.Get(bg(), "k")
	require.NoError(t, err)

	m := h.metrics(t)
	d := m["db.client.operation.duration"]
	var timeouts uint64
	if data, ok := d.Data.(metricdata.Histogram[float64]); assert.True(t, ok) {
		for _, p := range data.DataPoints {
			if v, ok := p.Attributes.Value(semconv.ErrorTypeKey); ok {
				assert.Equal(t, "timeout", v.AsString())
				op, _ := p.Attributes.Value(semconv.DBOperationNameKey)
				assert.Equal(t, "Get", op.AsString())
				port, _ := p.Attributes.Value(semconv.ServerPortKey)
				assert.Equal(t, int64(s.port), port.AsInt64())
				timeouts += p.Count
			}
		}
	}
	assert.Equal(t, uint64(1), timeouts, "%v", histogramAttrs(d))
	assert.Equal(t, uint64(1), histogram[float64](t, d, on("Get", s)...).Count, "the Get after SIGCONT")
	event := func(kind string, attrs ...attribute.KeyValue) int64 {
		n, ok := sum(t, m["memcached.client.server.events"], append([]attribute.KeyValue{semconv.DBSystemNameMemcached,
			mcotel.ServerEventKey.String(kind), semconv.ServerAddress("127.0.0.1"), semconv.ServerPort(s.port)}, attrs...)...)
		assert.True(t, ok, kind)
		return n
	}
	assert.Equal(t, int64(1), event("connection_failed", semconv.ErrorTypeKey.String("timeout")), "the timeout is a connection failure")
	assert.Equal(t, int64(1), event("reconnected"), "the timed-out handle's connections are made again once")

	spans := h.spans.Ended()
	require.Len(t, spans, 3)
	assert.Equal(t, "Get "+s.addr, spans[1].Name())
	assert.Equal(t, codes.Error, spans[1].Status().Code)
	assert.Equal(t, "timeout", spans[1].Status().Description)
}

// TestBatchOf64: with a pool of one handle held by a Set on a paused
// server, 64 goroutines' Gets wait in line (the pool's gauges say so: one
// handle used, none idle, 64 pending) and then go out in one round trip:
// the batch-size histogram has one point of 64 calls, each Get's span says
// it shared its round trip with 64 calls, and every Get has its duration.
func TestBatchOf64(t *testing.T) {
	const n = 64
	h := newHarness(t, mcotel.WithSpans(true))
	s := startServer(t)
	c := h.client(t, []*server{s}, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"_poll_timeout": 60000}))
	for i := 0; i < n; i += 2 { // half of them hit
		require.NoError(t, c.Set(bg(), &mc.Item{Key: fmt.Sprint("k", i), Value: []byte("v")}))
	}
	before := c.PoolStats()

	s.pause(t)
	var wg sync.WaitGroup
	errs := make([]error, n+1)
	wg.Add(1)
	go func() { defer wg.Done(); errs[n] = c.Set(bg(), &mc.Item{Key: "hold", Value: []byte("v")}) }()
	require.Eventually(t, func() bool { return c.PoolStats().InUse == 1 }, time.Minute, time.Millisecond, "the Set takes the only handle")
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.Get(bg(), fmt.Sprint("k", i)) }()
	}
	require.Eventually(t, func() bool { return c.PoolStats().Queued == n }, time.Minute, time.Millisecond, "the Gets wait in line")

	m := h.metrics(t)
	used, _ := sum(t, m["db.client.connection.count"], pool(semconv.DBClientConnectionStateUsed)...)
	idle, _ := sum(t, m["db.client.connection.count"], pool(semconv.DBClientConnectionStateIdle)...)
	pending, _ := sum(t, m["db.client.connection.pending_requests"], pool()...)
	assert.Equal(t, []int64{1, 0, n}, []int64{used, idle, pending}, "used, idle, pending while the server is paused")

	s.resume()
	wg.Wait()
	require.NoError(t, errs[n])
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			require.NoError(t, errs[i], i)
		} else {
			require.ErrorIs(t, errs[i], mc.ErrCacheMiss, i)
		}
	}
	after := c.PoolStats()
	require.Equal(t, before.Batches+1, after.Batches, "one batch")
	require.Equal(t, before.Carried+n-1, after.Carried)

	m = h.metrics(t)
	b := histogram[int64](t, m["memcached.client.batch.size"], semconv.DBSystemNameMemcached,
		mcotel.BatchKindKey.String("get"), semconv.DBClientConnectionPoolName(mcotel.DefaultPoolName))
	assert.Equal(t, uint64(1), b.Count)
	assert.Equal(t, int64(n), b.Sum)
	assert.Equal(t, []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}, b.Bounds)
	assert.Equal(t, uint64(n), histogram[float64](t, m["db.client.operation.duration"], on("Get", s)...).Count)
	hits, _ := sum(t, m["memcached.client.hits"], on("Get", s)...)
	misses, _ := sum(t, m["memcached.client.misses"], on("Get", s)...)
	assert.Equal(t, []int64{n / 2, n / 2}, []int64{hits, misses})
	pending, _ = sum(t, m["db.client.connection.pending_requests"], pool()...)
	assert.Zero(t, pending)

	var batched int
	for _, sp := range h.spans.Ended() {
		if sp.Name() != "Get "+s.addr {
			continue
		}
		attrs := attribute.NewSet(sp.Attributes()...)
		v, ok := attrs.Value(mcotel.BatchCallsKey)
		if assert.True(t, ok, "a Get of the batch has %s", mcotel.BatchCallsKey) {
			assert.Equal(t, int64(n), v.AsInt64())
			batched++
		}
	}
	assert.Equal(t, n, batched)
}

// TestObservePool: the gauges report the clients observed, summed (two
// clients under one pool name), and nothing once every stop was called;
// stop is idempotent.
func TestObservePool(t *testing.T) {
	h := newHarness(t)
	s := startServer(t)
	c1 := h.client(t, []*server{s}, mc.WithPoolSize(2))
	c2, err := mc.New([]string{s.addr}, mc.WithPoolSize(5))
	require.NoError(t, err)
	defer c2.Close()
	stop2, err := h.inst.ObservePool(c2)
	require.NoError(t, err)
	size, _ := sum(t, h.metrics(t)["db.client.connection.max"], pool()...)
	assert.Equal(t, int64(7), size)
	stop2()
	stop2()
	size, _ = sum(t, h.metrics(t)["db.client.connection.max"], pool()...)
	assert.Equal(t, int64(2), size)

	_, err = h.inst.ObservePool(nil)
	assert.Error(t, err)
	require.NoError(t, c1.Close())
	size, _ = sum(t, h.metrics(t)["db.client.connection.max"], pool()...)
	assert.Equal(t, int64(2), size, "a closed client is still reported until stop")
}

// TestPoolNameAndAttributes: WithPoolName names the pool on its metrics;
// WithAttributes adds to every point.
func TestPoolNameAndAttributes(t *testing.T) {
	tier := attribute.String("cache.tier", "sessions")
	h := newHarness(t, mcotel.WithPoolName("sessions"), mcotel.WithAttributes(tier))
	s := startServer(t)
	c := h.client(t, []*server{s}, mc.WithPoolSize(4))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
	m := h.metrics(t)
	size, ok := sum(t, m["db.client.connection.max"], semconv.DBClientConnectionPoolName("sessions"), tier)
	assert.True(t, ok)
	assert.Equal(t, int64(4), size)
	assert.Equal(t, uint64(1), histogram[float64](t, m["db.client.operation.duration"], on("Set", s, tier)...).Count,
		"%v", histogramAttrs(m["db.client.operation.duration"]))
}

// TestSpanParent: an operation's span is a child of the span in the
// context the call was given, in the same trace.
func TestSpanParent(t *testing.T) {
	h := newHarness(t, mcotel.WithSpans(true))
	s := startServer(t)
	c := h.client(t, []*server{s})
	tp := newTracerProvider(t)
	ctx, parent := tp.Tracer("test").Start(bg(), "handler")
	require.NoError(t, c.Set(ctx, &mc.Item{Key: "k", Value: []byte("v")}))
	_, err := c.Get(ctx, "k")
	require.NoError(t, err)
	parent.End()
	_, err = c.Get(bg(), "k") // no span in its context: a root
	require.NoError(t, err)
	spans := h.spans.Ended()
	require.Len(t, spans, 3)
	for _, sp := range spans[:2] {
		assert.Equal(t, parent.SpanContext().TraceID(), sp.SpanContext().TraceID(), sp.Name())
		assert.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID(), sp.Name())
	}
	assert.False(t, spans[2].Parent().IsValid(), "a call without a span in its context has a root span")
}
