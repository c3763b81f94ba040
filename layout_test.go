package libmemcached

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached/internal/mctest"
)

// TestWithoutPrivateLayout: on a libmemcached that neither private-layout
// mirror matches, the library still gives right answers, only without the
// features that need the layout (netpoller waits, buffered stores, reply
// checks): every operation that has a fallback is run through it, in both
// protocols, with the netpoller policy forced on and batching on.
func TestWithoutPrivateLayout(t *testing.T) {
	if os.Getenv("GOLIBMC_PRIVATE_LAYOUT") != "off" {
		if privateLayout() == 0 {
			t.Skip("no private layout for libmemcached " + libraryVersion() + ": the whole suite runs this way")
		}
		// The layout is checked once a process: the test runs again in a
		// child, where GOLIBMC_PRIVATE_LAYOUT=off keeps it from being used.
		cmd := exec.Command(os.Args[0], "-test.run=^TestWithoutPrivateLayout$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "GOLIBMC_PRIVATE_LAYOUT=off")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "--- PASS: TestWithoutPrivateLayout")
		return
	}
	require.Equal(t, 0, privateLayout(), "GOLIBMC_PRIVATE_LAYOUT=off")
	ctx := context.Background()
	for _, binary := range []bool{false, true} {
		t.Run(fmt.Sprint("binary=", binary), func(t *testing.T) {
			s1, s2 := mctest.Start(t), mctest.Start(t)
			c, err := New([]string{s1.Addr, s2.Addr}, WithPollMode(PollAlways), WithPoolSize(2),
				WithBehaviors(map[string]any{"binary_protocol": binary}))
			require.NoError(t, err)
			defer c.Close()
			items := make([]*Item, 40)
			want := map[string]string{}
			for i := range items {
				k := fmt.Sprint("k", i)
				items[i] = &Item{Key: k, Value: []byte(fmt.Sprint("v", i)), Flags: uint32(i)}
				want[k] = string(items[i].Value)
			}
			require.NoError(t, c.SetMulti(ctx, items))
			require.NoError(t, c.Set(ctx, &Item{Key: "one", Value: []byte("1")}))
			want["one"] = "1"
			keys := make([]string, 0, len(want)+1)
			for k := range want {
				keys = append(keys, k)
			}
			got, err := c.GetMulti(ctx, append(keys, "absent"))
			require.NoError(t, err)
			values := map[string]string{}
			for k, it := range got {
				values[k] = string(it.Value)
			}
			assert.Empty(t, cmp.Diff(want, values))
			it, err := c.Get(ctx, "k7")
			require.NoError(t, err)
			assert.Equal(t, uint32(7), it.Flags)
			_, err = c.Get(ctx, "absent")
			require.ErrorIs(t, err, ErrCacheMiss)
			n, err := c.Increment(ctx, "one", 41)
			require.NoError(t, err)
			assert.Equal(t, uint64(42), n)
			it, err = c.Get(ctx, "k3")
			require.NoError(t, err)
			it.Value = []byte("swapped")
			require.NoError(t, c.CompareAndSwap(ctx, it))
			require.ErrorIs(t, c.CompareAndSwap(ctx, it), ErrCASConflict)
			require.NoError(t, c.Delete(ctx, "k4"))
			require.ErrorIs(t, c.Delete(ctx, "k4"), ErrCacheMiss)
			err = c.DeleteMulti(ctx, []string{"k5", "k6", "k4"})
			var me *MultiError
			require.ErrorAs(t, err, &me)
			require.Len(t, me.Errors, 1)
			require.ErrorIs(t, me.Errors["k4"], ErrCacheMiss)
			got, err = c.GetMulti(ctx, []string{"k5", "k6"})
			require.NoError(t, err)
			assert.Empty(t, got)
		})
	}
}

// TestLibraryLine: a program compiled against one libmemcached line and
// run with the other (1.0.18 and 1.1.x share a soname) is refused before
// any behavior number is used; the same line in any patch release runs.
func TestLibraryLine(t *testing.T) {
	require.NoError(t, checkLibraryLine("New", HeaderVersion, libraryVersion()))
	require.NoError(t, checkLibraryLine("New", "1.1.4", "1.1.0"))
	err := checkLibraryLine("New", "1.1.4", "1.0.18")
	require.ErrorIs(t, err, ErrNotSupported)
	assert.Contains(t, err.Error(), "compiled against libmemcached 1.1.4 headers but loaded libmemcached 1.0.18")
	require.ErrorIs(t, checkLibraryLine("NewFromConfig", "1.0.18", "1.1.4"), ErrNotSupported)
}
