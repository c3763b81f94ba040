package libmemcached_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	mc "github.com/golibmc/libmemcached"
)

// The reply-grammar fuzzers: a fake server on a real socket answers the
// client's read (FuzzTextReplies, FuzzBinaryReplies) or stores
// (FuzzTextStoreReplies, FuzzBinaryStoreReplies) with the fuzz input's
// bytes, split into writes at the input's cut points and optionally
// followed by closing the connection. An oracle (replyoracle_test.go)
// reads the same bytes as memcached's grammar says, and the client's
// answer is held to it:
//
//   - nothing crashes (under -asan, nothing is reported either);
//   - every item returned is exactly one the reply's well-formed prefix
//     carries (key, value, flags, cas), for an asked key;
//   - a well-formed reply gives exactly its items, misses for the other
//     keys, and no error; a store gets exactly the outcome its reply says;
//   - a malformed reply gives every key that is not returned as an item
//     an error, never a clean miss (ErrCacheMiss for a key whose server's
//     reply was malformed is a silent miss), and every store whose reply
//     is not in the well-formed prefix an error;
//   - bytes after a complete reply may arrive after the call ended, so the
//     call is only held to the complete part; the next call must not read
//     them as its own reply;
//   - after each input the same client reads (and stores) against the
//     fake, now answering well, and gets exactly the fake's items: the
//     client stays usable and in step.
//
// Seeds: testdata/fuzz/<target>/seed-* (written by make fuzz-seeds from replyseeds_test.go),
// every malformed shape of issue 20 B, C and F and the well-formed
// replies around them. `make fuzz-replies FUZZTIME=10m` runs each target
// under -asan; `make leakcheck` runs the seeds under -asan.
//
// An input is (shape, reply, cuts). shape: bits 0-1, the number of keys
// (or items) less one; bit 2, a single-key call (Get, Set) instead of
// GetMulti/SetMulti; bit 3, PollAlways instead of PollNever; bit 4, close
// the connection after the reply; bit 5, keys repeated (k1 k1 k2 k2);
// bit 6 (binary), the reply's opaques sent as they are. Without bit 6 each
// binary packet's opaque field is an offset from the opaque of the request
// it answers (answerOpaques): 0 echoes it as memcached does, anything else
// makes the packet a reply to another request (of this call or an earlier
// one, or one not sent yet). cuts: each nonzero byte moves the next write
// boundary that many bytes on.

// replyInput is one decoded fuzz input.
type replyInput struct {
	single bool
	keys   []string
	always bool
	close  bool
	raw    bool // binary: opaques as they are, not offsets
	chunks [][]byte
	reply  []byte
}

func decodeReplyInput(shape byte, reply, cuts []byte) replyInput {
	in := replyInput{single: shape&4 != 0, always: shape&8 != 0, close: shape&16 != 0, raw: shape&64 != 0, reply: reply}
	n := int(shape&3) + 1
	if in.single {
		n = 1
	}
	for i := 0; i < n; i++ {
		if shape&32 != 0 {
			in.keys = append(in.keys, fmt.Sprint("k", i/2+1))
		} else {
			in.keys = append(in.keys, fmt.Sprint("k", i+1))
		}
	}
	at := 0
	for i, c := range cuts {
		if i == 8 || at >= len(reply) {
			break
		}
		if c == 0 {
			continue
		}
		next := min(at+int(c), len(reply))
		in.chunks = append(in.chunks, reply[at:next])
		at = next
	}
	if at < len(reply) {
		in.chunks = append(in.chunks, reply[at:])
	}
	return in
}

func (in replyInput) String() string {
	call := "GetMulti/SetMulti"
	if in.single {
		call = "Get/Set"
	}
	return fmt.Sprintf("%s %v always=%v close=%v raw-opaques=%v writes=%d reply=%q", call, in.keys, in.always, in.close, in.raw,
		len(in.chunks), in.reply)
}

// replyHarness is one fuzz target's fake and its clients (PollNever and
// PollAlways, one handle each, so that every call uses the connection the
// previous one left).
type replyHarness struct {
	fake    *scriptFake
	clients map[bool]*mc.Client // by "always"
}

