package libmemcached

import (
	"context"
	"errors"
	"strconv"
	"strings"
)

// Sentinel errors. Every error the client returns either is one of these or
// is an *Error that unwraps to one of them, so callers test with errors.Is.
var (
	// ErrCacheMiss means the key is not on the server.
	ErrCacheMiss = errors.New("memcached: cache miss")
	// ErrNotStored means a conditional store (Add, Replace, Append, Prepend)
	// did not store the item because its condition was not met.
	ErrNotStored = errors.New("memcached: item not stored")
	// ErrCASConflict means CompareAndSwap lost: the item changed since its CasID was read.
	ErrCASConflict = errors.New("memcached: compare-and-swap conflict")
	// ErrMalformedKey means a key is empty, longer than 250 bytes, or holds a
	// byte <= 0x20 (space, control bytes, \r, \n, NUL) or 0x7f. Such a key is
	// rejected before anything is sent.
	ErrMalformedKey = errors.New("memcached: malformed key")
	// ErrNoServers means the client has no server (or none for the key).
	ErrNoServers = errors.New("memcached: no servers")
	// ErrClosed means the client was closed.
	ErrClosed = errors.New("memcached: client closed")
	// ErrTimeout means a poll, connect, send or receive timeout (or the
	// context's deadline, applied to them) expired.
	ErrTimeout = errors.New("memcached: timeout")
	// ErrTooLarge means the value is larger than the server accepts (its -I item size).
	ErrTooLarge = errors.New("memcached: value too large")
	// ErrServerDown means a server could not be reached or failed mid-call:
	// connection refused or reset, host lookup failure, read or write failure,
	// or a server marked dead or temporarily disabled by libmemcached.
	ErrServerDown = errors.New("memcached: server unavailable")
	// ErrNotNumeric means Increment or Decrement met a value that is not a
	// decimal unsigned 64-bit number.
	ErrNotNumeric = errors.New("memcached: value is not a number")
	// ErrNotSupported means libmemcached or the server does not support the
	// operation or setting (including deprecated behaviors).
	ErrNotSupported = errors.New("memcached: not supported")
	// ErrInvalidArguments means libmemcached refused an argument (a bad
	// behavior value, server spec or configuration string).
	ErrInvalidArguments = errors.New("memcached: invalid arguments")
	// ErrAuthFailed means SASL authentication failed or could not be done.
	ErrAuthFailed = errors.New("memcached: authentication failed")
	// ErrServerError means the server answered with an error (SERVER_ERROR, ERROR),
	// such as being out of memory.
	ErrServerError = errors.New("memcached: server error")
	// ErrClientError means the server rejected the request (CLIENT_ERROR).
	ErrClientError = errors.New("memcached: client error")
	// ErrProtocol means the server's answer could not be understood.
	ErrProtocol = errors.New("memcached: protocol error")
	// ErrMemory means libmemcached could not allocate memory.
	ErrMemory = errors.New("memcached: memory allocation failure")
	// ErrCanceled means the call's context was canceled before the call
	// finished (the error also unwraps to context.Canceled).
	ErrCanceled = errors.New("memcached: call canceled")
	// ErrFailure is any other libmemcached failure.
	ErrFailure = errors.New("memcached: failure")

	// ErrNotSent means a write (a store, Delete, Increment, Decrement,
	// Touch, GetAndTouch, FlushAll) was not sent, so the server did not
	// apply it: the call ended before it went out (its context, Close,
	// invalid input), or its server could not be asked (not reachable,
	// ejected, failed earlier in the same call). Retrying it is safe.
	ErrNotSent = errors.New("memcached: request not sent")
	// ErrOutcomeUnknown means a write was sent but no answer was read for
	// it: the call's deadline or context ended after it went out, the
	// connection failed, or the reply could not be understood. The server
	// may or may not have applied it: read the key to find out.
	//
	// Every error a write returns is exactly one of three kinds: the
	// server's answer (ErrCacheMiss, ErrNotStored, ErrCASConflict,
	// ErrTooLarge, ErrNotNumeric, ErrServerError, ErrClientError), or
	// ErrNotSent, or ErrOutcomeUnknown.
	ErrOutcomeUnknown = errors.New("memcached: request sent, outcome unknown")
)

