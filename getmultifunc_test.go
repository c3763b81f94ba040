package libmemcached_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// funcItems collects what GetMultiFunc delivers, copied.
func funcItems(t *testing.T, c *mc.Client, keys []string) (map[string]mc.Item, []string, error) {
	t.Helper()
	got := map[string]mc.Item{}
	var order []string
	err := c.GetMultiFunc(bg(), keys, func(it *mc.Item) error {
		if _, dup := got[it.Key]; dup {
			t.Errorf("key %q delivered twice", it.Key)
		}
		cp := *it
		cp.Value = bytes.Clone(it.Value)
		got[it.Key] = cp
		order = append(order, it.Key)
		return nil
	})
	return got, order, err
}

// TestGetMultiFunc: each key found is delivered once (a key asked twice
// too), with the value, flags and CAS id GetMulti gives, byte for byte;
// keys missed are not delivered. Over both protocols, in every poll mode,
// on one server and on three.
func TestGetMultiFunc(t *testing.T) {
	for _, binary := range []bool{false, true} {
		for _, pm := range pollModes {
			for _, n := range []int{1, 3} {
				t.Run(fmt.Sprintf("binary=%v/%s/servers=%d", binary, pm.name, n), func(t *testing.T) {
					c, _ := newClient(t, n, mc.WithPollMode(pm.mode),
						mc.WithBehaviors(map[string]any{"binary_protocol": binary, "cas": true}))
					var keys []string
					for i := 0; i < 300; i++ {
						k := "gmf" + strconv.Itoa(i)
						keys = append(keys, k)
						if i%3 == 2 {
							continue // a miss
						}
						v := bytes.Repeat([]byte{byte(i)}, i*7) // lengths 0 upward, every byte value
						require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: v, Flags: uint32(i)}))
					}
					keys = append(keys, "gmf0", "gmf1", "gmf2") // asked twice
					want, err := c.GetMulti(bg(), keys)
					require.NoError(t, err)
					got, order, err := funcItems(t, c, keys)
					require.NoError(t, err)
					require.Len(t, got, 200)
					require.Len(t, order, 200)
					for k, it := range want {
						g, ok := got[k]
						require.True(t, ok, k)
						assert.Empty(t, cmp.Diff(*it, g), k)
						assert.NotZero(t, g.CasID, k)
					}
				})
			}
		}
	}
}

// TestGetMultiFuncStops: an error from the function stops the delivery
// and is returned as is; the replies were read whole, so the next calls
// on the same client read their own answers.
func TestGetMultiFuncStops(t *testing.T) {
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprintf("binary=%v", binary), func(t *testing.T) {
			c, _ := newClient(t, 1, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"binary_protocol": binary}))
			var keys []string
			for i := 0; i < 50; i++ {
				k := fmt.Sprint("stop", i)
				keys = append(keys, k)
				require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte("value of " + k)}))
			}
			stop := errors.New("enough")
			calls := 0
			err := c.GetMultiFunc(bg(), keys, func(*mc.Item) error {
				calls++
				if calls == 3 {
					return stop
				}
				return nil
			})
			assert.Same(t, stop, err)
			assert.Equal(t, 3, calls)
			for i := 0; i < 5; i++ {
				it, err := c.Get(bg(), keys[i])
				require.NoError(t, err)
				assert.Equal(t, "value of "+keys[i], string(it.Value))
			}
			got, _, err := funcItems(t, c, keys)
			require.NoError(t, err)
			assert.Len(t, got, 50)
		})
	}
}

// TestGetMultiFuncRefusals: a malformed key sends nothing and calls
// nothing; a nil function is refused; no keys is nothing to do.
func TestGetMultiFuncRefusals(t *testing.T) {
	c, servers := newClient(t, 1)
	before := rawStats(t, servers[0].Addr)["cmd_get"]
	called := false
	err := c.GetMultiFunc(bg(), []string{"fine", "not fine"}, func(*mc.Item) error { called = true; return nil })
	assert.ErrorIs(t, err, mc.ErrMalformedKey)
	err = c.GetMultiFunc(bg(), []string{"fine"}, nil)
	assert.ErrorIs(t, err, mc.ErrInvalidArguments)
	assert.NoError(t, c.GetMultiFunc(bg(), nil, func(*mc.Item) error { called = true; return nil }))
	assert.False(t, called)
	assert.Equal(t, before, rawStats(t, servers[0].Addr)["cmd_get"], "nothing was sent")
	require.NoError(t, c.Close())
	assert.ErrorIs(t, c.GetMultiFunc(bg(), []string{"k"}, func(*mc.Item) error { return nil }), mc.ErrClosed)
}

// TestGetMultiFuncServerDown: with one of two servers down, every item of
// the other is delivered, then a *MultiError names each key of the dead
// server, as GetMulti's does.
func TestGetMultiFuncServerDown(t *testing.T) {
	servers := mctest.StartN(t, 2)
	c, err := mc.New(mctest.Addrs(servers))
	require.NoError(t, err)
	defer c.Close()
	var keys []string
	for i := 0; i < 40; i++ {
		k := fmt.Sprint("down", i)
		keys = append(keys, k)
		require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(k)}))
	}
	servers[1].Stop()
	want, wantErr := c.GetMulti(bg(), keys)
	require.Error(t, wantErr)
	got, _, err := funcItems(t, c, keys)
	require.Error(t, err)
	assert.Len(t, got, len(want))
	for k := range want {
		assert.Contains(t, got, k)
	}
	var me, wantMe *mc.MultiError
	require.ErrorAs(t, err, &me)
	require.ErrorAs(t, wantErr, &wantMe)
	assert.Equal(t, len(wantMe.Errors), len(me.Errors))
	for k, e := range me.Errors {
		assert.ErrorIs(t, e, mc.ErrServerDown, k)
		var ke *mc.Error
		require.ErrorAs(t, e, &ke)
		assert.Equal(t, servers[1].Addr, ke.Server)
	}
}

