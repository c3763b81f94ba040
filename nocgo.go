//go:build !cgo

package libmemcached

// Built with CGO_ENABLED=0 there is no libmemcached to call: this file
// stands in for the thin layer (libmemcached.go) so that a program
// importing the package still compiles, and New and NewFromConfig return
// ErrNotSupported saying why (as go-sqlite3's static_mock.go does). No
// method below is reached: there is never a client to call them on.

// cgoAvailable: this build cannot call libmemcached.
const cgoAvailable = false

// LinkInfo says how libmemcached was linked into this binary.
const LinkInfo = "not linked: built with CGO_ENABLED=0"

// HeaderVersion is empty: no libmemcached headers were compiled in.
var HeaderVersion = ""

func libraryVersion() string                        { return "" }
func checkLayout(bool) int                          { return 0 }
func hashValue(string, Hash) uint32                 { return 0 }
func newCMaster() (cMaster, bool)                   { return cMaster{}, false }
func newCMasterFromConfig(string) (cMaster, string) { return cMaster{}, errNoCgo }

type cMaster struct{}

func (cMaster) free() {}
func (cMaster) addServer(ConnectionType, string, uint16, uint32) ReturnCode {
	return ReturnNotSupported
}
func (cMaster) serverCount() int                        { return 0 }
func (cMaster) setBehavior(Behavior, uint64) ReturnCode { return ReturnNotSupported }
func (cMaster) behavior(Behavior) uint64                { return 0 }
func (cMaster) lastError() string                       { return errNoCgo }
func (cMaster) setNamespace(string) ReturnCode          { return ReturnNotSupported }
func (cMaster) namespace() string                       { return "" }
func (cMaster) setSASL(string, string) ReturnCode       { return ReturnNotSupported }
func (cMaster) servers(*cHandle) []serverID             { return nil }
func (cMaster) serverByKey(*cHandle, string) (serverID, ReturnCode) {
	return serverID{}, ReturnNotSupported
}
func (cMaster) applyEjections([]uint32, []int64)               {}
func (cMaster) newHandle([]uint32, []int64) (*cHandle, string) { return nil, errNoCgo }
func (cMaster) newSingleHandle(int) (*cHandle, string)         { return nil, errNoCgo }
func (cMaster) holdDistribution() int                          { return 0 }
func (cMaster) settle(int, int) ReturnCode                     { return ReturnNotSupported }
func (cMaster) cloneForChange() (cMaster, string)              { return cMaster{}, errNoCgo }
func (cMaster) setCRC32Hash()                                  {}
func newScratchHandle() *cHandle                               { return nil }

type cHandle struct{}

func (*cHandle) free()                                                              {}
func (*cHandle) quit()                                                              {}
func (*cHandle) leftover() int                                                      { return -1 }
func (*cHandle) applyEjections([]uint32, []int64)                                   {}
func (*cHandle) behavior(Behavior) uint64                                           { return 0 }
func (*cHandle) result(int) keyResult                                               { return keyResult{rc: ReturnNotSupported} }
func (*cHandle) forget()                                                            {}
func (*cHandle) recordSizes() (int, int)                                            { return 0, 0 }
func (*cHandle) dirty() bool                                                        { return false }
func (*cHandle) nrecords() int                                                      { return 0 }
func (*cHandle) nsrv() int                                                          { return 0 }
func (*cHandle) recordIter() recordIter                                             { return recordIter{} }
func (*cHandle) record1() ([]byte, []byte, uint32, uint64, bool)                    { return nil, nil, 0, 0, false }
func (*cHandle) resultCount() int                                                   { return 0 }
func (*cHandle) servers(out []serverResult) []serverResult                          { return out[:0] }
func (*cHandle) records(func([]byte, []byte, uint32, uint64, int))                  {}
func (*cHandle) nout() int                                                          { return 0 }
func (*cHandle) out() []byte                                                        { return nil }
func (*cHandle) getMulti(int32, *packed)                                            {}
func (*cHandle) getAndTouch(int32, string, int32)                                   {}
func (*cHandle) keyServers(*packed)                                                 {}
func (*cHandle) requests(int32, command, *packed)                                   {}
func (*cHandle) serverCommand(int32, serverOp, string, int32, func(string, string)) {}
func (*cHandle) getSend(int32, *packed)                                             {}
func (*cHandle) getRecv(int32, *packed, []uint32, bool) int                         { return 0 }
func (*cHandle) requestSend(int32, command, *packed)                                {}
func (*cHandle) requestRecv(int32, command, int, []uint32, bool) int                { return 0 }
func (*cHandle) canRead(command) bool                                               { return false }
func (*cHandle) verifySocket(int) socketCheck                                       { return socketUnknown }

// requestChunk is how many requests go out before their replies are read:
// golibmc.h's GOLIBMC_POLICY_CHUNK, which the cgo build reads
// (TestNoCgoRequestChunk checks they are equal).
const requestChunk = 256

type packed struct{ n int }

func (p *packed) reset()                                { p.n = 0 }
func (p *packed) len() int                              { return p.n }
func (p *packed) room() (int, int)                      { return 0, 0 }
func (p *packed) addKey(string)                         { p.n++ }
func (p *packed) addArg(uint64)                         {}
func (p *packed) addItem(string, []byte, int32, uint32) { p.n++ }
func (p *packed) slice(dst *packed, from, to int)       { dst.n = to - from }

// recordIter walks a read's item records: none without cgo.
type recordIter struct{}

func (*recordIter) next() ([]byte, []byte, uint32, uint64, int, bool) {
	return nil, nil, 0, 0, 0, false
}

func checkTextRecord([]byte, string, bool) (int, int) { return 0, 0 }
