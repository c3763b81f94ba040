package libmemcached

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPooledHandlesEqualMaster sets each behavior to a value other than its
// default (on top of a placement that matters: several servers, equal
// weights), takes every handle of the pool, and compares each with the
// master in every behavior and in the server it picks for each of 500 keys.
// memcached_clone in libmemcached 1.1 drops ketama_weighted with equal
// weights (and, set before a consistent distribution, gets it wrong the
// other way): any such loss, in any libmemcached, fails here.
func TestPooledHandlesEqualMaster(t *testing.T) {
	servers := []string{"127.0.0.1:41001", "127.0.0.1:41002", "127.0.0.1:41003", "127.0.0.1:41004"}
	values := map[string]any{
		"no_block": true, "tcp_nodelay": false, "tcp_keepalive": true, "hash": "fnv1a_32",
		"ketama_hash": "md5", "ketama": true, "ketama_weighted": true, "distribution": "consistent weighted",
		"cas": false, "verify_keys": true, "connect_timeout": 1234, "send_timeout": 2000000,
		"receive_timeout": 3000000, "num_replicas": 2, "auto_eject": true, "retry_timeout": 7,
		"remove_failed": true, "failure_limit": 9, "_io_msg_watermark": 400, "_io_bytes_watermark": 65000,
		"_io_key_prefetch": 3, "_hash_with_prefix_key": true, "_noreply": true, "_sort_hosts": true,
		"_poll_timeout": 4321, "_socket_send_size": 65536, "_socket_recv_size": 131072, "dead_timeout": 11,
		"binary_protocol": true, "server_timeout_limit": 4, "randomize_replica_read": true, "tcp_keepidle": 30,
	}
	cases := []map[string]any{}
	for name, v := range values {
		cases = append(cases, map[string]any{name: v})
	}
	all := map[string]any{}
	for k, v := range values {
		all[k] = v
	}
	delete(all, "verify_keys") // libmemcached refuses it with the binary protocol
	cases = append(cases,
		map[string]any{"ketama_weighted": true}, // PHP's OPT_LIBKETAMA_COMPATIBLE, equal weights
		map[string]any{"distribution": "consistent", "hash": "murmur"},
		map[string]any{"distribution": "consistent ketama spy", "hash": "crc"},
		all,
	)
	for i, b := range cases {
		for _, weighted := range []bool{false, true} {
			t.Run(fmt.Sprintf("%d/weighted=%v", i, weighted), func(t *testing.T) {
				specs := servers
				if weighted {
					specs = []string{servers[0] + ":3", servers[1], servers[2] + ":2", servers[3]}
				}
				opts := []Option{WithPoolSize(3), WithNamespace("ns:"), WithBehaviors(b)}
				c, err := New(specs, opts...)
				require.NoError(t, err, "%v", b)
				defer c.Close()
				compareHandles(t, c)
				// And after a change on a live client.
				require.NoError(t, c.SetBehaviors(map[string]any{"hash": "jenkins"}))
				compareHandles(t, c)
			})
		}
	}
}

func compareHandles(t *testing.T, c *Client) {
	t.Helper()
	keys := make([]string, 500)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%d", i)
	}
	require.Empty(t, PooledHandlesDiffer(c, keys))
}
