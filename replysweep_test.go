package libmemcached_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	mc "github.com/golibmc/libmemcached"
)

// TestReplySweep answers every command with every reply a server can
// send, in both protocols, and asserts, per (protocol, command, reply):
// the process does not abort; a reply that means success or "not found"
// for that command gives exactly that (or a timeout, on a loaded
// machine), any other an error, never a success (nor a miss, for the
// commands whose miss is an answer); and the next call on the same client,
// against the server answering well, succeeds.
//
// Text replies: every reply line of memcached's text protocol (STORED,
// NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK, END, a VALUE block,
// a number, VERSION, STAT lines and END, ERROR, CLIENT_ERROR, SERVER_ERROR,
// SERVER_ERROR out of memory, ITEM), those lines cut short or too long,
// garbage, an empty line, a closed connection and silence until the
// deadline. Binary replies: every response opcode
// the client can meet (those of the requests it sends) with each status
// 0x00-0x08, 0x20, 0x81-0x86, with a wrong magic, and as a success that
// answers a request of an earlier call (its opaque; the others echo the
// opaque of the request they answer); a closed connection and silence. A
// read's reply is judged by the read oracle of the fuzzers
// (replyoracle_test.go).
//
// libmemcached asserts on some replies when it reads them itself
// (storage.cc:257, a success line other than STORED to a storage command;
// auto.cc:32; docs/asserts-audit.md); golibmc now reads every reply before
// libmemcached parses it, and the sweep is the evidence that none gets
// through. So that an abort would be reported, not end the test, each
// protocol and command runs in a child process (this test binary, re-run
// with GOLIBMC_SWEEP_GROUP set); when a child dies, the case it was
// running is reported as an abort, with the assertion or sanitizer
// message, and the group resumes with the next case. Every aborting
// combination is listed, not only the first.
func TestReplySweep(t *testing.T) {
	if g := os.Getenv("GOLIBMC_SWEEP_GROUP"); g != "" {
		from, _ := strconv.Atoi(os.Getenv("GOLIBMC_SWEEP_FROM"))
		sweepChild(t, g, from)
		return
	}
	type group struct {
		name  string
		cases []sweepCase
	}
	var groups []group
	for _, binaryProto := range []bool{false, true} {
		for _, cmd := range sweepCommands {
			g := group{name: sweepGroupName(binaryProto, cmd.name), cases: sweepCases(binaryProto, cmd)}
			groups = append(groups, g)
		}
	}
	type failure struct{ group, msg string }
	var mu sync.Mutex
	var failures []failure
	counts := map[string]int{}
	sem := make(chan struct{}, max(2, runtime.NumCPU()))
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			res, extra := runSweepGroup(g.name, len(g.cases))
			mu.Lock()
			defer mu.Unlock()
			for _, e := range extra {
				failures = append(failures, failure{g.name, g.name + ": " + e})
			}
			for i, r := range res {
				counts[r.status]++
				if r.status != "ok" {
					failures = append(failures, failure{g.name, fmt.Sprintf("%s <- %s: %s: %s", g.name, g.cases[i].reply.name, r.status, r.msg)})
				}
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(failures, func(a, b failure) int { return strings.Compare(a.msg, b.msg) })
	for _, f := range failures {
		t.Error(f.msg)
	}
	total := 0
	for _, g := range groups {
		total += len(g.cases)
	}
	t.Logf("%d cases in %d groups: %v", total, len(groups), counts)
}

func sweepGroupName(binaryProto bool, cmd string) string {
	if binaryProto {
		return "binary/" + cmd
	}
	return "text/" + cmd
}

// sweepOutcome is one case's result as the parent reads it.
type sweepOutcome struct {
	status string // ok, fail, abort, hang
	msg    string
}

// runSweepGroup runs a group's cases in child processes, one child at a
// time, starting a new one after the case that killed the last.
// Failures of a child outside any case (a leak report at exit) are
// returned in extra.
func runSweepGroup(group string, n int) (out []sweepOutcome, extra []string) {
	out = make([]sweepOutcome, n)
	for from := 0; from < n; {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestReplySweep$", "-test.count=1", "-test.timeout=3m")
		cmd.Env = append(os.Environ(), "GOLIBMC_SWEEP_GROUP="+group, "GOLIBMC_SWEEP_FROM="+strconv.Itoa(from))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			cancel()
			for i := from; i < n; i++ {
				out[i] = sweepOutcome{"fail", "cannot start the child: " + err.Error()}
			}
			return out, nil
		}
		var lines bytes.Buffer
		running := -1
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<16), 1<<22)
		for sc.Scan() {
			f := strings.SplitN(sc.Text(), "\t", 4)
			if len(f) < 3 || f[0] != "SWEEP" {
				lines.WriteString(sc.Text() + "\n")
				continue
			}
			i, _ := strconv.Atoi(f[2])
			switch f[1] {
			case "BEGIN":
				running = i
			case "END":
				running = -1
				if i < n && len(f) == 4 {
					st, msg, _ := strings.Cut(f[3], "\t")
					out[i] = sweepOutcome{st, msg}
				}
				from = i + 1
			}
		}
		werr := cmd.Wait()
		hung := ctx.Err() != nil
		cancel()
		if running < 0 {
			if werr != nil && from == n { // after its last case: a leak report, a race
				extra = append(extra, "the child failed after its cases: "+deathSummary(stderr.String()+lines.String(), werr))
			}
			if werr != nil && from < n {
				// Died between cases, or failed to start them.
				out[from] = sweepOutcome{"abort", "the child failed outside a case: " + deathSummary(stderr.String()+lines.String(), werr)}
				from++
			}
			if werr == nil && from < n { // ended early without saying why
				out[from] = sweepOutcome{"fail", "the child stopped before this case: " + lines.String()}
				from++
			}
			continue
		}
		status := "abort"
		if hung {
			status = "hang"
		}
		out[running] = sweepOutcome{status, deathSummary(stderr.String()+lines.String(), werr)}
		from = running + 1
	}
	return out, extra
}

