package libmemcached

import (
	"fmt"
	"testing"
)

// BenchmarkNew measures start-up with many servers (no connection is
// made: New and the pool's clones only build the placement): New alone,
// and New then every handle of the pool cloned, as the pool does on its
// first concurrent calls. make startup runs it after the C reference
// (bench/cstartup); make bench puts both in BENCHMARKS.md.
func BenchmarkNew(b *testing.B) {
	for _, n := range []int{10, 100} {
		servers := make([]string, n)
		for i := range servers {
			servers[i] = fmt.Sprintf("10.0.%d.%d:11211", i/250, i%250+1)
		}
		for _, dist := range []struct {
			name string
			b    map[string]any
		}{
			{"modula", nil},
			{"ketama", map[string]any{"ketama": true}},
			{"ketama_weighted", map[string]any{"ketama_weighted": true}},
		} {
			b.Run(fmt.Sprintf("servers=%d/%s", n, dist.name), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					c, err := New(servers, WithBehaviors(dist.b))
					if err != nil {
						b.Fatal(err)
					}
					c.Close()
				}
			})
			for _, pool := range []int{8, 64} {
				b.Run(fmt.Sprintf("servers=%d/%s/pool=%d", n, dist.name, pool), func(b *testing.B) {
					for i := 0; i < b.N; i++ {
						c, err := New(servers, WithBehaviors(dist.b), WithPoolSize(pool))
						if err != nil {
							b.Fatal(err)
						}
						fillPool(b, c)
						c.Close()
					}
				})
			}
		}
	}
}

// fillPool takes every handle of c's pool (cloning each from the master)
// and gives them back.
func fillPool(tb testing.TB, c *Client) {
	_, back, err := takeAll(c)
	if err != nil {
		tb.Fatal(err)
	}
	back()
}