// returnCodeErrors maps every memcached_return_t to nil (success) or a
// sentinel. It is deliberate and complete: TestEveryReturnCodeMapped fails
// on a code missing here, so a new libmemcached code is classified by hand.
// This file is the only place a return code becomes a sentinel: this table,
// and opErrors for the codes whose meaning depends on the operation.
var returnCodeErrors = map[ReturnCode]error{
	// The eight codes libmemcached's memcached_success() accepts.
	ReturnSuccess:  nil,
	ReturnStored:   nil,
	ReturnEnd:      nil,
	ReturnDeleted:  nil,
	ReturnValue:    nil,
	ReturnStat:     nil,
	ReturnItem:     nil,
	ReturnBuffered: nil,

	ReturnNotFound:         ErrCacheMiss,
	ReturnDataDoesNotExist: ErrCacheMiss,
	ReturnNotStored:        ErrNotStored,
	ReturnDataExists:       ErrCASConflict,

	ReturnBadKeyProvided: ErrMalformedKey,
	ReturnNoKeyProvided:  ErrMalformedKey,
	ReturnKeyTooBig:      ErrMalformedKey,

	ReturnNoServers: ErrNoServers,
	ReturnTimeout:   ErrTimeout,
	ReturnE2BIG:     ErrTooLarge,

	ReturnHostLookupFailure:         ErrServerDown,
	ReturnConnectionFailure:         ErrServerDown,
	ReturnConnectionBindFailure:     ErrServerDown,
	ReturnWriteFailure:              ErrServerDown,
	ReturnReadFailure:               ErrServerDown,
	ReturnUnknownReadFailure:        ErrServerDown,
	ReturnErrno:                     ErrServerDown,
	ReturnFailUnixSocket:            ErrServerDown,
	ReturnServerMarkedDead:          ErrServerDown,
	ReturnServerTemporarilyDisabled: ErrServerDown,

	ReturnNotSupported: ErrNotSupported,
	ReturnDeprecated:   ErrNotSupported,

	ReturnInvalidArguments:    ErrInvalidArguments,
	ReturnInvalidHostProtocol: ErrInvalidArguments,
	ReturnParseError:          ErrInvalidArguments,
	ReturnParseUserError:      ErrInvalidArguments,
	ReturnUnknownStatKey:      ErrInvalidArguments,

	ReturnAuthProblem:  ErrAuthFailed,
	ReturnAuthFailure:  ErrAuthFailed,
	ReturnAuthContinue: ErrAuthFailed, // a SASL exchange left unfinished

	ReturnServerError:                   ErrServerError,
	ReturnError:                         ErrServerError, // also MEMCACHED_CONNECTION_SOCKET_CREATE_FAILURE
	ReturnServerMemoryAllocationFailure: ErrServerError,
	ReturnClientError:                   ErrClientError,
	ReturnProtocolError:                 ErrProtocol,
	ReturnPartialRead:                   ErrProtocol,
	ReturnMemoryAllocationFailure:       ErrMemory,

	ReturnFailure:          ErrFailure,
	ReturnSomeErrors:       ErrFailure,
	ReturnFetchNotFinished: ErrFailure,
	ReturnInProgress:       ErrFailure,
	ReturnMaximumReturn:    ErrFailure,
}

// Success reports whether libmemcached counts rc as success (memcached_success).
func (rc ReturnCode) Success() bool {
	if rc == ReturnSuccess { // most calls: no map lookup
		return true
	}
	err, ok := returnCodeErrors[rc]
	return ok && err == nil
}

// sentinel returns the sentinel for rc; an unknown code is ErrFailure.
func (rc ReturnCode) sentinel() error {
	if err, ok := returnCodeErrors[rc]; ok {
		return err
	}
	return ErrFailure
}

// opClass groups the operations whose outcomes read differently.
type opClass int

const (
	classOther   opClass = iota
	classAdd             // Add, AddMulti
	classPresent         // Replace, Append, Prepend: the key must exist
	classCounter         // Increment, Decrement
)

// opErrors are the codes whose sentinel depends on the operation. The binary
// protocol reports a failed condition differently from the text protocol
// (KEY_EEXISTS for Add, KEY_ENOENT for Replace/Append/Prepend); both mean
// "not stored" here, as the text protocol says. The text protocol answers
// an increment of a value that is not a number with CLIENT_ERROR.
var opErrors = map[opClass]map[ReturnCode]error{
	classAdd:     {ReturnDataExists: ErrNotStored},
	classPresent: {ReturnNotFound: ErrNotStored},
	classCounter: {ReturnClientError: ErrNotNumeric},
}

// sentinelFor returns the sentinel of rc for an operation of kind k.
func sentinelFor(k opClass, rc ReturnCode) error {
	if err, ok := opErrors[k][rc]; ok {
		return err
	}
	return rc.sentinel()
}

