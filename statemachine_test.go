package libmemcached_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// The state-machine test: seeded random sequences of every operation,
// each checked against an in-memory model of memcached's semantics, and
// every few hundred steps the model is checked against what the servers
// hold, read over raw sockets around the client. Goroutines own disjoint
// keys, so each one's model stays exact while they run at once.
//
// GOLIBMC_SM_STEPS sets the steps per configuration (make soak raises it);
// GOLIBMC_SM_SEED replays one seed.

// smItemSize is the servers' -I: values over it are cheap to send.
const smItemSize = 64 << 10

// smItem is what the model knows of one key.
type smItem struct {
	value string
	flags uint32
}

// smModel is one goroutine's view of its keys.
type smModel struct {
	items map[string]smItem
	cas   map[string]uint64 // CasID last read, while no write since
}

func (m *smModel) write(k string, it smItem) {
	m.items[k] = it
	delete(m.cas, k)
}

func (m *smModel) remove(k string) {
	delete(m.items, k)
	delete(m.cas, k)
}

// smRun is one goroutine's run: its keys, model and random source.
type smRun struct {
	t       *testing.T
	c       *mc.Client
	cfg     string
	seed    int64
	step    int
	rng     *rand.Rand
	keys    []string
	m       smModel
	servers []*mctest.Server
	ns      string
	placed  map[string]string // each key's server when the run began
	hist    []string          // the last operations, printed on a failure
}

func (r *smRun) failf(format string, args ...any) {
	r.t.Helper()
	r.t.Errorf("state machine (%s) seed %d step %d: %s\nlast steps:\n  %s\nreplay: GOLIBMC_SM_SEED=%d go test -run 'TestStateMachine' .",
		r.cfg, r.seed, r.step, fmt.Sprintf(format, args...), strings.Join(r.hist, "\n  "), r.seed)
	runtime.Goexit() // this goroutine's run ends; the test is marked failed
}

// expect checks err against the sentinel the model predicts (nil: success).
func (r *smRun) expect(op string, err, want error) {
	r.t.Helper()
	if want == nil {
		if err != nil {
			r.failf("%s: want success, got %v", op, err)
		}
		return
	}
	if !errors.Is(err, want) {
		r.failf("%s: want %v, got %v", op, want, err)
	}
}

func (r *smRun) key() string { return r.keys[r.rng.Intn(len(r.keys))] }

// value returns a printable value (so raw reads parse it), sometimes one
// over the item size, sometimes a number.
func (r *smRun) value() string {
	switch n := r.rng.Intn(100); {
	case n < 2:
		return strings.Repeat("X", smItemSize+r.rng.Intn(1000))
	case n < 20:
		return strconv.FormatUint(r.rng.Uint64()>>uint(r.rng.Intn(64)), 10)
	case n < 23:
		return "18446744073709551615"
	default:
		return fmt.Sprintf("v%d-%s", r.step, strings.Repeat("x", r.rng.Intn(40)))
	}
}

func tooBig(v string) bool { return len(v) > smItemSize-512 }

// counter parses a value as memcached's incr does (safe_strtoull):
// strtoull's leading blanks and sign and digits, which must end the value
// or be followed by a blank (anything may follow that); a value with a
// minus sign that reads as negative is refused.
func counter(v string) (uint64, bool) {
	s := strings.TrimLeft(v, " \t\n\v\f\r")
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	end := len(s) - len(strings.TrimLeft(s, "0123456789"))
	digits, rest := s[:end], s[end:]
	if digits == "" || rest != "" && !strings.ContainsRune(" \t\n\v\f\r", rune(rest[0])) {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, false
	}
	if neg {
		n = -n
		if int64(n) < 0 {
			return 0, false
		}
	}
	return n, true
}

