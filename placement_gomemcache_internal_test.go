package libmemcached

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGomemcacheHashInEveryClone fills the pool (compareHandles also checks
// that each handle places keys as the master does), then checks that
// memcached_clone kept gomemcache's hash function in every handle, before
// and after a behavior change that swaps the master and re-clones the pool.
func TestGomemcacheHashInEveryClone(t *testing.T) {
	c, err := New([]string{"127.0.0.1:41001", "127.0.0.1:41002", "127.0.0.1:41003"},
		WithGomemcachePlacement(), WithPoolSize(3))
	require.NoError(t, err)
	defer c.Close()
	for round := 0; round < 2; round++ {
		c.e.mu.Lock()
		require.True(t, c.e.master.hasGomemcacheHash())
		c.e.mu.Unlock()
		compareHandles(t, c)
		hs := c.e.pool.takeIdle()
		require.Len(t, hs, c.e.pool.size)
		for i, h := range hs {
			require.True(t, h.c.hasGomemcacheHash(), "round %d: handle %d lost the hash in memcached_clone", round, i)
			h.w.drop()
			h.c.free()
		}
		require.NoError(t, c.SetBehaviors(map[string]any{"tcp_keepalive": true}))
	}
}