// TestGetMultiFuncMayCallTheClient: the function runs once the call has
// given its handle back, so it may call the client, even with a pool of
// one.
func TestGetMultiFuncMayCallTheClient(t *testing.T) {
	c, _ := newClient(t, 1, mc.WithPoolSize(1))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "a", Value: []byte("1")}))
	require.NoError(t, c.Set(bg(), &mc.Item{Key: "b", Value: []byte("2")}))
	var inner []string
	err := c.GetMultiFunc(bg(), []string{"a", "b"}, func(it *mc.Item) error {
		other, err := c.Get(bg(), map[string]string{"a": "b", "b": "a"}[it.Key])
		if err != nil {
			return err
		}
		inner = append(inner, it.Key+"->"+string(other.Value))
		return nil
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a->2", "b->1"}, inner)
}

// TestGetMultiFuncAllocations: once warm, a GetMultiFunc of 100 keys
// allocates at most 0.05 objects per key.
func TestGetMultiFuncAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			c, _ := newClient(t, 1, mc.WithPollMode(pm.mode))
			var keys []string
			for i := 0; i < 100; i++ {
				k := fmt.Sprint("alloc", i)
				keys = append(keys, k)
				if i%10 != 0 {
					require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: bytes.Repeat([]byte("v"), 100)}))
				}
			}
			n := 0
			fn := func(it *mc.Item) error { n += len(it.Value); return nil }
			for i := 0; i < 20; i++ { // warm
				require.NoError(t, c.GetMultiFunc(bg(), keys, fn))
			}
			allocs := testing.AllocsPerRun(200, func() { c.GetMultiFunc(bg(), keys, fn) })
			t.Logf("%.1f allocations per GetMultiFunc of 100 keys (%.3f per key)", allocs, allocs/100)
			assert.LessOrEqual(t, allocs/100, 0.05)
			assert.Positive(t, n)
		})
	}
}

// TestGetMultiEveryWayAlike: a read's records are matched to its keys in
// the order asked when it was clean (up to 8 servers), through the key
// index otherwise (more servers, an observer watching); both give every
// caller the items the servers hold and a clean miss for the rest, with
// keys asked twice, in one call and across the calls of a batch; and
// GetMultiFunc delivers the same items, each key once (past and within
// the reads whose repeats are found without a table). The model is what
// was stored.
func TestGetMultiEveryWayAlike(t *testing.T) {
	for _, binary := range []bool{false, true} {
		for _, n := range []int{1, 3, 9} {
			for _, observed := range []bool{false, true} {
				t.Run(fmt.Sprintf("binary=%v/servers=%d/observed=%v", binary, n, observed), func(t *testing.T) {
					opts := []mc.Option{mc.WithBehaviors(map[string]any{"binary_protocol": binary})}
					if observed {
						opts = append(opts, mc.WithObserver(mc.Observer{Operation: func(mc.OperationInfo) {}}))
					}
					c, _ := newClient(t, n, opts...)
					model := map[string]string{}
					var keys []string
					for i := 0; i < 120; i++ {
						k := "ew" + strconv.Itoa(i)
						keys = append(keys, k)
						if i%4 != 3 {
							model[k] = strings.Repeat(strconv.Itoa(i), i%9)
							require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: []byte(model[k])}))
						}
					}
					check := func(keys []string, got map[string]*mc.Item) {
						want := map[string]string{}
						for _, k := range keys {
							if v, ok := model[k]; ok {
								want[k] = v
							}
						}
						values := map[string]string{}
						for k, it := range got {
							assert.Equal(t, k, it.Key)
							values[k] = string(it.Value)
						}
						assert.Empty(t, cmp.Diff(want, values))
					}
					rng := rand.New(rand.NewPCG(uint64(n), 7))
					var wg sync.WaitGroup
					for g := 0; g < 8; g++ {
						ask := make([]string, 0, 40)
						for range 40 {
							ask = append(ask, keys[rng.IntN(len(keys))]) // repeats, misses
						}
						one := keys[rng.IntN(len(keys))]
						small := append(ask[:6:6], ask[0], ask[3], ask[3]) // repeats in a small read
						wg.Add(1)
						go func() { // the calls of a batch
							defer wg.Done()
							for range 20 {
								got, err := c.GetMulti(bg(), ask)
								assert.NoError(t, err)
								check(ask, got)
								for _, ask := range [][]string{ask, small} {
									fgot, _, err := funcItems(t, c, ask)
									assert.NoError(t, err)
									asItems := map[string]*mc.Item{}
									for k, it := range fgot {
										asItems[k] = &it
									}
									check(ask, asItems)
								}
								it, err := c.Get(bg(), one)
								if v, ok := model[one]; ok {
									if assert.NoError(t, err) {
										assert.Equal(t, v, string(it.Value))
									}
								} else {
									assert.ErrorIs(t, err, mc.ErrCacheMiss)
								}
							}
						}()
					}
					wg.Wait()
				})
			}
		}
	}
}
