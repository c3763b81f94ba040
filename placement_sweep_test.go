package libmemcached_test

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// The placement sweep: every distribution x hash x equal/unequal weights
// x 10 and 100 servers, configured every way a client can be (New with
// WithBehaviors, New then SetBehaviors, NewFromConfig with the behaviors
// before or after the servers), must put every key on the server PHP
// Memcached and pylibmc put it on, configured the same way (options
// before servers). Then, on each client, every call that copies,
// rebuilds or reconfigures a handle (SetBehaviors and SetBehavior of
// behaviors that do not decide placement, DisconnectAll, the pooled
// clones and their reconnects, a server's ejection and return) must leave
// every behavior as it was (plus what was asked) and every key where PHP
// puts it. Placement only: nothing connects (the servers are RFC 5737
// documentation addresses), and each peer runs once for all
// configurations.

// sweepServer is one server of a placement-only list.
type sweepServer struct {
	host   string
	port   int
	weight int
}

// sweepServers returns n servers, a third of them on port 11211 (whose
// continuum points libmemcached names without the port), with weights 1
// or 1 to 5.
func sweepServers(n int, weighted bool) []sweepServer {
	out := make([]sweepServer, n)
	for i := range out {
		s := sweepServer{host: fmt.Sprintf("192.0.2.%d", i+1), port: 11211, weight: 1}
		if i%3 != 0 {
			s.port = 20000 + i
		}
		if weighted {
			s.weight = 1 + i%5
		}
		out[i] = s
	}
	return out
}

func (s sweepServer) addr() string { return s.host + ":" + strconv.Itoa(s.port) }

// sweepConfig is one placement configuration.
type sweepConfig struct {
	dist     string // a distribution name, or "ketama" / "ketama_weighted" (the flags)
	hash     string
	weighted bool
	n        int
}

func (sc sweepConfig) String() string {
	return fmt.Sprintf("%s/%s/weighted=%v/%d servers", sc.dist, sc.hash, sc.weighted, sc.n)
}

func (sc sweepConfig) behaviors() map[string]any {
	switch sc.dist {
	case "ketama", "ketama_weighted":
		return map[string]any{"hash": sc.hash, sc.dist: true}
	}
	return map[string]any{"hash": sc.hash, "distribution": sc.dist}
}

func (sc sweepConfig) specs(servers []sweepServer) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = fmt.Sprintf("%s:%d", s.addr(), s.weight)
	}
	return out
}

// config is the configuration string for NewFromConfig, the behaviors
// before the servers or after them ("" when a configuration string cannot
// say the distribution).
func (sc sweepConfig) config(servers []sweepServer, behaviorsFirst bool) string {
	if sc.dist != "modula" && sc.dist != "consistent" || sc.hash == "murmur3" { // not in its grammar
		return ""
	}
	var srv []string
	for _, s := range servers {
		srv = append(srv, fmt.Sprintf("--SERVER=%s/?%d", s.addr(), s.weight))
	}
	b := []string{"--DISTRIBUTION=" + sc.dist}
	if sc.hash != "default" {
		b = append(b, "--HASH="+strings.ToUpper(sc.hash))
	}
	if behaviorsFirst {
		return strings.Join(append(b, srv...), " ")
	}
	return strings.Join(append(srv, b...), " ")
}

// sweepTally counts agreeing keys per class of configuration.
type sweepTally struct {
	mu sync.Mutex
	n  map[string][2]int // class -> agree, total
}

func (st *sweepTally) add(class string, agree, total int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	c := st.n[class]
	st.n[class] = [2]int{c[0] + agree, c[1] + total}
}

func (st *sweepTally) log(t *testing.T) {
	classes := make([]string, 0, len(st.n))
	for c := range st.n {
		classes = append(classes, c)
	}
	sort.Strings(classes)
	for _, c := range classes {
		t.Logf("%-58s %7d/%d keys agree", c, st.n[c][0], st.n[c][1])
	}
}

// unrelatedBehaviors are behaviors that do not decide placement (auto_eject
// among them: it matters only once a server is ejected).
var unrelatedBehaviors = map[string]any{"tcp_keepalive": true, "connect_timeout": 1500, "auto_eject": true,
	"retry_timeout": 30, "_poll_timeout": 2500, "_io_key_prefetch": 7}

