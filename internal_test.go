package libmemcached

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached/internal/cenum"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// TestEveryReturnCodeMapped fails when libmemcached has a return code the
// error table does not classify on purpose.
func TestEveryReturnCodeMapped(t *testing.T) {
	for _, rc := range allReturnCodes {
		_, ok := returnCodeErrors[rc]
		assert.True(t, ok, "%s (%d) has no entry in returnCodeErrors", rc, int32(rc))
	}
	// The eight codes memcached_success() accepts, and only they, are nil.
	success := map[ReturnCode]bool{ReturnSuccess: true, ReturnStored: true, ReturnEnd: true, ReturnDeleted: true,
		ReturnValue: true, ReturnStat: true, ReturnItem: true, ReturnBuffered: true}
	for rc, err := range returnCodeErrors {
		assert.Equal(t, success[rc], err == nil, "%s", rc)
		assert.Equal(t, success[rc], rc.Success(), "%s", rc)
	}
	assert.Equal(t, ErrFailure, ReturnCode(9999).sentinel())
}

// TestReturnCodeSentinels pins the mapping of the codes callers test for.
func TestReturnCodeSentinels(t *testing.T) {
	cases := map[ReturnCode]error{
		ReturnNotFound: ErrCacheMiss, ReturnNotStored: ErrNotStored, ReturnDataExists: ErrCASConflict,
		ReturnBadKeyProvided: ErrMalformedKey, ReturnKeyTooBig: ErrMalformedKey, ReturnNoServers: ErrNoServers,
		ReturnTimeout: ErrTimeout, ReturnE2BIG: ErrTooLarge, ReturnConnectionFailure: ErrServerDown,
		ReturnServerMarkedDead: ErrServerDown, ReturnServerTemporarilyDisabled: ErrServerDown,
		ReturnAuthFailure: ErrAuthFailed, ReturnNotSupported: ErrNotSupported, ReturnDeprecated: ErrNotSupported,
		ReturnClientError: ErrClientError, ReturnServerError: ErrServerError, ReturnInvalidArguments: ErrInvalidArguments,
	}
	for rc, want := range cases {
		err := newError("Op", "k", rc, "")
		assert.ErrorIs(t, err, want, "%s", rc)
		var e *Error
		require.True(t, errors.As(err, &e))
		assert.Equal(t, rc, e.Code)
	}
	assert.True(t, newError("Op", "", ReturnTimeout, "").IsRetriable())
	assert.True(t, newError("Op", "", ReturnConnectionFailure, "").Timeout() == false)
	assert.False(t, newError("Op", "", ReturnNotFound, "").IsRetriable())
}

// TestInStepPerOperation: a CLIENT_ERROR proves the connection in step
// for an increment (one whole line), not for the other operations (a
// storage command's may leave part of the request unread).
func TestInStepPerOperation(t *testing.T) {
	assert.True(t, inStep(classCounter, ReturnClientError))
	for _, k := range []opClass{classOther, classAdd, classPresent} {
		assert.False(t, inStep(k, ReturnClientError), "kind %d", k)
		assert.True(t, inStep(k, ReturnNotStored), "kind %d", k)
	}
	assert.False(t, inStep(classCounter, ReturnUnknownReadFailure), "the binary DELTA_BADVAL: libmemcached closed the connection")
	assert.False(t, inStep(classCounter, ReturnTimeout))
}

func TestCleanMessage(t *testing.T) {
	assert.Equal(t, "INVALID ARGUMENTS, Invalid memcached_hash_t()",
		cleanMessage("(0x7fc42808f590) INVALID ARGUMENTS, Invalid memcached_hash_t() -> ./src/libmemcached/behavior.cc:540"))
	assert.Equal(t, "", cleanMessage("SUCCESS"))
	assert.Equal(t, "cannot increment or decrement non-numeric value",
		cleanMessage("(0x5611) cannot increment or decrement non-numeric value,  host: 127.0.0.1:41507"))
	assert.Equal(t, "plain", cleanMessage("plain"))
}

