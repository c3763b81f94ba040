package libmemcached_test

import (
	"fmt"
	"testing"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// Benchmarks against a real memcached on loopback. make bench runs them
// (for allocations) next to the C loop and gomemcache (bench/ module).

func benchClient(b *testing.B) *mc.Client {
	b.Helper()
	s := mctest.Start(b)
	c, err := mc.New([]string{s.Addr})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func benchGet(b *testing.B, size int) {
	c := benchClient(b)
	if err := c.Set(bg(), &mc.Item{Key: "bench:get", Value: make([]byte, size)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Get(bg(), "bench:get"); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSet(b *testing.B, size int) {
	c := benchClient(b)
	it := &mc.Item{Key: "bench:set", Value: make([]byte, size)}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.Set(bg(), it); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGet100(b *testing.B) { benchGet(b, 100) }
func BenchmarkGet10K(b *testing.B) { benchGet(b, 10240) }
func BenchmarkSet100(b *testing.B) { benchSet(b, 100) }
func BenchmarkSet10K(b *testing.B) { benchSet(b, 10240) }

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprint("bench:m", i)
	}
	return keys
}

func BenchmarkGetMulti(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			c := benchClient(b)
			keys := benchKeys(n)
			for _, k := range keys {
				if err := c.Set(bg(), &mc.Item{Key: k, Value: make([]byte, 100)}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, err := c.GetMulti(bg(), keys)
				if err != nil || len(got) != n {
					b.Fatal(err, len(got))
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

func benchItems(n int) []*mc.Item {
	items := make([]*mc.Item, n)
	for i, k := range benchKeys(n) {
		items[i] = &mc.Item{Key: k, Value: make([]byte, 100)}
	}
	return items
}

func BenchmarkSetMulti1000(b *testing.B) {
	c := benchClient(b)
	items := benchItems(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.SetMulti(bg(), items); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSet1000Sequential is SetMulti1000's baseline: 1000 Set calls.
func BenchmarkSet1000Sequential(b *testing.B) {
	c := benchClient(b)
	items := benchItems(1000)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, it := range items {
			if err := c.Set(bg(), it); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkIncrement(b *testing.B) {
	c := benchClient(b)
	if err := c.Set(bg(), &mc.Item{Key: "bench:ctr", Value: []byte("0")}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Increment(bg(), "bench:ctr", 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParallelGet(b *testing.B) {
	c := benchClient(b)
	if err := c.Set(bg(), &mc.Item{Key: "bench:get", Value: make([]byte, 100)}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(4) // 4 x GOMAXPROCS goroutines
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(bg(), "bench:get"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkParallelSet(b *testing.B) {
	c := benchClient(b)
	it := &mc.Item{Key: "bench:set", Value: make([]byte, 100)}
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Set(bg(), it); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
