package libmemcached

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
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

// TestOnceSetModel: for reads of every size around smallIndex and the
// table's growth, with keys repeated at random, the set says a record's
// key was given before exactly when an earlier record had it; against a
// map kept alongside.
func TestOnceSetModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var ix keyIndex
	for _, n := range []int{1, 2, 15, 16, 17, 31, 32, 33, 100, 1000, 5000} {
		for round := 0; round < 3; round++ {
			distinct := max(1, n*(round+1)/3)
			keys := make([]string, n)
			for i := range keys {
				keys[i] = fmt.Sprint("k", rng.IntN(distinct))
			}
			recs := make([]inOrderRecord, n)
			for i := range recs {
				recs[i].at = int32(i)
			}
			set := ix.onceSet(n)
			seen := map[string]bool{}
			for i, r := range recs {
				assert.Equal(t, seen[keys[r.at]], set.given(keys, recs[:i], r.at), "n=%d record %d", n, i)
				seen[keys[r.at]] = true
			}
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

// textRecordModel is the grammar of one complete record of a text read's
// reply, read field by field: "VALUE <key> <flags> <bytes>[ <cas>]\r\n",
// then <bytes> bytes and "\r\n". The key is 1 to 250 bytes (namespace
// included), none a space, a control byte or DEL, and starts with the
// namespace and is longer; flags fit 32 bits, bytes at most the largest
// value a reply may carry, the CAS id 64 bits, each decimal digits only
// (leading zeros allowed). It returns what checkTextRecord does for
// records whose line is complete: 1 an item, 2 the data not all there
// yet, 0 anything else.
func textRecordModel(rec []byte, ns string, cas bool) int {
	line, rest, ok := bytes.Cut(rec, []byte("\r\n"))
	if !ok || bytes.IndexByte(line, '\n') >= 0 {
		return 0
	}
	f := strings.Split(string(line), " ")
	want := 4
	if cas {
		want = 5
	}
	if len(f) != want || f[0] != "VALUE" {
		return 0
	}
	key := f[1]
	if len(key) == 0 || len(key) > 250 || len(key) <= len(ns) || !strings.HasPrefix(key, ns) {
		return 0
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return 0
		}
	}
	num := func(s string, bits int) (uint64, bool) {
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
		v, err := strconv.ParseUint(s, 10, bits)
		return v, err == nil
	}
	_, ok1 := num(f[2], 32)
	n, ok2 := num(f[3], 64)
	ok3 := true
	if cas {
		_, ok3 = num(f[4], 64)
	}
	if !ok1 || !ok2 || !ok3 || n > 1<<30 { // GOLIBMC_POLICY_VALUE_MAX
		return 0
	}
	switch {
	case uint64(len(rest)) < n+2:
		return 2
	case rest[n] != '\r' || rest[n+1] != '\n':
		return 0
	}
	return 1
}

// TestTextRecordGrammarModel holds the check of a text read's records
// (golibmc_text_record, which scans a key eight bytes at a time and adds
// up digits unchecked up to 19) to textRecordModel: every byte value at
// every position of keys of 1 to 40 bytes and around the 250-byte limit,
// with and without a namespace; and flags, lengths and CAS ids at and
// around their limits, with leading zeros, signs, letters and nothing.
func TestTextRecordGrammarModel(t *testing.T) {
	check := func(rec []byte, ns string, cas bool) {
		t.Helper()
		want := textRecordModel(rec, ns, cas)
		got, n := checkTextRecord(rec, ns, cas)
		if got != want {
			t.Fatalf("%q (namespace %q, cas %v): check %d, model %d", rec, ns, cas, got, want)
		}
		if got == 1 && n != len(rec) {
			t.Fatalf("%q: record length %d, want %d", rec, n, len(rec))
		}
	}
	lengths := []int{}
	for n := 1; n <= 40; n++ {
		lengths = append(lengths, n)
	}
	lengths = append(lengths, 243, 248, 249, 250, 251, 256)
	for _, ns := range []string{"", "ns:"} {
		for _, cas := range []bool{false, true} {
			tail := " 7 3\r\nabc\r\n"
			if cas {
				tail = " 7 3 99\r\nabc\r\n"
			}
			for _, n := range lengths {
				key := []byte(ns + strings.Repeat("k", n))
				check(append([]byte("VALUE "+string(key)), tail...), ns, cas)
				for at := 0; at < len(key); at++ {
					for c := 0; c < 256; c++ {
						if n > 40 && c != 0 && c != ' ' && c != 0x7f && c != 0x80 && c != 'x' {
							continue
						}
						k := bytes.Clone(key)
						k[at] = byte(c)
						check(append([]byte("VALUE "+string(k)), tail...), ns, cas)
					}
				}
			}
		}
	}
	flags := []string{"0", "7", "00", "4294967295", "4294967296", "0004294967295", "99999999999999999999",
		"", "+1", "-1", "1a", "a", " 1"}
	lens := []string{"3", "003", "0", "2", "4", "1073741824", "1073741825", "18446744073709551616", "", "x"}
	cass := []string{"0", "99", "1234567890123456789", "9999999999999999999", "18446744073709551615",
		"18446744073709551616", "000000000018446744073709551615", "000000000018446744073709551616",
		"99999999999999999999", "184467440737095516150", "", "-0", "1.5"}
	for _, f := range flags {
		for _, l := range lens {
			check([]byte("VALUE key "+f+" "+l+"\r\nabc\r\n"), "", false)
			for _, cs := range cass {
				check([]byte("VALUE key "+f+" "+l+" "+cs+"\r\nabc\r\n"), "", true)
				check([]byte("VALUE key "+f+" "+l+" "+cs+"\r\nabc\r\n"), "", false)
			}
		}
	}
}
