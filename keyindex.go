package libmemcached

// Finding a read's keys: the records of a read come back with their keys,
// and each must be matched to the positions that asked for it.

import "hash/maphash"

// keyIndex finds the positions of a read's keys (every call's keys of a
// batch, back to back), for its records. It lives on the handle and is
// reused: a read allocates nothing for it once warm.
type keyIndex struct {
	keys  []string // every call's keys, back to back
	next  []int32  // the next position of the same key, or -1
	seen  []int32  // per first position: records read for the key
	got   []*Item  // per position (execGet)
	found []bool   // per position: its key was read (match)
	table []int32  // open addressing over keys: first position + 1, 0 for an empty slot
	mask  uint64   // len(table) - 1, when the table is used
}

// smallIndex: up to this many keys are found by comparing them all.
const smallIndex = 16

// keySeed seeds the table's hash (maphash: the runtime's own string hash).
var keySeed = maphash.MakeSeed()

// index builds h's key index for batch.
func (h *handle) index(batch []*call) *keyIndex {
	ix := &h.ix
	for _, cl := range batch {
		ix.keys = append(ix.keys, cl.keys...)
	}
	ix.build()
	return ix
}

// build indexes ix.keys: each position's next position of the same key,
// and (past smallIndex keys) the table of first positions.
func (ix *keyIndex) build() {
	n := len(ix.keys)
	ix.next = grow(ix.next, n)
	ix.seen = grow(ix.seen, n)
	ix.got = grow(ix.got, n)
	ix.found = grow(ix.found, n)
	if n <= smallIndex {
		for i := n - 1; i >= 0; i-- {
			ix.next[i] = -1
			for j := i + 1; j < n; j++ {
				if ix.keys[j] == ix.keys[i] {
					ix.next[i] = int32(j)
					break
				}
			}
		}
		return
	}
	size := 1
	for size < 2*n {
		size <<= 1
	}
	ix.table = grow(ix.table, size)
	ix.mask = uint64(size - 1)
	// From the last position back, so that a key's slot ends at its first
	// position and each position links to the next.
	for i := n - 1; i >= 0; i-- {
		k := ix.keys[i]
		ix.next[i] = -1
		for s := maphash.String(keySeed, k) & ix.mask; ; s = (s + 1) & ix.mask {
			at := ix.table[s] - 1
			if at < 0 {
				ix.table[s] = int32(i) + 1
				break
			}
			if ix.keys[at] == k {
				ix.next[i] = at
				ix.table[s] = int32(i) + 1
				break
			}
		}
	}
}

// find returns the first position of key k, or -1.
func (ix *keyIndex) find(k []byte) int32 {
	if len(ix.keys) <= smallIndex {
		for i, key := range ix.keys {
			if key == string(k) {
				return int32(i)
			}
		}
		return -1
	}
	for s := maphash.Bytes(keySeed, k) & ix.mask; ; s = (s + 1) & ix.mask {
		at := ix.table[s] - 1
		if at < 0 || ix.keys[at] == string(k) {
			return at
		}
	}
}

// onceSet is a set of the keys of a read's records (as positions of
// them), built as they are given out, so that a key answered twice is
// given once: past smallIndex records a table (the index's, not in use
// then), else a look at the records before.
type onceSet struct {
	table []int32 // first position + 1, 0 for an empty slot; nil: none
	mask  uint64
}

// onceSet readies ix's table as an empty set for n records.
func (ix *keyIndex) onceSet(n int) onceSet {
	if n <= smallIndex {
		return onceSet{}
	}
	size := 1
	for size < 2*n {
		size <<= 1
	}
	if !kept(n) { // one large read: its table is not kept
		return onceSet{table: make([]int32, size), mask: uint64(size - 1)}
	}
	ix.table = grow(ix.table, size)
	return onceSet{table: ix.table, mask: uint64(size - 1)}
}

