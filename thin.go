package libmemcached

// The types both builds of the thin layer share: libmemcached.go (cgo)
// and nocgo.go (CGO_ENABLED=0, where every call fails).

// keyResult is one key's outcome, read from the result array.
type keyResult struct {
	rc     ReturnCode
	server int // -1 when unknown
	msg    string
	flags  uint32
	cas    uint64
	num    uint64
	sent   bool // the request went out
}

// serverResult is one server's part of the handle's last call.
type serverResult struct {
	rc      ReturnCode // its failure, ReturnSuccess if none
	msg     string
	fd      int  // its socket, -1 if not connected or not readable here
	pending int  // replies libmemcached still expects from it
	unread  int  // bytes read from it and not parsed
	unsync  bool // a reply from it was not one expected
	wait    bool // a split call waits for its socket to be readable
	stale   bool // its reply was followed by more: none of its items can be trusted
}

// command selects the libmemcached call of golibmc_command, in the order
// of golibmc.h's enum (libmemcached.go checks it at build time).
type command int

const (
	cmdSet command = iota
	cmdAdd
	cmdReplace
	cmdAppend
	cmdPrepend
	cmdCAS
	cmdDelete
	cmdIncr
	cmdDecr
	cmdTouch
)

// serverOp selects the command of golibmc_server_command, in the order of
// golibmc.h's enum.
type serverOp int

const (
	srvStats serverOp = iota
	srvVersion
	srvPing
	srvFlush
)

// serverID identifies a server as libmemcached reports it.
type serverID struct {
	host   string
	port   uint32
	weight uint32
	kind   ConnectionType
}

// errNoCgo is why New fails in a build without cgo.
const errNoCgo = "built with CGO_ENABLED=0: this package calls libmemcached through cgo; build with CGO_ENABLED=1 and libmemcached installed (Debian: apt-get install libmemcached-dev)"

// noCgo is the error of New and NewFromConfig in a build without cgo.
func noCgo(op string) error {
	return &Error{Op: op, Code: ReturnNotSupported, Message: errNoCgo, sentinel: ErrNotSupported}
}
