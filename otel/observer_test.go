package otel_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	mc "github.com/golibmc/libmemcached"
	mcotel "github.com/golibmc/libmemcached/otel"
)

// These tests call the Observer's functions directly with the errors a
// real client returned, so they hold whether or not the client calls its
// observers: they pin down what the instrumentation makes of each event.

// realErrors returns an error of each kind a client returns, from real
// calls on a real server (and on a port nobody listens on).
func realErrors(t *testing.T) map[string]error {
	t.Helper()
	s := startServer(t)
	c, err := mc.New([]string{s.addr})
	require.NoError(t, err)
	defer c.Close()
	errs := map[string]error{}
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("x")}))
	errs["not_stored"] = c.Add(bg(), &mc.Item{Key: "k", Value: []byte("v")})
	it, err := c.Get(bg(), "k")
	require.NoError(t, err)
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("y")}))
	errs["cas_conflict"] = c.CompareAndSwap(bg(), it)
	_, errs["not_numeric"] = c.Increment(bg(), "k", 1)
	_, errs["malformed_key"] = c.Get(bg(), "bad key")
	_, errs[""] = c.Get(bg(), "missing") // a miss
	ctx, cancel := context.WithCancel(bg())
	cancel()
	_, errs["canceled"] = c.Get(ctx, "k")
	ctx, cancel = context.WithDeadline(bg(), time.Now().Add(-time.Second))
	_, errs["timeout"] = c.Get(ctx, "k")
	cancel()

	dead := startServer(t)
	d, err := mc.New([]string{dead.addr})
	require.NoError(t, err)
	dead.kill()
	_, errs["server_down"] = d.Get(bg(), "k")
	require.NoError(t, d.Close())
	_, errs["closed"] = d.Get(bg(), "k")
	for name, err := range errs {
		if name == "" {
			require.ErrorIs(t, err, mc.ErrCacheMiss)
			continue
		}
		var e *mc.Error
		require.ErrorAs(t, err, &e, name)
	}
	return errs
}

// errorTypeOf feeds one operation with err to a fresh Instrumentation and
// returns the error.type and db.response.status_code of its point ("" for
// none).
func errorTypeOf(t *testing.T, err error) (errType, code string) {
	t.Helper()
	h := newHarness(t)
	h.inst.Observer().Operation(mc.OperationInfo{Op: "Get", Keys: 1, Start: time.Now(), Duration: time.Millisecond, Err: err})
	data := h.metrics(t)["db.client.operation.duration"].Data.(metricdata.Histogram[float64])
	require.Len(t, data.DataPoints, 1)
	a := data.DataPoints[0].Attributes
	v, _ := a.Value(semconv.ErrorTypeKey)
	c, _ := a.Value(semconv.DBResponseStatusCodeKey)
	return v.AsString(), c.AsString()
}

// TestErrorTypes: error.type is the sentinel's short name; a miss has
// none; db.response.status_code is the libmemcached return code when
// there is one; a MultiError is named by its first failure in a fixed
// order (transport failures first), misses left out; any other error is
// "_OTHER".
func TestErrorTypes(t *testing.T) {
	errs := realErrors(t)
	for want, err := range errs {
		got, code := errorTypeOf(t, err)
		assert.Equal(t, want, got, "%v", err)
		var e *mc.Error
		if errors.As(err, &e) && e.Code != mc.ReturnSuccess && want != "" {
			assert.Equal(t, e.Code.String(), code, "%v", err)
		} else {
			assert.Empty(t, code, "%v", err)
		}
	}

	multi := &mc.MultiError{Errors: map[string]error{"a": errs["not_stored"], "b": errs["server_down"], "c": errs[""], "d": errs["timeout"]}}
	for i := 0; i < 10; i++ { // map order varies; the choice does not
		got, _ := errorTypeOf(t, multi)
		assert.Equal(t, "server_down", got)
	}
	got, code := errorTypeOf(t, &mc.MultiError{Errors: map[string]error{"a": errs[""], "b": errs[""]}})
	assert.Equal(t, []string{"", ""}, []string{got, code}, "misses only: no failure")
	got, _ = errorTypeOf(t, fmt.Errorf("wrapped: %w", errs["timeout"]))
	assert.Equal(t, "timeout", got)
	got, code = errorTypeOf(t, errors.New("something else"))
	assert.Equal(t, []string{"_OTHER", ""}, []string{got, code})
}

