package memcache_test

import (
	"os"
	"testing"

	"github.com/golibmc/libmemcached/internal/mctest"
)

// memcachedServer is the address of a memcached started for the Example
// functions (tests start their own servers).
var memcachedServer string

func TestMain(m *testing.M) {
	main := &mctest.Main{}
	memcachedServer = mctest.Start(main).Addr
	code := m.Run()
	main.Close()
	os.Exit(code)
}