// deathSummary picks the lines that say why a child died: an assertion,
// a sanitizer report, a signal, a race.
func deathSummary(s string, err error) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		switch {
		case strings.Contains(l, "Assertion"), strings.Contains(l, "ERROR: AddressSanitizer"),
			strings.HasPrefix(l, "SUMMARY:"), strings.HasPrefix(l, "SIG"), strings.Contains(l, "WARNING: DATA RACE"),
			strings.Contains(l, "double free"), strings.Contains(l, "corrupted"), strings.HasPrefix(l, "panic:"),
			strings.HasPrefix(l, "fatal error:"), strings.Contains(l, "in golibmc_"),
			strings.Contains(l, "LeakSanitizer"):
			keep = append(keep, strings.TrimSpace(l))
		}
		if len(keep) == 6 {
			break
		}
	}
	return fmt.Sprintf("%v: %s", err, strings.Join(keep, " | "))
}

// sweepReply is one reply: the bytes answering each request unit, or a
// closed connection, or silence.
type sweepReply struct {
	name    string
	bytes   []byte
	close   bool
	silence bool
	op      byte   // binary: the opcode; text: 0
	status  uint16 // binary
	magicOK bool   // binary
	// opaque (binary): each packet's opaque is that of the request this many
	// ids after the one it answers (answerOpaques): 0, the echo; -16, a
	// request of an earlier call.
	opaque int32
}

// sweepCase is one command with one reply.
type sweepCase struct {
	binary bool
	cmd    sweepCmd
	reply  sweepReply
}

// sweepResult is what a command returned.
type sweepResult struct {
	err     error
	read    readResult                   // reads
	keyErrs map[string]error             // multi-key non-reads: per key, nil when it succeeded
	num     uint64                       // counters
	info    map[string]map[string]string // Stats; Version as {server: {"version": v}}
}

