package libmemcached_test

import (
	"testing"

	"github.com/golibmc/libmemcached/internal/mctest"
)

// memcachedServer is the address of a memcached started for the Example
// functions (tests start their own servers).
var memcachedServer string

func TestMain(m *testing.M) { mctest.RunWithServer(m, &memcachedServer) }