func TestPlacementSweep(t *testing.T) {
	dists := []string{"modula", "consistent", "consistent ketama", "consistent ketama spy", "consistent weighted", "ketama", "ketama_weighted"}
	hashes := []string{"default", "md5", "crc", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "murmur", "jenkins"}
	if !libmemcached10() { // 1.0.18 refuses murmur3 (behaviors_test.go); pylibmc has no name for it
		hashes = append(hashes, "murmur3")
	}
	var configs []sweepConfig
	for _, n := range []int{10, 100} {
		for _, weighted := range []bool{false, true} {
			for _, d := range dists {
				for _, h := range hashes {
					configs = append(configs, sweepConfig{d, h, weighted, n})
				}
			}
		}
	}
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = fmt.Sprintf("sweep:%d:%x", i, i*7919)
	}

	// The peers: PHP for every configuration, and for the 10-server ones
	// also without server 0 (a consistent distribution's ring while server
	// 0 is ejected); pylibmc for every configuration it can express.
	type phpCombo struct {
		Servers [][3]any `json:"servers"`
		Options [][2]any `json:"options"`
		AtOnce  bool     `json:"at_once"` // addServers (memcached_server_push), else addServer each
	}
	phpReq := struct {
		Op     string     `json:"op"`
		Keys   []string   `json:"keys"`
		Combos []phpCombo `json:"combos"`
	}{Op: "where", Keys: keys}
	phpCombos := func(sc sweepConfig, servers []sweepServer) phpCombo {
		// 100 servers added one by one build the ring 100 times: PHP adds
		// those at once (one build), the 10 one by one (both ways PHP code
		// adds servers, placing keys alike). On libmemcached 1.0.18,
		// weighted servers added one by one under a consistent
		// distribution overflow its continuum (checkConfig) and corrupt
		// the peer's heap: PHP adds those at once there too.
		atOnce := sc.n > 10 || libmemcached10() && sc.weighted
		pc := phpCombo{Options: landingConfig{behaviors: sc.behaviors()}.phpOptions(t), AtOnce: atOnce}
		for _, s := range servers {
			pc.Servers = append(pc.Servers, [3]any{s.host, s.port, s.weight})
		}
		return pc
	}
	type pyCombo struct {
		Servers   []string       `json:"servers"`
		Behaviors map[string]any `json:"behaviors"`
		AtOnce    bool           `json:"at_once"` // one server list pushed, else one server added at a time
	}
	pyReq := struct {
		Op     string    `json:"op"`
		Keys   []string  `json:"keys"`
		Combos []pyCombo `json:"combos"`
	}{Op: "where", Keys: keys}
	phpAt, phpEjectAt, pyAt := map[int]int{}, map[int]int{}, map[int]int{}
	for i, sc := range configs {
		servers := sweepServers(sc.n, sc.weighted)
		phpAt[i] = len(phpReq.Combos)
		phpReq.Combos = append(phpReq.Combos, phpCombos(sc, servers))
		if sc.n == 10 {
			phpEjectAt[i] = len(phpReq.Combos)
			phpReq.Combos = append(phpReq.Combos, phpCombos(sc, servers[1:]))
		}
		if sc.hash != "murmur3" {
			pyAt[i] = len(pyReq.Combos)
			// Pushed at once where PHP adds them at once (phpCombos).
			atOnce := sc.n > 10 || libmemcached10() && sc.weighted
			pyReq.Combos = append(pyReq.Combos, pyCombo{sc.specs(servers), sc.behaviors(), atOnce})
		}
	}
	var php [][]int
	var py []struct {
		Where     []int             `json:"where"`
		Behaviors map[string]uint64 `json:"behaviors"`
	}
	needPHP(t)
	start := time.Now()
	var phpErr error
	done := make(chan struct{})
	go func() { // the two peers at once
		defer close(done)
		phpErr = phpPeerTry(phpReq, &php)
	}()
	pylibmc(t, pyReq, &py)
	<-done
	require.NoError(t, phpErr)
	require.Len(t, php, len(phpReq.Combos))
	require.Len(t, py, len(pyReq.Combos))
	t.Logf("PHP Memcached and pylibmc placed the keys in %v", time.Since(start).Round(time.Millisecond))

	tally := &sweepTally{n: map[string][2]int{}}
	t.Run("configs", func(t *testing.T) {
		for i, sc := range configs {
			t.Run(sc.String(), func(t *testing.T) {
				t.Parallel()
				var pyWhere []int
				var pyBehaviors map[string]uint64
				if j, ok := pyAt[i]; ok {
					pyWhere, pyBehaviors = py[j].Where, py[j].Behaviors
				}
				var ejected []int
				if j, ok := phpEjectAt[i]; ok {
					ejected = php[j]
				}
				sweepOne(t, tally, sc, keys, php[phpAt[i]], ejected, pyWhere, pyBehaviors)
			})
		}
	})
	t.Logf("placement sweep: %d configurations x %d keys", len(configs), len(keys))
	tally.log(t)
}