// sweepCmd is one command of the client.
type sweepCmd struct {
	name  string
	keys  []string // the keys it asks
	run   func(ctx context.Context, c *mc.Client) sweepResult
	binOp byte // its binary request's opcode (reads: 0)
	// answers: a miss (ErrCacheMiss) is an answer about the data: only a
	// reply that says "not found" may give it.
	answers bool
	// text: the reply line meaning success.
	textOK string
}

func isRead(name string) bool { return name == "Get" || name == "GetMulti" || name == "GetAndTouch" }

var sweepItem = func() *mc.Item { return &mc.Item{Key: "k1", Value: []byte("v"), Flags: 3, CasID: 7} }

func multiErrs(keys []string, err error) map[string]error {
	m := map[string]error{}
	var me *mc.MultiError
	for _, k := range keys {
		switch {
		case errors.As(err, &me):
			m[k] = me.Errors[k]
		default:
			m[k] = err
		}
	}
	return m
}

var sweepCommands = []sweepCmd{
	{name: "Get", keys: []string{"k1"}, answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		r := read(ctx, c, true, []string{"k1"})
		return sweepResult{err: r.err, read: r}
	}},
	{name: "GetMulti", keys: []string{"k1", "k2"}, answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		r := read(ctx, c, false, []string{"k1", "k2"})
		return sweepResult{err: r.err, read: r}
	}},
	{name: "GetAndTouch", keys: []string{"k1"}, answers: true, binOp: 0x1c, textOK: "TOUCHED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		it, err := c.GetAndTouch(ctx, "k1", 10)
		r := readResult{items: map[string]*mc.Item{}, errs: map[string]error{}, err: err}
		if it != nil {
			r.items["k1"] = it
		}
		if err != nil {
			r.errs["k1"] = err
		}
		return sweepResult{err: err, read: r}
	}},
	{name: "Set", keys: []string{"k1"}, binOp: 0x01, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Set(ctx, sweepItem())}
	}},
	{name: "Add", keys: []string{"k1"}, binOp: 0x02, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Add(ctx, sweepItem())}
	}},
	{name: "Replace", keys: []string{"k1"}, binOp: 0x03, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Replace(ctx, sweepItem())}
	}},
	{name: "Append", keys: []string{"k1"}, binOp: 0x0e, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Append(ctx, sweepItem())}
	}},
	{name: "Prepend", keys: []string{"k1"}, binOp: 0x0f, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Prepend(ctx, sweepItem())}
	}},
	// libmemcached sends a binary CAS as a REPLACE carrying the unique.
	{name: "CompareAndSwap", keys: []string{"k1"}, binOp: 0x03, textOK: "STORED", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.CompareAndSwap(ctx, sweepItem())}
	}},
	{name: "Delete", keys: []string{"k1"}, binOp: 0x04, textOK: "DELETED", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Delete(ctx, "k1")}
	}},
	{name: "Increment", keys: []string{"k1"}, binOp: 0x05, textOK: "42", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		n, err := c.Increment(ctx, "k1", 1)
		return sweepResult{err: err, num: n}
	}},
	{name: "Decrement", keys: []string{"k1"}, binOp: 0x06, textOK: "42", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		n, err := c.Decrement(ctx, "k1", 1)
		return sweepResult{err: err, num: n}
	}},
	{name: "Touch", keys: []string{"k1"}, binOp: 0x1c, textOK: "TOUCHED", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Touch(ctx, "k1", 10)}
	}},
	{name: "Stats", binOp: 0x10, textOK: "STAT", run: func(ctx context.Context, c *mc.Client) sweepResult {
		s, err := c.Stats(ctx)
		return sweepResult{err: err, info: s}
	}},
	{name: "Version", binOp: 0x0b, textOK: "VERSION 1.6.18", run: func(ctx context.Context, c *mc.Client) sweepResult {
		v, err := c.Version(ctx)
		info := map[string]map[string]string{}
		for s, ver := range v {
			info[s] = map[string]string{"version": ver}
		}
		return sweepResult{err: err, info: info}
	}},
	{name: "Ping", binOp: 0x0b, textOK: "VERSION 1.6.18", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.Ping(ctx)}
	}},
	{name: "FlushAll", binOp: 0x08, textOK: "OK", run: func(ctx context.Context, c *mc.Client) sweepResult {
		return sweepResult{err: c.FlushAll(ctx)}
	}},
	{name: "SetMulti", keys: []string{"k1", "k2"}, binOp: 0x01, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		err := c.SetMulti(ctx, []*mc.Item{sweepItem(), {Key: "k2", Value: []byte("w")}})
		return sweepResult{err: err, keyErrs: multiErrs([]string{"k1", "k2"}, err)}
	}},
	{name: "AddMulti", keys: []string{"k1", "k2"}, binOp: 0x02, textOK: "STORED", run: func(ctx context.Context, c *mc.Client) sweepResult {
		err := c.AddMulti(ctx, []*mc.Item{sweepItem(), {Key: "k2", Value: []byte("w")}})
		return sweepResult{err: err, keyErrs: multiErrs([]string{"k1", "k2"}, err)}
	}},
	{name: "DeleteMulti", keys: []string{"k1", "k2"}, binOp: 0x04, textOK: "DELETED", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		err := c.DeleteMulti(ctx, []string{"k1", "k2"})
		return sweepResult{err: err, keyErrs: multiErrs([]string{"k1", "k2"}, err)}
	}},
	{name: "IncrementMulti", keys: []string{"k1", "k2"}, binOp: 0x05, textOK: "42", answers: true, run: func(ctx context.Context, c *mc.Client) sweepResult {
		err := c.IncrementMulti(ctx, []string{"k1", "k2"}, 1)
		return sweepResult{err: err, keyErrs: multiErrs([]string{"k1", "k2"}, err)}
	}},
}

