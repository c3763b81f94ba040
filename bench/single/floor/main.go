// Command floor is bench/single's cgo floor: the C loop's own libmemcached
// calls (memcached_get, memcached_set, memcached_mget +
// memcached_fetch_result) made from Go through one bare cgo call each, each
// value copied into Go memory as a binding must return it, and nothing
// else. No reply is checked, there is no pool, no deadline, no batching,
// one connection; it is not safe for concurrent use. It is a measuring
// stick, not a client: what making the C loop's calls from Go costs (the
// crossing, the Go runtime, the copy), so that the rest of golibmc's cost
// can be told apart. It is not the cheapest binding imaginable: fetching
// into a reused result instead of memcached_get's malloc, and copying once,
// would save a little.
//
// It yields the processor every 2 ms of calls, as golibmc does: without
// that, a goroutine calling into C back to back keeps being found inside
// C by the runtime's sysmon, which hands its P to another thread and wakes
// it (about 1.3-1.5 context switches per call instead of 1), and the floor
// would not be a floor.
//
//	floor HOST:PORT PHASE:COUNT[,PHASE:COUNT...]
//
// It runs the phases set, get, getmulti and getmultifunc (100 keys), and
// skips the others.
package main

/*
#cgo pkg-config: libmemcached
#include <libmemcached/memcached.h>
#include <stdlib.h>
#include <string.h>

static memcached_st *floor_mc;
static memcached_result_st floor_res;

static int floor_open(const char *host, int port) {
	floor_mc = memcached_create(NULL);
	if (floor_mc == NULL) return 0;
	memcached_behavior_set(floor_mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
	if (memcached_server_add(floor_mc, host, (in_port_t) port) != MEMCACHED_SUCCESS) return 0;
	return memcached_result_create(floor_mc, &floor_res) != NULL;
}

// floor_get copies the value of key into buf (cap bytes); it returns the
// value's length, -1 for a miss, -2 for an error or a value over cap
// (memcached_get answers an empty value with NULL and SUCCESS).
static long floor_get(const char *key, size_t klen, char *buf, size_t cap) {
	size_t n;
	uint32_t flags;
	memcached_return_t rc;
	char *v = memcached_get(floor_mc, key, klen, &n, &flags, &rc);
	if (v == NULL) return rc == MEMCACHED_SUCCESS ? 0 : rc == MEMCACHED_NOTFOUND ? -1 : -2;
	long out = n <= cap ? (long) n : -2;
	if (out >= 0) memcpy(buf, v, n);
	free(v);
	return out;
}

static int floor_set(const char *key, size_t klen, const char *v, size_t vlen) {
	return memcached_set(floor_mc, key, klen, v, vlen, 0, 0) == MEMCACHED_SUCCESS;
}

// floor_mget reads n keys (at most FLOOR_KEYS, packed back to back in
// keys, klens[i] bytes each) and writes each item found to out as: key
// length, value length (uint32 each), the key, the value. It returns the
// bytes written, or -1.
#define FLOOR_KEYS 100
static long floor_mget(const char *keys, const size_t *klens, size_t n, char *out, size_t cap) {
	const char *ptrs[FLOOR_KEYS];
	if (n > FLOOR_KEYS) return -1;
	for (size_t i = 0, off = 0; i < n; off += klens[i], i++) ptrs[i] = keys + off;
	if (memcached_mget(floor_mc, ptrs, klens, n) != MEMCACHED_SUCCESS) return -1;
	size_t w = 0;
	int over = 0;
	memcached_return_t rc;
	memcached_result_st *r;
	while ((r = memcached_fetch_result(floor_mc, &floor_res, &rc)) != NULL) {
		uint32_t kl = (uint32_t) memcached_result_key_length(r), vl = (uint32_t) memcached_result_length(r);
		if (over || w + 8 + kl + vl > cap) { // read the rest, keep nothing more
			over = 1;
			continue;
		}
		memcpy(out + w, &kl, 4);
		memcpy(out + w + 4, &vl, 4);
		memcpy(out + w + 8, memcached_result_key_value(r), kl);
		memcpy(out + w + 8 + kl, memcached_result_value(r), vl);
		w += 8 + kl + vl;
	}
	return over ? -1 : (long) w;
}
*/
import "C"

import (
	"encoding/binary"
	"errors"
	"net"
	"runtime"
	"strconv"
	"time"
	"unsafe"

	"github.com/golibmc/libmemcached/bench/internal/runner"
)