// sweepOne checks one configuration every way and along every path.
// php[k] and py[k] are the index of key k's server at PHP and pylibmc (py
// nil: pylibmc cannot say the hash); ejected[k] is PHP's without server 0.
func sweepOne(t *testing.T, tally *sweepTally, sc sweepConfig, keys []string, php, ejected, py []int, pyBehaviors map[string]uint64) {
	servers := sweepServers(sc.n, sc.weighted)
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.addr()
	}
	weights := "equal weights"
	if sc.weighted {
		weights = "weights 1-5"
	}
	// agree counts, for each reference (an index into servers per key,
	// shifted by skip), the keys c puts on the server it names, and tallies
	// them under class+name.
	type ref struct {
		name  string
		where []int
		skip  int
	}
	agree := func(c *mc.Client, class string, refs ...ref) []int {
		got := make([]string, len(keys))
		for i, k := range keys {
			s, err := c.ServerForKey(k)
			if err != nil {
				t.Fatalf("%s: ServerForKey(%s): %v", sc, k, err)
			}
			got[i] = s
		}
		var out []int
		for _, r := range refs {
			if r.where == nil {
				continue
			}
			n := 0
			for i := range keys {
				if r.where[i] >= 0 && got[i] == addrs[r.where[i]+r.skip] {
					n++
				}
			}
			tally.add(fmt.Sprintf("%s%s, %d servers, %s", class, r.name, sc.n, weights), n, len(keys))
			out = append(out, n)
		}
		return out
	}
	everyKey := func(n int) []int {
		if py == nil {
			return []int{n}
		}
		return []int{n, n}
	}
	placement := func(c *mc.Client, way string) map[string]any {
		assert.Equal(t, everyKey(len(keys)), agree(c, way, ref{" vs PHP", php, 0}, ref{" vs pylibmc", py, 0}),
			"%s, %s: keys where PHP and pylibmc put them", sc, way)
		b, err := c.Behaviors()
		require.NoError(t, err)
		return b
	}

	// Every way of configuring the client.
	a, err := mc.New(sc.specs(servers), mc.WithBehaviors(sc.behaviors()), mc.WithPoolSize(2))
	require.NoError(t, err, sc.String())
	defer a.Close()
	want := placement(a, "New+WithBehaviors")
	for name, n := range pyBehaviors {
		got := want[name]
		if s, ok := got.(string); ok {
			if name == "distribution" {
				got = distributionNumber(s)
			} else {
				got = uint64(hashByName(s))
			}
		}
		if name == "ketama_hash" && libmemcached10() {
			continue // 1.0.18 reads it wrongly (compareBehaviors)
		}
		assert.EqualValues(t, n, got, "%s: behavior %s differs from pylibmc's", sc, name)
	}
	b, err := mc.New(sc.specs(servers))
	require.NoError(t, err)
	require.NoError(t, b.SetBehaviors(sc.behaviors()))
	if diff := cmp.Diff(want, placement(b, "New+SetBehaviors")); diff != "" {
		t.Errorf("%s: New then SetBehaviors reads other behaviors (-WithBehaviors +SetBehaviors):\n%s", sc, diff)
	}
	b.Close()
	for _, first := range []bool{true, false} {
		cfg := sc.config(servers, first)
		if cfg == "" {
			continue
		}
		way := "NewFromConfig, servers first"
		if first {
			way = "NewFromConfig, behaviors first"
		}
		c, err := mc.NewFromConfig(cfg)
		if first && libmemcached10() && sc.weighted && sc.dist == "consistent" {
			require.ErrorIs(t, err, mc.ErrNotSupported, "libmemcached 1.0.18's parser would overflow its continuum: %s", cfg)
			continue
		}
		require.NoError(t, err, cfg)
		if diff := cmp.Diff(want, placement(c, way)); diff != "" {
			t.Errorf("%s: %s reads other behaviors (-New +NewFromConfig):\n%s", sc, way, diff)
		}
		c.Close()
	}

	// Every path that copies, rebuilds or reconfigures a handle, on a.
	check := func(path string) {
		t.Helper()
		got, err := a.Behaviors()
		require.NoError(t, err)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: after %s the behaviors changed (-want +got):\n%s", sc, path, diff)
		}
		assert.Equal(t, []int{len(keys)}, agree(a, "after "+path, ref{"", php, 0}), "%s: after %s, keys where PHP puts them", sc, path)
		assert.Empty(t, mc.PooledHandlesDiffer(a, keys[:200]), "%s: after %s, the pooled handles", sc, path)
	}
	check("New")
	require.NoError(t, a.SetBehaviors(unrelatedBehaviors))
	maps.Copy(want, map[string]any{"tcp_keepalive": uint64(1), "connect_timeout": uint64(1500), "auto_eject": uint64(1),
		"remove_failed": uint64(1), "retry_timeout": uint64(30), "_poll_timeout": uint64(2500), "_io_key_prefetch": uint64(7)})
	check("SetBehaviors of behaviors that do not decide placement")
	require.NoError(t, a.SetBehavior(mc.BehaviorTCPNoDelay, 0))
	want["tcp_nodelay"] = uint64(0)
	check("SetBehavior(tcp_nodelay)")
	require.NoError(t, a.DisconnectAll())
	check("DisconnectAll")
	if ejected != nil {
		mc.EjectServer(a, 0)
		expect, skip := ejected, 1
		if sc.dist == "modula" {
			expect, skip = php, 0 // modula does not skip an ejected server
		}
		assert.Equal(t, []int{len(keys)}, agree(a, "while server 0 is ejected", ref{"", expect, skip}), "%s: server 0 ejected", sc)
		assert.Empty(t, mc.PooledHandlesDiffer(a, keys[:200]), "%s: server 0 ejected, the pooled handles", sc)
		require.NoError(t, mc.ReturnServer(a, 0))
		check("the return of an ejected server")
	}
}