// textSweepReplies are every reply line of the text protocol, and worse.
var textSweepReplies = []sweepReply{
	{name: "STORED", bytes: []byte("STORED\r\n")},
	{name: "NOT_STORED", bytes: []byte("NOT_STORED\r\n")},
	{name: "EXISTS", bytes: []byte("EXISTS\r\n")},
	{name: "NOT_FOUND", bytes: []byte("NOT_FOUND\r\n")},
	{name: "DELETED", bytes: []byte("DELETED\r\n")},
	{name: "TOUCHED", bytes: []byte("TOUCHED\r\n")},
	{name: "OK", bytes: []byte("OK\r\n")},
	{name: "END", bytes: []byte("END\r\n")},
	{name: "VALUE block", bytes: []byte("VALUE k1 5 1 77\r\nv\r\nEND\r\n")},
	{name: "number", bytes: []byte("42\r\n")},
	{name: "VERSION", bytes: []byte("VERSION 1.6.18\r\n")},
	{name: "STAT lines", bytes: []byte("STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n")},
	{name: "ERROR", bytes: []byte("ERROR\r\n")},
	{name: "CLIENT_ERROR", bytes: []byte("CLIENT_ERROR bad command line format\r\n")},
	{name: "SERVER_ERROR", bytes: []byte("SERVER_ERROR something went wrong\r\n")},
	{name: "SERVER_ERROR out of memory", bytes: []byte("SERVER_ERROR out of memory storing object\r\n")},
	{name: "ITEM", bytes: []byte("ITEM k1 [1 b; 0 s]\r\n")},
	// The same lines cut short, or too long: what libmemcached parses
	// into a failure it does not record (SERVER_ERROR alone, a malformed
	// VALUE line, a line longer than its buffers: 350 bytes for a store's
	// reply, 1,024 for a counter's) or does not parse at all (VERSION
	// alone).
	{name: "SERVER_ERROR alone", bytes: []byte("SERVER_ERROR\r\n")},
	{name: "CLIENT_ERROR alone", bytes: []byte("CLIENT_ERROR\r\n")},
	{name: "VERSION alone", bytes: []byte("VERSION\r\n")},
	{name: "malformed VALUE line", bytes: []byte("VALUE k1 x\r\nv\r\nEND\r\n")},
	{name: "1,500-byte line", bytes: []byte("SERVER_ERROR " + strings.Repeat("x", 1500) + "\r\n")},
	{name: "garbage", bytes: []byte("XYZZY 1 2 3\r\n")},
	{name: "empty line", bytes: []byte("\r\n")},
	{name: "closed connection", close: true},
	{name: "silence", silence: true},
}

