package libmemcached_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// sweepValue is a value of n bytes for key k that looks like the protocol
// (an END line, a VALUE line, a NOOP-like run of zeros) wherever a reader
// that lost its place might look, and differs from every other key's.
func sweepValue(k string, n int) []byte {
	unit := []byte("\r\nEND\r\nVALUE " + k + " 0 5 7\r\n\x81\x0a\x00\x00\r\n")
	v := bytes.Repeat(unit, n/len(unit)+1)[:n]
	if n > 0 {
		v[n-1] = byte(n)
	}
	return v
}

// TestValueLengthSweep: values of every length around the places where a
// reply's bytes meet the end of a read buffer (libmemcached reads 8 KiB at
// a time; golibmc checks records as they arrive) come back byte for byte,
// in both protocols, through Get, GetMulti, GetMultiFunc and SetMulti: each
// length alone, and many keys of random lengths in one read, so records
// straddle the buffer's end at every kind of offset. A value is built to
// look like the protocol, so a reader that lost its place fails here.
func TestValueLengthSweep(t *testing.T) {
	var lengths []int
	for n := 0; n <= 300; n++ {
		lengths = append(lengths, n)
	}
	for _, b := range []int{1024, 4096, 8192, 16384, 65536, 100_000} {
		for n := b - 80; n <= b+24; n++ {
			lengths = append(lengths, n)
		}
	}
	forProtocols(t, 1, func(t *testing.T, c *mc.Client, _ []*mctest.Server) {
		for _, n := range lengths {
			k := fmt.Sprint("len", n)
			v := sweepValue(k, n)
			require.NoError(t, c.Set(bg(), &mc.Item{Key: k, Value: v, Flags: uint32(n)}))
			it, err := c.Get(bg(), k)
			require.NoError(t, err, "n=%d", n)
			require.True(t, bytes.Equal(v, it.Value), "Get: n=%d", n)
			require.Equal(t, uint32(n), it.Flags)
			got, err := c.GetMulti(bg(), []string{k, "len-absent"})
			require.NoError(t, err, "n=%d", n)
			require.Len(t, got, 1, "n=%d", n)
			require.True(t, bytes.Equal(v, got[k].Value), "GetMulti: n=%d", n)
		}
		rng := rand.New(rand.NewSource(7))
		for round := 0; round < 4; round++ {
			keys := make([]string, 240)
			want := map[string][]byte{}
			items := make([]*mc.Item, len(keys))
			for i := range keys {
				keys[i] = fmt.Sprintf("mix%d-%d", round, i)
				n := rng.Intn(20_000)
				if i%3 == 0 {
					n = rng.Intn(200)
				}
				want[keys[i]] = sweepValue(keys[i], n)
				items[i] = &mc.Item{Key: keys[i], Value: want[keys[i]], Flags: uint32(n)}
			}
			require.NoError(t, c.SetMulti(bg(), items))
			asked := append(append([]string(nil), keys...), "mix-absent", keys[0])
			got, err := c.GetMulti(bg(), asked)
			require.NoError(t, err)
			require.Len(t, got, len(keys))
			for k, v := range want {
				require.NotNil(t, got[k], "GetMulti: %s", k)
				require.True(t, bytes.Equal(v, got[k].Value), "GetMulti: %s (%d bytes)", k, len(v))
			}
			seen := map[string]bool{}
			require.NoError(t, c.GetMultiFunc(bg(), asked, func(it *mc.Item) error {
				require.False(t, seen[it.Key], "GetMultiFunc: %s given twice", it.Key)
				seen[it.Key] = true
				require.True(t, bytes.Equal(want[it.Key], it.Value), "GetMultiFunc: %s (%d bytes)", it.Key, len(it.Value))
				require.Equal(t, uint32(len(it.Value)), it.Flags)
				return nil
			}))
			require.Len(t, seen, len(keys))
		}
	})
}