// distributionNumber is the value of a distribution by pylibmc name.
func distributionNumber(name string) uint64 {
	for d := mc.DistributionModula; d < mc.DistributionConsistentMax; d++ {
		if d.Name() == name {
			return uint64(d)
		}
	}
	return 1 << 63
}

// TestWeightedContinuumHeap: every way of giving a client weighted servers
// under a consistent distribution stays inside the heap blocks
// libmemcached allocated. libmemcached 1.0.18 sizes its continuum for 100
// points a server and builds 160 once weighted ketama is turned on (by a
// weighted server added under a consistent distribution, by a weighted
// configuration set after the servers, or by golibmc_settle), writing past
// the end of the block; 1.1.0 fixed it. The paths run in a child process
// with glibc's heap checks on (MALLOC_CHECK_=3, and on glibc 2.34 or later
// the libc_malloc_debug.so.0 that provides them), which aborts at the
// first corrupted block it frees or reallocates. Under -asan, whose
// allocator replaces glibc's, the child runs the paths without them.
func TestWeightedContinuumHeap(t *testing.T) {
	if os.Getenv("GOLIBMC_HEAP_CHILD") == "1" {
		weightedContinuumPaths(t)
		return
	}
	env := append(os.Environ(), "GOLIBMC_HEAP_CHILD=1", "MALLOC_CHECK_=3")
	if libs, _ := filepath.Glob("/lib/*/libc_malloc_debug.so.0"); len(libs) > 0 && !builtWithASan {
		env = append(env, "LD_PRELOAD="+libs[0])
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWeightedContinuumHeap$", "-test.count=1", "-test.v")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if len(out) > 4000 {
		out = append(out[:4000:4000], "..."...)
	}
	require.NoError(t, err, "the child process:\n%s", out)
	assert.Contains(t, string(out), "--- PASS: TestWeightedContinuumHeap", "the child process:\n%s", out)
}

// builtWithASan is true in a test binary built with -asan (asan_test.go).
var builtWithASan bool

// weightedContinuumPaths configures clients with weighted servers under a
// consistent distribution every way a client can be, 10 and 100 servers,
// and places keys on each through the master and the pooled handles.
func weightedContinuumPaths(t *testing.T) {
	keys := placementKeys("heap-", 200)
	for _, n := range []int{10, 100} {
		servers := sweepServers(n, true)
		sc := sweepConfig{dist: "consistent", hash: "default", weighted: true, n: n}
		var clients []*mc.Client
		for _, first := range []bool{true, false} {
			c, err := mc.NewFromConfig(sc.config(servers, first), mc.WithPoolSize(2))
			if first && libmemcached10() {
				// libmemcached's own parser overflows there (checkConfig).
				require.ErrorIs(t, err, mc.ErrNotSupported)
				assert.Contains(t, err.Error(), "give --DISTRIBUTION after the servers")
				continue
			}
			require.NoError(t, err)
			clients = append(clients, c)
		}
		a, err := mc.New(sc.specs(servers), mc.WithBehaviors(sc.behaviors()), mc.WithPoolSize(2))
		require.NoError(t, err)
		require.NoError(t, a.SetBehaviors(map[string]any{"distribution": "consistent"}))
		clients = append(clients, a)
		b, err := mc.New(sc.specs(servers), mc.WithPoolSize(2))
		require.NoError(t, err)
		require.NoError(t, b.SetBehaviors(sc.behaviors()))
		require.NoError(t, b.SetBehaviors(map[string]any{"distribution": "consistent", "ketama_weighted": true}))
		clients = append(clients, b)
		for _, c := range clients {
			for _, k := range keys {
				_, err := c.ServerForKey(k)
				require.NoError(t, err)
			}
			assert.Empty(t, mc.PooledHandlesDiffer(c, keys))
			mc.EjectServer(c, 0)
			assert.Empty(t, mc.PooledHandlesDiffer(c, keys))
			require.NoError(t, mc.ReturnServer(c, 0))
			c.Close()
		}
	}
}
