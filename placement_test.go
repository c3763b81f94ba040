package libmemcached_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// TestHashGoldenVectors compares Client.Hash and HashKey with vectors that
// testdata/hashgen/hashgen.c produced from libmemcached's own
// memcached_generate_hash_value (make hash-vectors).
func TestHashGoldenVectors(t *testing.T) {
	f, err := os.Open("testdata/hash_vectors.tsv")
	require.NoError(t, err)
	defer f.Close()
	clients := map[string]*mc.Client{}
	client := func(name string) *mc.Client {
		if c, ok := clients[name]; ok {
			return c
		}
		c, err := mc.New([]string{"127.0.0.1:1"}, mc.WithBehaviors(map[string]any{"hash": name}))
		if err != nil {
			require.ErrorIs(t, err, mc.ErrNotSupported, "hash %s", name)
			c = nil
		} else {
			t.Cleanup(func() { c.Close() })
		}
		clients[name] = c
		return c
	}
	hashes := map[string]mc.Hash{
		"default": mc.HashDefault, "md5": mc.HashMD5, "crc": mc.HashCRC, "fnv1_64": mc.HashFNV164,
		"fnv1a_64": mc.HashFNV1a64, "fnv1_32": mc.HashFNV132, "fnv1a_32": mc.HashFNV1a32, "hsieh": mc.HashHsieh,
		"murmur": mc.HashMurmur, "jenkins": mc.HashJenkins, "murmur3": mc.HashMurmur3,
	}
	rows, viaClient := 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		require.Len(t, fields, 3)
		key, err := hex.DecodeString(fields[0])
		require.NoError(t, err)
		want, err := strconv.ParseUint(fields[2], 10, 32)
		require.NoError(t, err)
		h, ok := hashes[fields[1]]
		require.True(t, ok, fields[1])
		assert.Equal(t, uint32(want), mc.HashKey(string(key), h), "HashKey(%q, %s)", key, fields[1])
		if c := client(fields[1]); c != nil {
			assert.Equal(t, uint32(want), c.Hash(string(key)), "Client.Hash(%q) with hash %s", key, fields[1])
			viaClient++
		}
		rows++
	}
	require.NoError(t, sc.Err())
	assert.Greater(t, rows, 2000)
	assert.Nil(t, clients["hsieh"], "Debian's libmemcached refuses hsieh")
	t.Logf("%d golden vectors checked (%d through Client.Hash)", rows, viaClient)
}

// placementKeys returns n keys, some of them UTF-8.
func placementKeys(prefix string, n int) []string {
	keys := make([]string, n)
	for i := range keys {
		if i%10 == 0 {
			keys[i] = fmt.Sprintf("%sключ-%d", prefix, i)
		} else {
			keys[i] = fmt.Sprintf("%skey-%d", prefix, i)
		}
	}
	return keys
}

// holders asks each server directly (a single-server client, no placement
// involved) which of keys it holds.
func holders(t *testing.T, servers []*mctest.Server, keys []string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range servers {
		c, err := mc.New([]string{s.Addr})
		require.NoError(t, err)
		got, err := c.GetMulti(bg(), keys)
		require.NoError(t, err)
		for k := range got {
			require.NotContains(t, out, k, "key %s on two servers", k)
			out[k] = s.Addr
		}
		c.Close()
	}
	return out
}

// weightedSpecs gives server i the weight i+1.
func weightedSpecs(servers []*mctest.Server) []string {
	specs := make([]string, len(servers))
	for i, s := range servers {
		specs[i] = fmt.Sprintf("%s:%d", s.Addr, i+1)
	}
	return specs
}

// TestDistributionPlacement checks, on 4 real servers, that ServerForKey
// names the server where a value written by the client actually lands.
func TestDistributionPlacement(t *testing.T) {
	servers := mctest.StartN(t, 4)
	cases := []struct {
		name      string
		behaviors map[string]any
		weighted  bool
	}{
		{"modula", map[string]any{"distribution": "modula"}, false},
		{"consistent", map[string]any{"distribution": "consistent"}, false},
		{"consistent ketama", map[string]any{"distribution": "consistent ketama"}, false},
		{"ketama", map[string]any{"ketama": true, "hash": "fnv1a_32"}, false},
		{"ketama_weighted", map[string]any{"ketama_weighted": true}, true},
		{"consistent weighted", map[string]any{"distribution": "consistent weighted", "hash": "fnv1a_32"}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			specs := mctest.Addrs(servers)
			if tc.weighted {
				specs = weightedSpecs(servers)
			}
			c, err := mc.New(specs, mc.WithBehaviors(tc.behaviors))
			require.NoError(t, err)
			defer c.Close()
			keys := placementKeys(fmt.Sprintf("d%d-", i), 1000)
			for _, k := range keys {
				require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("go")}))
			}
			where := holders(t, servers, keys)
			perServer := map[string]int{}
			agree := 0
			for _, k := range keys {
				s, err := c.ServerForKey(k)
				require.NoError(t, err)
				if assert.Equal(t, where[k], s, "key %s", k) {
					agree++
				}
				perServer[s]++
			}
			assert.Len(t, perServer, 4, "keys spread over all 4 servers")
			t.Logf("%s: %d/%d keys where ServerForKey says; per server %v", tc.name, agree, len(keys), perServer)
		})
	}
}

// pylibmc runs testdata/pylibmc_peer.py with Debian's python3-pylibmc.
func pylibmc(t *testing.T, req any, resp any) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("python3-pylibmc is not installed (make test installs it): " + err.Error())
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import pylibmc").Run(); err != nil {
		t.Skip("python3-pylibmc is not installed (make test installs it): " + err.Error())
	}
	in, err := json.Marshal(req)
	require.NoError(t, err)
	cmd := exec.Command("/usr/bin/python3", "testdata/pylibmc_peer.py")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "pylibmc peer: %s", stderr.String())
	require.NoError(t, json.Unmarshal(out, resp))
}