// hashRefused makes e, libmemcached's refusal of hash behavior value v
// (BehaviorHash or BehaviorKetamaHash), an ErrNotSupported when v is a
// valid memcached_hash_t: libhashkit answers INVALID_ARGUMENTS for the
// hashes left out of its build. It reports whether it did.
func hashRefused(e *Error, v uint64) bool {
	if e.Code != ReturnInvalidArguments || v >= uint64(HashMax) {
		return false
	}
	e.sentinel = ErrNotSupported
	return true
}

// notCounter makes e, a binary increment's UNKNOWN_READ_FAILURE, an
// ErrNotNumeric when the key's value v is not one memcached surely counts:
// then the reply was DELTA_BADVAL, which libmemcached does not decode.
func notCounter(e *Error, v []byte) {
	if !isCounter(v) {
		e.sentinel = ErrNotNumeric
		e.Message = "memcached refused the value as a counter (binary protocol DELTA_BADVAL)"
	}
}

// isCounter reports whether memcached's incr surely accepts v: a decimal
// number below 2^63, optionally followed by the spaces decr leaves. (For
// 2^63 and more, memcached's safe_strtoull looks for a '-' with strchr,
// which runs past the value into the slab, so it may refuse it as the text
// protocol then says.)
func isCounter(v []byte) bool {
	s := strings.TrimRight(string(v), " ")
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return err == nil && n < 1<<63
}

// Error describes a failed operation. It unwraps to the sentinel for its
// Code (and, when the call's context expired, to the context's error), so
// errors.Is(err, ErrCacheMiss) works; use errors.As for the details.
type Error struct {
	Op      string     // the Client method, e.g. "Get"
	Key     string     // the key, when the operation has one
	Server  string     // "host:port" or socket path of the server involved, when known
	Code    ReturnCode // libmemcached's return code
	Message string     // memcached_last_error_message, or the code's description

	sentinel error // what Code (or the operation) means; see Unwrap
	ctxErr   error // context.DeadlineExceeded or Canceled, when it caused the failure
	cause    error // an underlying Go error (a codec's), when there is one
	sent     bool  // the request went out (see outcome)
}

// writeOps are the operations that change data on a server: their errors
// also say whether the request was sent (see ErrOutcomeUnknown).
var writeOps = map[string]bool{
	"Set": true, "Add": true, "Replace": true, "Append": true, "Prepend": true, "CompareAndSwap": true,
	"Delete": true, "Increment": true, "Decrement": true, "Touch": true, "GetAndTouch": true,
	"SetMulti": true, "AddMulti": true, "DeleteMulti": true, "IncrementMulti": true, "FlushAll": true,
}

// answered reports whether rc is a server's answer to a request: its
// outcome is known (the server said why it did not apply it). An error
// made in Go (invalid input, a context, Close) carries no code.
func answered(rc ReturnCode) bool {
	switch rc {
	case ReturnNotFound, ReturnNotStored, ReturnDataExists, ReturnE2BIG, ReturnServerError, ReturnClientError,
		ReturnError, ReturnServerMemoryAllocationFailure, ReturnInvalidArguments, ReturnAuthFailure:
		return true
	}
	return rc != ReturnSuccess && rc.Success()
}

// outcome is ErrNotSent or ErrOutcomeUnknown for a write's error that is
// not the server's answer, nil otherwise.
func (e *Error) outcome() error {
	switch {
	case !writeOps[e.Op] || answered(e.Code):
		return nil
	case e.sent:
		return ErrOutcomeUnknown
	}
	return ErrNotSent
}

// withCause records an underlying error, which Unwrap also returns.
func (e *Error) withCause(err error) *Error {
	e.cause = err
	return e
}

// Error returns a one-line description; it never contains values or credentials.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("memcached: ")
	b.WriteString(e.Op)
	if e.Key != "" {
		b.WriteString(" ")
		b.WriteString(quoteKey(e.Key))
	}
	if e.Server != "" {
		b.WriteString(" on ")
		b.WriteString(e.Server)
	}
	b.WriteString(": ")
	if e.sentinel != nil {
		b.WriteString(strings.TrimPrefix(e.sentinel.Error(), "memcached: "))
	}
	if e.sentinel == nil && e.Message != "" {
		b.WriteString(strings.TrimPrefix(e.Message, "memcached: "))
	} else if e.Message != "" {
		b.WriteString(" (")
		b.WriteString(e.Message)
		b.WriteString(")")
	}
	if e.Code != ReturnSuccess {
		b.WriteString(" [")
		b.WriteString(e.Code.String())
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns the sentinel for the error's code, the context error
// when the call's context ended, and for a write ErrNotSent or
// ErrOutcomeUnknown when the error is not the server's answer.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 3)
	if e.sentinel != nil {
		errs = append(errs, e.sentinel)
	}
	if o := e.outcome(); o != nil {
		errs = append(errs, o)
	}
	if e.ctxErr != nil {
		errs = append(errs, e.ctxErr)
	}
	if e.cause != nil {
		errs = append(errs, e.cause)
	}
	return errs
}

