package libmemcached

// This file is the thin cgo layer: the only Go code that calls libmemcached.
// Each function marshals one operation into one C call (a shim in golibmc.h
// where several libmemcached calls make up the operation) and back. There is
// no policy here: validation, pooling, deadlines and errors live in the
// wrapper on top.
//
// Memory rules kept by every function below:
//   - Go memory passed to C (keys, values, packed key buffers, length and
//     return-code arrays) holds no Go pointers and is borrowed only for the
//     duration of the call; C keeps no reference to it.
//   - Results are copied out of the handle's C buffers into Go memory before
//     the function returns; the buffers belong to the handle and are reused.
//   - Every C allocation is freed on every path: C strings right after use,
//     handles and masters by their free functions.
//
// Man pages: memcached_get(3), memcached_set(3), memcached_delete(3),
// memcached_auto(3), memcached_touch(3), memcached_stats(3),
// memcached_version(3), memcached_flush(3), memcached_behavior(3),
// memcached_servers(3), memcached_generate_hash_value(3), libmemcached_configuration(3).

// #include "golibmc.h"
import "C"

import (
	"encoding/binary"
	"strconv"
	"unsafe"
)

// placeholder is lent to C in place of an empty Go buffer, so a valid
// pointer is always passed (unsafe.SliceData of an empty slice may be nil).
var placeholder = [1]byte{0}

// cStr lends the bytes of a non-empty Go string to C for one call.
func cStr(s string) *C.char {
	if len(s) == 0 {
		return (*C.char)(unsafe.Pointer(&placeholder[0]))
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s)))
}