// binarySweepOps are the response opcodes the client can meet: those of
// the requests it sends.
var binarySweepOps = []byte{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x08, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x1c}

var binarySweepStatuses = []uint16{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x20, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86}

// binarySuccess is a well-formed success response of opcode op.
func binarySuccess(op byte) []byte {
	switch op {
	case 0x0c, 0x0d:
		return binItem(op, "k1", "v", 5, 77)
	case 0x05, 0x06:
		return binPacket(0x81, op, 0, nil, nil, []byte{0, 0, 0, 0, 0, 0, 0, 42}, 9)
	case 0x0b:
		return binPacket(0x81, op, 0, nil, nil, []byte("1.6.18"), 0)
	case 0x10:
		return append(binPacket(0x81, op, 0, nil, []byte("pid"), []byte("1"), 0), binPacket(0x81, op, 0, nil, nil, nil, 0)...)
	case 0x0a: // a new packet: the caller may rewrite it (late's opaque), binNoopReply is shared
		return binPacket(0x81, 0x0a, 0, nil, nil, nil, 0)
	case 0x1c: // memcached sends the item's flags as extras
		return binPacket(0x81, op, 0, beFlags(5), nil, nil, 9)
	}
	return binPacket(0x81, op, 0, nil, nil, nil, 9)
}

func binarySweepReplies() []sweepReply {
	var out []sweepReply
	for _, op := range binarySweepOps {
		for _, st := range binarySweepStatuses {
			r := sweepReply{name: fmt.Sprintf("op %#02x status %#02x", op, st), op: op, status: st, magicOK: true}
			if st == 0 {
				r.bytes = binarySuccess(op)
			} else {
				r.bytes = binPacket(0x81, op, st, nil, nil, []byte("fake refusal"), 0)
			}
			out = append(out, r)
		}
		bad := binarySuccess(op)
		bad = append([]byte{0x80}, bad[1:]...)
		out = append(out, sweepReply{name: fmt.Sprintf("op %#02x magic 0x80", op), bytes: bad, op: op})
		// A success that answers a request of an earlier call (late).
		late := binarySuccess(op)
		for at := 0; at+24 <= len(late); at += 24 + int(binary.BigEndian.Uint32(late[at+8:at+12])) {
			binary.BigEndian.PutUint32(late[at+12:at+16], uint32(0xfffffff0)) // -16
		}
		out = append(out, sweepReply{name: fmt.Sprintf("op %#02x status 0x00 opaque -16", op), bytes: late, op: op,
			magicOK: true, opaque: -16})
	}
	// A touch's success without the flags (the protocol's description has
	// none).
	out = append(out, sweepReply{name: "op 0x1c status 0x00 without flags", bytes: binPacket(0x81, 0x1c, 0, nil, nil, nil, 9),
		op: 0x1c, magicOK: true})
	return append(out, sweepReply{name: "closed connection", close: true}, sweepReply{name: "silence", silence: true})
}

func sweepCases(binaryProto bool, cmd sweepCmd) []sweepCase {
	replies := textSweepReplies
	if binaryProto {
		replies = binarySweepReplies()
	}
	cases := make([]sweepCase, len(replies))
	for i, r := range replies {
		cases[i] = sweepCase{binary: binaryProto, cmd: cmd, reply: r}
	}
	return cases
}

// meaning is what a reply means for a command that is not a read.
type meaning int

