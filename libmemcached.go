package libmemcached

// This file is the thin cgo layer: the only Go code that calls libmemcached.
// Each function passes one whole operation to one C function (declared in
// golibmc.h, the boundary; defined in the .c file of its concern) and
// returns what that call produced; it decides nothing (which outcome means
// what, and when a connection is dropped, is decided by the client).
//
// Memory rules kept by every function below:
//   - Go memory passed to C (keys, values, packed key buffers, length
//     arrays, the per-key result array) holds no Go pointers and is
//     borrowed only for the duration of the call; C keeps no reference to
//     it (the C side clears its key pointer arrays before returning).
//   - Results written into the handle's C buffers are copied into Go
//     memory before the handle is used again; the buffers are reused.
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
	"unsafe"
)

// placeholder is lent to C in place of an empty Go buffer, so a valid
// pointer is always passed (unsafe.SliceData of an empty slice may be nil).
var placeholder = [1]byte{0}

// cStr lends the bytes of a Go string to C for one call.
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

// checkLayout is golibmc_layout_check: which mirror of libmemcached's
// private instance struct matches the loaded library (11 for 1.1.x, 10 for
// 1.0.18), or 0 when none does or enabled is false (nothing is looked at),
// and the features that need it are off.
func checkLayout(enabled bool) int { return int(C.golibmc_layout_check(cBool(enabled))) }

// HeaderVersion is the version of the libmemcached headers the package was
// compiled against (LIBMEMCACHED_VERSION_STRING); LibraryVersion is the
// one the process loaded.
var HeaderVersion = C.GoString(C.golibmc_header_version())

// libraryVersion is memcached_lib_version: the version of the libmemcached
// the process actually loaded (HeaderVersion is the one compiled against).
func libraryVersion() string { return C.GoString(C.memcached_lib_version()) }

// cMaster is a configured memcached_st that is never used for I/O: it is the
// template handles are cloned from, and answers placement questions.
type cMaster struct{ p *C.memcached_st }

// newCMaster creates an empty master (memcached_create).
func newCMaster() (cMaster, bool) {
	p := C.memcached_create(nil)
	return cMaster{p}, p != nil
}

// newCMasterFromConfig builds a master from config with memcached(); when
// that fails, libmemcached_check_configuration (which parses and builds a
// client too: called only then, so a valid configuration is built once)
// describes the problem, and that description is returned.
func newCMasterFromConfig(config string) (cMaster, string) {
	if p := C.memcached(cStr(config), C.size_t(len(config))); p != nil {
		return cMaster{p}, ""
	}
	const errLen = 512
	var buf [errLen]C.char
	if rc := ReturnCode(C.libmemcached_check_configuration(cStr(config), C.size_t(len(config)), &buf[0], errLen)); rc != ReturnSuccess {
		return cMaster{}, C.GoString(&buf[0])
	}
	return cMaster{}, "memcached() could not build a client from the configuration"
}

// free releases the master (memcached_free).
func (m cMaster) free() { C.memcached_free(m.p) }

// addServer adds one server (memcached_server_add_with_weight, or its
// unix socket variant). host is a name, an address, or a socket path.
func (m cMaster) addServer(kind ConnectionType, host string, port uint16, weight uint32) ReturnCode {
	ch := C.CString(host)
	defer C.free(unsafe.Pointer(ch))
	if kind == ConnectionUnixSocket {
		return ReturnCode(C.memcached_server_add_unix_socket_with_weight(m.p, ch, C.uint32_t(weight)))
	}
	return ReturnCode(C.memcached_server_add_with_weight(m.p, ch, C.in_port_t(port), C.uint32_t(weight)))
}

// serverCount is memcached_server_count.
func (m cMaster) serverCount() int { return int(C.memcached_server_count(m.p)) }

// setBehavior is golibmc_behavior_set: memcached_behavior_set, with
// remove_failed the auto_eject switch on every libmemcached version.
func (m cMaster) setBehavior(b Behavior, v uint64) ReturnCode {
	return ReturnCode(C.golibmc_behavior_set(m.p, C.memcached_behavior_t(b), C.uint64_t(v)))
}