// TestPlacementMatchesPylibmc writes keys through pylibmc, finds where
// they landed by asking each server, and checks that ServerForKey of a Go
// client with the same servers and behaviors names the same server, for
// every hash x distribution combination both accept.
func TestPlacementMatchesPylibmc(t *testing.T) {
	servers := mctest.StartN(t, 4)
	plain, weighted := mctest.Addrs(servers), weightedSpecs(servers)
	type combo struct {
		name      string
		specs     []string
		behaviors map[string]any
		keys      []string
	}
	var combos []combo
	hashes := []string{"default", "md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "jenkins"}
	dists := []string{"modula", "consistent", "consistent ketama", "consistent ketama spy", "consistent weighted"}
	for _, h := range hashes {
		for _, d := range dists {
			specs := plain
			if d == "consistent weighted" {
				specs = weighted
			}
			combos = append(combos, combo{name: h + "/" + d, specs: specs,
				behaviors: map[string]any{"hash": h, "distribution": d}})
		}
		combos = append(combos, combo{name: h + "/ketama", specs: plain, behaviors: map[string]any{"hash": h, "ketama": true}})
	}
	combos = append(combos,
		combo{name: "ketama_weighted", specs: weighted, behaviors: map[string]any{"ketama_weighted": true}},
		combo{name: "ketama+ketama_hash md5", specs: plain, behaviors: map[string]any{"ketama": true, "ketama_hash": "md5"}},
		combo{name: "consistent+ketama_hash fnv1a_32", specs: plain, behaviors: map[string]any{"distribution": "consistent ketama", "ketama_hash": "fnv1a_32", "hash": "fnv1a_32"}},
		combo{name: "modula sorted hosts", specs: []string{plain[2], plain[0], plain[3], plain[1]}, behaviors: map[string]any{"_sort_hosts": true}},
	)
	// pylibmc gets one client per distinct server list; group by spec list.
	type group struct {
		specs  []string
		combos []int
	}
	groups := map[string]*group{}
	for i := range combos {
		combos[i].keys = placementKeys(fmt.Sprintf("p%d-", i), 1000)
		id := strings.Join(combos[i].specs, ",")
		if groups[id] == nil {
			groups[id] = &group{specs: combos[i].specs}
		}
		groups[id].combos = append(groups[id].combos, i)
	}
	total, agreeAll := 0, 0
	for _, g := range groups {
		type reqCombo struct {
			Behaviors map[string]any `json:"behaviors"`
			Keys      []string       `json:"keys"`
		}
		req := struct {
			Op      string     `json:"op"`
			Servers []string   `json:"servers"`
			Combos  []reqCombo `json:"combos"`
		}{Op: "place", Servers: g.specs}
		for _, i := range g.combos {
			req.Combos = append(req.Combos, reqCombo{combos[i].behaviors, combos[i].keys})
		}
		var resp []struct {
			Behaviors map[string]any `json:"behaviors"`
			Failed    []string       `json:"failed"`
		}
		pylibmc(t, req, &resp)
		require.Len(t, resp, len(g.combos))
		for j, i := range g.combos {
			cb := combos[i]
			require.Empty(t, resp[j].Failed, "%s: pylibmc failed to set", cb.name)
			c, err := mc.New(cb.specs, mc.WithBehaviors(cb.behaviors))
			require.NoError(t, err, cb.name)
			where := holders(t, servers, cb.keys)
			agree := 0
			for _, k := range cb.keys {
				s, err := c.ServerForKey(k)
				require.NoError(t, err)
				if s == where[k] {
					agree++
				}
			}
			assert.Equal(t, len(cb.keys), agree, "%s: Go and pylibmc place keys alike", cb.name)
			total += len(cb.keys)
			agreeAll += agree
			compareBehaviors(t, cb.name, c, resp[j].Behaviors)
			c.Close()
		}
	}
	t.Logf("placement agreement with pylibmc: %d/%d keys over %d combinations", agreeAll, total, len(combos))
}

// compareBehaviors checks that the Go client reads back the same behaviors
// as pylibmc does. Excluded: pickle_protocol (pylibmc's own), and the
// socket buffer sizes, which pylibmc reads by opening a socket (the Go
// client reports the setting, 0 for the system default, without connecting).
func compareBehaviors(t *testing.T, name string, c *mc.Client, py map[string]any) {
	t.Helper()
	ours, err := c.Behaviors()
	require.NoError(t, err)
	theirs := map[string]string{}
	mine := map[string]string{}
	for k, v := range py {
		switch k {
		case "pickle_protocol", "_socket_send_size", "_socket_recv_size", "tcp_nodelay", "cas":
			continue // the last two: this client's defaults differ from pylibmc's
		}
		if f, ok := v.(float64); ok {
			v = strconv.FormatFloat(f, 'f', -1, 64)
		}
		theirs[k] = fmt.Sprint(v)
		o := ours[k]
		if k == "ketama_hash" { // pylibmc reports this one as a number
			o = int(hashByName(o.(string)))
		}
		mine[k] = fmt.Sprint(o)
	}
	if diff := cmp.Diff(theirs, mine); diff != "" {
		t.Errorf("%s: behaviors differ from pylibmc's (-pylibmc +go):\n%s", name, diff)
	}
}

func hashByName(name string) mc.Hash {
	for h := mc.HashDefault; h < mc.HashMax; h++ {
		if h.Name() == name {
			return h
		}
	}
	return -1
}