// floor is the client: buf receives what C copies out (values, GetMulti's
// items), keys and lens carry a GetMulti's keys to C.
type floor struct {
	yielded time.Time
	buf     []byte
	keys    []byte
	lens    []C.size_t
}

var errFloor = errors.New("floor: libmemcached failed")

// Skips: the floor runs the phases of the single-goroutine targets.
func (f *floor) Skips(phase string) bool {
	return phase != "set" && phase != "get" && phase != "getmulti" && phase != "getmultifunc"
}

func (f *floor) Get(key string) (int, error) {
	n := C.floor_get((*C.char)(unsafe.Pointer(unsafe.StringData(key))), C.size_t(len(key)),
		(*C.char)(unsafe.Pointer(&f.buf[0])), C.size_t(len(f.buf)))
	f.yield()
	if n < 0 {
		return 0, errFloor
	}
	v := make([]byte, n) // a binding returns the value in Go memory
	copy(v, f.buf[:n])
	return len(v), nil
}

func (f *floor) Set(key string, value []byte) error {
	ok := C.floor_set((*C.char)(unsafe.Pointer(unsafe.StringData(key))), C.size_t(len(key)),
		(*C.char)(unsafe.Pointer(unsafe.SliceData(value))), C.size_t(len(value)))
	f.yield()
	if ok == 0 {
		return errFloor
	}
	return nil
}

// mget reads keys with one cgo call; the items found are then in f.buf,
// its first w bytes (valid until the next call).
func (f *floor) mget(keys []string) (w int, err error) {
	f.keys, f.lens = f.keys[:0], f.lens[:0]
	for _, k := range keys {
		f.keys = append(f.keys, k...)
		f.lens = append(f.lens, C.size_t(len(k)))
	}
	if len(keys) == 0 {
		return 0, nil
	}
	n := C.floor_mget((*C.char)(unsafe.Pointer(&f.keys[0])), &f.lens[0], C.size_t(len(keys)),
		(*C.char)(unsafe.Pointer(&f.buf[0])), C.size_t(len(f.buf)))
	f.yield()
	if n < 0 {
		return 0, errFloor
	}
	return int(n), nil
}

// each calls fn for each item of the first w bytes of f.buf, in the order
// they came. A key is the caller's own string when the replies come in the
// order asked (one server: always), so that nothing is allocated per key.
func (f *floor) each(keys []string, w int, fn func(key string, v []byte) error) error {
	next := 0
	for b := f.buf[:w]; len(b) > 0; {
		kl, vl := int(binary.LittleEndian.Uint32(b)), int(binary.LittleEndian.Uint32(b[4:]))
		k, v := b[8:8+kl], b[8+kl:8+kl+vl]
		for next < len(keys) && keys[next] != string(k) {
			next++
		}
		key := ""
		if next < len(keys) {
			key = keys[next]
		} else {
			key = string(k)
		}
		if err := fn(key, v); err != nil {
			return err
		}
		b = b[8+kl+vl:]
	}
	return nil
}

// GetMulti returns the map, its values copied into one allocation.
func (f *floor) GetMulti(keys []string, want int) (int, error) {
	w, err := f.mget(keys)
	if err != nil {
		return 0, err
	}
	got := make(map[string][]byte, len(keys))
	values := make([]byte, 0, w)
	f.each(keys, w, func(key string, v []byte) error {
		at := len(values)
		values = append(values, v...)
		got[key] = values[at:len(values):len(values)]
		return nil
	})
	return runner.CountMulti(got, func(v []byte) []byte { return v }, want)
}

// GetMultiFunc hands fn each item found, its value in the floor's buffer
// (as golibmc's GetMultiFunc lends its own): nothing allocated per key.
func (f *floor) GetMultiFunc(keys []string, fn func(key string, value []byte) error) error {
	w, err := f.mget(keys)
	if err != nil {
		return err
	}
	return f.each(keys, w, fn)
}

// Incr is not measured (Skips).
func (f *floor) Incr(string) error { return errFloor }

// yield gives the processor up every 2 ms of calls (see the package doc).
func (f *floor) yield() {
	if time.Since(f.yielded) > 2*time.Millisecond {
		f.yielded = time.Now()
		runtime.Gosched()
	}
}

func main() {
	runner.Main("floor", func(addr string) (runner.Client, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, err
		}
		ch := C.CString(host)
		defer C.free(unsafe.Pointer(ch))
		if C.floor_open(ch, C.int(p)) == 0 {
			return nil, errFloor
		}
		return &floor{buf: make([]byte, 1<<20)}, nil
	})
}
