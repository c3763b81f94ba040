package compat

import (
	"context"
	"strings"
	"testing"

	gm "github.com/bradfitz/gomemcache/memcache"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
	"github.com/golibmc/libmemcached/memcache"
)

// BenchmarkClients runs single-goroutine Get and Set of a 100 B value
// through gomemcache, the memcache package and the libmemcached package
// (with gomemcache's placement), against one memcached. go test -bench
// runs the clients one after the other, so for ratios on a noisy machine
// prefer cmd/sidebyside, which alternates them; these show allocations.
func BenchmarkClients(b *testing.B) {
	addr := mctest.Start(b).Addr
	value := []byte(strings.Repeat("v", 100))
	g := gm.New(addr)
	m := memcache.New(addr)
	l, err := libmemcached.New([]string{addr}, libmemcached.WithGomemcachePlacement())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close(); m.Close(); l.Close() })
	if err := g.Set(&gm.Item{Key: "bench", Value: value}); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		get  func() error
		set  func() error
	}{
		{"gomemcache",
			func() error { _, err := g.Get("bench"); return err },
			func() error { return g.Set(&gm.Item{Key: "bench", Value: value}) }},
		{"memcache",
			func() error { _, err := m.Get("bench"); return err },
			func() error { return m.Set(&memcache.Item{Key: "bench", Value: value}) }},
		{"libmemcached",
			func() error { _, err := l.Get(ctx, "bench"); return err },
			func() error { return l.Set(ctx, &libmemcached.Item{Key: "bench", Value: value}) }},
	} {
		for _, op := range []struct {
			name string
			fn   func() error
		}{{"Get", c.get}, {"Set", c.set}} {
			b.Run(op.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := op.fn(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
