package otel

import (
	"errors"

	mc "github.com/golibmc/libmemcached"
)

// errorTypes name the client's sentinel errors for error.type, in the
// order a MultiError picks among its failures: the servers' and the
// network's failures first, then the answers.
var errorTypes = []struct {
	err  error
	name string
}{
	{mc.ErrServerDown, "server_down"},
	{mc.ErrTimeout, "timeout"},
	{mc.ErrCanceled, "canceled"},
	{mc.ErrNoServers, "no_servers"},
	{mc.ErrClosed, "closed"},
	{mc.ErrAuthFailed, "auth_failed"},
	{mc.ErrProtocol, "protocol_error"},
	{mc.ErrServerError, "server_error"},
	{mc.ErrClientError, "client_error"},
	{mc.ErrMemory, "memory"},
	{mc.ErrFailure, "failure"},
	{mc.ErrMalformedKey, "malformed_key"},
	{mc.ErrTooLarge, "too_large"},
	{mc.ErrInvalidArguments, "invalid_arguments"},
	{mc.ErrNotSupported, "not_supported"},
	{mc.ErrNotNumeric, "not_numeric"},
	{mc.ErrNotStored, "not_stored"},
	{mc.ErrCASConflict, "cas_conflict"},
}

// errorRank is each sentinel's place in errorTypes.
var errorRank = func() map[error]int {
	m := make(map[error]int, len(errorTypes))
	for i, t := range errorTypes {
		m[t.err] = i
	}
	return m
}()

// otherRank places an error that is none of errorTypes last.
var otherRank = len(errorTypes)

// errorClass is an error's place in errorTypes (otherRank for another
// error, -1 for a miss, which is no failure) and its return code.
type errorClass struct {
	rank int
	code mc.ReturnCode
}

// classify returns error.type and db.response.status_code for an
// operation's error: "" and "" for a miss (ErrCacheMiss is the server's
// answer, counted by the misses counter, not a failure); the sentinel's
// short name (errorTypes) and the libmemcached return code's name (e.g.
// "ReturnServerMarkedDead"; "" for an error made in Go) for an *Error;
// for a MultiError, those of its first failure in errorTypes' order (the
// lowest return code among equals), misses left out; "_OTHER" for any
// other error.
func classify(err error) (errType, code string) {
	c := classOf(err)
	if c.rank < 0 {
		return "", ""
	}
	errType = semconvOther
	if c.rank < len(errorTypes) {
		errType = errorTypes[c.rank].name
	}
	if c.code != mc.ReturnSuccess {
		code = c.code.String()
	}
	return errType, code
}

// semconvOther is semconv's error.type for an error of no known type.
const semconvOther = "_OTHER"

func classOf(err error) errorClass {
	switch e := err.(type) {
	case *mc.Error:
		return classOfError(e)
	case *mc.MultiError:
		best := errorClass{rank: -1}
		for _, err := range e.Errors {
			c := classOf(err)
			if c.rank >= 0 && (best.rank < 0 || c.rank < best.rank || c.rank == best.rank && c.code < best.code) {
				best = c
			}
		}
		return best
	}
	var e *mc.Error
	if errors.As(err, &e) {
		return classOfError(e)
	}
	if errors.Is(err, mc.ErrCacheMiss) {
		return errorClass{rank: -1}
	}
	return errorClass{rank: otherRank}
}

// classOfError classifies an *Error by its sentinel, the first of the
// errors it unwraps to.
func classOfError(e *mc.Error) errorClass {
	for _, u := range e.Unwrap() {
		if u == mc.ErrCacheMiss {
			return errorClass{rank: -1}
		}
		if r, ok := errorRank[u]; ok {
			return errorClass{rank: r, code: e.Code}
		}
	}
	return errorClass{rank: otherRank, code: e.Code}
}