// behavior is golibmc_behavior_get: memcached_behavior_get without its
// side effects (it never opens a connection) and reading BINARY_PROTOCOL
// correctly.
func (m cMaster) behavior(b Behavior) uint64 {
	return uint64(C.golibmc_behavior_get(m.p, C.memcached_behavior_t(b)))
}

// lastError is memcached_last_error_message.
func (m cMaster) lastError() string {
	return cleanMessage(C.GoString(C.memcached_last_error_message(m.p)))
}

// setNamespace sets libmemcached's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY).
func (m cMaster) setNamespace(prefix string) ReturnCode {
	cp := C.CString(prefix)
	defer C.free(unsafe.Pointer(cp))
	return ReturnCode(C.memcached_callback_set(m.p, C.MEMCACHED_CALLBACK_PREFIX_KEY, unsafe.Pointer(cp)))
}

// namespace is the key prefix in force (memcached_callback_get), however it was set.
func (m cMaster) namespace() string {
	if p := C.golibmc_namespace(m.p); p != nil {
		return C.GoString(p)
	}
	return ""
}

// setSASL sets SASL credentials (memcached_set_sasl_auth_data); libmemcached copies them.
func (m cMaster) setSASL(user, password string) ReturnCode {
	cu := C.CString(user)
	defer C.free(unsafe.Pointer(cu))
	cp := C.CString(password)
	defer C.free(unsafe.Pointer(cp))
	return ReturnCode(C.memcached_set_sasl_auth_data(m.p, cu, cp))
}

// servers lists the master's servers in index order (memcached_server_instance_by_position).
func (m cMaster) servers(scratch *cHandle) []serverID {
	if C.golibmc_servers(scratch.p, m.p) == 0 {
		return nil
	}
	var out []serverID
	for b := scratch.out(); len(b) > 0; {
		var id serverID
		id, b = readServer(b)
		out = append(out, id)
	}
	return out
}

// serverByKey is memcached_server_by_key on the master (after rebuilding
// its distribution for ejected servers): the server libmemcached picks for
// key. The scratch handle only lends its buffer.
func (m cMaster) serverByKey(scratch *cHandle, key string) (serverID, ReturnCode) {
	rc := ReturnCode(C.golibmc_server_by_key(scratch.p, m.p, cStr(key), C.size_t(len(key))))
	if rc != ReturnSuccess {
		return serverID{}, rc
	}
	id, _ := readServer(scratch.out())
	return id, rc
}

// applyEjections marks servers idx ejected until the Unix times until
// (memcached_instance_next_retry) and rebuilds the distribution.
func (m cMaster) applyEjections(idx []uint32, until []int64) {
	if len(idx) > 0 {
		C.golibmc_apply_ejections(m.p, C.size_t(len(idx)), (*C.uint32_t)(unsafe.Pointer(&idx[0])), (*C.int64_t)(unsafe.Pointer(&until[0])))
	}
}

// hashValue is memcached_generate_hash_value: the hash of key with algorithm h.
func hashValue(key string, h Hash) uint32 {
	return uint32(C.memcached_generate_hash_value(cStr(key), C.size_t(len(key)), C.memcached_hash_t(h)))
}

// readServer decodes one server identity written by golibmc_put_server
// (a golibmc_server_id_head, then the name).
func readServer(b []byte) (serverID, []byte) {
	const head = C.GOLIBMC_SERVER_ID_HEAD
	if len(b) < head {
		return serverID{}, nil
	}
	ne := binary.NativeEndian
	n := int(ne.Uint32(b[C.GOLIBMC_SERVER_ID_NAMELEN:]))
	if len(b) < head+n {
		return serverID{}, nil
	}
	return serverID{port: ne.Uint32(b[C.GOLIBMC_SERVER_ID_PORT:]), weight: ne.Uint32(b[C.GOLIBMC_SERVER_ID_WEIGHT:]),
		kind: ConnectionType(ne.Uint32(b[C.GOLIBMC_SERVER_ID_TYPE:])), host: string(b[head : head+n])}, b[head+n:]
}