func TestMultiError(t *testing.T) {
	me := &MultiError{Errors: map[string]error{}}
	for i, rc := range []ReturnCode{ReturnNotStored, ReturnE2BIG, ReturnNotFound, ReturnTimeout} {
		k := string(rune('a' + i))
		me.Errors[k] = newError("SetMulti", k, rc, "")
	}
	var err error = me
	assert.ErrorIs(t, err, ErrNotStored)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.NotErrorIs(t, err, ErrCASConflict)
	assert.Contains(t, err.Error(), "memcached: 4 failed;")
	var e *Error
	assert.True(t, errors.As(err, &e))
}

// TestConstantsMatchHeaders checks every generated constant against the
// value cgo reads from the headers this package is compiled with.
func TestConstantsMatchHeaders(t *testing.T) {
	tables := []struct {
		names  map[string]string
		values func(string) int64
	}{
		{behaviorCNames, func(n string) int64 { return int64(behaviorValues[n]) }},
		{hashCNames, func(n string) int64 { return int64(hashValues[n]) }},
		{distributionCNames, func(n string) int64 { return int64(distributionValues[n]) }},
		{returnCodeCNames, func(n string) int64 { return int64(returnCodeValues[n]) }},
		{connectionTypeCNames, func(n string) int64 { return int64(connectionTypeValues[n]) }},
	}
	checked := 0
	for _, tb := range tables {
		for goName, cName := range tb.names {
			want, ok := cenum.Values[cName]
			if assert.True(t, ok, "%s: C name %s unknown to the headers", goName, cName) {
				assert.Equal(t, want, tb.values(goName), "%s (%s)", goName, cName)
			}
			checked++
		}
	}
	assert.Equal(t, len(cenum.Values), checked, "every C enum member has a Go constant")
}

func TestConstantNames(t *testing.T) {
	assert.Equal(t, "BehaviorTCPNoDelay", BehaviorTCPNoDelay.String())
	assert.Equal(t, "HashFNV1a32", HashFNV1a32.String())
	assert.Equal(t, "DistributionConsistentKetama", DistributionConsistentKetama.String())
	assert.Equal(t, "ReturnNotFound", ReturnNotFound.String())
	assert.Equal(t, "ReturnError", ReturnConnectionSocketCreateFailure.String(), "an alias prints as its first name")
	assert.Equal(t, "ConnectionUnixSocket", ConnectionUnixSocket.String())
	assert.Equal(t, "Hash(99)", Hash(99).String())
	assert.Equal(t, "fnv1a_32", HashFNV1a32.Name())
	assert.Equal(t, "consistent ketama", DistributionConsistentKetama.Name())
}

// TestGeneratedFilesUpToDate regenerates the constants into a temp dir and
// compares them byte for byte with the committed files.
func TestGeneratedFilesUpToDate(t *testing.T) {
	if _, err := exec.LookPath("pkg-config"); err != nil {
		t.Skip("pkg-config not installed: cannot find the libmemcached headers to regenerate from")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "constants_gen.go")
	tables := filepath.Join(dir, "constants_gen_test.go")
	cen := filepath.Join(dir, "cenum_gen.go")
	cmd := exec.Command("go", "run", "./cmd/genconst", "-o", out, "-test", tables, "-cenum", cen)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Run())
	for gen, committed := range map[string]string{out: "constants_gen.go", tables: "constants_gen_test.go",
		cen: filepath.Join("internal", "cenum", "cenum_gen.go")} {
		want, err := os.ReadFile(gen)
		require.NoError(t, err)
		got, err := os.ReadFile(committed)
		require.NoError(t, err)
		if !bytes.Equal(want, got) {
			t.Errorf("%s is stale: it differs from what the installed libmemcached headers generate; run `go generate ./...` (or make generate) and commit the result", committed)
		}
	}
}

// TestPrivateLayout: the mirror of libmemcached's private instance struct
// that golibmc_layout_check picked is the one for the library loaded (1.1.x
// or 1.0.18), so the socket and unread-bytes reads are right; with none,
// the features that need them are off rather than wrong.
func TestPrivateLayout(t *testing.T) {
	want := 11
	if strings.HasPrefix(libraryVersion(), "1.0.") {
		want = 10
	}
	assert.Equal(t, want, privateLayout(), "libmemcached %s", libraryVersion())
}