// cBytes lends the bytes of a Go slice to C for one call.
func cBytes(b []byte) *C.char {
	if len(b) == 0 {
		return (*C.char)(unsafe.Pointer(&placeholder[0]))
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}

// cMaster is a configured memcached_st that is never used for I/O: it is the
// template handles are cloned from, and answers placement questions.
type cMaster struct{ p *C.memcached_st }

// newCMaster creates an empty master (memcached_create).
func newCMaster() (cMaster, bool) {
	p := C.memcached_create(nil)
	return cMaster{p}, p != nil
}

// newCMasterFromConfig checks config with libmemcached_check_configuration
// and builds a master from it with memcached(). On failure it returns
// libmemcached's own description of the problem.
func newCMasterFromConfig(config string) (cMaster, string) {
	const errLen = 512
	var buf [errLen]C.char
	if rc := ReturnCode(C.libmemcached_check_configuration(cStr(config), C.size_t(len(config)), &buf[0], errLen)); rc != ReturnSuccess {
		return cMaster{}, C.GoString(&buf[0])
	}
	p := C.memcached(cStr(config), C.size_t(len(config)))
	if p == nil {
		return cMaster{}, "memcached() could not build a client from the configuration"
	}
	return cMaster{p}, ""
}

// free releases the master (memcached_free).
func (m cMaster) free() { C.memcached_free(m.p) }

// addServer adds one server (memcached_server_add_with_weight and its unix
// socket and UDP variants). host is a name, an address, or a socket path.
func (m cMaster) addServer(kind ConnectionType, host string, port uint16, weight uint32) ReturnCode {
	ch := C.CString(host)
	defer C.free(unsafe.Pointer(ch))
	switch kind {
	case ConnectionUnixSocket:
		return ReturnCode(C.memcached_server_add_unix_socket_with_weight(m.p, ch, C.uint32_t(weight)))
	case ConnectionUDP:
		return ReturnCode(C.memcached_server_add_udp_with_weight(m.p, ch, C.in_port_t(port), C.uint32_t(weight)))
	default:
		return ReturnCode(C.memcached_server_add_with_weight(m.p, ch, C.in_port_t(port), C.uint32_t(weight)))
	}
}

// serverCount is memcached_server_count.
func (m cMaster) serverCount() int { return int(C.memcached_server_count(m.p)) }

// setBehavior is memcached_behavior_set.
func (m cMaster) setBehavior(b Behavior, v uint64) ReturnCode {
	return ReturnCode(C.memcached_behavior_set(m.p, C.memcached_behavior_t(b), C.uint64_t(v)))
}

// behavior is memcached_behavior_get (through golibmc_behavior_get, which
// never opens a connection and reads BINARY_PROTOCOL correctly).
func (m cMaster) behavior(b Behavior) uint64 {
	return uint64(C.golibmc_behavior_get(m.p, C.memcached_behavior_t(b)))
}

// clone is memcached_clone: a copy of the master's servers and settings.
func (m cMaster) clone() (cMaster, bool) {
	p := C.memcached_clone(nil, m.p)
	return cMaster{p}, p != nil
}

// lastError is memcached_last_error_message.
func (m cMaster) lastError() string { return lastErrorMessage(m.p) }

// setNamespace sets libmemcached's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY).
func (m cMaster) setNamespace(prefix string) ReturnCode {
	cp := C.CString(prefix)
	defer C.free(unsafe.Pointer(cp))
	return ReturnCode(C.memcached_callback_set(m.p, C.MEMCACHED_CALLBACK_PREFIX_KEY, unsafe.Pointer(cp)))
}

// setSASL sets SASL credentials (memcached_set_sasl_auth_data); libmemcached copies them.
func (m cMaster) setSASL(user, password string) ReturnCode {
	cu := C.CString(user)
	defer C.free(unsafe.Pointer(cu))
	cp := C.CString(password)
	defer C.free(unsafe.Pointer(cp))
	return ReturnCode(C.memcached_set_sasl_auth_data(m.p, cu, cp))
}

func lastErrorMessage(p *C.memcached_st) string {
	s := C.memcached_last_error_message(p)
	if s == nil {
		return ""
	}
	return cleanMessage(C.GoString(s))
}

// hashValue is memcached_generate_hash_value: the hash of key with algorithm h.
func hashValue(key string, h Hash) uint32 {
	return uint32(C.memcached_generate_hash_value(cStr(key), C.size_t(len(key)), C.memcached_hash_t(h)))
}

// serverByKey is memcached_server_by_key on the master: the server
// libmemcached picks for key. The scratch handle only lends its buffer.
func (m cMaster) serverByKey(scratch *cHandle, key string) (serverID, ReturnCode) {
	rc := ReturnCode(C.golibmc_server_by_key(scratch.p, m.p, cStr(key), C.size_t(len(key))))
	if rc != ReturnSuccess {
		return serverID{}, rc
	}
	id, _ := readServer(scratch.out())
	return id, rc
}

// serverByKey is memcached_server_by_key on the handle's own clone.
func (h *cHandle) serverByKey(key string) (serverID, ReturnCode) {
	rc := ReturnCode(C.golibmc_server_by_key(h.p, h.p.mc, cStr(key), C.size_t(len(key))))
	if rc != ReturnSuccess {
		return serverID{}, rc
	}
	id, _ := readServer(h.out())
	return id, rc
}

// serverID identifies a server as libmemcached reports it.
type serverID struct {
	host string
	port uint32
}

// cHandle is one clone of the master, used by one goroutine at a time.
type cHandle struct{ p *C.golibmc_handle }

// newCHandle clones the master (memcached_clone) into a new handle.
func (m cMaster) newHandle() (*cHandle, bool) {
	p := C.golibmc_handle_new(m.p)
	if p == nil {
		return nil, false
	}
	return &cHandle{p}, true
}

// free releases the handle, closing its connections (memcached_free).
func (h *cHandle) free() { C.golibmc_handle_free(h.p) }

// quit closes the handle's connections (memcached_quit); the next call reconnects.
func (h *cHandle) quit() { C.memcached_quit(h.p.mc) }

// lastError is memcached_last_error_message on the handle.
func (h *cHandle) lastError() string { return lastErrorMessage(h.p.mc) }

// lastDisconnect is memcached_server_get_last_disconnect.
func (h *cHandle) lastDisconnect() (serverID, bool) {
	if C.golibmc_last_disconnect(h.p) == 0 {
		return serverID{}, false
	}
	id, _ := readServer(h.out())
	return id, true
}

// out is the handle's result buffer, valid until its next call.
func (h *cHandle) out() []byte {
	if h.p.out_len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(h.p.out)), int(h.p.out_len))
}

// get fetches one key. On success it returns a copy of the value.
func (h *cHandle) get(ms int32, key string) (value []byte, flags uint32, cas uint64, rc ReturnCode) {
	rc = ReturnCode(C.golibmc_get(h.p, C.int32_t(ms), cStr(key), C.size_t(len(key))))
	return h.value(rc)
}

// getAndTouch touches then fetches one key (golibmc_gat).
func (h *cHandle) getAndTouch(ms int32, key string, exp int32) (value []byte, flags uint32, cas uint64, rc ReturnCode) {
	rc = ReturnCode(C.golibmc_gat(h.p, C.int32_t(ms), cStr(key), C.size_t(len(key)), C.time_t(exp)))
	return h.value(rc)
}

func (h *cHandle) value(rc ReturnCode) ([]byte, uint32, uint64, ReturnCode) {
	if rc != ReturnSuccess {
		return nil, 0, 0, rc
	}
	n := int(h.p.val_len)
	v := make([]byte, n)
	if n > 0 {
		copy(v, unsafe.Slice((*byte)(unsafe.Pointer(h.p.val)), n))
	}
	return v, uint32(h.p.flags), uint64(h.p.cas), rc
}

// storeOp selects the libmemcached storage call.
type storeOp int

