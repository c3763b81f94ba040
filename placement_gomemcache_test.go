package libmemcached_test

import (
	"fmt"
	"hash/crc32"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// gomemcacheServer is gomemcache's choice for key among n servers (its
// ServerList.PickServer), written out here as the reference.
func gomemcacheServer(key string, n int) int {
	if n == 1 {
		return 0
	}
	return int(crc32.ChecksumIEEE([]byte(key)) % uint32(n))
}

// TestGomemcachePlacement writes keys from 16 goroutines through a pool of
// 4 handles (each a memcached_clone of the master) and checks, asking each
// server directly, that every key landed on gomemcache's server; that
// ServerForKey and Hash agree; and that GetMulti reads them all back.
func TestGomemcachePlacement(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5} {
		t.Run(fmt.Sprintf("servers=%d", n), func(t *testing.T) {
			servers := mctest.StartN(t, n)
			addrs := mctest.Addrs(servers)
			c, err := mc.New(addrs, mc.WithGomemcachePlacement(), mc.WithPoolSize(4))
			require.NoError(t, err)
			defer c.Close()
			keys := placementKeys("gm-", 1000)
			writeConcurrently(t, c, keys, "v")
			got := landed(t, servers, "", keys, "v")
			for _, k := range keys {
				want := addrs[gomemcacheServer(k, n)]
				require.Equal(t, want, got[k], "key %q", k)
				s, err := c.ServerForKey(k)
				require.NoError(t, err)
				require.Equal(t, want, s, "ServerForKey(%q)", k)
				require.Equal(t, crc32.ChecksumIEEE([]byte(k)), c.Hash(k), "Hash(%q)", k)
			}
			items, err := c.GetMulti(bg(), keys)
			require.NoError(t, err)
			require.Len(t, items, len(keys))
			assert.LessOrEqual(t, c.PoolStats().Open, 4)
		})
	}
}

// writeConcurrently sets every key to value from 16 goroutines.
func writeConcurrently(t *testing.T, c *mc.Client, keys []string, value string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < len(keys); i += 16 {
				if err := c.Set(bg(), &mc.Item{Key: keys[i], Value: []byte(value)}); err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestGomemcachePlacementDiffersFromCRC shows why the custom hash exists:
// libmemcached's own "crc" hash with modula puts about half the keys of 2
// servers elsewhere.
func TestGomemcachePlacementDiffersFromCRC(t *testing.T) {
	addrs := []string{"127.0.0.1:41001", "127.0.0.1:41002"}
	crc, err := mc.New(addrs, mc.WithBehaviors(map[string]any{"hash": "crc", "distribution": "modula"}))
	require.NoError(t, err)
	defer crc.Close()
	moved := 0
	for _, k := range placementKeys("gm-", 1000) {
		s, err := crc.ServerForKey(k)
		require.NoError(t, err)
		if s != addrs[gomemcacheServer(k, 2)] {
			moved++
		}
	}
	assert.Greater(t, moved, 300, "libmemcached's crc places keys differently")
	t.Logf("%d of 1000 keys placed elsewhere by libmemcached's crc hash", moved)
}

// TestGomemcachePlacementServerOrder: the order given counts (no sorting),
// unix sockets count like TCP servers, and a server listed twice counts
// twice, as in gomemcache's ServerList.
func TestGomemcachePlacementServerOrder(t *testing.T) {
	tcp := mctest.StartN(t, 2)
	sock := mctest.StartSocket(t)
	for _, specs := range [][]string{
		{tcp[1].Addr, sock.Addr, tcp[0].Addr},
		{tcp[0].Addr, tcp[0].Addr, tcp[1].Addr},
		{sock.Addr, tcp[1].Addr, tcp[0].Addr, tcp[1].Addr},
	} {
		c, err := mc.New(specs, mc.WithGomemcachePlacement(), mc.WithPoolSize(2))
		require.NoError(t, err)
		keys := placementKeys("order-", 300)
		writeConcurrently(t, c, keys, "v")
		got := holders(t, append(tcp, sock), keys)
		for _, k := range keys {
			want := specs[gomemcacheServer(k, len(specs))]
			require.Equal(t, want, got[k], "%v key %q", specs, k)
			s, err := c.ServerForKey(k)
			require.NoError(t, err)
			require.Equal(t, want, s, "%v ServerForKey(%q)", specs, k)
		}
		require.NoError(t, c.FlushAll(bg()))
		c.Close()
	}
}

// TestGomemcachePlacementSurvivesChanges: other behavior changes (each
// clones the master and re-clones every pooled handle), DisconnectAll and
// a namespace keep the placement; the behaviors that would replace the hash
// or the distribution are refused on a live client and conflict at New.
func TestGomemcachePlacementSurvivesChanges(t *testing.T) {
	servers := mctest.StartN(t, 3)
	addrs := mctest.Addrs(servers)
	c, err := mc.New(addrs, mc.WithGomemcachePlacement(), mc.WithPoolSize(3))
	require.NoError(t, err)
	defer c.Close()
	check := func(round string) {
		t.Helper()
		keys := placementKeys(round+"-", 300)
		writeConcurrently(t, c, keys, round)
		got := landed(t, servers, "", keys, round)
		for _, k := range keys {
			require.Equal(t, addrs[gomemcacheServer(k, 3)], got[k], "%s: key %q", round, k)
		}
	}
	check("start")
	require.NoError(t, c.SetBehaviors(map[string]any{"tcp_nodelay": false, "_poll_timeout": 700, "ketama_hash": "md5"}))
	check("behaviors")
	require.NoError(t, c.DisconnectAll())
	check("disconnect")

	h, err := c.Behavior(mc.BehaviorHash)
	require.NoError(t, err)
	assert.Equal(t, uint64(mc.HashCRC32), h, "gomemcache's placement is the crc32 hash with modula")
	all, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, "crc32", all["hash"])
	assert.Equal(t, "modula", all["distribution"])

	for _, b := range []map[string]any{
		{"hash": "md5"}, {"hash": "default"}, {"distribution": "consistent ketama"}, {"distribution": "modula"},
		{"ketama": true}, {"ketama_weighted": true}, {"_sort_hosts": true}, {"tcp_nodelay": true, "hash": "crc"},
	} {
		err := c.SetBehaviors(b)
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "%v", b)
		assert.Contains(t, err.Error(), "gomemcache's placement")
	}
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorHash, uint64(mc.HashMD5)), mc.ErrInvalidArguments)
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorDistribution, uint64(mc.DistributionConsistentKetama)), mc.ErrInvalidArguments)
	check("refused")
	v, err := c.Behavior(mc.BehaviorTCPNoDelay)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), v, "a refused change changes nothing")

	ns, err := mc.New(addrs, mc.WithGomemcachePlacement(), mc.WithNamespace("app:"))
	require.NoError(t, err)
	defer ns.Close()
	for _, k := range placementKeys("ns-", 100) {
		s, err := ns.ServerForKey(k)
		require.NoError(t, err)
		assert.Equal(t, addrs[gomemcacheServer(k, 3)], s, "the prefix is not hashed: key %q", k)
	}
}