// cHandle is one golibmc_handle (a checked clone of the master), used by
// one goroutine at a time, and the per-key result array lent to its calls.
type cHandle struct {
	p   *C.golibmc_handle
	res []C.golibmc_res
}

// newHandle clones the master into a new handle (golibmc_handle_new:
// memcached_clone, the master's ejections applied, repaired and checked
// against the master).
func (m cMaster) newHandle(ejIdx []uint32, ejUntil []int64) (*cHandle, string) {
	var buf [256]C.char
	var ip *C.uint32_t
	var up *C.int64_t
	if len(ejIdx) > 0 {
		ip, up = (*C.uint32_t)(unsafe.Pointer(&ejIdx[0])), (*C.int64_t)(unsafe.Pointer(&ejUntil[0]))
	}
	p := C.golibmc_handle_new(m.p, C.size_t(len(ejIdx)), ip, up, &buf[0], C.size_t(len(buf)))
	if p == nil {
		return nil, C.GoString(&buf[0])
	}
	return &cHandle{p: p}, ""
}

// newSingleHandle is a handle for the master's server i alone
// (golibmc_handle_new_single), for the commands each server answers.
func (m cMaster) newSingleHandle(i int) (*cHandle, string) {
	var buf [256]C.char
	p := C.golibmc_handle_new_single(m.p, C.uint32_t(i), &buf[0], C.size_t(len(buf)))
	if p == nil {
		return nil, C.GoString(&buf[0])
	}
	return &cHandle{p: p}, ""
}

// free releases the handle, closing its connections (memcached_free).
func (h *cHandle) free() { C.golibmc_handle_free(h.p) }

// quit closes the handle's connections (memcached_quit); the next call reconnects.
func (h *cHandle) quit() { C.memcached_quit(h.p.mc) }

// leftover is the index of a server whose connection holds bytes no
// request expects (golibmc_leftover: a reply that came after its call
// ended), or -1.
func (h *cHandle) leftover() int { return int(C.golibmc_leftover(h.p)) - 1 }

// applyEjections is cMaster.applyEjections on the handle's clone.
func (h *cHandle) applyEjections(idx []uint32, until []int64) {
	cMaster{h.p.mc}.applyEjections(idx, until)
}

// behavior is golibmc_behavior_get on the handle's clone.
func (h *cHandle) behavior(b Behavior) uint64 { return cMaster{h.p.mc}.behavior(b) }

// results makes room for n per-key results and returns them.
func (h *cHandle) results(n int) []C.golibmc_res {
	if cap(h.res) < n {
		h.res = make([]C.golibmc_res, max(n, 8))
	}
	h.res = h.res[:n]
	return h.res
}

// forget drops the results of the handle's last call (see resultCount).
func (h *cHandle) forget() { h.res = h.res[:0] }

// resultCount is how many results the handle's last call left (0 after
// forget, until a call).
func (h *cHandle) resultCount() int { return len(h.res) }

// nout is the length of out.
func (h *cHandle) nout() int { return int(h.p.out_len) }

// out is the handle's record buffer, valid until its next call.
func (h *cHandle) out() []byte {
	if h.p.out_len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(h.p.out)), int(h.p.out_len))
}

// message returns the message record at msg (1 + offset), or "".
func (h *cHandle) message(msg C.uint32_t) string {
	if msg == 0 || h.p.msgs_len == 0 {
		return ""
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(h.p.msgs)), int(h.p.msgs_len))
	off := int(msg) - 1
	if off+C.GOLIBMC_MSG_HEAD > len(b) {
		return ""
	}
	n := int(binary.NativeEndian.Uint32(b[off+C.GOLIBMC_MSG_LEN:]))
	off += C.GOLIBMC_MSG_HEAD
	if off+n > len(b) {
		return ""
	}
	return cleanMessage(string(b[off : off+n]))
}

