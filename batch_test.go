package libmemcached_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// The batching tests make batches happen for certain, without timing: the
// pool has one handle, a call holds it while its server is paused
// (SIGSTOP), the other calls wait in line (PoolStats.Queued says when all
// of them do), and the server is resumed. The handle then goes to the line
// and carries every call of the first one's kind in one round trip.

// TestBatchEachCallItsOwnResult: Gets, GetMultis (overlapping keys, a key
// asked twice, misses), Sets and Deletes wait in line and go out in
// batches; each caller gets exactly what it would have got alone: the same
// items (values, flags, CasIDs), misses and per-key errors. In every poll
// mode and both protocols.
func TestBatchEachCallItsOwnResult(t *testing.T) {
	for _, binary := range []bool{false, true} {
		for _, pm := range pollModes {
			t.Run(fmt.Sprintf("binary=%v/%s", binary, pm.name), func(t *testing.T) {
				s := mctest.Start(t)
				c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithPollMode(pm.mode), mc.WithBatching(true),
					mc.WithBehaviors(map[string]any{"binary_protocol": binary, "_poll_timeout": 60000}))
				require.NoError(t, err)
				defer c.Close()
				for i := 0; i < 6; i++ {
					require.NoError(t, c.Set(bg(), &mc.Item{Key: fmt.Sprint("b", i), Value: []byte(fmt.Sprint("value-", i)), Flags: uint32(i)}))
				}
				alone := map[string]*mc.Item{}
				for i := 0; i < 6; i++ {
					k := fmt.Sprint("b", i)
					it, err := c.Get(bg(), k)
					require.NoError(t, err)
					alone[k] = it
				}

				type outcome struct {
					items map[string]*mc.Item
					err   error
				}
				gets := [][]string{{"b0"}, {"b1", "b2"}, {"missing"}, {"b1", "b1", "b3"}, {"b4", "missing", "b5"}, {"b2"}}
				got := make([]outcome, len(gets))
				var calls []func()
				for i, keys := range gets {
					calls = append(calls, func() {
						if len(keys) == 1 {
							it, err := c.Get(bg(), keys[0])
							got[i] = outcome{map[string]*mc.Item{}, err}
							if it != nil {
								got[i].items[it.Key] = it
							}
							return
						}
						items, err := c.GetMulti(bg(), keys)
						got[i] = outcome{items, err}
					})
				}
				setErrs := make([]error, 3)
				for i := range setErrs {
					calls = append(calls, func() {
						setErrs[i] = c.Set(bg(), &mc.Item{Key: fmt.Sprint("s", i), Value: []byte(fmt.Sprint("set-", i)), Flags: 7})
					})
				}
				delErrs := make([]error, 2)
				calls = append(calls, func() { delErrs[0] = c.Delete(bg(), "b5") }, func() { delErrs[1] = c.Delete(bg(), "never-was") })

				before := c.PoolStats()
				var holdErr error
				done := queueBehind(t, c, s, func() { _, holdErr = c.Get(bg(), "b0") }, calls...)
				s.Resume()
				<-done
				require.NoError(t, holdErr)
				after := c.PoolStats()
				// The Gets went in one batch (they were first in line), the
				// Sets in the next, the Deletes in the last.
				assert.Equal(t, before.Batches+3, after.Batches, "batches")
				assert.Equal(t, before.Carried+uint64(len(calls)-3), after.Carried, "calls carried")

				for i, keys := range gets {
					want := map[string]*mc.Item{}
					for _, k := range keys {
						if it, ok := alone[k]; ok {
							want[k] = it
						}
					}
					assert.Empty(t, cmp.Diff(want, got[i].items), "call %d %v", i, keys)
					switch {
					case len(keys) == 1 && want[keys[0]] == nil:
						assert.ErrorIs(t, got[i].err, mc.ErrCacheMiss, "call %d", i)
					default:
						assert.NoError(t, got[i].err, "call %d", i)
					}
				}
				for i, err := range setErrs {
					require.NoError(t, err)
					it, err := c.Get(bg(), fmt.Sprint("s", i))
					require.NoError(t, err)
					assert.Equal(t, fmt.Sprint("set-", i), string(it.Value))
					assert.Equal(t, uint32(7), it.Flags)
				}
				assert.NoError(t, delErrs[0])
				assert.ErrorIs(t, delErrs[1], mc.ErrCacheMiss)
				_, err = c.Get(bg(), "b5")
				assert.ErrorIs(t, err, mc.ErrCacheMiss)
			})
		}
	}
}

