package libmemcached_test

import (
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// twemproxyHashes maps twemproxy's key hashes to this client's names.
var twemproxyHashes = []struct{ twemproxy, ours string }{
	{"md5", "md5"}, {"fnv1a_64", "fnv1a_64"}, {"fnv1a_32", "fnv1a_32"},
	{"murmur", "murmur"}, {"one_at_a_time", "default"}, {"crc32a", "crc32"},
}

// twemproxyPool is one pool of the test's nutcracker and the recipe of
// docs/sharing.md for it.
type twemproxyPool struct {
	hash, dist, naming string // twemproxy's hash and distribution; unnamed, named by address, named
	behaviors          map[string]any
	specs              []string          // this client's server list for the backends
	ring               []string          // for named servers: the list that places keys (name:11211)
	backendOf          map[string]string // for named servers: ring entry -> backend address
}

// TestTwemproxyFleet shares a twemproxy (nutcracker) fleet: for every
// twemproxy hash and distribution, with unnamed servers, servers named by
// their address and servers named otherwise, keys set through nutcracker
// are found by this client talking to the backends directly, and keys this
// client sets directly are read back through nutcracker.
func TestTwemproxyFleet(t *testing.T) {
	if _, err := exec.LookPath("nutcracker"); err != nil {
		if _, err := exec.LookPath("/usr/sbin/nutcracker"); err != nil {
			t.Skip("nutcracker is not installed (make test installs it): " + err.Error())
		}
	}
	backends := mctest.StartN(t, 4)
	weights := []int{1, 2, 3, 1}
	names := []string{"cache-a", "cache-b", "cache-c", "cache-d"}
	pools := map[string]string{}
	recipes := map[string]twemproxyPool{}
	for _, h := range twemproxyHashes {
		for _, dist := range []string{"ketama", "modula"} {
			for _, naming := range []string{"unnamed", "named by address", "named"} {
				p := twemproxyPool{hash: h.twemproxy, dist: dist, naming: naming, backendOf: map[string]string{}}
				var conf strings.Builder
				fmt.Fprintf(&conf, "  hash: %s\n  distribution: %s\n  timeout: 2000\n  auto_eject_hosts: false\n  servers:\n", h.twemproxy, dist)
				ringNames := make([]string, len(backends)) // each server's name in twemproxy
				for i, b := range backends {
					fmt.Fprintf(&conf, "   - %s:%d", b.Addr, weights[i])
					ringNames[i] = b.Addr
					switch naming {
					case "named by address":
						fmt.Fprintf(&conf, " %s", b.Addr)
					case "named":
						fmt.Fprintf(&conf, " %s", names[i])
						ringNames[i] = names[i]
						p.ring = append(p.ring, fmt.Sprintf("%s:11211:%d", names[i], weights[i]))
						p.backendOf[names[i]+":11211"] = b.Addr
					}
					conf.WriteString("\n")
				}
				// The recipe: ketama is the weighted ring; modula takes the
				// servers in twemproxy's order (by name), a server of weight
				// w w times in a row.
				for _, i := range twemproxyOrder(ringNames) {
					if dist == "ketama" {
						p.specs = append(p.specs, fmt.Sprintf("%s:%d", backends[i].Addr, weights[i]))
						continue
					}
					for j := 0; j < weights[i]; j++ {
						p.specs = append(p.specs, backends[i].Addr)
					}
				}
				if dist == "modula" && naming == "named" {
					p.ring = nil // modula does not hash names
				}
				p.behaviors = map[string]any{"hash": h.ours, "distribution": "consistent weighted"}
				if dist == "modula" {
					p.behaviors["distribution"] = "modula"
				}
				name := fmt.Sprintf("p%d", len(pools))
				pools[name] = conf.String()
				recipes[name] = p
			}
		}
	}
	nc := mctest.StartNutcracker(t, t.TempDir(), pools)

	backendClient := map[string]*mc.Client{}
	for _, b := range backends {
		c, err := mc.New([]string{b.Addr})
		require.NoError(t, err)
		defer c.Close()
		backendClient[b.Addr] = c
	}
	const n = 300
	var table []string
	for name, p := range recipes {
		label := fmt.Sprintf("%s/%s/%s", p.hash, p.dist, p.naming)
		t.Run(label, func(t *testing.T) {
			proxy, err := mc.New([]string{nc.Pools[name]})
			require.NoError(t, err)
			defer proxy.Close()
			direct, err := mc.New(p.specs, mc.WithBehaviors(p.behaviors))
			require.NoError(t, err)
			defer direct.Close()
			// get reads keys straight from the backends: with this client's
			// pool, or, for servers named otherwise than their address, from
			// the backend whose name the ring picks.
			get := func(keys []string) map[string]*mc.Item {
				if p.ring == nil {
					got, err := direct.GetMulti(bg(), keys)
					require.NoError(t, err)
					return got
				}
				ring, err := mc.New(p.ring, mc.WithBehaviors(p.behaviors))
				require.NoError(t, err)
				defer ring.Close()
				got := map[string]*mc.Item{}
				for _, k := range keys {
					s, err := ring.ServerForKey(k)
					require.NoError(t, err)
					it, err := backendClient[p.backendOf[s]].Get(bg(), k)
					if err == nil {
						got[k] = it
					}
				}
				return got
			}
			set := func(keys []string, value string) {
				if p.ring == nil {
					items := make([]*mc.Item, len(keys))
					for i, k := range keys {
						items[i] = &mc.Item{Key: k, Value: []byte(value)}
					}
					require.NoError(t, direct.SetMulti(bg(), items))
					return
				}
				ring, err := mc.New(p.ring, mc.WithBehaviors(p.behaviors))
				require.NoError(t, err)
				defer ring.Close()
				for _, k := range keys {
					s, err := ring.ServerForKey(k)
					require.NoError(t, err)
					require.NoError(t, backendClient[p.backendOf[s]].Set(bg(), &mc.Item{Key: k, Value: []byte(value)}))
				}
			}

			// Through nutcracker, then directly.
			in := make([]string, n)
			for i := range in {
				in[i] = fmt.Sprintf("%s-tw-%d", name, i)
				require.NoError(t, proxy.Set(bg(), &mc.Item{Key: in[i], Value: []byte("via-nutcracker")}), in[i])
			}
			found := 0
			got := get(in)
			for _, k := range in {
				if it := got[k]; it != nil && string(it.Value) == "via-nutcracker" {
					found++
				}
			}
			// Directly, then through nutcracker.
			out := make([]string, n)
			for i := range out {
				out[i] = fmt.Sprintf("%s-go-%d", name, i)
			}
			set(out, "direct")
			back := 0
			for _, k := range out {
				if it, err := proxy.Get(bg(), k); err == nil && string(it.Value) == "direct" {
					back++
				}
			}
			assert.Equal(t, n, found, "keys set through nutcracker found directly")
			assert.Equal(t, n, back, "keys set directly found through nutcracker")
			table = append(table, fmt.Sprintf("%-13s %-7s %-17s nutcracker->direct %d/%d, direct->nutcracker %d/%d",
				p.hash, p.dist, p.naming, found, n, back, n))
		})
	}
	sort.Strings(table)
	t.Logf("twemproxy %s, backends weighing %s:\n%s", nutcrackerVersion(), strings.Trim(strings.Join(strings.Fields(fmt.Sprint(weights)), ","), "[]"),
		strings.Join(table, "\n"))
}

// twemproxyOrder returns the indices of names in the order twemproxy
// sorts its servers (conf_validate_server: by name, shorter names first,
// then byte by byte), which its modula distribution counts in.
func twemproxyOrder(names []string) []int {
	idx := make([]int, len(names))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := names[idx[a]], names[idx[b]]
		if len(x) != len(y) {
			return len(x) < len(y)
		}
		return x < y
	})
	return idx
}

// nutcrackerVersion is what nutcracker -V says.
func nutcrackerVersion() string {
	out, _ := exec.Command("nutcracker", "-V").CombinedOutput()
	f := strings.Fields(string(out))
	for _, s := range f {
		if strings.HasPrefix(s, "nutcracker-") {
			return s
		}
	}
	return strconv.Quote(strings.TrimSpace(string(out)))
}