// result returns key i's outcome of the handle's last call.
func (h *cHandle) result(i int) keyResult {
	r := &h.res[i]
	s := -1
	if r.server != C.GOLIBMC_NONE {
		s = int(r.server)
	}
	return keyResult{rc: ReturnCode(r.rc), server: s, msg: h.message(r.msg), flags: uint32(r.flags),
		cas: uint64(r.cas), num: uint64(r.num), sent: r.sent != 0}
}

// servers returns every server's part of the handle's last call.
func (h *cHandle) servers(out []serverResult) []serverResult {
	out = out[:0]
	srv := unsafe.Slice(h.p.srv, int(h.p.nsrv))
	for i := range srv {
		s := &srv[i]
		out = append(out, serverResult{rc: ReturnCode(s.rc), msg: h.message(s.msg), fd: int(s.fd),
			pending: int(s.pending), unread: int(s.unread), unsync: s.unsync != 0, wait: s.wait != 0, stale: s.stale != 0})
	}
	return out
}

// dirty reports whether a server's part of the handle's last call was not
// clean (failed, replies pending or out of step, bytes left unparsed): when
// it is not, servers has nothing to settle.
func (h *cHandle) dirty() bool { return h.p.dirty != 0 }

// nsrv is how many servers the handle's last call had.
func (h *cHandle) nsrv() int { return int(h.p.nsrv) }

// nrecords is how many records the handle's last call wrote.
func (h *cHandle) nrecords() int { return int(h.p.nrecords) }

// record1 returns the only record the handle's last read wrote (ok false
// when it wrote none or more than one); key and value point into C memory
// and are valid until the handle's next call.
func (h *cHandle) record1() (key, value []byte, flags uint32, cas uint64, ok bool) {
	buf := h.out()
	if h.p.nrecords != 1 || len(buf) < C.GOLIBMC_ITEM_HEAD {
		return nil, nil, 0, 0, false
	}
	ne := binary.NativeEndian
	cas = ne.Uint64(buf[C.GOLIBMC_ITEM_CAS:])
	vlen := ne.Uint64(buf[C.GOLIBMC_ITEM_VLEN:])
	flags = ne.Uint32(buf[C.GOLIBMC_ITEM_FLAGS:])
	klen := uint64(ne.Uint32(buf[C.GOLIBMC_ITEM_KLEN:]))
	buf = buf[C.GOLIBMC_ITEM_HEAD:]
	if uint64(len(buf)) != klen+vlen {
		return nil, nil, 0, 0, false
	}
	return buf[:klen], buf[klen:], flags, cas, true
}

// records walks the items a read wrote (golibmc_put_item), with the index
// of the server that sent each (-1 when unknown); key and value point into
// C memory and are valid only during fn.
func (h *cHandle) records(fn func(key, value []byte, flags uint32, cas uint64, server int)) {
	for r := h.recordIter(); ; {
		k, v, flags, cas, server, ok := r.next()
		if !ok {
			return
		}
		fn(k, v, flags, cas, server)
	}
}

// recordIter walks the items the handle's last read wrote, as records does.
func (h *cHandle) recordIter() recordIter { return recordIter{buf: h.out(), n: int(h.p.nrecords)} }

// recordIter is a walk over a read's item records (see records).
type recordIter struct {
	buf []byte
	n   int // records left
}