// TestBatchCallerLeaves: a call whose context ends while it waits in line
// leaves at once with its context's error, and so does a call whose
// context ends while the batch carrying it waits for a paused server; the
// calls that stay get their own answers once the server resumes, and the
// pool is whole after.
func TestBatchCallerLeaves(t *testing.T) {
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			s := mctest.Start(t)
			c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithPollMode(pm.mode), mc.WithBatching(true),
				mc.WithBehaviors(map[string]any{"_poll_timeout": 60000}))
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Set(bg(), &mc.Item{Key: "stay", Value: []byte("here")}))

			// Leaving the line: the call holding the handle runs until
			// the server resumes.
			queued, cancelQueued := context.WithCancel(bg())
			left := make(chan error, 1)
			var holdErr error
			done := queueBehind(t, c, s, func() { _, holdErr = c.Get(bg(), "stay") }, func() {
				_, err := c.Get(queued, "stay")
				left <- err
			})
			cancelQueued()
			err = <-left // returns while the server is still paused
			assert.ErrorIs(t, err, mc.ErrCanceled)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, 0, c.PoolStats().Queued)
			s.Resume()
			<-done
			require.NoError(t, holdErr)

			// Leaving a batch in flight: the holder's deadline frees the
			// handle while the server is paused, and the two calls in line
			// go out together to the paused server.
			carried, cancelCarried := context.WithCancel(bg())
			short, cancelShort := context.WithTimeout(bg(), 300*time.Millisecond)
			defer cancelShort()
			var stayIt *mc.Item
			var stayErr error
			done = queueBehind(t, c, s, func() { _, holdErr = c.Get(short, "stay") },
				func() { stayIt, stayErr = c.Get(bg(), "stay") },
				func() { _, err := c.Get(carried, "stay"); left <- err })
			waitFor(t, "the batch to go out", func() bool { st := c.PoolStats(); return st.Queued == 0 && st.InUse == 1 })
			cancelCarried()
			err = <-left // returns while its batch still waits
			assert.ErrorIs(t, err, mc.ErrCanceled)
			s.Resume()
			<-done
			assert.ErrorIs(t, holdErr, mc.ErrTimeout)
			require.NoError(t, stayErr)
			assert.Equal(t, "here", string(stayIt.Value))

			it, err := c.Get(bg(), "stay")
			require.NoError(t, err)
			assert.Equal(t, "here", string(it.Value))
			st := c.PoolStats()
			assert.Equal(t, 0, st.InUse)
			assert.Equal(t, 0, st.Queued)
		})
	}
}

// TestBatchStoreCallerLeavesItemsUntouched: a Set whose caller leaves
// while carried never has its item read after it returned: the caller
// overwrites the value at once, and the race detector would see a read.
func TestBatchStoreCallerLeavesItemsUntouched(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithBatching(true), mc.WithBehaviors(map[string]any{"_poll_timeout": 60000}))
	require.NoError(t, err)
	defer c.Close()
	short, cancelShort := context.WithTimeout(bg(), 300*time.Millisecond)
	defer cancelShort()
	ctx, cancel := context.WithCancel(bg())
	it := &mc.Item{Key: "mine", Value: []byte("original")}
	left := make(chan error, 1)
	done := queueBehind(t, c, s, func() { _ = c.Set(short, &mc.Item{Key: "holder", Value: []byte("h")}) },
		func() { _ = c.Set(bg(), &mc.Item{Key: "other", Value: []byte("o")}) },
		func() { left <- c.Set(ctx, it) })
	waitFor(t, "the batch to go out", func() bool { return c.PoolStats().Queued == 0 })
	cancel()
	err = <-left
	if err != nil {
		copy(it.Value, "mutated!") // the caller owns its item again
	}
	s.Resume()
	<-done
}

