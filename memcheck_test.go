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

	"github.com/golibmc/libmemcached/internal/cheap"
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
		s := memSnapshot{rss: pages * int64(os.Getpagesize()), goHeap: int64(ms.HeapAlloc), cHeap: cheap.InUse(), threads: osThreads()}
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
// and the C heap do not grow with the operation count. It takes about a
// minute, so it runs when GOLIBMC_MEMCHECK=1 (make bench sets it); a
// 50k-operation version always runs.
//
// After a warm-up, memory is read three times, with the same number of
// operations between readings. A leak grows in both intervals alike; a
// buffer that reaches a new high-water mark (a handle's read buffer after
// the largest batch so far, a malloc arena for a new OS thread) grows once.
// So each measure must be flat (within 5%, or 64 KiB where that is more)
// over at least one of the two intervals.
func TestMemoryFlat(t *testing.T) {
	total := 50_000
	if os.Getenv("GOLIBMC_MEMCHECK") == "1" {
		total = 1_000_000
	}
	s := mctest.Start(t)
	// Four handles for eight goroutines: the warm-up opens all of them, so
	// what the pool holds (each handle's libmemcached buffers, ~20 KiB) is
	// the same in every reading.
	c, err := New([]string{s.Addr}, WithPoolSize(4))
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 5 && (i == 0 || c.PoolStats().Open < 4); i++ {
		mixedOps(t, c, 10_000)
	}
	half := (total - 10_000) / 2
	base := snapshot(t)
	mixedOps(t, c, half)
	mid := snapshot(t)
	mixedOps(t, c, half)
	end := snapshot(t)
	growth := func(a, b int64) float64 { return float64(b-a) / float64(a) * 100 }
	t.Logf("memcheck: %d ops: RSS %d -> %d -> %d KiB (%+.1f%%), Go heap %d -> %d -> %d KiB (%+.1f%%), C heap %d -> %d -> %d KiB (%+.1f%%), OS threads %d -> %d, pool handles %d",
		total, base.rss>>10, mid.rss>>10, end.rss>>10, growth(base.rss, end.rss),
		base.goHeap>>10, mid.goHeap>>10, end.goHeap>>10, growth(base.goHeap, end.goHeap),
		base.cHeap>>10, mid.cHeap>>10, end.cHeap>>10, growth(base.cHeap, end.cHeap), base.threads, end.threads, c.PoolStats().Open)
	// 5% of this test's ~330 KiB Go heap (16 KiB) is the size of a few
	// goroutine records the runtime keeps, hence the 64 KiB floor; a leak
	// of one byte per operation adds ~0.5 MiB per interval over 1M.
	flat := func(what string, a, b, c int64) {
		limit := max(a/20, 64<<10)
		assert.True(t, b-a <= limit || c-b <= limit, "%s grew in both intervals: %d -> %d -> %d bytes", what, a, b, c)
	}
	flat("RSS", base.rss, mid.rss, end.rss)
	flat("Go heap", base.goHeap, mid.goHeap, end.goHeap)
	if base.cHeap > 0 {
		flat("C heap", base.cHeap, mid.cHeap, end.cHeap)
	}
}
