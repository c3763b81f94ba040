package otel

import (
	"context"
	"errors"
	"sync"

	mc "github.com/golibmc/libmemcached"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/dbconv"
)

// poolObserver reports the pools of the clients given to ObservePool,
// summed, at each collection: one callback, registered while there is a
// client to observe.
type poolObserver struct {
	meter                    metric.Meter
	count, max, pending, ejd metric.Int64ObservableUpDownCounter
	used, idle, pool         metric.ObserveOption

	mu      sync.Mutex
	clients map[uint64]*mc.Client // by registration: a client may be given twice
	next    uint64
	reg     metric.Registration
}

func (p *poolObserver) init(meter metric.Meter, cfg config) error {
	p.meter = meter
	var errs [4]error
	var count dbconv.ClientConnectionCountObservable
	count, errs[0] = dbconv.NewClientConnectionCountObservable(meter)
	var max dbconv.ClientConnectionMaxObservable
	max, errs[1] = dbconv.NewClientConnectionMaxObservable(meter)
	var pending dbconv.ClientConnectionPendingRequestsObservable
	pending, errs[2] = dbconv.NewClientConnectionPendingRequestsObservable(meter)
	p.count, p.max, p.pending = count.Inst(), max.Inst(), pending.Inst()
	p.ejd, errs[3] = meter.Int64ObservableUpDownCounter("memcached.client.servers.ejected",
		metric.WithUnit("{server}"), metric.WithDescription("Servers ejected from the distribution (auto_eject) and not back yet."))

	set := func(extra ...attribute.KeyValue) metric.ObserveOption {
		attrs := append([]attribute.KeyValue{semconv.DBClientConnectionPoolName(cfg.pool)}, extra...)
		return metric.WithAttributeSet(attribute.NewSet(append(attrs, cfg.attrs...)...))
	}
	p.used = set(semconv.DBClientConnectionStateUsed)
	p.idle = set(semconv.DBClientConnectionStateIdle)
	p.pool = set()
	return errors.Join(errs[:]...)
}

// ObservePool reports c's pool (PoolStats) at each collection of the
// MeterProvider's readers, until stop is called:
// db.client.connection.count with db.client.connection.state "used"
// (handles lent to calls) and "idle" (handles open and free),
// db.client.connection.max (the pool's bound),
// db.client.connection.pending_requests (calls waiting for a handle) and
// memcached.client.servers.ejected. A handle is one libmemcached
// memcached_st, with its own connection to each server: it is counted as
// one connection.
//
// Several clients given to one Instrumentation are reported summed under
// its pool name. Call stop before or after closing c; it is idempotent.
// The error is the MeterProvider's, when it refuses the callback.
func (in *Instrumentation) ObservePool(c *mc.Client) (stop func(), err error) {
	if c == nil {
		return nil, errors.New("otel: ObservePool: nil client")
	}
	p := &in.pool
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reg == nil {
		reg, err := p.meter.RegisterCallback(p.observe, p.count, p.max, p.pending, p.ejd)
		if err != nil {
			return nil, err
		}
		p.reg = reg
	}
	if p.clients == nil {
		p.clients = map[uint64]*mc.Client{}
	}
	p.next++
	id := p.next
	p.clients[id] = c
	var once sync.Once
	return func() { once.Do(func() { p.remove(id) }) }, nil
}

// remove stops observing one registration's client, and unregisters the
// callback after the last.
func (p *poolObserver) remove(id uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.clients, id)
	if len(p.clients) == 0 && p.reg != nil {
		// The SDK's Unregister fails only for a registration it does not
		// know, which this one is not.
		_ = p.reg.Unregister()
		p.reg = nil
	}
}

// observe is the callback: the clients' PoolStats, summed.
func (p *poolObserver) observe(_ context.Context, o metric.Observer) error {
	var used, idle, size, queued, ejected int64
	p.mu.Lock()
	for _, c := range p.clients {
		s := c.PoolStats()
		used += int64(s.InUse)
		idle += int64(max(s.Open-s.InUse, 0))
		size += int64(s.Size)
		queued += int64(s.Queued)
		ejected += int64(s.Ejected)
	}
	p.mu.Unlock()
	o.ObserveInt64(p.count, used, p.used)
	o.ObserveInt64(p.count, idle, p.idle)
	o.ObserveInt64(p.max, size, p.pool)
	o.ObserveInt64(p.pending, queued, p.pool)
	o.ObserveInt64(p.ejd, ejected, p.pool)
	return nil
}