// TestBatchOrderPerGoroutine: a goroutine's Set then Get of its key sees
// its Set, with many goroutines batching at once (each goroutine's calls
// are synchronous: nothing more is promised between goroutines).
func TestBatchOrderPerGoroutine(t *testing.T) {
	s := mctest.Start(t)
	c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(2), mc.WithBatching(true))
	require.NoError(t, err)
	defer c.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := fmt.Sprint("order", g)
			for i := 0; i < 200; i++ {
				v := fmt.Sprint(i)
				if err := c.Set(bg(), &mc.Item{Key: k, Value: []byte(v)}); err != nil {
					errs <- err
					return
				}
				it, err := c.Get(bg(), k)
				if err != nil || string(it.Value) != v {
					errs <- fmt.Errorf("%s: after Set %q, Get gave %v, %v", k, v, it, err)
					return
				}
				if i%10 == 0 {
					if err := c.Delete(bg(), k); err != nil {
						errs <- err
						return
					}
					if _, err := c.Get(bg(), k); !errors.Is(err, mc.ErrCacheMiss) {
						errs <- fmt.Errorf("%s: after Delete, Get gave %v", k, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := c.PoolStats()
	t.Logf("64 goroutines: %d batches carried %d calls", st.Batches, st.Carried)
}

// openFDs lists the process's open sockets (what the client opens and
// duplicates; the test servers' process handles come and go with restarts).
func openFDs(t *testing.T) []string {
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	var out []string
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil && strings.HasPrefix(target, "socket:") {
			out = append(out, e.Name()+" -> "+target)
		}
	}
	sort.Strings(out)
	return out
}

// TestNoDescriptorLeak: the duplicates of sockets the netpoller waits on
// are closed when connections change (reconnects after a server restart,
// failures while it is down) and at Close: every descriptor the client
// opened is gone after Close, in every poll mode.
func TestNoDescriptorLeak(t *testing.T) {
	for _, pm := range pollModes {
		t.Run(pm.name, func(t *testing.T) {
			servers := mctest.StartN(t, 3)
			runtime.GC()
			before := openFDs(t)
			c, err := mc.New(mctest.Addrs(servers), mc.WithPoolSize(4), mc.WithPollMode(pm.mode),
				mc.WithBehaviors(map[string]any{"_poll_timeout": 2000, "retry_timeout": 0}))
			require.NoError(t, err)
			keys := make([]string, 30)
			for i := range keys {
				keys[i] = fmt.Sprint("fd", i)
			}
			load := func() {
				var wg sync.WaitGroup
				for g := 0; g < 16; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < 50; i++ {
							k := keys[(g+i)%len(keys)]
							_ = c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")})
							_, _ = c.Get(bg(), k)
							_, _ = c.GetMulti(bg(), keys[:10])
							_ = c.Delete(bg(), k)
						}
					}()
				}
				wg.Wait()
			}
			load()
			servers[0].Restart(t)
			load()
			servers[1].Stop()
			load()
			servers[1].Restart(t)
			load()
			mid := openFDs(t)
			// Each handle holds at most one socket and one duplicate per server.
			assert.LessOrEqual(t, len(mid)-len(before), 4*3*2, "descriptors in use: %s", strings.Join(mid, ", "))
			require.NoError(t, c.Close())
			after := openFDs(t) // before any GC: a finalizer must not be what closes them
			servers[0].Stop()
			servers[2].Stop()
			assert.Empty(t, cmp.Diff(before, after), "descriptors left open after Close")
		})
	}
}