const (
	opSet     storeOp = C.GOLIBMC_SET
	opAdd     storeOp = C.GOLIBMC_ADD
	opReplace storeOp = C.GOLIBMC_REPLACE
	opAppend  storeOp = C.GOLIBMC_APPEND
	opPrepend storeOp = C.GOLIBMC_PREPEND
	opCAS     storeOp = C.GOLIBMC_CAS
)

// store is memcached_set/add/replace/append/prepend/cas.
func (h *cHandle) store(ms int32, op storeOp, key string, value []byte, exp int32, flags uint32, cas uint64) ReturnCode {
	return ReturnCode(C.golibmc_store(h.p, C.int32_t(ms), C.int(op), cStr(key), C.size_t(len(key)),
		cBytes(value), C.size_t(len(value)), C.time_t(exp), C.uint32_t(flags), C.uint64_t(cas)))
}

// packed is a batch of keys (and optionally values) laid back to back in
// Go memory without Go pointers, so it can be lent to C in one call.
type packed struct {
	keys  []byte
	klens []C.size_t
	vals  []byte
	vlens []C.size_t
	exps  []C.int64_t
	flags []C.uint32_t
	rcs   []C.int32_t
}

func (p *packed) reset(n int) {
	p.keys = p.keys[:0]
	p.klens = p.klens[:0]
	p.vals = p.vals[:0]
	p.vlens = p.vlens[:0]
	p.exps = p.exps[:0]
	p.flags = p.flags[:0]
	if cap(p.rcs) < n {
		p.rcs = make([]C.int32_t, n)
	}
	p.rcs = p.rcs[:n]
}

func (p *packed) addKey(k string) {
	p.keys = append(p.keys, k...)
	p.klens = append(p.klens, C.size_t(len(k)))
}

func (p *packed) addItem(k string, v []byte, exp int32, flags uint32) {
	p.addKey(k)
	p.vals = append(p.vals, v...)
	p.vlens = append(p.vlens, C.size_t(len(v)))
	p.exps = append(p.exps, C.int64_t(exp))
	p.flags = append(p.flags, C.uint32_t(flags))
}

func (p *packed) rc(i int) ReturnCode { return ReturnCode(p.rcs[i]) }

func (p *packed) setRC(i int, rc ReturnCode) { p.rcs[i] = C.int32_t(rc) }

// storeMulti stores every item of p with op, one return code per item.
// With keepTimeouts, the servers that timed out in the handle's previous
// call (setPipelined) are skipped at once.
func (h *cHandle) storeMulti(ms int32, op storeOp, p *packed, keepTimeouts bool) {
	n := len(p.klens)
	if n == 0 {
		return
	}
	keep := C.int(0)
	if keepTimeouts {
		keep = 1
	}
	C.golibmc_store_multi(h.p, C.int32_t(ms), C.int(op), C.size_t(n), cBytes(p.keys), &p.klens[0],
		cBytes(p.vals), &p.vlens[0], &p.exps[0], &p.flags[0], &p.rcs[0], keep)
}

// setPipelined stores every item of p with buffered memcached_set calls,
// then reads them back with one memcached_mget (golibmc_set_pipelined).
// found is called for each item read back; p.rcs gets each set's code
// (BUFFERED when it was sent). The returned code is the flush's or mget's.
func (h *cHandle) setPipelined(ms int32, p *packed, found func(key []byte, vlen int, flags uint32)) ReturnCode {
	n := len(p.klens)
	if n == 0 {
		return ReturnSuccess
	}
	var count C.size_t
	rc := ReturnCode(C.golibmc_set_pipelined(h.p, C.int32_t(ms), C.size_t(n), cBytes(p.keys), &p.klens[0],
		cBytes(p.vals), &p.vlens[0], &p.exps[0], &p.flags[0], &p.rcs[0], &count))
	eachRecord(h.out(), int(count), func(key, value []byte, flags uint32, _ uint64) {
		found(key, len(value), flags)
	})
	return rc
}

// eachRecord walks count records written by golibmc_put_result; key and
// value point into C memory and are valid only during fn.
func eachRecord(buf []byte, count int, fn func(key, value []byte, flags uint32, cas uint64)) {
	ne := binary.NativeEndian
	for i := 0; i < count && len(buf) >= 24; i++ {
		cas := ne.Uint64(buf)
		flags := ne.Uint32(buf[8:])
		klen := int(ne.Uint32(buf[12:]))
		vlen := int(ne.Uint64(buf[16:]))
		buf = buf[24:]
		fn(buf[:klen], buf[klen:klen+vlen], flags, cas)
		buf = buf[klen+vlen:]
	}
}

// cHeapInUse is glibc's count of malloc'd bytes (-1 elsewhere), for leak checks.
func cHeapInUse() int64 { return int64(C.golibmc_c_heap()) }