// TestSocketVerified: on live connections (TCP and a unix socket) the
// socket read through the private layout is the one libmemcached's public
// accessors describe, so the netpoller waits on the right connection, and
// the split stays available.
func TestSocketVerified(t *testing.T) {
	if privateLayout() == 0 {
		t.Skip("no private layout for libmemcached " + libraryVersion() + ": every call waits in C")
	}
	tcp := mctest.Start(t)
	unix := mctest.StartSocket(t)
	c, err := New([]string{tcp.Addr, unix.Addr}, WithPollMode(PollAlways))
	require.NoError(t, err)
	defer c.Close()
	for i := 0; i < 20; i++ {
		_, err := c.GetMulti(context.Background(), []string{fmt.Sprint("a", i), fmt.Sprint("b", i), fmt.Sprint("c", i)})
		require.NoError(t, err)
	}
	g, _, err := c.e.wait(getCall(context.Background(), callSolo, "test", nil, nil), "")
	require.NoError(t, err)
	h, cfg, perr := c.e.prepare(g.h, "test", "", false)
	require.Nil(t, perr)
	defer c.e.release(h, cfg, false)
	for i := range cfg.servers {
		assert.Equal(t, socketSame, h.c.verifySocket(i), "server %d (%s)", i, cfg.servers[i])
	}
	assert.True(t, splitAvailable.Load(), "a socket failed verification")
	// Not connected: nothing to verify, and nothing is claimed.
	h.c.quit()
	assert.Equal(t, socketUnknown, h.c.verifySocket(0))
}

// TestBuildsWithoutCgo: every package builds with CGO_ENABLED=0 (nocgo.go
// must stand in for every method of the thin layer), so a program that
// imports this one compiles anywhere and New says why it cannot work.
// make variants also runs such a program.
func TestBuildsWithoutCgo(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "./...")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "CGO_ENABLED=0 go build ./...:\n%s", out)
}

// TestNoCgoRequestChunk: nocgo.go's requestChunk, which the CGO_ENABLED=0
// build cannot read from golibmc.h, is GOLIBMC_POLICY_CHUNK, which this
// build reads.
func TestNoCgoRequestChunk(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "nocgo.go", nil, 0)
	require.NoError(t, err)
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "requestChunk" {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		require.True(t, ok, "nocgo.go: requestChunk is a literal")
		v, err := strconv.Atoi(lit.Value)
		require.NoError(t, err)
		assert.Equal(t, requestChunk, v, "nocgo.go's requestChunk is golibmc.h's GOLIBMC_POLICY_CHUNK")
		found = true
		return false
	})
	assert.True(t, found, "nocgo.go declares requestChunk")
}

// TestLinkInfo: the binary loaded the libmemcached it was compiled against,
// linked as one of the documented ways (make variants also runs this with
// -tags libmemcached_nopkgconfig).
func TestLinkInfo(t *testing.T) {
	assert.Contains(t, []string{
		"dynamic, found with pkg-config libmemcached",
		"dynamic, -lmemcached with CGO_CFLAGS/CGO_LDFLAGS (no pkg-config)",
		"static, found with pkg-config --static libmemcached",
	}, LinkInfo)
	assert.Equal(t, HeaderVersion, LibraryVersion(), "headers and the loaded library are the same version")
}