// TestGomemcachePlacementConflicts: a hash, distribution or host sorting
// set by WithBehaviors or a configuration string conflicts with the
// placement; libmemcached's defaults, spelled out, do not.
func TestGomemcachePlacementConflicts(t *testing.T) {
	addrs := []string{"127.0.0.1:41001", "127.0.0.1:41002"}
	for _, b := range []map[string]any{
		{"hash": "md5"}, {"distribution": "consistent ketama"}, {"ketama": true},
		{"ketama_weighted": true}, {"_sort_hosts": true}, {"distribution": "random"},
	} {
		_, err := mc.New(addrs, mc.WithBehaviors(b), mc.WithGomemcachePlacement())
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "%v", b)
		assert.Contains(t, err.Error(), "WithGomemcachePlacement")
		_, err = mc.New(addrs, mc.WithGomemcachePlacement(), mc.WithBehaviors(b))
		require.ErrorIs(t, err, mc.ErrInvalidArguments, "%v, options the other way round", b)
	}
	for _, cfg := range []string{"--HASH=MD5", "--DISTRIBUTION=consistent", "--SORT-HOSTS"} {
		_, err := mc.NewFromConfig("--SERVER=127.0.0.1:41001 --SERVER=127.0.0.1:41002 "+cfg, mc.WithGomemcachePlacement())
		require.ErrorIs(t, err, mc.ErrInvalidArguments, cfg)
	}
	c, err := mc.New(addrs, mc.WithBehaviors(map[string]any{"hash": "default", "distribution": "modula", "ketama": false}),
		mc.WithGomemcachePlacement())
	require.NoError(t, err)
	c.Close()
	c, err = mc.NewFromConfig("--SERVER=127.0.0.1:41002 --SERVER=127.0.0.1:41001", mc.WithGomemcachePlacement())
	require.NoError(t, err)
	defer c.Close()
	for _, k := range placementKeys("cfg-", 200) {
		s, err := c.ServerForKey(k)
		require.NoError(t, err)
		require.Equal(t, []string{"127.0.0.1:41002", "127.0.0.1:41001"}[gomemcacheServer(k, 2)], s, "key %q", k)
	}
}
