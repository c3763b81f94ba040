package libmemcached_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
)

// TestConcurrentMixedOperations runs 32 goroutines of every kind of call
// on one client over 3 servers (go test -race checks the Go side; each
// goroutine owns its keys, so every read is checked exactly).
func TestConcurrentMixedOperations(t *testing.T) {
	c, _ := newClient(t, 3, mc.WithPoolSize(8))
	const workers, rounds = 32, 60
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			err := func() error {
				for i := 0; i < rounds; i++ {
					k := fmt.Sprintf("w%d-k%d", w, i%7)
					v := []byte(fmt.Sprintf("%d-%d", w, i))
					if err := c.Set(bg(), &mc.Item{Key: k, Value: v}); err != nil {
						return err
					}
					it, err := c.Get(bg(), k)
					if err != nil {
						return err
					}
					if string(it.Value) != string(v) {
						return fmt.Errorf("%s: got %q want %q", k, it.Value, v)
					}
					ctr := fmt.Sprintf("w%d-ctr", w)
					if _, err := c.Increment(bg(), ctr, 1); errors.Is(err, mc.ErrCacheMiss) {
						if err := c.Add(bg(), &mc.Item{Key: ctr, Value: []byte("1")}); err != nil {
							return err
						}
					} else if err != nil {
						return err
					}
					if _, err := c.GetMulti(bg(), []string{k, ctr, "absent"}); err != nil {
						return err
					}
					if i%10 == 0 {
						if err := c.Delete(bg(), k); err != nil {
							return err
						}
						if _, err := c.Stats(bg()); err != nil {
							return err
						}
					}
				}
				it, err := c.Get(bg(), fmt.Sprintf("w%d-ctr", w))
				if err != nil {
					return err
				}
				if n, _ := strconv.Atoi(string(it.Value)); n != rounds {
					return fmt.Errorf("counter of worker %d = %d, want %d", w, n, rounds)
				}
				return nil
			}()
			errs <- err
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// TestCloseRacingWithCalls closes the client while 32 goroutines call it:
// every call either succeeds or returns ErrClosed; nothing crashes.
func TestCloseRacingWithCalls(t *testing.T) {
	c, _ := newClient(t, 2, mc.WithPoolSize(4))
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	other := []error{}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			for i := 0; i < 200; i++ {
				k := fmt.Sprint("c", w, "-", i%5)
				err := c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")})
				if err == nil {
					_, err = c.Get(bg(), k)
				}
				if err == nil {
					_, err = c.GetMulti(bg(), []string{k, "x"})
				}
				if errors.Is(err, mc.ErrClosed) {
					return
				}
				if err != nil {
					mu.Lock()
					other = append(other, err)
					mu.Unlock()
				}
			}
		}(w)
	}
	close(start)
	require.NoError(t, c.Close())
	wg.Wait()
	assert.Empty(t, other, "calls only fail with ErrClosed")
	require.NoError(t, c.Close())
}

// TestBehaviorChangeUnderLoad changes behaviors while goroutines call the
// client: each call sees either the old or the new setting, none fails.
func TestBehaviorChangeUnderLoad(t *testing.T) {
	c, _ := newClient(t, 3, mc.WithPoolSize(4))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failed error
	var mu sync.Mutex
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				k := fmt.Sprint("b", w, "-", i%3)
				if err := c.Set(bg(), &mc.Item{Key: k, Value: []byte("v")}); err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
			}
		}(w)
	}
	for i := 0; i < 20; i++ {
		require.NoError(t, c.SetBehaviors(map[string]any{"tcp_nodelay": i%2 == 0, "_poll_timeout": 1000 + i}))
		if i%5 == 0 {
			require.NoError(t, c.DisconnectAll())
		}
	}
	close(stop)
	wg.Wait()
	require.NoError(t, failed)
	v, err := c.Behavior(mc.BehaviorPollTimeout)
	require.NoError(t, err)
	assert.Equal(t, uint64(1019), v)
}