// TestConsistentBeforeWeight: the configuration strings libmemcached
// 1.0.18's parser would build with a continuum too small (a consistent
// distribution, then a server weighing more than 1) are told from those
// it builds safely; on 1.0.x NewFromConfig refuses the former.
func TestConsistentBeforeWeight(t *testing.T) {
	for cfg, want := range map[string]bool{
		"--DISTRIBUTION=consistent --SERVER=a:1/?2":                     true,
		"--distribution=Consistent --SERVER=a:1/?1 --SERVER=b/?30":      true,
		"--DISTRIBUTION=consistent,md5 --SOCKET=/tmp/s/?3":              true,
		"--DISTRIBUTION=modula --SERVER=a:1/?2":                         false,
		"--SERVER=a:1/?2 --DISTRIBUTION=consistent":                     false,
		"--DISTRIBUTION=consistent --SERVER=a:1/?1 --SERVER=b:2/?01":    false,
		"--DISTRIBUTION=consistent --SERVER=a:1 --SERVER=b:2":           false,
		"--DISTRIBUTION=modula --DISTRIBUTION=consistent --SERVER=a/?4": true,
	} {
		assert.Equal(t, want, consistentBeforeWeight(cfg), cfg)
	}
	err := checkConfig("--DISTRIBUTION=consistent --SERVER=192.0.2.1:11211/?2", libraryVersion())
	if strings.HasPrefix(libraryVersion(), "1.0.") {
		require.ErrorIs(t, err, ErrNotSupported)
		assert.Contains(t, err.Error(), "give --DISTRIBUTION after the servers")
	} else {
		require.NoError(t, err)
	}
	require.NoError(t, checkConfig("--SERVER=192.0.2.1:11211/?2 --DISTRIBUTION=consistent", libraryVersion()))
}

// TestDefaultsFromEnvironment: GOLIBMC_POLL_MODE and GOLIBMC_BATCHING set
// the defaults of a client made without options (make poll-modes runs the
// suite with each), and the options override them.
func TestDefaultsFromEnvironment(t *testing.T) {
	s := mctest.Start(t)
	c, err := New([]string{s.Addr})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, os.Getenv("GOLIBMC_BATCHING") != "off", c.e.batching, "GOLIBMC_BATCHING=%q", os.Getenv("GOLIBMC_BATCHING"))
	want := map[string]PollMode{"always": PollAlways, "never": PollNever}[os.Getenv("GOLIBMC_POLL_MODE")]
	assert.Equal(t, want, c.e.pollMode, "GOLIBMC_POLL_MODE=%q", os.Getenv("GOLIBMC_POLL_MODE"))
	for _, on := range []bool{false, true} {
		o, err := New([]string{s.Addr}, WithBatching(on), WithPollMode(PollNever))
		require.NoError(t, err)
		assert.Equal(t, on, o.e.batching)
		assert.Equal(t, PollNever, o.e.pollMode)
		o.Close()
	}
}

// TestValidKeyEveryByteEveryPlace checks validKey, which tests eight bytes
// at a time, against the rule read one byte at a time: every byte value at
// every position of keys of every length up to 40 (both sides of each word
// boundary and of the overlapping last word), and the length limits.
func TestValidKeyEveryByteEveryPlace(t *testing.T) {
	byByte := func(key string, max int) bool {
		if len(key) == 0 || len(key) > max {
			return false
		}
		for i := 0; i < len(key); i++ {
			if c := key[i]; c <= ' ' || c == 0x7f {
				return false
			}
		}
		return true
	}
	for n := 0; n <= 40; n++ {
		base := []byte(strings.Repeat("k", n))
		require.Equal(t, byByte(string(base), 250), validKey(string(base), 250), "len %d", n)
		require.Equal(t, byByte(string(base), n-1), validKey(string(base), n-1), "len %d, max %d", n, n-1)
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				key := bytes.Clone(base)
				key[at] = byte(c)
				if want, got := byByte(string(key), 250), validKey(string(key), 250); want != got {
					t.Fatalf("len %d, byte %#x at %d: validKey %v, want %v", n, c, at, got, want)
				}
				// A bad byte anywhere, with a high byte (UTF-8) beside it.
				if at+1 < n {
					key[at+1] = 0xff
					if want, got := byByte(string(key), 250), validKey(string(key), 250); want != got {
						t.Fatalf("len %d, byte %#x at %d then 0xff: validKey %v, want %v", n, c, at, got, want)
					}
				}
			}
		}
	}
}

