package libmemcached_test

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// TestBehaviorNamesMatchPylibmc: our names start with pylibmc's
// all_behaviors, in its order (pickle_protocol is pylibmc's own setting).
func TestBehaviorNamesMatchPylibmc(t *testing.T) {
	out, err := exec.Command("/usr/bin/python3", "-c", "import json, pylibmc; print(json.dumps(pylibmc.all_behaviors))").Output()
	if err != nil {
		t.Skip("python3-pylibmc is not installed (make test installs it)")
	}
	var theirs []string
	require.NoError(t, json.Unmarshal(out, &theirs))
	var want []string
	for _, n := range theirs {
		if n != "pickle_protocol" {
			want = append(want, n)
		}
	}
	names := mc.BehaviorNames()
	require.GreaterOrEqual(t, len(names), len(want))
	assert.Equal(t, want, names[:len(want)])
	assert.Contains(t, names, "binary_protocol")
	assert.Contains(t, names, "server_timeout_limit")
}

// TestEveryBehaviorByNameAndConstant sets every named behavior to a
// non-default value and reads it back by name and by constant.
func TestEveryBehaviorByNameAndConstant(t *testing.T) {
	values := map[string]any{
		"no_block": true, "tcp_nodelay": false, "tcp_keepalive": true, "hash": "fnv1a_64",
		"ketama_hash": "md5", "ketama": true, "ketama_weighted": false, "distribution": "consistent ketama",
		"cas": false, "buffer_requests": false, "verify_keys": true, "connect_timeout": 1234,
		"send_timeout": 2000000, "receive_timeout": 3000000, "num_replicas": 2, "auto_eject": true,
		"retry_timeout": 7, "remove_failed": true, "failure_limit": 9, "_io_msg_watermark": 400,
		"_io_bytes_watermark": 65000, "_io_key_prefetch": 3, "_hash_with_prefix_key": true, "_noreply": true,
		"_sort_hosts": true, "_poll_timeout": 4321, "_socket_send_size": 65536, "_socket_recv_size": 131072,
		"dead_timeout": 11, "binary_protocol": false, "use_udp": false, "server_timeout_limit": 4,
		"randomize_replica_read": true, "tcp_keepidle": 30,
	}
	require.Len(t, values, len(mc.BehaviorNames()), "the test covers every name")
	c, err := mc.New([]string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetBehaviors(values))
	got, err := c.Behaviors()
	require.NoError(t, err)
	for name, v := range values {
		want := v
		switch x := v.(type) {
		case bool:
			want = uint64(0)
			if x {
				want = uint64(1)
			}
		case int:
			want = uint64(x)
		}
		if name == "ketama_weighted" || name == "ketama" {
			continue // set-only switches of the distribution, read back below
		}
		assert.Equal(t, want, got[name], name)
	}
	assert.Equal(t, "consistent ketama", got["distribution"])
	v, err := c.Behavior(mc.BehaviorConnectTimeout)
	require.NoError(t, err)
	assert.Equal(t, uint64(1234), v)
	require.NoError(t, c.SetBehavior(mc.BehaviorConnectTimeout, 99))
	got, err = c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, uint64(99), got["connect_timeout"])
	err = c.SetBehavior(mc.BehaviorHash, uint64(mc.HashMurmur3))
	if libmemcached10() {
		// libmemcached 1.0.18 takes murmur3 but hashes with murmur.
		require.ErrorIs(t, err, mc.ErrNotSupported)
		assert.Contains(t, err.Error(), "libmemcached "+mc.LibraryVersion())
		got, err = c.Behaviors()
		require.NoError(t, err)
		assert.Equal(t, "fnv1a_64", got["hash"], "the refused hash changed nothing")
		return
	}
	require.NoError(t, err)
	got, err = c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, "murmur3", got["hash"], "murmur3, which pylibmc lacks, is settable")
}

