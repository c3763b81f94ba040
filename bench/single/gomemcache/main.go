// Command gomemcache is bench/single's program for the clients with
// gomemcache's API: github.com/bradfitz/gomemcache, the pure-Go client the
// comparisons are against, and, built with -tags memcachepkg, this
// repository's memcache package (gomemcache's API over golibmc), configured
// the same way (see bench/single/README.md).
//
//	gomemcache HOST:PORT PHASE:COUNT[,PHASE:COUNT...]
package main

import (
	"time"

	"github.com/golibmc/libmemcached/bench/internal/runner"
)

func main() {
	runner.Main(label, func(addr string) (runner.Client, error) {
		c := newClient(addr)
		c.MaxIdleConns = 8 // one idle connection per goroutine of the 8-goroutine phases
		c.Timeout = 5 * time.Second
		return runner.GomemcacheStyle(c,
			func(k string, v []byte) error { return c.Set(&item{Key: k, Value: v}) },
			func(it *item) []byte { return it.Value }), nil
	})
}