// next returns the next record (ok false at the end); key and value point
// into C memory and are valid until the handle's next call.
func (r *recordIter) next() (key, value []byte, flags uint32, cas uint64, server int, ok bool) {
	if r.n <= 0 || len(r.buf) < C.GOLIBMC_ITEM_HEAD {
		return nil, nil, 0, 0, 0, false
	}
	ne := binary.NativeEndian
	cas = ne.Uint64(r.buf[C.GOLIBMC_ITEM_CAS:])
	vlen := ne.Uint64(r.buf[C.GOLIBMC_ITEM_VLEN:])
	flags = ne.Uint32(r.buf[C.GOLIBMC_ITEM_FLAGS:])
	klen := uint64(ne.Uint32(r.buf[C.GOLIBMC_ITEM_KLEN:]))
	server = int(int32(ne.Uint32(r.buf[C.GOLIBMC_ITEM_SERVER:])))
	b := r.buf[C.GOLIBMC_ITEM_HEAD:]
	if uint64(len(b)) < klen+vlen {
		r.n = 0
		return nil, nil, 0, 0, 0, false
	}
	r.buf, r.n = b[klen+vlen:], r.n-1
	return b[:klen], b[klen : klen+vlen], flags, cas, server, true
}

// recordSizes returns how many records the handle's last read wrote, and
// the bytes of their values.
func (h *cHandle) recordSizes() (n, valueBytes int) {
	buf := h.out()
	n = int(h.p.nrecords)
	for i := 0; i < n && len(buf) >= C.GOLIBMC_ITEM_HEAD; i++ {
		vlen := int(binary.NativeEndian.Uint64(buf[C.GOLIBMC_ITEM_VLEN:]))
		klen := int(binary.NativeEndian.Uint32(buf[C.GOLIBMC_ITEM_KLEN:]))
		if len(buf) < C.GOLIBMC_ITEM_HEAD+klen+vlen {
			break
		}
		valueBytes += vlen
		buf = buf[C.GOLIBMC_ITEM_HEAD+klen+vlen:]
	}
	return n, valueBytes
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
	args  []C.uint64_t // per item: a CAS's unique or a counter's delta (none: 0 each)
}

func (p *packed) reset() {
	p.keys = p.keys[:0]
	p.klens = p.klens[:0]
	p.vals = p.vals[:0]
	p.vlens = p.vlens[:0]
	p.exps = p.exps[:0]
	p.flags = p.flags[:0]
	p.args = p.args[:0]
}

func (p *packed) len() int { return len(p.klens) }

// room is how many keys, and how many bytes of keys and values, p holds
// without growing.
func (p *packed) room() (keys, bytes int) { return cap(p.klens), cap(p.keys) + cap(p.vals) }

// slice makes dst the items [from, to) of p (the values copied; a batch is
// sent in chunks).
func (p *packed) slice(dst *packed, from, to int) {
	dst.reset()
	koff, voff := 0, 0
	for i := 0; i < from; i++ {
		koff += int(p.klens[i])
		if len(p.vlens) > 0 {
			voff += int(p.vlens[i])
		}
	}
	kend, vend := koff, voff
	for i := from; i < to; i++ {
		kend += int(p.klens[i])
		if len(p.vlens) > 0 {
			vend += int(p.vlens[i])
		}
	}
	dst.keys = append(dst.keys, p.keys[koff:kend]...)
	dst.klens = append(dst.klens, p.klens[from:to]...)
	if len(p.vlens) > 0 {
		dst.vals = append(dst.vals, p.vals[voff:vend]...)
		dst.vlens = append(dst.vlens, p.vlens[from:to]...)
		dst.exps = append(dst.exps, p.exps[from:to]...)
		dst.flags = append(dst.flags, p.flags[from:to]...)
	}
	if len(p.args) > 0 {
		dst.args = append(dst.args, p.args[from:to]...)
	}
}

func (p *packed) addKey(k string) {
	p.keys = append(p.keys, k...)
	p.klens = append(p.klens, C.size_t(len(k)))
}

// addArg gives the item added last its CAS unique or delta: a batch gives
// every item one, or none.
func (p *packed) addArg(a uint64) { p.args = append(p.args, C.uint64_t(a)) }

func (p *packed) addItem(k string, v []byte, exp int32, flags uint32) {
	p.addKey(k)
	p.vals = append(p.vals, v...)
	p.vlens = append(p.vlens, C.size_t(len(v)))
	p.exps = append(p.exps, C.int64_t(exp))
	p.flags = append(p.flags, C.uint32_t(flags))
}