func newReplyHarness(f *testing.F, binaryProto bool) *replyHarness {
	h := &replyHarness{fake: startScriptFake(f, binaryProto), clients: map[bool]*mc.Client{}}
	for _, always := range []bool{false, true} {
		mode := mc.PollNever
		if always {
			mode = mc.PollAlways
		}
		c, err := mc.New([]string{h.fake.addr()}, mc.WithPoolSize(1), mc.WithPollMode(mode),
			mc.WithBehaviors(map[string]any{"binary_protocol": binaryProto, "_poll_timeout": 2000, "retry_timeout": 0}))
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { c.Close() })
		h.clients[always] = c
	}
	return h
}

// fuzzDeadline is each call's deadline; a failure judged on timeouts
// alone is run again with retryDeadline before it counts (a loaded
// machine can miss a short deadline on a reply that was all there).
const (
	fuzzDeadline  = 150 * time.Millisecond
	retryDeadline = 3 * time.Second
)

// readResult is a read's answer, per key.
type readResult struct {
	items map[string]*mc.Item
	errs  map[string]error
	err   error
}

func (r readResult) String() string {
	var b strings.Builder
	for k, it := range r.items {
		fmt.Fprintf(&b, "%s={%q flags=%d cas=%d} ", k, it.Value, it.Flags, it.CasID)
	}
	for k, e := range r.errs {
		fmt.Fprintf(&b, "%s: %v; ", k, e)
	}
	fmt.Fprintf(&b, "call error: %v", r.err)
	return b.String()
}

// onlyTimeouts reports whether every error of r is a timeout.
func (r readResult) onlyTimeouts() bool {
	if r.err == nil {
		return false
	}
	for _, e := range r.errs {
		if !errors.Is(e, mc.ErrTimeout) {
			return false
		}
	}
	return len(r.errs) > 0 || errors.Is(r.err, mc.ErrTimeout)
}

// read runs Get (single) or GetMulti for keys.
func read(ctx context.Context, c *mc.Client, single bool, keys []string) readResult {
	r := readResult{items: map[string]*mc.Item{}, errs: map[string]error{}}
	if single {
		it, err := c.Get(ctx, keys[0])
		r.err = err
		if it != nil {
			r.items[keys[0]] = it
		}
		if err != nil {
			r.errs[keys[0]] = err
		}
		return r
	}
	got, err := c.GetMulti(ctx, keys)
	r.err = err
	for k, it := range got {
		r.items[k] = it
	}
	var me *mc.MultiError
	switch {
	case errors.As(err, &me):
		for k, e := range me.Errors {
			r.errs[k] = e
		}
	case err != nil:
		for _, k := range keys {
			if r.items[k] == nil {
				r.errs[k] = err
			}
		}
	}
	return r
}

// judgeRead holds a read's answer to the oracle's verdict; it returns
// what is wrong ("" when nothing is).
func judgeRead(v verdict, keys []string, single bool, r readResult) string {
	var bad []string
	has := map[string][]record{}
	for _, rec := range v.records {
		has[rec.key] = append(has[rec.key], rec)
	}
	for k, it := range r.items {
		if !slices.Contains(keys, k) || it.Key != k {
			bad = append(bad, fmt.Sprintf("an item for %q (Key %q), which was not asked", k, it.Key))
			continue
		}
		if !slices.ContainsFunc(has[k], func(rec record) bool {
			return bytes.Equal(rec.value, it.Value) && rec.flags == it.Flags && rec.cas == it.CasID
		}) {
			bad = append(bad, fmt.Sprintf("item %s={%q flags=%d cas=%d} is not one the reply's well-formed prefix carries %v",
				k, it.Value, it.Flags, it.CasID, has[k]))
		}
	}
	for _, k := range keys {
		_, item := r.items[k]
		e := r.errs[k]
		miss := !item && (e == nil && !single || errors.Is(e, mc.ErrCacheMiss))
		switch {
		case v.ok && len(has[k]) > 0 && !item:
			bad = append(bad, fmt.Sprintf("%s: no item for a well-formed reply that has one (%v)", k, e))
		case v.ok && len(has[k]) == 0 && !miss:
			bad = append(bad, fmt.Sprintf("%s: not a clean miss for a well-formed reply without it (%v)", k, e))
		case v.ended && len(has[k]) > 0 && miss:
			bad = append(bad, fmt.Sprintf("%s: a clean miss for a key the reply has", k))
		case !v.ok && !v.ended && !item && (e == nil || errors.Is(e, mc.ErrCacheMiss)):
			bad = append(bad, fmt.Sprintf("%s: a clean miss (%v) from a malformed reply: it needs an error", k, e))
		}
	}
	if v.ok && r.err != nil && !(single && len(r.items) == 0 && errors.Is(r.err, mc.ErrCacheMiss)) {
		bad = append(bad, fmt.Sprintf("an error for a well-formed reply: %v", r.err))
	}
	if !v.ok && !v.ended && len(r.items) < len(askedCount(keys)) && r.err == nil {
		bad = append(bad, "no error from a malformed reply")
	}
	return strings.Join(bad, "; ")
}