// Timeout reports whether the error is a timeout (net.Error style).
func (e *Error) Timeout() bool { return errors.Is(e, ErrTimeout) }

// IsRetriable reports whether retrying the operation later may succeed:
// timeouts and unavailable servers.
func (e *Error) IsRetriable() bool {
	return errors.Is(e.sentinel, ErrTimeout) || errors.Is(e.sentinel, ErrServerDown)
}

// quoteKey shows a key safely: malformed keys may hold control bytes.
func quoteKey(k string) string {
	const max = 64
	if len(k) > max {
		return quoteString(k[:max]) + "..."
	}
	return quoteString(k)
}

func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			const hex = "0123456789abcdef"
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// newError builds an *Error for a code with a fixed sentinel and message.
func newError(op, key string, rc ReturnCode, msg string) *Error {
	return &Error{Op: op, Key: key, Code: rc, Message: msg, sentinel: rc.sentinel()}
}

// errorf builds an *Error that is not a libmemcached return code (bad input
// caught in Go before any call).
func errorf(op, key string, sentinel error, msg string) *Error {
	return &Error{Op: op, Key: key, Message: msg, sentinel: sentinel}
}

// MultiError holds the failures of a call that has several parts: per key
// for the multi-key operations (GetMulti, SetMulti, AddMulti, DeleteMulti,
// IncrementMulti), per server ("host:port" or socket path) for the calls
// every server answers (Stats, Version, Ping, FlushAll). errors.Is(err,
// ErrNotStored) is true when any part failed with it.
type MultiError struct {
	Errors map[string]error // failed key (or server) -> its error
}

// Error summarises the failures.
func (m *MultiError) Error() string {
	var b strings.Builder
	b.WriteString("memcached: ")
	b.WriteString(itoa(int64(len(m.Errors))))
	b.WriteString(" failed")
	n := 0
	for _, err := range m.Errors {
		if n == 3 {
			b.WriteString("; ...")
			break
		}
		b.WriteString("; ")
		b.WriteString(err.Error())
		n++
	}
	return b.String()
}

// Unwrap returns every per-key error, so errors.Is and errors.As look into them.
func (m *MultiError) Unwrap() []error {
	errs := make([]error, 0, len(m.Errors))
	for _, err := range m.Errors {
		errs = append(errs, err)
	}
	return errs
}

// cleanMessage trims what libmemcached adds around its error text for its
// own debugging: a leading "(0x7f...) " handle address, a trailing
// " -> file.cc:line" source location and ", host: name:port" (the Error's
// Server says it). A bare "SUCCESS" (no error recorded for this failure)
// becomes "".
func cleanMessage(s string) string {
	if strings.HasPrefix(s, "(0x") {
		if i := strings.Index(s, ") "); i > 0 {
			s = s[i+2:]
		}
	}
	if i := strings.LastIndex(s, " -> "); i >= 0 {
		s = s[:i]
	}
	// The server is reported in Error.Server; libmemcached appends it too.
	if i := strings.LastIndex(s, " host: "); i >= 0 && !strings.Contains(s[i+7:], " ") {
		s = s[:i]
	}
	s = strings.TrimRight(strings.TrimSpace(s), ",")
	if s == "SUCCESS" {
		return ""
	}
	return s
}

// ctxError wraps a context's error as an *Error for op: ErrTimeout for a
// deadline, ErrCanceled for a cancellation, and the context's own error.
func ctxError(op, key string, err error) *Error {
	e := &Error{Op: op, Key: key, ctxErr: err, sentinel: ErrCanceled}
	if errors.Is(err, context.DeadlineExceeded) {
		e.sentinel = ErrTimeout
	}
	e.Message = err.Error()
	return e
}

// itoa formats v in decimal, for messages.
func itoa(v int64) string { return strconv.FormatInt(v, 10) }