// The pointer arguments of a packed batch (nil where a batch has no values).
func (p *packed) cKeys() (*C.char, *C.size_t) { return cBytes(p.keys), &p.klens[0] }

func (p *packed) cVals() (*C.char, *C.size_t, *C.int64_t, *C.uint32_t) {
	if len(p.vlens) == 0 {
		return nil, nil, nil, nil
	}
	return cBytes(p.vals), &p.vlens[0], &p.exps[0], &p.flags[0]
}

func (p *packed) cArgs() *C.uint64_t {
	if len(p.args) == 0 {
		return nil
	}
	return &p.args[0]
}

// The command and serverOp values (thin.go) are golibmc.h's enums; both
// count up from 0, so equal first and last members mean equal members.
// Each index below is out of range, and the build fails, if one drifts.
var (
	_ = [1]struct{}{}[cmdSet-C.GOLIBMC_SET]
	_ = [1]struct{}{}[cmdTouch-C.GOLIBMC_TOUCH]
	_ = [1]struct{}{}[srvStats-C.GOLIBMC_STATS]
	_ = [1]struct{}{}[srvFlush-C.GOLIBMC_FLUSH]
)

// cgoAvailable: this build calls libmemcached (nocgo.go has the other one).
const cgoAvailable = true

// getMulti reads every key of p: memcached_mget, then
// memcached_fetch_result until every server answered (golibmc_get_multi).
// The outcome is in the results, per key and per server.
func (h *cHandle) getMulti(ms int32, p *packed) {
	res := h.results(p.len())
	k, kl := p.cKeys()
	C.golibmc_get_multi(h.p, C.int32_t(ms), C.size_t(p.len()), k, kl, &res[0])
}

// getSend sends the read of every key of p (golibmc_get_send); the replies
// are read by getRecv once Go has waited for them.
func (h *cHandle) getSend(ms int32, p *packed) {
	res := h.results(p.len())
	k, kl := p.cKeys()
	C.golibmc_get_send(h.p, C.int32_t(ms), C.size_t(p.len()), k, kl, &res[0])
}

// getRecv reads what has arrived of the replies of getSend, without
// waiting; late lists the servers that did not send more in time. It
// returns how many servers still wait for bytes (serverResult.wait); at 0
// the read is over (golibmc_get_recv).
func (h *cHandle) getRecv(ms int32, p *packed, late []uint32, block bool) int {
	res := h.results(p.len())
	k, kl := p.cKeys()
	return int(C.golibmc_get_recv(h.p, C.int32_t(ms), C.size_t(p.len()), k, kl, &res[0], lateList(late), C.size_t(len(late)), cBool(block)))
}

