package libmemcached

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestKeyIndexModel: for reads of every size around smallIndex and the
// table's growth, with keys repeated at random, the index finds each key's
// first position, links every position to the next of the same key, and
// finds nothing for a key not asked; against a map kept alongside.
func TestKeyIndexModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ix keyIndex
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 1000, 5000} {
		for round := 0; round < 3; round++ {
			distinct := max(1, n*(round+1)/3) // some rounds have many repeats
			ix.keys = ix.keys[:0]
			for i := 0; i < n; i++ {
				ix.keys = append(ix.keys, fmt.Sprint("k", rng.IntN(distinct)))
			}
			ix.build()
			positions := map[string][]int32{}
			for i, k := range ix.keys {
				positions[k] = append(positions[k], int32(i))
			}
			for k, at := range positions {
				require.Equal(t, at[0], ix.find([]byte(k)), "n=%d key %s", n, k)
				var chain []int32
				for i := at[0]; i >= 0; i = ix.next[i] {
					chain = append(chain, i)
				}
				assert.Equal(t, at, chain, "n=%d key %s", n, k)
				assert.Equal(t, int32(len(at)), ix.count(at[0]))
			}
			assert.Equal(t, int32(-1), ix.find([]byte("absent")), "n=%d", n)
			assert.Equal(t, int32(-1), ix.find(nil), "n=%d", n)
			ix.reset()
		}
	}
}

// TestItemSlab: the items of a read share allocations, but each value is
// its own: equal to what was read, capped at its length (an append copies
// instead of writing over the next value), empty values empty and not nil,
// and values past slabValueMax, or past a chunk, in memory of their own.
func TestItemSlab(t *testing.T) {
	values := [][]byte{[]byte("one"), {}, []byte("three"), make([]byte, slabValueMax+1), []byte("five")}
	for i := range values[3] {
		values[3][i] = byte(i)
	}
	s := itemSlab{items: len(values)}
	for _, v := range values {
		s.bytes += len(v)
	}
	var items []*Item
	for i, v := range values {
		items = append(items, s.item(fmt.Sprint("k", i), v, uint32(i), uint64(i)))
	}
	for i, it := range items {
		assert.Equal(t, fmt.Sprint("k", i), it.Key)
		assert.Equal(t, values[i], it.Value)
		assert.NotNil(t, it.Value)
		assert.Equal(t, len(it.Value), cap(it.Value), "value %d capped", i)
		assert.Equal(t, uint32(i), it.Flags)
	}
	items[0].Value = append(items[0].Value, "XX"...)
	assert.Equal(t, "three", string(items[2].Value), "an append does not reach the next value")
	assert.Zero(t, s.items)
	assert.Zero(t, s.bytes)

	// A chunk holds at most slabChunk bytes: a read of more starts others.
	big := itemSlab{items: 3, bytes: 3 * slabValueMax}
	v := make([]byte, slabValueMax)
	a, b, c := big.item("a", v, 0, 0), big.item("b", v, 0, 0), big.item("c", v, 0, 0)
	for _, it := range []*Item{a, b, c} {
		assert.Len(t, it.Value, slabValueMax)
	}
	assert.Equal(t, uintptr(unsafe.Pointer(&a.Value[0]))+slabValueMax, uintptr(unsafe.Pointer(&b.Value[0])), "small values share a chunk")
}