// checkGood reads k1..k4 (and, after stores, stores two items first)
// against the fake answering well: exactly its items, no error. With
// lenient, the first call may fail once, with an error that is not an
// answer about the data (ErrServerDown, ErrProtocol, ...: neither a miss
// nor a store's refusal) and with no item that is not the fake's, and the
// one after must succeed: after a server closed the connection (the client
// learns of the close by using the socket), and after a reply followed by
// more bytes than it asked for, which may reach the client after its call
// ended (a binary client tells them by their opaques; the text protocol
// has nothing to tell them by).
func checkGood(c *mc.Client, stores, lenient bool) string {
	keys := []string{"k1", "k2", "k3", "k4"}
	var last string
	for try := 0; try < 2; try++ {
		ctx, cancel := context.WithTimeout(bg(), retryDeadline)
		var err error
		if stores {
			err = c.SetMulti(ctx, []*mc.Item{{Key: "k1", Value: []byte("x")}, {Key: "k2", Value: []byte("y")}})
		}
		var got map[string]*mc.Item
		if err == nil {
			got, err = c.GetMulti(ctx, keys)
		}
		cancel()
		for _, k := range keys {
			it, want := got[k], goodItems[k]
			if (err == nil || it != nil) &&
				(it == nil || string(it.Value) != want.value || it.Flags != want.flags || it.CasID != want.cas) {
				return fmt.Sprintf("the next call against a well-behaved server read %s = %+v (error %v), want %+v", k, it, err, want)
			}
		}
		if err == nil {
			return ""
		}
		last = fmt.Sprintf("the next call against a well-behaved server failed: %v", err)
		if !lenient || errors.Is(err, mc.ErrCacheMiss) || errors.Is(err, mc.ErrNotStored) || errors.Is(err, mc.ErrCASConflict) {
			break
		}
	}
	return last
}

// fuzzReplies runs check on every input, decoded, with its client. Each
// input starts from the same state: the client has just read k1..k4 from
// the fake answering well (so an input runs alike alone and after others,
// and a reply the client takes for something it is not meets that call's
// leftovers: its last item k4).
func fuzzReplies(f *testing.F, binaryProto bool, check func(t *testing.T, h *replyHarness, c *mc.Client, in replyInput)) {
	h := newReplyHarness(f, binaryProto)
	f.Fuzz(func(t *testing.T, shape byte, reply, cuts []byte) {
		in := decodeReplyInput(shape, reply, cuts)
		c := h.clients[in.always]
		if p := checkGood(c, false, true); p != "" {
			t.Fatalf("before the input: %s", p)
		}
		check(t, h, c, in)
	})
}

// script is the script answering the input (unit: the stores it answers).
func (in replyInput) script(unit int) *script {
	return &script{unit: unit, chunks: in.chunks, close: in.close, rawOpaque: in.raw}
}

// sentTo returns what the fake sent in answer to the input, and the
// request unit it answered (nil when it was not asked: then no opaque is
// one of the call's). Text replies go out as they are.
func (in replyInput) sentTo(s *script) ([]byte, []request) {
	if s.taken == 0 {
		return in.reply, nil
	}
	return s.sent[0], s.reqs[0]
}

// sentString shows what was sent when it differs from the input.
func (in replyInput) sentString(sent []byte) string {
	if bytes.Equal(sent, in.reply) {
		return ""
	}
	return fmt.Sprintf("\nsent (opaques set): %q", sent)
}