const (
	means     meaning = iota // success
	meansMiss                // "not found"
	meansFail                // a failure, or not a reply to this command
)

func (c sweepCase) meaning() meaning {
	r := c.reply
	if r.close || r.silence {
		return meansFail
	}
	if !c.binary {
		line := strings.TrimSuffix(string(r.bytes), "\r\n")
		switch {
		case c.cmd.textOK == "STAT" && (strings.HasPrefix(line, "STAT ") || line == "END"):
			return means
		case line == c.cmd.textOK:
			return means
		case line == "NOT_FOUND" && c.cmd.answers:
			return meansMiss
		}
		return meansFail
	}
	switch {
	case !r.magicOK || r.op != c.cmd.binOp || r.opaque != 0:
		return meansFail
	case r.status == 0:
		return means
	case r.status == 0x01 && c.cmd.answers:
		return meansMiss
	}
	return meansFail
}

// judge holds a case's result (s: the script that answered it) to the
// reply's meaning; "" if it holds.
func (c sweepCase) judge(r sweepResult, server string, s *script) string {
	if isRead(c.cmd.name) {
		return c.judgeRead(r, s)
	}
	m := c.meaning()
	check := func(what string, err error) string {
		switch {
		case err == nil && m != means:
			return fmt.Sprintf("%ssuccess for a reply that means %v", what, map[meaning]string{meansMiss: "not found", meansFail: "failure"}[m])
		case c.cmd.answers && m != meansMiss && errors.Is(err, mc.ErrCacheMiss):
			return fmt.Sprintf("%sa miss (%v) for a reply that does not say not found", what, err)
		// A timeout aside (a loaded machine can miss the short deadline),
		// a reply that means success or not found gives exactly that.
		case err != nil && m == means && !errors.Is(err, mc.ErrTimeout):
			return fmt.Sprintf("%san error (%v) for a reply that means success", what, err)
		case err != nil && m == meansMiss && !errors.Is(err, mc.ErrCacheMiss) && !errors.Is(err, mc.ErrTimeout):
			return fmt.Sprintf("%snot a miss (%v) for a reply that says not found", what, err)
		}
		return ""
	}
	if r.keyErrs != nil {
		var bad []string
		for _, k := range c.cmd.keys {
			if p := check(k+": ", r.keyErrs[k]); p != "" {
				bad = append(bad, p)
			}
		}
		return strings.Join(bad, "; ")
	}
	if p := check("", r.err); p != "" || r.err != nil {
		return p
	}
	switch c.cmd.name {
	case "Increment", "Decrement":
		if r.num != 42 {
			return fmt.Sprintf("success with %d, the reply says 42", r.num)
		}
	case "Version":
		if r.info[server]["version"] != "1.6.18" {
			return fmt.Sprintf("success with %v, the reply says 1.6.18", r.info)
		}
	case "Stats":
		if s, ok := r.info[server]; ok && s["pid"] != "1" {
			return fmt.Sprintf("success with %v, the reply says pid 1", r.info)
		}
	}
	return ""
}

// judgeRead judges Get, GetMulti and GetAndTouch with the read oracle,
// on what the fake sent in answer to the read (s: its script).
func (c sweepCase) judgeRead(r sweepResult, s *script) string {
	reply := c.reply.bytes
	var unit []request // the read's requests (none: no opaque is the read's)
	for i, u := range s.reqs {
		if u[0].isRead() {
			reply, unit = s.sent[i], u
		}
	}
	if c.reply.close || c.reply.silence {
		reply = nil
	}
	oracle := func() verdict {
		if c.binary {
			return binaryReadOracle(reply, c.cmd.keys, opaquesOf(unit))
		}
		return textReadOracle(reply, c.cmd.keys, true)
	}
	if c.cmd.name != "GetAndTouch" {
		return judgeRead(oracle(), c.cmd.keys, c.cmd.name == "Get", r.read)
	}
	// GetAndTouch: a touch, whose reply means success, a miss or a failure,
	// then (after a success) a read answered with the same bytes.
	switch c.meaning() {
	case means:
		return judgeRead(oracle(), c.cmd.keys, true, r.read)
	case meansMiss:
		if r.err == nil {
			return "success for a touch answered not found"
		}
		return ""
	}
	switch {
	case r.err == nil:
		return "success for a touch that failed"
	case errors.Is(r.err, mc.ErrCacheMiss):
		return fmt.Sprintf("a miss (%v) for a touch whose reply does not say not found", r.err)
	}
	return ""
}