func (r *smRun) one() {
	ctx := context.Background()
	if r.rng.Intn(4) == 0 {
		// A deadline that never passes, but decides which call of a batch
		// leads it (the one with the latest deadline, or none).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(30+r.rng.Intn(30))*time.Second)
		defer cancel()
	}
	k := r.key()
	cur, have := r.m.items[k]
	op := r.rng.Intn(22)
	if r.rng.Intn(50) == 0 {
		op = 22 // every connection is made again after it: rarer
	}
	if len(r.hist) == 12 {
		r.hist = r.hist[1:]
	}
	r.hist = append(r.hist, fmt.Sprintf("step %d: op %d on %s (model: present %v, %q)", r.step, op, k, have, trunc([]byte(cur.value))))
	switch op {
	case 0, 1, 2: // Get
		it, err := r.c.Get(ctx, k)
		if !have {
			r.expect("Get "+k, err, mc.ErrCacheMiss)
			return
		}
		r.expect("Get "+k, err, nil)
		if it.Key != k || string(it.Value) != cur.value || it.Flags != cur.flags {
			r.failf("Get %s: got %q/%d, model %q/%d", k, trunc(it.Value), it.Flags, trunc([]byte(cur.value)), cur.flags)
		}
		if it.CasID == 0 {
			r.failf("Get %s: CasID 0 with cas on", k)
		}
		r.m.cas[k] = it.CasID
	case 3: // GetMulti with duplicates, misses and another goroutine's miss
		keys := []string{k, r.key(), k, "sm-absent-" + strconv.Itoa(r.step)}
		got, err := r.c.GetMulti(ctx, keys)
		r.expect("GetMulti", err, nil)
		want := map[string]smItem{}
		for _, kk := range keys {
			if it, ok := r.m.items[kk]; ok {
				want[kk] = it
			}
		}
		if len(got) != len(want) {
			r.failf("GetMulti %v: got %d items, model %d", keys, len(got), len(want))
		}
		for kk, w := range want {
			it := got[kk]
			if it == nil || it.Key != kk || string(it.Value) != w.value || it.Flags != w.flags {
				r.failf("GetMulti %s: got %v, model %q", kk, it, trunc([]byte(w.value)))
			}
			r.m.cas[kk] = it.CasID
		}
	case 4, 5: // Set
		v, f := r.value(), r.rng.Uint32()
		err := r.c.Set(ctx, &mc.Item{Key: k, Value: []byte(v), Flags: f})
		if tooBig(v) {
			r.expect("Set "+k+" (too big)", err, mc.ErrTooLarge)
			r.m.remove(k) // memcached unlinks the old item when a set fails
			return
		}
		r.expect("Set "+k, err, nil)
		r.m.write(k, smItem{v, f})
	case 6: // Add
		v, f := r.value(), r.rng.Uint32()
		err := r.c.Add(ctx, &mc.Item{Key: k, Value: []byte(v), Flags: f})
		switch { // memcached allocates (and finds the value too large) first
		case tooBig(v):
			r.expect("Add "+k+" (too big)", err, mc.ErrTooLarge)
		case have:
			r.expect("Add "+k+" (present)", err, mc.ErrNotStored)
		default:
			r.expect("Add "+k, err, nil)
			r.m.write(k, smItem{v, f})
		}
	case 7: // Replace
		v, f := r.value(), r.rng.Uint32()
		err := r.c.Replace(ctx, &mc.Item{Key: k, Value: []byte(v), Flags: f})
		switch {
		case tooBig(v):
			r.expect("Replace "+k+" (too big)", err, mc.ErrTooLarge)
		case !have:
			r.expect("Replace "+k+" (absent)", err, mc.ErrNotStored)
		default:
			r.expect("Replace "+k, err, nil)
			r.m.write(k, smItem{v, f})
		}
	case 8, 9: // Append, Prepend
		add := fmt.Sprintf("+%d", r.step)
		var err error
		if op == 8 {
			err = r.c.Append(ctx, &mc.Item{Key: k, Value: []byte(add)})
		} else {
			err = r.c.Prepend(ctx, &mc.Item{Key: k, Value: []byte(add)})
		}
		name := []string{"Append", "Prepend"}[op-8] + " " + k
		switch {
		case !have:
			r.expect(name+" (absent)", err, mc.ErrNotStored)
		case tooBig(cur.value + add):
			if err == nil {
				r.failf("%s: over the item size, stored", name)
			}
		default:
			r.expect(name, err, nil)
			if op == 8 {
				r.m.write(k, smItem{cur.value + add, cur.flags})
			} else {
				r.m.write(k, smItem{add + cur.value, cur.flags})
			}
		}
	case 10, 11: // CompareAndSwap: fresh, stale or zero id
		v := fmt.Sprintf("cas%d", r.step)
		id, fresh := r.m.cas[k]
		switch r.rng.Intn(3) {
		case 0:
			id = 0
		case 1:
			if fresh {
				id++ // stale
				fresh = false
			}
		}
		if id == 0 && r.rng.Intn(2) == 0 {
			id = 1<<62 + uint64(r.step) // an id nothing was read with
		}
		err := r.c.CompareAndSwap(ctx, &mc.Item{Key: k, Value: []byte(v), CasID: id})
		switch {
		case id == 0:
			r.expect("CompareAndSwap "+k+" (id 0)", err, mc.ErrInvalidArguments)
		case !have:
			r.expect("CompareAndSwap "+k+" (absent)", err, mc.ErrCacheMiss)
		case fresh && id == r.m.cas[k]:
			r.expect("CompareAndSwap "+k+" (fresh)", err, nil)
			r.m.write(k, smItem{v, 0})
		default:
			r.expect("CompareAndSwap "+k+" (stale)", err, mc.ErrCASConflict)
		}
	case 12: // Delete
		err := r.c.Delete(ctx, k)
		if have {
			r.expect("Delete "+k, err, nil)
			r.m.remove(k)
		} else {
			r.expect("Delete "+k+" (absent)", err, mc.ErrCacheMiss)
		}
	case 13: // DeleteMulti with a duplicate
		keys := []string{k, r.key(), k}
		err := r.c.DeleteMulti(ctx, keys)
		want := map[string]bool{} // key -> its last delete misses
		for _, kk := range keys {
			_, ok := r.m.items[kk]
			want[kk] = !ok
			r.m.remove(kk)
		}
		r.checkMulti("DeleteMulti", err, want, mc.ErrCacheMiss)
	case 14, 15: // Increment, Decrement
		delta := uint64(r.rng.Intn(1000))
		if r.rng.Intn(10) == 0 {
			delta = r.rng.Uint64()
		}
		var n uint64
		var err error
		if op == 14 {
			n, err = r.c.Increment(ctx, k, delta)
		} else {
			n, err = r.c.Decrement(ctx, k, delta)
		}
		name := fmt.Sprintf("%s %s (value %q)", []string{"Increment", "Decrement"}[op-14], k, trunc([]byte(cur.value)))
		if !have {
			r.expect(name+" (absent)", err, mc.ErrCacheMiss)
			return
		}
		v, ok := counter(cur.value)
		if !ok {
			r.expect(name+" (not a number)", err, mc.ErrNotNumeric)
			return
		}
		if v >= 1<<63 && errors.Is(err, mc.ErrNotNumeric) {
			// memcached (util.c safe_strtoull) looks for a '-' in a value this
			// large with strchr, which runs past the value into whatever
			// follows it in the slab: either answer is memcached's.
			return
		}
		if err != nil {
			addr, _ := r.c.ServerForKey(k)
			raw := rawGet(r.t, addr, r.ns, []string{k})[k]
			again := rawCommand(r.t, addr, fmt.Sprintf("decr %s%s %d", r.ns, k, delta))
			r.failf("%s delta %d: %v (the server holds %q; the same decr sent raw: %q)", name, delta, err, raw.value, again)
		}
		want := v + delta
		if op == 15 {
			want = 0
			if delta < v {
				want = v - delta
			}
		}
		if n != want {
			r.failf("%s: got %d, model %d", name, n, want)
		}
		// memcached rewrites a shorter number in place, padded with spaces,
		// when no other request holds the item; otherwise it stores the
		// digits alone. The model takes what the server holds, read raw,
		// once it reads back as the number returned.
		addr, err := r.c.ServerForKey(k)
		if err != nil {
			r.failf("ServerForKey %s: %v", k, err)
		}
		raw, ok := rawGet(r.t, addr, r.ns, []string{k})[k]
		if got, isNum := counter(raw.value); !ok || !isNum || got != want || strings.TrimRight(raw.value, " ") != strconv.FormatUint(want, 10) {
			r.failf("%s: the server holds %q after returning %d", name, raw.value, want)
		}
		r.m.write(k, smItem{raw.value, cur.flags})
	case 16: // Touch
		err := r.c.Touch(ctx, k, int32(r.rng.Intn(2))*3600)
		if have {
			r.expect("Touch "+k, err, nil)
		} else {
			r.expect("Touch "+k+" (absent)", err, mc.ErrCacheMiss)
		}
	case 17, 18: // SetMulti with a duplicate key and now and then one too big
		items := []*mc.Item{{Key: k, Value: []byte(r.value()), Flags: 1}, {Key: r.key(), Value: []byte(r.value())}, {Key: k, Value: []byte(r.value()), Flags: 2}}
		err := r.c.SetMulti(ctx, items)
		want := map[string]bool{}
		for _, it := range items {
			if tooBig(string(it.Value)) {
				r.m.remove(it.Key)
				want[it.Key] = true
				continue
			}
			r.m.write(it.Key, smItem{string(it.Value), it.Flags})
			want[it.Key] = false
		}
		r.checkMulti("SetMulti", err, want, mc.ErrTooLarge)
	case 19: // AddMulti
		items := []*mc.Item{{Key: k, Value: []byte(r.value())}, {Key: r.key(), Value: []byte("added")}}
		err := r.c.AddMulti(ctx, items)
		want := map[string]error{}
		for _, it := range items {
			_, present := r.m.items[it.Key]
			switch {
			case tooBig(string(it.Value)):
				want[it.Key] = mc.ErrTooLarge
			case present:
				want[it.Key] = mc.ErrNotStored
			default:
				r.m.write(it.Key, smItem{string(it.Value), 0})
				want[it.Key] = nil
			}
		}
		r.checkMultiErrs("AddMulti", err, want)
	case 20: // malformed keys change nothing
		bad := []string{"", "a b", "a\r\nflush_all", strings.Repeat("k", mc.MaxKeyLen-len(r.ns)+1), "x\x00y"}[r.rng.Intn(5)]
		var err error
		switch r.rng.Intn(4) {
		case 0:
			_, err = r.c.Get(ctx, bad)
		case 1:
			err = r.c.Set(ctx, &mc.Item{Key: bad, Value: []byte("flush_all")})
		case 2:
			_, err = r.c.GetMulti(ctx, []string{k, bad})
		default:
			err = r.c.SetMulti(ctx, []*mc.Item{{Key: k, Value: []byte("no")}, {Key: bad}})
		}
		r.expect(fmt.Sprintf("malformed key %q", bad), err, mc.ErrMalformedKey)
	case 21: // the longest key the namespace leaves
		long := k + strings.Repeat("L", mc.MaxKeyLen-len(r.ns)-len(k))
		v := r.value()
		err := r.c.Set(ctx, &mc.Item{Key: long, Value: []byte(v)})
		if tooBig(v) {
			r.expect("Set long key (too big)", err, mc.ErrTooLarge)
			return
		}
		r.expect("Set long key", err, nil)
		it, err := r.c.Get(ctx, long)
		r.expect("Get long key", err, nil)
		if string(it.Value) != v {
			r.failf("long key: got %q, want %q", trunc(it.Value), trunc([]byte(v)))
		}
		r.expect("Delete long key", r.c.Delete(ctx, long), nil)
	case 22: // behaviors that do not decide placement, or a disconnect, never move a key
		var err error
		what := "DisconnectAll"
		if r.rng.Intn(4) == 0 {
			err = r.c.DisconnectAll()
		} else {
			b := map[string]any{}
			// (Not tcp_nodelay: Nagle's delays would slow the rest of the run.)
			for name, v := range map[string]any{"tcp_keepalive": r.rng.Intn(2) == 0,
				"connect_timeout": 2000 + r.rng.Intn(6000), "retry_timeout": 2 + r.rng.Intn(28),
				"_poll_timeout": 5000 + r.rng.Intn(4000), "dead_timeout": r.rng.Intn(10)} {
				if r.rng.Intn(2) == 0 {
					b[name] = v
				}
			}
			what = fmt.Sprintf("SetBehaviors(%v)", b)
			err = r.c.SetBehaviors(b)
		}
		r.expect(what, err, nil)
		r.checkPlacement(what)
	}
}