// TestRemoveFailedIsAutoEject: remove_failed is the auto_eject switch on
// every libmemcached version and leaves failure_limit alone (libmemcached
// 1.0.18's own memcached_behavior_set also set the limit to the flag's
// value, refused 0, and read the limit back).
func TestRemoveFailedIsAutoEject(t *testing.T) {
	c, err := mc.New([]string{"127.0.0.1:1", "127.0.0.1:2"})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetBehaviors(map[string]any{"failure_limit": 7}))
	for _, on := range []bool{true, false, true} {
		require.NoError(t, c.SetBehaviors(map[string]any{"remove_failed": on}))
		b, err := c.Behaviors()
		require.NoError(t, err)
		want := uint64(0)
		if on {
			want = 1
		}
		assert.Equal(t, want, b["remove_failed"], "remove_failed = %v", on)
		assert.Equal(t, want, b["auto_eject"], "remove_failed = %v", on)
		assert.Equal(t, uint64(7), b["failure_limit"], "remove_failed = %v", on)
	}
	require.NoError(t, c.SetBehavior(mc.BehaviorRemoveFailedServers, 0), "the raw constant too")
	v, err := c.Behavior(mc.BehaviorAutoEjectHosts)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), v)
}

func TestBehaviorAliases(t *testing.T) {
	c, err := mc.New([]string{"127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetBehaviors(map[string]any{
		"connect timeout": 111, "buffer requests": false, "verify key": true, "support cas": false,
		"poll timeout": 222, "no block": true, "tcp nodelay": false, "sort hosts": true,
	}))
	b, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, uint64(111), b["connect_timeout"])
	assert.Equal(t, uint64(0), b["buffer_requests"])
	assert.Equal(t, uint64(1), b["verify_keys"])
	assert.Equal(t, uint64(0), b["cas"])
	assert.Equal(t, uint64(222), b["_poll_timeout"])
	assert.Equal(t, uint64(1), b["no_block"])
	assert.Equal(t, uint64(0), b["tcp_nodelay"])
	assert.Equal(t, uint64(1), b["_sort_hosts"])
	assert.NotContains(t, b, "connect timeout", "Behaviors reports the 1.6 names")
}

func TestBehaviorErrors(t *testing.T) {
	c, err := mc.New([]string{"127.0.0.1:1"})
	require.NoError(t, err)
	defer c.Close()
	before, err := c.Behaviors()
	require.NoError(t, err)

	cases := []struct {
		m        map[string]any
		sentinel error
		mentions string
	}{
		{map[string]any{"no_such": 1}, mc.ErrInvalidArguments, "tcp_nodelay"},
		{map[string]any{"hash": "sha1"}, mc.ErrInvalidArguments, `"fnv1a_32"`},
		{map[string]any{"hash": 3}, mc.ErrInvalidArguments, `"md5"`},
		{map[string]any{"distribution": "ring"}, mc.ErrInvalidArguments, `"consistent ketama"`},
		{map[string]any{"tcp_nodelay": 2}, mc.ErrInvalidArguments, "bool"},
		{map[string]any{"tcp_nodelay": "yes"}, mc.ErrInvalidArguments, "bool"},
		{map[string]any{"connect_timeout": -1}, mc.ErrInvalidArguments, "milliseconds"},
		{map[string]any{"connect_timeout": uint64(math.MaxInt32) + 1}, mc.ErrInvalidArguments, "2147483647"},
		{map[string]any{"connect_timeout": 1.5}, mc.ErrInvalidArguments, "integer"},
		{map[string]any{"connect_timeout": nil}, mc.ErrInvalidArguments, "integer"},
		{map[string]any{"hash": "hsieh"}, mc.ErrNotSupported, "hsieh"},
		{map[string]any{"ketama_hash": "hsieh"}, mc.ErrNotSupported, "hsieh"},
		{map[string]any{"distribution": "consistent max"}, mc.ErrInvalidArguments, "end marker"},
		{map[string]any{"cache lookups": true}, mc.ErrNotSupported, "deprecated"},
		// All or nothing: the valid one is not applied either.
		{map[string]any{"connect_timeout": 5, "hash": "hsieh"}, mc.ErrNotSupported, "hsieh"},
	}
	for _, tc := range cases {
		err := c.SetBehaviors(tc.m)
		require.ErrorIs(t, err, tc.sentinel, "%v", tc.m)
		assert.Contains(t, err.Error(), tc.mentions, "%v", tc.m)
		_, err = mc.New([]string{"127.0.0.1:1"}, mc.WithBehaviors(tc.m))
		require.ErrorIs(t, err, tc.sentinel, "WithBehaviors %v", tc.m)
	}
	after, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, before, after, "failed SetBehaviors calls change nothing")

	require.ErrorIs(t, c.SetBehavior(mc.BehaviorMax, 1), mc.ErrInvalidArguments)
	require.ErrorIs(t, c.SetBehavior(mc.BehaviorCacheLookups, 1), mc.ErrNotSupported)
	_, err = c.Behavior(mc.Behavior(-1))
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
	// Typed constants and JSON numbers are accepted.
	require.NoError(t, c.SetBehaviors(map[string]any{"hash": mc.HashMD5, "distribution": mc.DistributionConsistent, "connect_timeout": float64(700)}))
}