// cBool is a C truth value.
func cBool(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

// lateList lends a list of server indices to C.
func lateList(late []uint32) *C.uint32_t {
	if len(late) == 0 {
		return nil
	}
	return (*C.uint32_t)(unsafe.Pointer(&late[0]))
}

// keyServers records in the results the server of every key of p
// (golibmc_key_servers), which a read records only when a server failed.
func (h *cHandle) keyServers(p *packed) {
	res := h.results(p.len())
	k, kl := p.cKeys()
	C.golibmc_key_servers(h.p, C.size_t(p.len()), k, kl, &res[0])
}

// getAndTouch touches then reads one key (golibmc_gat).
func (h *cHandle) getAndTouch(ms int32, key string, exp int32) {
	res := h.results(1)
	C.golibmc_gat(h.p, C.int32_t(ms), cStr(key), C.size_t(len(key)), C.time_t(exp), &res[0])
}

// requests runs cmd (a storage command, delete, increment, decrement or
// touch) for every key (and item) of p, waiting in C: libmemcached sends
// each request, and golibmc reads and checks every reply (golibmc_requests;
// one libmemcached call each where it cannot: see canRead). Each item's CAS
// id or delta is p's (addArg).
func (h *cHandle) requests(ms int32, cmd command, p *packed) {
	res := h.results(p.len())
	k, kl := p.cKeys()
	v, vl, e, f := p.cVals()
	C.golibmc_requests(h.p, C.int32_t(ms), C.int(cmd), C.size_t(p.len()), k, kl, v, vl, e, f, p.cArgs(), &res[0])
}

// verifySocket tells whether server i's socket, read through the private
// layout, is surely its connection (golibmc_verify_socket).
func (h *cHandle) verifySocket(i int) socketCheck {
	return socketCheck(C.golibmc_verify_socket(h.p.mc, C.uint32_t(i)))
}

// canRead reports whether golibmc reads the replies of cmd on this handle
// (golibmc_can_read), which a split call needs.
func (h *cHandle) canRead(cmd command) bool { return C.golibmc_can_read(h.p, C.int(cmd)) != 0 }

// verifyFD is golibmc_verify_fd: verifySocket for any descriptor (tests).
func (h *cHandle) verifyFD(i, fd int) socketCheck {
	return socketCheck(C.golibmc_verify_fd(h.p.mc, C.uint32_t(i), C.int(fd)))
}

// The socketCheck values are golibmc.h's (the build fails if one drifts).
var (
	_ = [1]struct{}{}[socketSame-C.GOLIBMC_SOCKET_SAME]
	_ = [1]struct{}{}[socketOther-C.GOLIBMC_SOCKET_OTHER]
	_ = [1]struct{}{}[socketUnknown-C.GOLIBMC_SOCKET_UNKNOWN]
)

// requestSend writes at most requestChunk requests of cmd
// (golibmc_request_send); requestRecv reads their replies.
func (h *cHandle) requestSend(ms int32, cmd command, p *packed) {
	res := h.results(p.len())
	k, kl := p.cKeys()
	v, vl, e, f := p.cVals()
	C.golibmc_request_send(h.p, C.int32_t(ms), C.int(cmd), C.size_t(p.len()), k, kl, v, vl, e, f, p.cArgs(), &res[0])
}

// requestRecv reads what has arrived of the replies of requestSend, without
// waiting (block: waiting in C for the rest); late lists the servers that
// did not answer in time. It returns how many servers still wait for bytes
// (golibmc_request_recv).
func (h *cHandle) requestRecv(ms int32, cmd command, n int, late []uint32, block bool) int {
	return int(C.golibmc_request_recv(h.p, C.int32_t(ms), C.int(cmd), C.size_t(n), &h.res[0], lateList(late), C.size_t(len(late)), cBool(block)))
}

// requestChunk is how many requests requestSend may carry (GOLIBMC_POLICY_CHUNK).
const requestChunk = C.GOLIBMC_POLICY_CHUNK

// serverCommand runs op on a one-server handle (memcached_stat_execute,
// memcached_version, memcached_flush); stats come back through each.
func (h *cHandle) serverCommand(ms int32, op serverOp, args string, exp int32, each func(key, value string)) {
	res := h.results(1)
	var ca *C.char
	if args != "" {
		ca = C.CString(args)
		defer C.free(unsafe.Pointer(ca))
	}
	C.golibmc_server_command(h.p, C.int32_t(ms), C.int(op), ca, C.time_t(exp), &res[0])
	if op != srvStats || each == nil {
		return
	}
	buf := h.out()
	ne := binary.NativeEndian
	for i := 0; i < int(h.p.nrecords) && len(buf) >= C.GOLIBMC_STAT_HEAD; i++ { // golibmc_stat_put's records
		kl, vl := int(ne.Uint32(buf[C.GOLIBMC_STAT_KLEN:])), int(ne.Uint32(buf[C.GOLIBMC_STAT_VLEN:]))
		buf = buf[C.GOLIBMC_STAT_HEAD:]
		if len(buf) < kl+vl {
			return
		}
		each(string(buf[:kl]), string(buf[kl:kl+vl]))
		buf = buf[kl+vl:]
	}
}

// gomemcache's placement (placement_gomemcache.go).

// setGomemcachePlacement installs gomemcache's key placement on the master
// (golibmc_set_gomemcache_placement: the whole CRC-32 of the key as a
// custom key hash, as hashkit_set_custom_function sets one, and the modula
// distribution). See hashkit_functions(3) and memcached_behavior(3).
func (m cMaster) setGomemcachePlacement() ReturnCode {
	return ReturnCode(C.golibmc_set_gomemcache_placement(m.p))
}

// hasGomemcacheHash reports whether the master's key hash is gomemcache's
// (golibmc_has_gomemcache_hash).
func (m cMaster) hasGomemcacheHash() bool { return C.golibmc_has_gomemcache_hash(m.p) != 0 }

// hasGomemcacheHash reports whether the handle's clone kept gomemcache's
// key hash through memcached_clone.
func (h *cHandle) hasGomemcacheHash() bool { return C.golibmc_has_gomemcache_hash(h.p.mc) != 0 }

// gomemcacheHash is golibmc_gomemcache_hash, the function libmemcached
// calls to hash a key under gomemcache's placement: crc32.ChecksumIEEE.
func gomemcacheHash(key string) uint32 {
	return uint32(C.golibmc_gomemcache_hash(cStr(key), C.size_t(len(key)), nil))
}

// Placement at fleet scale (placement.go).

// holdDistribution makes the master's distribution modula without building
// it, so that servers added one by one do not each rebuild the continuum
// (golibmc_hold_distribution); it returns the distribution settle restores.
func (m cMaster) holdDistribution() int { return int(C.golibmc_hold_distribution(m.p)) }

// settle restores distribution d (-1: keeps the master's), turns weighted
// ketama on when a server weighs more than 1 (weighted: 1 or 0 when the
// caller knows, -1 to read it from the master's servers), and builds the
// distribution once from the master's settings (golibmc_settle).
func (m cMaster) settle(d, weighted int) ReturnCode {
	return ReturnCode(C.golibmc_settle(m.p, C.int(d), C.int(weighted)))
}

// cloneForChange copies the master for a behavior change
// (golibmc_master_clone: memcached_clone without building the
// distribution, every behavior checked and repaired); the caller settles
// the copy. On failure it returns libmemcached's or the check's message.
func (m cMaster) cloneForChange() (cMaster, string) {
	var buf [256]C.char
	p := C.golibmc_master_clone(m.p, &buf[0], C.size_t(len(buf)))
	if p == nil {
		return cMaster{}, C.GoString(&buf[0])
	}
	return cMaster{p}, ""
}

// setCRC32Hash makes the whole CRC-32 (IEEE) of the key the master's key
// hash (golibmc_set_crc32_hash; hasGomemcacheHash then reports it).
func (m cMaster) setCRC32Hash() { C.golibmc_set_crc32_hash(m.p) }

// newScratchHandle is a handle with no server (golibmc_handle_new_empty):
// the buffers placement queries on the master write into.
func newScratchHandle() *cHandle {
	p := C.golibmc_handle_new_empty()
	if p == nil {
		return nil
	}
	return &cHandle{p: p}
}

// checkTextRecord runs the check a text read's record passes before
// libmemcached parses it (golibmc_text_record) on rec, with the namespace
// ns and a CAS id expected or not: 1 for a complete item record, 2 for one
// not complete yet, 3 for another record that parses (END, an error line),
// 0 for one that does not; and the record's length. The tests of the
// grammar hold it to a model with it.
func checkTextRecord(rec []byte, ns string, cas bool) (kind, n int) {
	var l C.size_t
	nsb := append([]byte(ns), 0)
	var p *C.char
	if len(rec) > 0 {
		p = (*C.char)(unsafe.Pointer(&rec[0]))
	}
	c := C.int(0)
	if cas {
		c = 1
	}
	k := C.golibmc_check_text_record(p, C.size_t(len(rec)), (*C.char)(unsafe.Pointer(&nsb[0])), C.size_t(len(ns)), c, &l)
	return int(k), int(l)
}