// deleteKey is memcached_delete.
func (h *cHandle) deleteKey(ms int32, key string) ReturnCode {
	return ReturnCode(C.golibmc_delete(h.p, C.int32_t(ms), cStr(key), C.size_t(len(key))))
}

// deleteMulti deletes every key of p, one return code per key.
func (h *cHandle) deleteMulti(ms int32, p *packed) {
	if n := len(p.klens); n > 0 {
		C.golibmc_delete_multi(h.p, C.int32_t(ms), C.size_t(n), cBytes(p.keys), &p.klens[0], &p.rcs[0])
	}
}

// incr is memcached_increment_by_key / memcached_decrement_by_key.
func (h *cHandle) incr(ms int32, decr bool, key string, delta uint64) (uint64, ReturnCode) {
	d := C.int(0)
	if decr {
		d = 1
	}
	rc := ReturnCode(C.golibmc_incr(h.p, C.int32_t(ms), d, cStr(key), C.size_t(len(key)), C.uint64_t(delta)))
	if !rc.Success() {
		return 0, rc
	}
	return uint64(h.p.num), rc
}

// incrMulti increments every key of p by delta; values[i] gets key i's new value.
func (h *cHandle) incrMulti(ms int32, p *packed, delta uint64, values []uint64) {
	if n := len(p.klens); n > 0 {
		C.golibmc_incr_multi(h.p, C.int32_t(ms), C.size_t(n), cBytes(p.keys), &p.klens[0], C.uint64_t(delta),
			(*C.uint64_t)(unsafe.Pointer(&values[0])), &p.rcs[0])
	}
}

// touch is memcached_touch.
func (h *cHandle) touch(ms int32, key string, exp int32) ReturnCode {
	return ReturnCode(C.golibmc_touch(h.p, C.int32_t(ms), cStr(key), C.size_t(len(key)), C.time_t(exp)))
}

// mget is memcached_mget of every key in p followed by memcached_fetch_result
// until the end; each item found is passed to yield, with its value copied.
func (h *cHandle) mget(ms int32, p *packed, yield func(key []byte, value []byte, flags uint32, cas uint64)) ReturnCode {
	n := len(p.klens)
	if n == 0 {
		return ReturnSuccess
	}
	var count C.size_t
	rc := ReturnCode(C.golibmc_mget(h.p, C.int32_t(ms), C.size_t(n), cBytes(p.keys), &p.klens[0], &count))
	eachRecord(h.out(), int(count), func(key, value []byte, flags uint32, cas uint64) {
		v := make([]byte, len(value))
		copy(v, value)
		yield(key, v, flags, cas)
	})
	return rc
}

// readServer decodes one server identity written by golibmc_put_server.
func readServer(b []byte) (serverID, []byte) {
	if len(b) < 8 {
		return serverID{}, nil
	}
	ne := binary.NativeEndian
	port := ne.Uint32(b)
	n := int(ne.Uint32(b[4:]))
	return serverID{host: string(b[8 : 8+n]), port: port}, b[8+n:]
}

// stats is memcached_stat_execute with args ("" for the general stats).
func (h *cHandle) stats(ms int32, args string, yield func(s serverID, key, value string)) ReturnCode {
	var ca *C.char
	if args != "" {
		ca = C.CString(args)
		defer C.free(unsafe.Pointer(ca))
	}
	rc := ReturnCode(C.golibmc_stats(h.p, C.int32_t(ms), ca))
	buf := h.out()
	ne := binary.NativeEndian
	for len(buf) > 0 {
		var s serverID
		s, buf = readServer(buf)
		if len(buf) < 8 {
			break
		}
		kl, vl := int(ne.Uint32(buf)), int(ne.Uint32(buf[4:]))
		buf = buf[8:]
		yield(s, string(buf[:kl]), string(buf[kl:kl+vl]))
		buf = buf[kl+vl:]
	}
	return rc
}

// version is memcached_version, then each server's reported version.
func (h *cHandle) version(ms int32, yield func(s serverID, version string)) ReturnCode {
	rc := ReturnCode(C.golibmc_version(h.p, C.int32_t(ms)))
	buf := h.out()
	for len(buf) > 0 {
		var s serverID
		s, buf = readServer(buf)
		if len(buf) < 3 {
			break
		}
		v := strconv.Itoa(int(buf[0])) + "." + strconv.Itoa(int(buf[1])) + "." + strconv.Itoa(int(buf[2]))
		buf = buf[3:]
		yield(s, v)
	}
	return rc
}

// flush is memcached_flush.
func (h *cHandle) flush(ms int32, exp int32) ReturnCode {
	return ReturnCode(C.golibmc_flush(h.p, C.int32_t(ms), C.time_t(exp)))
}

// libraryVersion is memcached_lib_version: the version of the libmemcached
// the process actually loaded (HeaderVersion is the one compiled against).
func libraryVersion() string { return C.GoString(C.memcached_lib_version()) }