// given reports whether the key asked at position at was given before:
// by one of before (the records given or skipped so far), or, with a
// table, by a position in it; when not, it is put in the table.
func (s onceSet) given(keys []string, before []inOrderRecord, at int32) bool {
	k := keys[at]
	if s.table == nil {
		for _, r := range before {
			if keys[r.at] == k {
				return true
			}
		}
		return false
	}
	for i := maphash.String(keySeed, k) & s.mask; ; i = (i + 1) & s.mask {
		p := s.table[i] - 1
		if p < 0 {
			s.table[i] = at + 1
			return false
		}
		if keys[p] == k {
			return true
		}
	}
}

// count is how many positions ask the key first asked at position i.
func (ix *keyIndex) count(i int32) int32 {
	n := int32(0)
	for ; i >= 0; i = ix.next[i] {
		n++
	}
	return n
}

// reset empties the index, keeping its memory (that of one large read is
// dropped).
func (ix *keyIndex) reset() {
	if !kept(cap(ix.keys)) {
		*ix = keyIndex{}
		return
	}
	clear(ix.keys)
	clear(ix.got)
	ix.keys = ix.keys[:0]
}

// Per-call scratch kept for the next call (a recycled call's result arrays,
// a pooled handle's key index and in-order scratch, GetMultiFunc's
// delivery) is dropped instead once one call made it larger than this: a
// pool does not keep one large read's memory.
const (
	keepKeys  = batchKeys
	keepBytes = batchBytes
)

// kept reports whether scratch with room for n keys is kept for the next call.
func kept(n int) bool { return n <= keepKeys }

// grow returns s with length n, zeroed.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	s = s[:n]
	clear(s)
	return s
}

// inOrderServers: up to this many servers, a clean read's records are
// matched to its keys in the order they were asked (see matchInOrder).
const inOrderServers = 8

// matchInOrder matches the records of h's last read of keys (every call's
// keys of a batch, back to back) to the positions asking them, without an
// index: each server answers its keys in the order they were sent (memcached
// answers a multi-key get key by key; libmemcached sends each server its
// keys in the order given), so a server's next record is for one of the
// positions after its last. It writes each record, with its position, to
// h.inOrder, and returns true and the bytes of their values when every
// record matched a position of its server not yet answered; false (nothing
// else changed) for anything else: a record of a server it cannot tell, a
// key not asked at a later position, more servers than inOrderServers.
// Those reads go the general way (match), which judges them.
func (h *handle) matchInOrder(keys []string) (valueBytes int, ok bool) {
	n := h.c.nrecords()
	if n > len(keys) {
		return 0, false
	}
	var next [inOrderServers]int // per server: the position after its last record's
	taken := grow(h.taken, len(keys))
	h.taken = taken
	at := h.inOrder[:0]
	end := h.c.nout() // a value's offset in the records is end - cap(value)
	for r := h.c.recordIter(); ; {
		k, v, flags, cas, server, ok := r.next()
		if !ok {
			break
		}
		if server < 0 || server >= inOrderServers {
			return 0, false
		}
		j := next[server]
		for j < len(keys) && keys[j] != string(k) {
			j++
		}
		if j == len(keys) || taken[j] {
			return 0, false
		}
		taken[j] = true
		next[server] = j + 1
		at = append(at, inOrderRecord{at: int32(j), flags: flags, cas: cas, off: end - cap(v), n: len(v)})
		valueBytes += len(v)
	}
	h.inOrder = at
	return valueBytes, len(at) == n
}

// trimInOrder drops matchInOrder's scratch after a read of more than
// keepKeys keys or records, as keyIndex.reset drops the index's.
func (h *handle) trimInOrder() {
	if !kept(cap(h.taken)) {
		h.taken = nil
	}
	if !kept(cap(h.inOrder)) {
		h.inOrder = nil
	}
}

// readDone empties the key index and the in-order scratch after a read.
func (h *handle) readDone() {
	h.ix.reset()
	h.trimInOrder()
}

// inOrderRecord is a record matchInOrder matched: the position it answers,
// and its item, its value as where it is in the handle's records (offsets,
// not a pointer: the scratch outlives the C memory the records are in).
type inOrderRecord struct {
	at     int32
	flags  uint32
	cas    uint64
	off, n int
}