// attempt runs an input's call (run) and judges it; a call that failed
// only by timeouts runs again with retryDeadline before it counts.
func attempt[R interface{ onlyTimeouts() bool }](t *testing.T, c *mc.Client, in replyInput, stores bool,
	run func(time.Duration) (R, *script), judge func(R, *script) (verdict, []byte, string),
) (r R, s *script, v verdict, sent []byte, problem string) {
	r, s = run(fuzzDeadline)
	v, sent, problem = judge(r, s)
	if (problem != "" || s.taken == 0) && r.onlyTimeouts() {
		if p := checkGood(c, stores, true); p != "" {
			t.Fatalf("%v\nbefore the retry: %s", in, p)
		}
		r, s = run(retryDeadline)
		v, sent, problem = judge(r, s)
	}
	return r, s, v, sent, problem
}

// fuzzReads is the body of the read fuzzers.
func fuzzReads(f *testing.F, binaryProto bool) {
	fuzzReplies(f, binaryProto, func(t *testing.T, h *replyHarness, c *mc.Client, in replyInput) {
		run := func(d time.Duration) (readResult, *script) {
			s := in.script(0)
			h.fake.arm(s)
			ctx, cancel := context.WithTimeout(bg(), d)
			r := read(ctx, c, in.single, in.keys)
			cancel()
			h.fake.disarm(s)
			return r, s
		}
		judge := func(r readResult, s *script) (verdict, []byte, string) {
			sent, unit := in.sentTo(s)
			var v verdict
			if binaryProto {
				v = binaryReadOracle(sent, in.keys, opaquesOf(unit))
			} else {
				v = textReadOracle(sent, in.keys, true)
			}
			return v, sent, judgeRead(v, in.keys, in.single, r)
		}
		r, s, v, sent, problem := attempt(t, c, in, false, run, judge)
		if s.taken == 1 {
			checkReadRequest(t, binaryProto, in.keys, s.reqs[0])
		} else if problem == "" && len(r.items) > 0 {
			problem = "items without a reply"
		}
		if problem != "" {
			t.Fatalf("%v%s\noracle: %v\nclient: %v\n%s", in, in.sentString(sent), v, r, problem)
		}
		if p := checkGood(c, false, in.close || v.ended && !v.ok); p != "" {
			t.Fatalf("%v%s\noracle: %v\nclient: %v\n%s", in, in.sentString(sent), v, r, p)
		}
	})
}

// checkReadRequest checks that the fake was asked for keys as the
// oracle assumes: "gets k..." (the cas behavior is on by default), or
// GETKQ per key then NOOP.
func checkReadRequest(t *testing.T, binaryProto bool, keys []string, unit []request) {
	if !binaryProto {
		if len(unit) != 1 || unit[0].cmd != "gets" || !slices.Equal(unit[0].keys, keys) {
			t.Fatalf("the fake was asked %+v, not gets %v", unit, keys)
		}
		return
	}
	var got []string
	for _, q := range unit {
		if q.op == 0x0d {
			got = append(got, q.key())
		}
	}
	if unit[len(unit)-1].op != 0x0a || !slices.Equal(got, keys) || len(got) != len(unit)-1 {
		t.Fatalf("the fake was asked %+v, not GETKQ %v then NOOP", unit, keys)
	}
}

// FuzzTextReplies: Get and GetMulti against arbitrary text replies.
func FuzzTextReplies(f *testing.F) { fuzzReads(f, false) }

// FuzzBinaryReplies: Get and GetMulti against arbitrary binary replies.
func FuzzBinaryReplies(f *testing.F) { fuzzReads(f, true) }

// storeResult is a store's outcome per key.
type storeResult struct {
	errs map[string]error // nil: stored
	err  error
}

func (r storeResult) onlyTimeouts() bool {
	if r.err == nil {
		return false
	}
	for _, e := range r.errs {
		if e != nil && !errors.Is(e, mc.ErrTimeout) {
			return false
		}
	}
	return true
}