// goodJudge checks a command's result against the fake answering well.
func (c sweepCase) goodJudge(r sweepResult, server string) string {
	if r.err != nil {
		return fmt.Sprintf("%s against a well-behaved server: %v", c.cmd.name, r.err)
	}
	if isRead(c.cmd.name) {
		for _, k := range c.cmd.keys {
			it, want := r.read.items[k], goodItems[k]
			if it == nil || string(it.Value) != want.value || it.Flags != want.flags || it.CasID != want.cas {
				return fmt.Sprintf("%s against a well-behaved server read %s = %+v, want %+v", c.cmd.name, k, it, want)
			}
		}
	}
	switch c.cmd.name {
	case "Increment", "Decrement":
		if r.num != 1 {
			return fmt.Sprintf("%s against a well-behaved server: %d, want 1", c.cmd.name, r.num)
		}
	case "Version":
		if r.info[server]["version"] != "1.6.18" {
			return fmt.Sprintf("Version against a well-behaved server: %v", r.info)
		}
	case "Stats":
		if r.info[server]["pid"] != "1" {
			return fmt.Sprintf("Stats against a well-behaved server: %v", r.info)
		}
	}
	return ""
}

// sweepDeadline bounds each call of the sweep.
const sweepDeadline = 200 * time.Millisecond

