package libmemcached_test

import (
	"flag"
	"testing"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// memcachedServer is the address of a memcached started for the Example
// functions (tests start their own servers).
var memcachedServer string

func TestMain(m *testing.M) {
	flag.Parse()
	if b := flag.Lookup("test.bench"); b == nil || b.Value.String() == "" {
		mc.LookForLateRepliesAlways()
	}
	mctest.RunWithServer(m, &memcachedServer)
}