// checkPlacement fails the run when a key is no longer on the server it
// was on when the run began.
func (r *smRun) checkPlacement(after string) {
	r.t.Helper()
	for _, k := range r.keys {
		s, err := r.c.ServerForKey(k)
		if err != nil || s != r.placed[k] {
			r.failf("after %s: key %s on %s (%v), on %s when the run began", after, k, s, err, r.placed[k])
		}
	}
}

// checkMulti checks a multi-key error: want[key] tells whether key fails
// with sentinel.
func (r *smRun) checkMulti(op string, err error, want map[string]bool, sentinel error) {
	errs := map[string]error{}
	for k, fails := range want {
		if fails {
			errs[k] = sentinel
		} else {
			errs[k] = nil
		}
	}
	r.checkMultiErrs(op, err, errs)
}

func (r *smRun) checkMultiErrs(op string, err error, want map[string]error) {
	r.t.Helper()
	var me *mc.MultiError
	if err != nil && !errors.As(err, &me) {
		r.failf("%s: %v is not a *MultiError", op, err)
	}
	for k, w := range want {
		var got error
		if me != nil {
			got = me.Errors[k]
		}
		if w == nil && got != nil {
			r.failf("%s %s: want success, got %v", op, k, got)
		}
		if w != nil && !errors.Is(got, w) {
			r.failf("%s %s: want %v, got %v", op, k, w, got)
		}
	}
	if me != nil && len(me.Errors) > len(want) {
		r.failf("%s: errors for keys not asked: %v", op, me.Errors)
	}
}