// sweepChild runs one group's cases from from on, printing a BEGIN and an
// END line for each, for the parent.
func sweepChild(t *testing.T, group string, from int) {
	proto, name, _ := strings.Cut(group, "/")
	binaryProto := proto == "binary"
	i := slices.IndexFunc(sweepCommands, func(c sweepCmd) bool { return c.name == name })
	if i < 0 {
		t.Fatalf("no command %q", name)
	}
	cases := sweepCases(binaryProto, sweepCommands[i])
	fake := startScriptFake(t, binaryProto)
	newClient := func() *mc.Client {
		c, err := mc.New([]string{fake.addr()}, mc.WithPoolSize(1),
			mc.WithBehaviors(map[string]any{"binary_protocol": binaryProto, "_poll_timeout": 2000, "retry_timeout": 0}))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newClient()
	defer func() { c.Close() }()
	// good runs the command, then a Get of k1, against the fake answering
	// well; after a closed connection one ErrServerDown is allowed (the
	// client learns of the close by using the socket).
	good := func(cs sweepCase, closed bool) string {
		var p string
		for try := 0; try < 2; try++ {
			ctx, cancel := context.WithTimeout(bg(), retryDeadline)
			r := cs.cmd.run(ctx, c)
			p = cs.goodJudge(r, fake.addr())
			if p == "" {
				var it *mc.Item
				it, r.err = c.Get(ctx, "k1")
				if r.err != nil || string(it.Value) != goodItems["k1"].value {
					p = fmt.Sprintf("Get k1 against a well-behaved server: %+v, %v", it, r.err)
				}
			}
			cancel()
			if p == "" || !closed || !errors.Is(r.err, mc.ErrServerDown) {
				break
			}
		}
		return p
	}
	if p := good(cases[0], false); p != "" {
		t.Fatalf("before the sweep: %s", p)
	}
	for n := from; n < len(cases); n++ {
		cs := cases[n]
		fmt.Printf("SWEEP\tBEGIN\t%d\n", n)
		s := &script{repeat: true, close: cs.reply.close}
		if !cs.reply.silence && !cs.reply.close {
			s.chunks = [][]byte{cs.reply.bytes}
		}
		fake.arm(s)
		ctx, cancel := context.WithTimeout(bg(), sweepDeadline)
		r := cs.cmd.run(ctx, c)
		cancel()
		fake.disarm(s)
		status, msg := "ok", ""
		p := cs.judge(r, fake.addr(), s)
		if s.taken == 0 && len(r.read.items) == 0 {
			// Nothing was asked (Version answers what the connection said
			// when it was opened): no reply to misread.
			p = ""
		}
		if p != "" {
			status, msg = "fail", fmt.Sprintf("%s (returned %v)", p, r.err)
		} else if p := good(cs, cs.reply.close); p != "" {
			status, msg = "fail", "the client is not usable after: "+p
		}
		if status != "ok" {
			c.Close() // the next case starts with a client of its own
			c = newClient()
			good(cs, true)
		}
		fmt.Printf("SWEEP\tEND\t%d\t%s\t%s\n", n, status, strings.ReplaceAll(msg, "\n", " "))
	}
}

// TestTextReplicasRepliesChecked: with num_replicas set and the text
// protocol (libmemcached sends replicas only over the binary protocol),
// Set, SetMulti, Delete and DeleteMulti have their replies read and
// checked by golibmc like any text store: a success line that is not
// theirs (END, DELETED to a Set, STORED to a Delete, ...) is ErrProtocol,
// where libmemcached reading it itself aborted the process
// (storage.cc:257). The calls run in a child process, so that an abort
// fails this test instead of ending the test binary.
func TestTextReplicasRepliesChecked(t *testing.T) {
	if os.Getenv("GOLIBMC_REPLICAS_CHILD") == "1" {
		textReplicasChild(t)
		return
	}
	ctx, cancel := context.WithTimeout(bg(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTextReplicasRepliesChecked$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GOLIBMC_REPLICAS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child failed: %s\n%s", deathSummary(string(out), err), out)
	}
}

func textReplicasChild(t *testing.T) {
	fakes := []*scriptFake{startScriptFake(t, false), startScriptFake(t, false)}
	c, err := mc.New([]string{fakes[0].addr(), fakes[1].addr()}, mc.WithPoolSize(1),
		mc.WithBehaviors(map[string]any{"num_replicas": 1, "retry_timeout": 0}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ops := map[string]func() error{
		"Set":         func() error { return c.Set(bg(), item("k1", "v")) },
		"SetMulti":    func() error { return c.SetMulti(bg(), []*mc.Item{item("k1", "v"), item("k2", "w")}) },
		"Delete":      func() error { return c.Delete(bg(), "k1") },
		"DeleteMulti": func() error { return c.DeleteMulti(bg(), []string{"k1", "k2"}) },
	}
	success := map[string]string{"Set": "STORED", "SetMulti": "STORED", "Delete": "DELETED", "DeleteMulti": "DELETED"}
	for _, name := range []string{"Set", "SetMulti", "Delete", "DeleteMulti"} {
		for _, reply := range []string{"END", "DELETED", "STORED", "TOUCHED", "OK", "VERSION 1.6.18", "42", "VALUE k1 0 1 1\r\nx\r\nEND"} {
			if reply == success[name] {
				continue
			}
			var scripts []*script
			for _, f := range fakes {
				s := &script{chunks: [][]byte{[]byte(reply + "\r\n")}, repeat: true}
				f.arm(s)
				scripts = append(scripts, s)
			}
			err := ops[name]()
			for i, f := range fakes {
				f.disarm(scripts[i])
			}
			assert.ErrorIs(t, err, mc.ErrProtocol, "%s <- %q", name, reply)
			assert.ErrorIs(t, err, mc.ErrOutcomeUnknown, "%s <- %q", name, reply)
			assert.NoError(t, c.Set(bg(), item("k1", "after")), "after %s <- %q", name, reply)
		}
	}
}