// judgeStore holds each key's outcome to the outcome of the reply to its
// last item: the same when the reply is well formed, the same or an error
// otherwise; an error for a key whose reply is not in the well-formed
// prefix.
func judgeStore(v verdict, keys []string, r storeResult) string {
	var bad []string
	for k, e := range r.errs {
		j := -1
		for i, kk := range keys {
			if kk == k {
				j = i
			}
		}
		switch {
		case j < 0:
			bad = append(bad, fmt.Sprintf("an outcome for %q, which was not stored", k))
		case j < len(v.outcomes) && v.ok && !v.outcomes[j].matches(e):
			bad = append(bad, fmt.Sprintf("%s: %v for a reply that says %v", k, e, v.outcomes[j]))
		case j < len(v.outcomes) && !v.ok && !v.outcomes[j].matches(e) && e == nil:
			bad = append(bad, fmt.Sprintf("%s: stored, for a reply that says %v", k, v.outcomes[j]))
		case j >= len(v.outcomes) && e == nil:
			bad = append(bad, fmt.Sprintf("%s: stored, though its reply is not in the well-formed prefix", k))
		}
	}
	return strings.Join(bad, "; ")
}

// fuzzStores is the body of the store fuzzers.
func fuzzStores(f *testing.F, binaryProto bool) {
	fuzzReplies(f, binaryProto, func(t *testing.T, h *replyHarness, c *mc.Client, in replyInput) {
		items := make([]*mc.Item, len(in.keys))
		for i, k := range in.keys {
			items[i] = &mc.Item{Key: k, Value: []byte(fmt.Sprint("val-", i)), Flags: uint32(i)}
		}
		run := func(d time.Duration) (storeResult, *script) {
			s := in.script(len(items))
			h.fake.arm(s)
			ctx, cancel := context.WithTimeout(bg(), d)
			r := storeResult{errs: map[string]error{}}
			if in.single {
				r.err = c.Set(ctx, items[0])
				r.errs[items[0].Key] = r.err
			} else {
				r.err = c.SetMulti(ctx, items)
				var me *mc.MultiError
				for _, k := range in.keys {
					switch {
					case errors.As(r.err, &me):
						r.errs[k] = me.Errors[k]
					default:
						r.errs[k] = r.err
					}
				}
			}
			cancel()
			h.fake.disarm(s)
			return r, s
		}
		judge := func(r storeResult, s *script) (verdict, []byte, string) {
			sent, unit := in.sentTo(s)
			var v verdict
			if binaryProto {
				v = binaryStoreOracle(sent, len(in.keys), opaquesOf(unit))
			} else {
				v = textStoreOracle(sent, len(in.keys))
			}
			return v, sent, judgeStore(v, in.keys, r)
		}
		r, s, v, sent, problem := attempt(t, c, in, true, run, judge)
		if s.taken == 1 {
			checkStoreRequest(t, binaryProto, items, s.reqs[0])
		}
		if problem != "" {
			t.Fatalf("%v%s\noracle: %v\nclient: %v (per key %v)\n%s", in, in.sentString(sent), v, r.err, r.errs, problem)
		}
		if p := checkGood(c, true, in.close || v.ended && !v.ok); p != "" {
			t.Fatalf("%v%s\noracle: %v\nclient: %v\n%s", in, in.sentString(sent), v, r.err, p)
		}
	})
}

// checkStoreRequest checks that the fake was sent the items, in order.
func checkStoreRequest(t *testing.T, binaryProto bool, items []*mc.Item, unit []request) {
	ok := len(unit) == len(items)
	for i := 0; ok && i < len(unit); i++ {
		q := unit[i]
		ok = q.key() == items[i].Key && bytes.Equal(q.value, items[i].Value) && q.flags == items[i].Flags &&
			(binaryProto && q.op == 0x01 || !binaryProto && q.cmd == "set")
	}
	if !ok {
		t.Fatalf("the fake was sent %+v, not a set of each of %d items in order", unit, len(items))
	}
}

// FuzzTextStoreReplies: Set and SetMulti against arbitrary text replies.
func FuzzTextStoreReplies(f *testing.F) { fuzzStores(f, false) }

// FuzzBinaryStoreReplies: Set and SetMulti against arbitrary binary replies.
func FuzzBinaryStoreReplies(f *testing.F) { fuzzStores(f, true) }