// TestBehaviorReachesPooledHandles: a behavior change applies to calls
// made after it, on handles that already existed.
func TestBehaviorReachesPooledHandles(t *testing.T) {
	c, servers := newClient(t, 1, mc.WithPoolSize(2))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "k", Value: []byte("v")}))
	it, err := c.Get(bg(), "k")
	require.NoError(t, err)
	assert.NotZero(t, it.CasID)
	require.NoError(t, c.SetBehaviors(map[string]any{"cas": false}))
	it, err = c.Get(bg(), "k")
	require.NoError(t, err)
	assert.Zero(t, it.CasID, "get instead of gets once cas is off")
	before := rawStats(t, servers[0].Addr)["total_connections"]
	require.NoError(t, c.DisconnectAll())
	_, err = c.Get(bg(), "k")
	require.NoError(t, err)
	assert.NotEqual(t, before, rawStats(t, servers[0].Addr)["total_connections"], "DisconnectAll makes the next call reconnect")
}

// TestHashCRC32: "crc32" is the whole CRC-32 of the key as the key hash,
// on any distribution, set at New or later, read back by name and as
// HashCRC32, kept by every pooled handle; ketama_hash refuses it, and a
// raw hash value past libmemcached's enum is refused (libmemcached would
// report success and keep the old hash).
func TestHashCRC32(t *testing.T) {
	servers := []string{"192.0.2.1:11211:1", "192.0.2.2:11211:2", "192.0.2.3:11300:3"}
	keys := make([]string, 300)
	for i := range keys {
		keys[i] = fmt.Sprintf("crc-%d", i)
	}
	c, err := mc.New(servers, mc.WithBehaviors(map[string]any{"hash": "crc32", "distribution": "consistent weighted"}), mc.WithPoolSize(3))
	require.NoError(t, err)
	defer c.Close()
	b, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, "crc32", b["hash"])
	assert.Equal(t, "consistent weighted", b["distribution"])
	v, err := c.Behavior(mc.BehaviorHash)
	require.NoError(t, err)
	assert.Equal(t, uint64(mc.HashCRC32), v)
	assert.Equal(t, "crc32", mc.HashCRC32.Name())
	for _, k := range keys[:20] {
		assert.Equal(t, crc32.ChecksumIEEE([]byte(k)), c.Hash(k), k)
		assert.Equal(t, crc32.ChecksumIEEE([]byte(k)), mc.HashKey(k, mc.HashCRC32), k)
	}
	assert.Empty(t, mc.PooledHandlesDiffer(c, keys))
	onRing := map[string]string{}
	for _, k := range keys {
		onRing[k], err = c.ServerForKey(k)
		require.NoError(t, err)
	}

	// Set later, by constant, on a client made without it: the same ring.
	later, err := mc.New(servers, mc.WithBehaviors(map[string]any{"distribution": "consistent weighted", "hash": "md5"}))
	require.NoError(t, err)
	defer later.Close()
	require.NoError(t, later.SetBehavior(mc.BehaviorHash, uint64(mc.HashCRC32)))
	moved := 0
	for _, k := range keys {
		s, err := later.ServerForKey(k)
		require.NoError(t, err)
		assert.Equal(t, onRing[k], s, k)
		if s != onRing[k] {
			moved++
		}
	}
	assert.Zero(t, moved)
	// The unweighted ring hashes its points with the key hash: set later,
	// it is rebuilt with the CRC-32.
	equal := []string{"192.0.2.1:11211", "192.0.2.2:11211", "192.0.2.3:11300"}
	first, err := mc.New(equal, mc.WithBehaviors(map[string]any{"hash": "crc32", "distribution": "consistent"}))
	require.NoError(t, err)
	defer first.Close()
	second, err := mc.New(equal, mc.WithBehaviors(map[string]any{"distribution": "consistent"}))
	require.NoError(t, err)
	defer second.Close()
	require.NoError(t, second.SetBehaviors(map[string]any{"hash": "crc32"}))
	for _, k := range keys {
		want, err := first.ServerForKey(k)
		require.NoError(t, err)
		got, err := second.ServerForKey(k)
		require.NoError(t, err)
		require.Equal(t, want, got, k)
	}
	// And back to a libmemcached hash: the custom function is replaced.
	require.NoError(t, later.SetBehaviors(map[string]any{"hash": "md5"}))
	v, err = later.Behavior(mc.BehaviorHash)
	require.NoError(t, err)
	assert.Equal(t, uint64(mc.HashMD5), v)
	assert.Equal(t, mc.HashKey("k", mc.HashMD5), later.Hash("k"))

	// With modula it is gomemcache's placement.
	gm, err := mc.New(servers[:2], mc.WithGomemcachePlacement())
	require.NoError(t, err)
	defer gm.Close()
	modula, err := mc.New(servers[:2], mc.WithBehaviors(map[string]any{"hash": "crc32"}))
	require.NoError(t, err)
	defer modula.Close()
	both, err := mc.New(servers[:2], mc.WithGomemcachePlacement(), mc.WithBehaviors(map[string]any{"hash": "crc32"}))
	require.NoError(t, err, "crc32 is gomemcache's own hash: no conflict")
	defer both.Close()
	for _, k := range keys {
		want, err := gm.ServerForKey(k)
		require.NoError(t, err)
		for _, other := range []*mc.Client{modula, both} {
			got, err := other.ServerForKey(k)
			require.NoError(t, err)
			require.Equal(t, want, got, k)
		}
	}

	// Refused: crc32 as ketama_hash (by name and by constant), a hash value
	// past libmemcached's enum; nothing changes.
	for _, err := range []error{
		c.SetBehaviors(map[string]any{"ketama_hash": "crc32"}),
		c.SetBehavior(mc.BehaviorKetamaHash, uint64(mc.HashCRC32)),
		c.SetBehavior(mc.BehaviorHash, uint64(mc.HashMax)+7),
		c.SetBehavior(mc.BehaviorKetamaHash, 1<<40),
	} {
		require.ErrorIs(t, err, mc.ErrInvalidArguments)
	}
	_, err = mc.New(servers, mc.WithBehaviors(map[string]any{"ketama_hash": mc.HashCRC32}))
	require.ErrorIs(t, err, mc.ErrInvalidArguments)
	assert.Contains(t, err.Error(), "key hash")
	after, err := c.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, b, after)
}