// TestEvents: a batch is one point of its size by kind; each server event
// a count by kind and server, a connection failure with its error.type; a
// socket path is a server.address with no port; an operation on several
// servers has neither.
func TestEvents(t *testing.T) {
	h := newHarness(t)
	o := h.inst.Observer()
	now := time.Now()
	o.Batch(mc.BatchInfo{Kind: "store", Calls: 3, Keys: 5, Start: now, Duration: time.Millisecond})
	o.Batch(mc.BatchInfo{Kind: "store", Calls: 9, Keys: 9, Start: now, Duration: time.Millisecond})
	refused := &mc.MultiError{Errors: map[string]error{"x": errors.New("refused")}}
	o.Server(mc.ServerEvent{Kind: mc.ServerConnectionFailed, Server: "10.0.0.1:11211", Time: now, Err: refused})
	o.Server(mc.ServerEvent{Kind: mc.ServerEjected, Server: "10.0.0.1:11211", Time: now})
	o.Server(mc.ServerEvent{Kind: mc.ServerEjected, Server: "10.0.0.1:11211", Time: now})
	o.Server(mc.ServerEvent{Kind: mc.ServerReturned, Server: "/run/mc.sock", Time: now})
	o.Server(mc.ServerEvent{Kind: mc.ServerReconnected, Server: "[::1]:11311", Time: now})
	o.Operation(mc.OperationInfo{Op: "Stats", Servers: []string{"10.0.0.1:11211", "/run/mc.sock"}, Start: now})

	m := h.metrics(t)
	b := histogram[int64](t, m["memcached.client.batch.size"], semconv.DBSystemNameMemcached,
		mcotel.BatchKindKey.String("store"), semconv.DBClientConnectionPoolName(mcotel.DefaultPoolName))
	assert.Equal(t, []int64{2, 12}, []int64{int64(b.Count), b.Sum})
	assert.Equal(t, "{call}", m["memcached.client.batch.size"].Unit)

	events := m["memcached.client.server.events"]
	ev := func(kind string, attrs ...attribute.KeyValue) int64 {
		v, ok := sum(t, events, append([]attribute.KeyValue{semconv.DBSystemNameMemcached, mcotel.ServerEventKey.String(kind)}, attrs...)...)
		assert.True(t, ok, kind)
		return v
	}
	ten := []attribute.KeyValue{semconv.ServerAddress("10.0.0.1"), semconv.ServerPort(11211)}
	assert.Equal(t, int64(1), ev("connection_failed", append(ten, semconv.ErrorTypeKey.String("_OTHER"))...))
	assert.Equal(t, int64(2), ev("ejected", ten...))
	assert.Equal(t, int64(1), ev("returned", semconv.ServerAddress("/run/mc.sock")))
	assert.Equal(t, int64(1), ev("reconnected", semconv.ServerAddress("::1"), semconv.ServerPort(11311)))
	assert.Equal(t, uint64(1), histogram[float64](t, m["db.client.operation.duration"], on("Stats", nil)...).Count)
}

// TestNoAllocations: with the attribute sets built (after an operation's
// first call), recording an operation's metrics allocates nothing; its
// error's classification allocates at most once (the *Error's Unwrap).
func TestNoAllocations(t *testing.T) {
	h := newHarness(t)
	o := h.inst.Observer()
	hit := mc.OperationInfo{Op: "Get", Keys: 1, Servers: []string{"127.0.0.1:11211"}, Start: time.Now(), Duration: time.Millisecond, BatchCalls: 1, Hits: 1}
	o.Operation(hit)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { o.Operation(hit) }), "a hit")
	set := mc.OperationInfo{Op: "Set", Keys: 1, Servers: []string{"127.0.0.1:11211"}, Start: time.Now(), Duration: time.Millisecond, BatchCalls: 1}
	o.Operation(set)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { o.Operation(set) }), "a store")
	miss := hit
	miss.Hits, miss.Misses = 0, 1
	miss.Err = realErrors(t)[""]
	o.Operation(miss)
	assert.LessOrEqual(t, testing.AllocsPerRun(1000, func() { o.Operation(miss) }), 1.0, "a miss")
	batch := mc.BatchInfo{Kind: "get", Calls: 64, Keys: 64}
	o.Batch(batch)
	assert.Zero(t, testing.AllocsPerRun(1000, func() { o.Batch(batch) }), "a batch")
}

// BenchmarkOperation is the cost of the metrics of one operation (a hit on
// one server) on the real SDK, by the number of goroutines.
func BenchmarkOperation(b *testing.B) {
	for _, spans := range []bool{false, true} {
		b.Run(fmt.Sprint("spans=", spans), func(b *testing.B) {
			inst, err := mcotel.New(mcotel.WithMeterProvider(newMeterProvider(b)), mcotel.WithTracerProvider(newTracerProvider(b)), mcotel.WithSpans(spans))
			require.NoError(b, err)
			o := inst.Observer()
			info := mc.OperationInfo{Op: "Get", Keys: 1, Servers: []string{"127.0.0.1:11211"}, Start: time.Now(), Duration: time.Millisecond, BatchCalls: 1, Hits: 1}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					o.Operation(info)
				}
			})
		})
	}
}