// audit compares the model with the servers, read over raw sockets.
func (r *smRun) audit() {
	r.t.Helper()
	r.checkPlacement("step " + strconv.Itoa(r.step))
	byServer := map[string][]string{}
	for _, k := range r.keys {
		s, err := r.c.ServerForKey(k)
		if err != nil {
			r.failf("ServerForKey %s: %v", k, err)
		}
		byServer[s] = append(byServer[s], k)
	}
	for addr, keys := range byServer {
		raw := rawGet(r.t, addr, r.ns, keys)
		for _, k := range keys {
			want, have := r.m.items[k]
			got, ok := raw[k]
			if have != ok || (have && (got.value != want.value || got.flags != want.flags)) {
				r.failf("audit %s on %s: server holds %v (%q), model %v (%q)", k, addr, ok, trunc([]byte(got.value)), have, trunc([]byte(want.value)))
			}
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// rawGet reads keys (prefixed with ns) straight from one server.
func rawGet(t testing.TB, addr, ns string, keys []string) map[string]smItem {
	prefixed := make([]string, len(keys))
	for i, k := range keys {
		prefixed[i] = ns + k
	}
	out := map[string]smItem{}
	for _, chunk := range chunks(prefixed, 50) {
		lines := rawCommand(t, addr, "get "+strings.Join(chunk, " "))
		for i := 0; i+1 < len(lines); i++ {
			f := strings.Fields(lines[i])
			if len(f) == 4 && f[0] == "VALUE" {
				flags, _ := strconv.ParseUint(f[2], 10, 32)
				out[strings.TrimPrefix(f[1], ns)] = smItem{lines[i+1], uint32(flags)}
				i++
			}
		}
	}
	return out
}

func chunks(s []string, n int) [][]string {
	var out [][]string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func smSteps(t *testing.T, def int) int {
	if s := os.Getenv("GOLIBMC_SM_STEPS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		return n
	}
	return def
}

// TestStateMachine runs every configuration: both protocols, one server
// and three, pool sizes 1 and 4 (with 4 goroutines), with and without a
// namespace. The total number of steps is logged.
func TestStateMachine(t *testing.T) {
	steps := smSteps(t, 1500)
	type config struct {
		binary     bool
		servers    int
		pool       int
		goroutines int
		ns         string
		solo       bool           // batching off
		placement  map[string]any // nil: consistent ketama
		weights    []int          // per server; nil: none given
	}
	var configs []config
	for _, binary := range []bool{false, true} {
		configs = append(configs,
			config{binary, 1, 1, 1, "", false, nil, nil},
			// PHP's OPT_LIBKETAMA_COMPATIBLE with equal weights, and a
			// consistent distribution over weighted servers: the placements
			// a plain copy of the master lost.
			config{binary, 3, 1, 1, "sm:", false, map[string]any{"ketama_weighted": true}, nil},
			config{binary, 3, 4, 4, "", false, map[string]any{"distribution": "consistent", "hash": "fnv1a_32"}, []int{2, 1, 3}},
			config{binary, 1, 4, 4, "ns.", true, nil, nil},
			// More goroutines than handles: calls wait in line and share
			// round trips (implicit pipelining).
			config{binary, 3, 2, 8, "", false, nil, nil},
			config{binary, 1, 1, 6, "b.", false, nil, nil},
		)
	}
	total := 0
	var carried uint64
	var mu sync.Mutex
	for _, cf := range configs {
		placement := map[string]any{"distribution": "consistent ketama"}
		if cf.placement != nil {
			placement = cf.placement
		}
		name := fmt.Sprintf("binary=%v/servers=%d/pool=%d/goroutines=%d/ns=%q/batching=%v/placement=%v/weights=%v",
			cf.binary, cf.servers, cf.pool, cf.goroutines, cf.ns, !cf.solo, placement, cf.weights)
		t.Run(name, func(t *testing.T) {
			servers := mctest.StartN(t, cf.servers, "-I", strconv.Itoa(smItemSize), "-o", mctest.SlabChunkMax(t, 16))
			behaviors := map[string]any{"binary_protocol": cf.binary}
			maps.Copy(behaviors, placement)
			opts := []mc.Option{mc.WithPoolSize(cf.pool), mc.WithBatching(!cf.solo), mc.WithBehaviors(behaviors)}
			if cf.ns != "" {
				opts = append(opts, mc.WithNamespace(cf.ns))
			}
			specs := mctest.Addrs(servers)
			for i, w := range cf.weights {
				specs[i] += ":" + strconv.Itoa(w)
			}
			c, err := mc.New(specs, opts...)
			require.NoError(t, err)
			defer c.Close()
			seed := time.Now().UnixNano()
			if s := os.Getenv("GOLIBMC_SM_SEED"); s != "" {
				seed, err = strconv.ParseInt(s, 10, 64)
				require.NoError(t, err)
			}
			var wg sync.WaitGroup
			for g := 0; g < cf.goroutines; g++ {
				r := &smRun{t: t, c: c, cfg: name, seed: seed + int64(g), rng: rand.New(rand.NewSource(seed + int64(g))),
					m: smModel{items: map[string]smItem{}, cas: map[string]uint64{}}, servers: servers, ns: cf.ns}
				r.placed = map[string]string{}
				for i := 0; i < 16; i++ {
					k := fmt.Sprintf("g%d-k%d", g, i)
					r.keys = append(r.keys, k)
					r.placed[k], err = c.ServerForKey(k)
					require.NoError(t, err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for r.step = 0; r.step < steps; r.step++ {
						r.one()
						if r.step%300 == 299 {
							r.audit()
						}
					}
					r.audit()
				}()
			}
			wg.Wait()
			st := c.PoolStats()
			t.Logf("%d batches carried %d calls", st.Batches, st.Carried)
			mu.Lock()
			total += steps * cf.goroutines
			carried += st.Carried
			mu.Unlock()
		})
	}
	t.Logf("state machine: %d steps over %d configurations, %d calls carried in batches", total, len(configs), carried)
}