// TestRecycledCallResults: a call taken from the pool again reuses its
// result arrays, cleared for its keys; in the pool it keeps no item or
// error alive, and the arrays of a call of more than keepKeys keys are
// not kept.
func TestRecycledCallResults(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{2, 100, keepKeys, keepKeys + 1} {
		cl := &call{wake: make(chan grant, 1)}
		cl.init(ctx, callGet, "test", make([]string, n), nil)
		for i := range n {
			cl.result.items[i] = &Item{Key: "k"}
			cl.result.errs[i] = &Error{}
			cl.result.miss[i] = true
		}
		items := cl.result.items
		putCall(cl)
		require.NotNil(t, cl.resN)
		assert.Empty(t, cl.resN.items, "n=%d", n)
		assert.Empty(t, cl.resN.errs, "n=%d", n)
		for i := range items {
			require.Nil(t, items[i], "n=%d: the pooled call keeps item %d alive", n, i)
		}
		if n > keepKeys {
			assert.Zero(t, cap(cl.resN.items), "n=%d: not kept", n)
			continue
		}
		cl.init(ctx, callGet, "test", make([]string, 2), nil)
		assert.Same(t, &items[0], &cl.result.items[0], "n=%d: reused", n)
		assert.Equal(t, []bool{false, false}, cl.result.miss)
		assert.Equal(t, []*Error{nil, nil}, cl.result.errs)
	}
}

// TestLargeReadScratchNotKept: after a read of more than keepKeys keys,
// GetMulti and GetMultiFunc alike, the handle keeps none of its in-order
// scratch (as the key index keeps none of its own).
func TestLargeReadScratchNotKept(t *testing.T) {
	s := mctest.Start(t)
	c, err := New([]string{s.Addr})
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	keys := make([]string, keepKeys+10)
	for i := range keys {
		keys[i] = "large" + strconv.Itoa(i%(keepKeys+5)) // a few asked twice
	}
	require.NoError(t, c.Set(ctx, &Item{Key: keys[0], Value: []byte("v")}))
	got, err := c.GetMulti(ctx, keys)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.NotNil(t, got[keys[0]])
	n := 0
	require.NoError(t, c.GetMultiFunc(ctx, keys, func(*Item) error { n++; return nil }))
	require.Equal(t, 1, n)
	hs, back, err := takeAll(c)
	require.NoError(t, err)
	defer back()
	for _, h := range hs {
		assert.LessOrEqual(t, cap(h.taken), keepKeys)
		assert.LessOrEqual(t, cap(h.inOrder), keepKeys)
		assert.LessOrEqual(t, cap(h.ix.keys), keepKeys)
	}
}

// TestLargeBatchBufferNotKept: a handle packs only small batches
// (packKeepKeys keys, packKeepBytes bytes of values) into a buffer of its
// own: a large value or many keys go through packedPool and leave the
// handle's buffer small, and a small batch whose long keys grew it past
// the limit leaves the handle none, until the next small call.
func TestLargeBatchBufferNotKept(t *testing.T) {
	s := mctest.Start(t)
	c, err := New([]string{s.Addr}, WithPoolSize(1))
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	kept := func() *packed {
		t.Helper()
		hs, back, err := takeAll(c)
		require.NoError(t, err)
		defer back()
		require.Len(t, hs, 1)
		return hs[0].p
	}
	small := func(msg string) {
		t.Helper()
		p := kept()
		require.NotNil(t, p, msg)
		keys, bytes := p.room()
		assert.LessOrEqual(t, keys, packKeepKeys, msg)
		assert.LessOrEqual(t, bytes, 2*packKeepBytes, msg)
	}
	_, err = c.Get(ctx, "small")
	require.ErrorIs(t, err, ErrCacheMiss)
	small("after a lone Get")
	require.NoError(t, c.Set(ctx, &Item{Key: "big", Value: make([]byte, 2*packKeepBytes)}))
	small("after a large value")
	keys := make([]string, 2*packKeepKeys)
	for i := range keys {
		keys[i] = "many" + strconv.Itoa(i)
	}
	_, err = c.GetMulti(ctx, keys)
	require.NoError(t, err)
	small("after many keys")
	long := make([]string, packKeepKeys)
	for i := range long {
		long[i] = strings.Repeat("k", 240) + strconv.Itoa(i)
	}
	_, err = c.GetMulti(ctx, long)
	require.NoError(t, err)
	assert.Nil(t, kept(), "after long keys grew it")
	_, err = c.Get(ctx, "small")
	require.ErrorIs(t, err, ErrCacheMiss)
	small("after the next lone Get")
}