// TestBatchRequests: Increments, Adds, Touches and CompareAndSwaps waiting
// in line go out in one round trip per command (and per delta or CAS id),
// and each caller gets its own outcome: the counter's value after its own
// increment, in line order; NOT_STORED for an Add of a key present; a miss
// for a Touch of a key absent; a CAS conflict for the second of two CAS of
// the same read. In every poll mode and both protocols.
func TestBatchRequests(t *testing.T) {
	for _, binary := range []bool{false, true} {
		for _, pm := range pollModes {
			t.Run(fmt.Sprintf("binary=%v/%s", binary, pm.name), func(t *testing.T) {
				s := mctest.Start(t)
				c, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithPollMode(pm.mode), mc.WithBatching(true),
					mc.WithBehaviors(map[string]any{"binary_protocol": binary, "cas": true, "_poll_timeout": 60000}))
				require.NoError(t, err)
				defer c.Close()
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "ctr", Value: []byte("10")}))
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "present", Value: []byte("p")}))
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "cas", Value: []byte("c0")}))
				require.NoError(t, c.Set(bg(), &mc.Item{Key: "cas2", Value: []byte("d0")}))
				read, err := c.Get(bg(), "cas")
				require.NoError(t, err)
				read2, err := c.Get(bg(), "cas2")
				require.NoError(t, err)
				require.NotEqual(t, read.CasID, read2.CasID)

				// Each request of a batch keeps its own delta and CAS id.
				incrs := make([]uint64, 3)
				incrErrs := make([]error, 3)
				var calls []func()
				for i := range incrs {
					calls = append(calls, func() { incrs[i], incrErrs[i] = c.Increment(bg(), "ctr", uint64(1)<<(4*i)) })
				}
				addErrs := make([]error, 2)
				calls = append(calls,
					func() { addErrs[0] = c.Add(bg(), &mc.Item{Key: "new", Value: []byte("n")}) },
					func() { addErrs[1] = c.Add(bg(), &mc.Item{Key: "present", Value: []byte("x")}) })
				touchErrs := make([]error, 2)
				calls = append(calls,
					func() { touchErrs[0] = c.Touch(bg(), "present", 100) },
					func() { touchErrs[1] = c.Touch(bg(), "absent", 100) })
				casErrs := make([]error, 3)
				for i, it := range []*mc.Item{
					{Key: "cas", Value: []byte("c1"), CasID: read.CasID},
					{Key: "cas2", Value: []byte("d1"), CasID: read2.CasID},
					{Key: "cas", Value: []byte("c2"), CasID: read.CasID}, // stale by then
				} {
					calls = append(calls, func() { casErrs[i] = c.CompareAndSwap(bg(), it) })
				}
				before := c.PoolStats()
				done := queueBehind(t, c, s, func() { c.Get(bg(), "hold") }, calls...)
				s.Resume()
				<-done
				after := c.PoolStats()
				assert.Equal(t, before.Batches+4, after.Batches, "one round trip per command")
				assert.Equal(t, before.Carried+uint64(len(calls)-4), after.Carried, "calls carried")

				for i, want := range []uint64{11, 27, 283} { // 10 + 1, + 16, + 256
					require.NoError(t, incrErrs[i])
					assert.Equal(t, want, incrs[i], "increment %d in line order", i)
				}
				assert.NoError(t, addErrs[0])
				assert.ErrorIs(t, addErrs[1], mc.ErrNotStored)
				assert.NoError(t, touchErrs[0])
				assert.ErrorIs(t, touchErrs[1], mc.ErrCacheMiss)
				assert.NoError(t, casErrs[0])
				assert.NoError(t, casErrs[1])
				assert.ErrorIs(t, casErrs[2], mc.ErrCASConflict)
				it, err := c.Get(bg(), "cas")
				require.NoError(t, err)
				assert.Equal(t, "c1", string(it.Value))
				it, err = c.Get(bg(), "cas2")
				require.NoError(t, err)
				assert.Equal(t, "d1", string(it.Value))
				it, err = c.Get(bg(), "present")
				require.NoError(t, err)
				assert.Equal(t, "p", string(it.Value))
			})
		}
	}
}
