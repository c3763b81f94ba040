package libmemcached

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached/internal/mctest"
)

// memSnapshot reads the process's resident set, Go heap and C heap after a
// full collection with memory returned to the OS. Each figure is the
// smallest of three readings: RSS moves by a few hundred KiB with the
// scavenger's timing, which is noise, not growth.
type memSnapshot struct{ rss, goHeap, cHeap, threads int64 }

func snapshot(t testing.TB) memSnapshot {
	var m memSnapshot
	for i := 0; i < 3; i++ {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b, err := os.ReadFile("/proc/self/statm")
		require.NoError(t, err)
		f := strings.Fields(string(b))
		pages, _ := strconv.ParseInt(f[1], 10, 64)
		s := memSnapshot{rss: pages * int64(os.Getpagesize()), goHeap: int64(ms.HeapAlloc), cHeap: cHeapInUse(), threads: osThreads()}
		if i == 0 {
			m = s
			continue
		}
		m = memSnapshot{rss: min(m.rss, s.rss), goHeap: min(m.goHeap, s.goHeap), cHeap: min(m.cHeap, s.cHeap), threads: s.threads}
		time.Sleep(50 * time.Millisecond)
	}
	return m
}

// osThreads is the process's number of OS threads: RSS follows it (each
// thread has a stack and may get a malloc arena), not the operation count.
func osThreads() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Threads:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// mixedOps runs n operations of every kind from 8 goroutines.
func mixedOps(t testing.TB, c *Client, n int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			keys := make([]string, 10)
			for i := range keys {
				keys[i] = fmt.Sprintf("mem%d-%d", w, i)
			}
			items := make([]*Item, 10)
			for i, k := range keys {
				items[i] = &Item{Key: k, Value: make([]byte, 100+i*50)}
			}
			for i := 0; i < n/8; i++ {
				k := keys[i%10]
				var err error
				switch i % 8 {
				case 0:
					err = c.Set(ctx, &Item{Key: k, Value: items[i%10].Value})
				case 1, 2:
					_, err = c.Get(ctx, k)
				case 3:
					_, err = c.GetMulti(ctx, keys)
				case 4:
					err = c.SetMulti(ctx, items)
				case 5:
					_, err = c.Get(ctx, "absent-"+k)
				case 6:
					err = c.Delete(ctx, k)
				case 7:
					_, err = c.Increment(ctx, k, 1)
				}
				if err != nil && !isExpected(err) {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

func isExpected(err error) bool {
	return errors.Is(err, ErrCacheMiss) || errors.Is(err, ErrNotNumeric)
}

// TestMemoryFlat runs 1M mixed operations and checks that RSS, the Go heap
// and the C heap are flat (within 5%) between 10k and 1M operations. It
// takes about a minute, so it runs when GOLIBMC_MEMCHECK=1 (make bench sets
// it); a 50k-operation version always runs.
func TestMemoryFlat(t *testing.T) {
	total := 50_000
	if os.Getenv("GOLIBMC_MEMCHECK") == "1" {
		total = 1_000_000
	}
	s := mctest.Start(t)
	c, err := New([]string{s.Addr})
	require.NoError(t, err)
	defer c.Close()
	mixedOps(t, c, 10_000)
	base := snapshot(t)
	mixedOps(t, c, total-10_000)
	end := snapshot(t)
	growth := func(a, b int64) float64 { return float64(b-a) / float64(a) * 100 }
	t.Logf("memcheck: %d ops: RSS %d -> %d KiB (%+.1f%%), Go heap %d -> %d KiB (%+.1f%%), C heap %d -> %d KiB (%+.1f%%), OS threads %d -> %d",
		total, base.rss>>10, end.rss>>10, growth(base.rss, end.rss), base.goHeap>>10, end.goHeap>>10,
		growth(base.goHeap, end.goHeap), base.cHeap>>10, end.cHeap>>10, growth(base.cHeap, end.cHeap), base.threads, end.threads)
	// Each measure may grow 5%, or 64 KiB where 5% is less: this test's Go
	// heap is only ~330 KiB, so 5% (16 KiB) is the size of a few goroutine
	// records the runtime keeps, while a leak of even one byte per operation
	// would add ~1 MiB over 1M operations.
	flat := func(what string, a, b int64) {
		limit := max(a/20, 64<<10)
		assert.LessOrEqual(t, b-a, limit, "%s grew from %d to %d bytes", what, a, b)
	}
	flat("RSS", base.rss, end.rss)
	flat("Go heap", base.goHeap, end.goHeap)
	if base.cHeap > 0 {
		flat("C heap", base.cHeap, end.cHeap)
	}
}
