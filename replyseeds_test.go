package libmemcached_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The seed corpora of the reply-grammar fuzzers (replyfuzz_test.go), in
// testdata/fuzz/<target>/seed-*: every malformed reply shape of issue 20
// (B, C, D, F) and the well-formed replies around them, each with
// PollNever and with PollAlways ("-always"). TestReplySeeds checks that
// the files are these seeds; GOLIBMC_WRITE_SEEDS=1 (make fuzz-seeds)
// rewrites them. Inputs the fuzzer finds are other files, left alone.

// replySeedFiles is every seed file: path -> content.
func replySeedFiles() map[string]string {
	files := map[string]string{}
	for target, seeds := range map[string][]replySeed{
		"FuzzTextReplies": textReadSeeds(), "FuzzBinaryReplies": binaryReadSeeds(),
		"FuzzTextStoreReplies": textStoreSeeds(), "FuzzBinaryStoreReplies": binaryStoreSeeds(),
	} {
		for _, s := range seeds {
			for _, v := range []struct {
				suffix string
				shape  byte
			}{{"", s.shape}, {"-always", s.shape | sAlways}} {
				path := filepath.Join("testdata", "fuzz", target, "seed-"+s.name+v.suffix)
				if _, ok := files[path]; ok {
					panic("two seeds named " + path)
				}
				files[path] = fmt.Sprintf("go test fuzz v1\nbyte(%q)\n[]byte(%q)\n[]byte(%q)\n", v.shape, s.reply, s.cuts)
			}
		}
	}
	return files
}

// TestReplySeeds: the seed files on disk are exactly replySeedFiles
// (with GOLIBMC_WRITE_SEEDS=1, it writes them first).
func TestReplySeeds(t *testing.T) {
	files := replySeedFiles()
	if os.Getenv("GOLIBMC_WRITE_SEEDS") == "1" {
		old, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "Fuzz*Replies", "seed-*"))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
		}
		for path, content := range files {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	on, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "Fuzz*Replies", "seed-*"))
	for _, path := range on {
		if _, ok := files[path]; !ok {
			t.Errorf("%s is not a seed any more (make fuzz-seeds)", path)
		}
	}
	for path, content := range files {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Errorf("%s differs from its seed (make fuzz-seeds): %v", path, err)
		}
	}
}

// An input is (shape, reply, cuts); see replyfuzz_test.go.
const (
	sSingle = 4
	sAlways = 8
	sClose  = 16
	sDup    = 32
	sRaw    = 64 // binary: opaques as they are, not offsets from the echo
)

// sMulti is the shape of a GetMulti/SetMulti of n keys.
func sMulti(n int) byte { return byte(n - 1) }

type replySeed struct {
	name  string
	shape byte
	reply []byte
	cuts  []byte
}

func joined(s ...string) []byte { return []byte(strings.Join(s, "")) }

func textReadSeeds() []replySeed {
	v1 := "VALUE k1 1 5 7\r\nhello\r\n"
	v2 := "VALUE k2 2 3 8\r\nabc\r\n"
	v3 := "VALUE k3 3 0 9\r\n\r\n"
	v4 := "VALUE k4 4294967295 4 18446744073709551615\r\n\x00\r\n\xff\r\n"
	return []replySeed{
		// Well formed.
		{"miss", sSingle, joined("END\r\n"), nil},
		{"hit", sSingle, joined(v1, "END\r\n"), nil},
		{"all-four", sMulti(4), joined(v1, v2, v3, v4, "END\r\n"), nil},
		{"some-of-four", sMulti(4), joined(v2, v4, "END\r\n"), nil},
		{"none-of-three", sMulti(3), joined("END\r\n"), nil},
		{"reordered", sMulti(3), joined(v3, v1, "END\r\n"), nil},
		{"value-holds-end", sSingle, joined("VALUE k1 0 11 5\r\nx\r\nEND\r\nVAL\r\nEND\r\n"), nil},
		{"empty-value", sSingle, joined("VALUE k1 0 0 1\r\n\r\nEND\r\n"), nil},
		{"leading-zeros", sSingle, joined("VALUE k1 007 05 0\r\nhello\r\nEND\r\n"), nil},
		{"leading-zeros-past-19-digits", sSingle, joined("VALUE k1 004294967295 000000000000000000005 0000000000000000000000018446744073709551615\r\nhello\r\nEND\r\n"), nil},
		{"F-cas-2pow64-leading-zeros", sSingle, joined("VALUE k1 0 5 0000018446744073709551616\r\nhello\r\nEND\r\n"), nil},
		{"F-cas-21-digits", sSingle, joined("VALUE k1 0 5 100000000000000000000\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-2pow32-leading-zero", sSingle, joined("VALUE k1 04294967296 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-key-tab", sSingle, joined("VALUE k\t1 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-key-del", sSingle, joined("VALUE k\x7f 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"repeated-keys", sDup | sMulti(4), joined("VALUE k1 1 1 1\r\na\r\nVALUE k1 1 1 1\r\na\r\n", v2, "END\r\n"), nil},
		{"split-every-byte", sMulti(2), joined(v1, v2, "END\r\n"), []byte{1, 1, 1, 1, 1, 1, 1, 1}},
		{"split-in-value", sSingle, joined(v1, "END\r\n"), []byte{17, 3}},
		{"split-in-end", sMulti(2), joined(v1, "END\r\n"), []byte{24, 2}},
		{"hit-then-close", sClose | sSingle, joined(v1, "END\r\n"), nil},
		// B: the value length that wraps 24+klen+vlen, and its neighbours.
		{"B-bytes-uint64max", sSingle, joined("VALUE k1 42 18446744073709551615 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-uint64max-multi", sMulti(2), joined(v2, "VALUE k1 42 18446744073709551615 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-uint64max-1", sSingle, joined("VALUE k1 42 18446744073709551614 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-uint64max-25", sSingle, joined("VALUE k1 42 18446744073709551590 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-2pow64", sSingle, joined("VALUE k1 42 18446744073709551616 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-2pow63", sSingle, joined("VALUE k1 42 9223372036854775808 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-2pow32", sClose | sSingle, joined("VALUE k1 42 4294967296 1\r\nhello\r\nEND\r\n"), nil},
		{"B-bytes-huge-close", sClose | sSingle, joined("VALUE k1 0 99999999999 1\r\nhello"), nil},
		// F: fields that are not what they must be.
		{"F-flags-abc", sSingle, joined("VALUE k1 abc 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-empty", sSingle, joined("VALUE k1  5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-2pow32", sSingle, joined("VALUE k1 4294967296 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-minus-1", sSingle, joined("VALUE k1 -1 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-plus", sSingle, joined("VALUE k1 +5 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-flags-hex", sSingle, joined("VALUE k1 0x10 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-bytes-minus-1", sSingle, joined("VALUE k1 0 -1 1\r\nhello\r\nEND\r\n"), nil},
		{"F-bytes-abc", sSingle, joined("VALUE k1 0 abc 1\r\nhello\r\nEND\r\n"), nil},
		{"F-bytes-short", sSingle, joined("VALUE k1 0 3 1\r\nhello\r\nEND\r\n"), nil},
		{"F-bytes-long", sSingle, joined("VALUE k1 0 7 1\r\nhello\r\nEND\r\n"), nil},
		{"F-no-crlf-after-value", sSingle, joined("VALUE k1 0 5 1\r\nhelloXYEND\r\n"), nil},
		{"F-no-crlf-after-value-multi", sMulti(2), joined("VALUE k1 0 5 1\r\nhelloXY", v2, "END\r\n"), nil},
		{"F-lf-after-value", sSingle, joined("VALUE k1 0 5 1\r\nhello\nEND\r\n"), nil},
		{"F-cas-missing", sSingle, joined("VALUE k1 0 5\r\nhello\r\nEND\r\n"), nil},
		{"F-cas-abc", sSingle, joined("VALUE k1 0 5 abc\r\nhello\r\nEND\r\n"), nil},
		{"F-cas-2pow64", sSingle, joined("VALUE k1 0 5 18446744073709551616\r\nhello\r\nEND\r\n"), nil},
		{"F-cas-minus-1", sSingle, joined("VALUE k1 0 5 -1\r\nhello\r\nEND\r\n"), nil},
		{"F-extra-field", sSingle, joined("VALUE k1 0 5 1 2\r\nhello\r\nEND\r\n"), nil},
		{"F-trailing-space", sSingle, joined("VALUE k1 0 5 1 \r\nhello\r\nEND\r\n"), nil},
		{"F-double-space-key", sSingle, joined("VALUE  k1 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-tab", sSingle, joined("VALUE k1\t0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-lowercase", sSingle, joined("value k1 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-VALUES", sSingle, joined("VALUES k1 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"F-VALUE-alone", sSingle, joined("VALUE\r\nEND\r\n"), nil},
		{"F-VALUE-key-only", sSingle, joined("VALUE k1\r\nhello\r\nEND\r\n"), nil},
		{"F-lf-line", sSingle, joined("VALUE k1 0 5 1\nhello\r\nEND\r\n"), nil},
		{"F-end-lf", sSingle, joined("END\n"), nil},
		{"F-end-no-crlf", sSingle, joined("END"), nil},
		{"F-end-no-crlf-close", sClose | sSingle, joined("END"), nil},
		{"F-END-space", sSingle, joined("END \r\n"), nil},
		{"F-ENDX", sSingle, joined("ENDX\r\n"), nil},
		// Found by the fuzzer: a VALUE line with no space and a bare LF; a
		// cas with trailing bytes; a number where a read's reply belongs
		// (each returned an item for the key the client's previous call
		// read, with that call's flags and cas, or one parsed from the prefix).
		{"F-VALUE-no-space-close", sClose | sSingle, joined("VALUE0k1\n00"), nil},
		{"F-cas-trailing-bytes", sSingle, joined("VALUE k1 0 5 1844674\xd4\xd4551616\r\nhello\r\nEND\r\n"), nil},
		{"number-line", sMulti(4), joined("0\n"), nil},
		{"number-line-crlf", sSingle, joined("42\r\n"), nil},
		// Keys not asked, or answered more often than asked.
		{"foreign-key", sSingle, joined("VALUE k9 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"foreign-prefix-key", sSingle, joined("VALUE k1x 0 5 1\r\nhello\r\nEND\r\n"), nil},
		{"foreign-other-asked", sSingle, joined(v2, "END\r\n"), nil},
		{"foreign-then-own", sMulti(2), joined("VALUE k9 0 1 1\r\nz\r\n", v1, v2, "END\r\n"), nil},
		{"duplicate", sSingle, joined(v1, v1, "END\r\n"), nil},
		{"duplicate-differs", sSingle, joined(v1, "VALUE k1 9 5 9\r\nworld\r\nEND\r\n"), nil},
		{"duplicate-beyond-asked", sDup | sMulti(2), joined(v1, v1, v1, "END\r\n"), nil},
		// Truncations.
		{"empty", sSingle, nil, nil},
		{"empty-close", sClose | sSingle, nil, nil},
		{"cut-in-header", sSingle, joined("VALUE k1 0 5"), nil},
		{"cut-in-value", sSingle, joined("VALUE k1 0 5 1\r\nhel"), nil},
		{"cut-in-value-close", sClose | sSingle, joined("VALUE k1 0 5 1\r\nhel"), nil},
		{"cut-after-value", sMulti(2), joined(v1), nil},
		{"cut-after-value-close", sClose | sMulti(2), joined(v1), nil},
		{"cut-in-end-close", sClose | sMulti(2), joined(v1, "EN"), nil},
		{"cut-cr", sSingle, joined("VALUE k1 0 5 1\r"), nil},
		// Bytes after END.
		{"after-end-end", sSingle, joined("END\r\nEND\r\n"), nil},
		{"after-end-stale-value", sSingle, joined("END\r\nVALUE k1 0 5 1\r\nwrong\r\nEND\r\n"), nil},
		// Split in the value: what comes after END arrives with it.
		{"after-end-stale-value-split", sMulti(2), joined(v1, "END\r\nVALUE k1 0 5 1\r\nwrong\r\nEND\r\n"), []byte{20}},
		// Split after END (found by the fuzzer): the second reply reaches
		// the client after its call ended. Text replies carry nothing that
		// says which request they answer, so the next call read it as its
		// own (k1 = "wrong"); now a call starts by closing connections that
		// hold bytes no request expects (golibmc_leftover).
		{"after-end-stale-value-late", sMulti(2), joined(v1, "END\r\nVALUE k1 0 5 1\r\nwrong\r\nEND\r\n"), []byte{byte(len(v1) + 5)}},
		{"after-end-garbage", sSingle, joined(v1, "END\r\nXYZ\r\n"), nil},
		{"after-end-byte", sSingle, joined("END\r\nX"), nil},
		// Error lines and garbage.
		{"error", sSingle, joined("ERROR\r\n"), nil},
		{"client-error", sMulti(2), joined("CLIENT_ERROR bad command line format\r\n"), nil},
		{"server-error", sSingle, joined("SERVER_ERROR out of memory\r\n"), nil},
		{"error-after-value", sMulti(2), joined(v1, "SERVER_ERROR out of memory writing get response\r\n"), nil},
		{"stored-to-get", sSingle, joined("STORED\r\n"), nil},
		{"garbage", sMulti(3), joined("XYZZY\r\n"), nil},
		{"empty-line", sSingle, joined("\r\n"), nil},
		{"nul-line", sSingle, joined("\x00\x00\x00\x00\x00\x00\r\n"), nil},
		{"binary-to-text", sSingle, []byte{0x81, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil},
		{"long-line", sSingle, joined("VALUE k1 0 5 ", strings.Repeat("1", 3000), "\r\nhello\r\nEND\r\n"), nil},
	}
}

func beFlags(f uint32) []byte {
	var e [4]byte
	binary.BigEndian.PutUint32(e[:], f)
	return e[:]
}

// withOpaque sets the opaque field of the binary packet p (a copy) to d:
// the reply to the request d ids after the one it answers (answerOpaques).
func withOpaque(p []byte, d int32) []byte {
	q := append([]byte(nil), p...)
	binary.BigEndian.PutUint32(q[12:16], uint32(d))
	return q
}

// withByte changes one header byte of p (a copy).
func withByte(p []byte, at int, v byte) []byte {
	q := append([]byte(nil), p...)
	q[at] = v
	return q
}

func cat(ps ...[]byte) []byte {
	var out []byte
	for _, p := range ps {
		out = append(out, p...)
	}
	return out
}

func binaryReadSeeds() []replySeed {
	noop := binNoopReply
	i1 := binItem(0x0d, "k1", "hello", 1, 7)
	i2 := binItem(0x0d, "k2", "abc", 2, 8)
	i3 := binItem(0x0d, "k3", "", 3, 9)
	i4 := binItem(0x0d, "k4", "\x81\x0a\x00\x00", 0xffffffff, 0xffffffffffffffff)
	// C: a key length (0xffff) past the body.
	bigKey := binPacket(0x81, 0x0d, 0, beFlags(1), []byte("k1"), []byte("hello"), 7)
	binary.BigEndian.PutUint16(bigKey[2:4], 0xffff)
	return []replySeed{
		// Well formed.
		{"miss", sSingle, cat(noop), nil},
		{"hit", sSingle, cat(i1, noop), nil},
		{"all-four", sMulti(4), cat(i1, i2, i3, i4, noop), nil},
		{"some-of-four", sMulti(4), cat(i2, i4, noop), nil},
		{"none-of-three", sMulti(3), cat(noop), nil},
		{"reordered", sMulti(3), cat(i3, i1, noop), nil},
		{"empty-value", sSingle, cat(binItem(0x0d, "k1", "", 0, 1), noop), nil},
		// Opaques of other requests of the same call: the client takes any
		// of its call's (memcached echoes each request's own).
		{"opaque-sibling-hits", sMulti(2), cat(withOpaque(i1, 1), withOpaque(i2, -1), noop), nil},
		{"opaque-noop-of-getkq", sSingle, cat(i1, withOpaque(noop, -1)), nil},
		{"repeated-keys", sDup | sMulti(4), cat(i1, i1, i2, noop), nil},
		{"split-every-byte", sMulti(2), cat(i1, i2, noop), []byte{1, 1, 1, 1, 1, 1, 1, 1}},
		{"split-in-header", sMulti(2), cat(i1, i2, noop), []byte{12, 20, 30}},
		{"hit-then-close", sClose | sSingle, cat(i1, noop), nil},
		// C: lengths that do not fit the body.
		{"C-keylen-ffff", sSingle, cat(bigKey, noop), nil},
		{"C-keylen-ffff-multi", sMulti(2), cat(i2, bigKey, noop), nil},
		{"C-keylen-ffff-close", sClose | sSingle, cat(bigKey), nil},
		{"C-keylen-ffff-tail", sSingle, cat(bigKey, []byte(strings.Repeat("x", 1000)), noop), nil},
		{"C-keylen-ffff-tail-multi", sMulti(2), cat(i2, bigKey, []byte(strings.Repeat("x", 1000)), noop), nil},
		{"C-keylen-300-framed", sSingle, cat(binItem(0x0d, strings.Repeat("k", 300), "v", 1, 7), noop), nil},
		// Found by the fuzzer: key length 0xfb04 over a 256-byte tail
		// (ASan: free of an address that was not malloc()-ed, in
		// memcached_fetch_result).
		{"C-keylen-fb04-fuzzed", sMulti(4), []byte("\x81\r\xfb\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\a\x00\x00\x00\x01kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk(kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkv\x81\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), nil},
		{"C-keylen-251-framed", sSingle, cat(binItem(0x0d, strings.Repeat("k", 251), "v", 1, 7), noop), nil},
		{"C-keylen-past-body", sSingle, cat(withByte(i1, 3, 9), noop), nil},
		{"C-extlen-ff", sSingle, cat(withByte(i1, 4, 0xff), noop), nil},
		{"C-extlen-0", sSingle, cat(binPacket(0x81, 0x0d, 0, nil, []byte("k1"), []byte("hello"), 7), noop), nil},
		{"C-extlen-8", sSingle, cat(binPacket(0x81, 0x0d, 0, append(beFlags(1), 0, 0, 0, 0), []byte("k1"), []byte("hello"), 7), noop), nil},
		{"C-body-short", sSingle, cat(withByte(i1, 11, 5), noop), nil},
		{"C-body-ffffffff-close", sClose | sSingle, cat(withByte(withByte(withByte(withByte(i1, 8, 0xff), 9, 0xff), 10, 0xff), 11, 0xff)), nil},
		{"C-body-past-reply", sSingle, cat(withByte(i1, 10, 1), noop), nil},
		{"C-keylen-0", sSingle, cat(binPacket(0x81, 0x0d, 0, beFlags(1), nil, []byte("hello"), 7), noop), nil},
		// F: a swapped opcode mid-stream, statuses, magic, data type.
		{"F-swapped-set", sMulti(3), cat(i1, withByte(i2, 1, 0x01), binItem(0x0d, "k3", "x", 3, 9), noop), nil},
		{"F-swapped-noop-with-body", sMulti(3), cat(i1, withByte(i2, 1, 0x0a), binItem(0x0d, "k3", "x", 3, 9), noop), nil},
		{"F-swapped-get", sMulti(2), cat(withByte(i1, 1, 0x00), i2, noop), nil},
		// A GETK's reply to a GETKQ: a reply carries its request's opcode.
		{"F-getk-hit", sSingle, cat(binItem(0x0c, "k1", "hello", 1, 7), noop), nil},
		{"F-getk-hit-multi", sMulti(3), cat(i1, binItem(0x0c, "k3", "", 3, 9), noop), nil},
		{"F-swapped-getq", sMulti(2), cat(withByte(i1, 1, 0x09), i2, noop), nil},
		{"F-swapped-incr", sMulti(2), cat(i1, binPacket(0x81, 0x05, 0, nil, nil, []byte{0, 0, 0, 0, 0, 0, 0, 42}, 1), noop), nil},
		// Found by the fuzzer: a SASL opcode (0x20) with extras and data
		// type bytes set, then a closed connection.
		{"F-opcode-20-close", sClose | sMulti(4), []byte("\x81 \x00\x0000\x00\x00\x00\x00\x00\x00000000000000"), nil},
		{"F-swapped-version", sSingle, cat(binPacket(0x81, 0x0b, 0, nil, nil, []byte("1.6.18"), 0), noop), nil},
		{"F-swapped-stat", sSingle, cat(binPacket(0x81, 0x10, 0, nil, []byte("pid"), []byte("1"), 0), noop), nil},
		{"F-status-enoent", sMulti(2), cat(i1, withByte(i2, 7, 0x01), noop), nil},
		// Found by the fuzzer: status 0x02 and garbage lengths on a quiet
		// get; all three keys came back as clean misses, no error.
		{"F-status-exists-fuzzed", sMulti(3), []byte("\x81\rᚱ\xcb\x00\x02\x00\x00\x00\x0f\x00\x00\x00\xfb\xfb\x00\x00\x00\x00\x00\x00\a\x00\x00\x00\x01\x00\x00\x00\x00k1hello\x81\n\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), nil},
		{"F-status-enomem", sSingle, cat(withByte(i1, 7, 0x82), noop), nil},
		{"F-status-auth-continue-item", sSingle, cat(withByte(i1, 7, 0x21), noop), nil},
		{"F-status-auth", sSingle, cat(binPacket(0x81, 0x0d, 0x20, nil, nil, []byte("Auth failure"), 0)), nil},
		{"F-noop-status", sMulti(2), cat(i1, withByte(noop, 7, 0x81)), nil},
		{"F-noop-status-only", sSingle, cat(withByte(noop, 7, 0x01)), nil},
		{"F-magic-request", sSingle, cat(withByte(i1, 0, 0x80), noop), nil},
		{"F-magic-zero", sSingle, cat(withByte(i1, 0, 0x00), noop), nil},
		{"F-noop-magic", sSingle, cat(withByte(noop, 0, 0x80)), nil},
		{"F-datatype", sSingle, cat(withByte(i1, 5, 1), noop), nil},
		{"F-noop-with-body", sSingle, cat(binPacket(0x81, 0x0a, 0, nil, nil, []byte("x"), 0)), nil},
		// Replies to other requests than this call's: an opaque offset from
		// the echo (the call before asked k1..k4 then NOOP), or sent as it is.
		{"opaque-late-hit", sSingle, cat(withOpaque(i1, -1), noop), nil},
		{"opaque-late-noop", sSingle, cat(i1, withOpaque(noop, -2)), nil},
		{"opaque-late-noop-multi", sMulti(4), cat(i1, i2, withOpaque(noop, -5)), nil},
		{"opaque-late-k1-of-last-call", sMulti(2), cat(withOpaque(binItem(0x0d, "k1", "good-k1", 11, 1001), -5), i1, i2, noop), nil},
		{"opaque-late-k4-of-last-call", sMulti(2), cat(withOpaque(binItem(0x0d, "k4", "good-k4", 14, 1004), -2), i1, noop), nil},
		{"opaque-late-noop-after-hit", sMulti(2), cat(i1, withOpaque(noop, -3), i2, noop), nil},
		{"opaque-future-hit", sSingle, cat(withOpaque(i1, 2), noop), nil},
		{"opaque-future-noop", sMulti(3), cat(i1, withOpaque(noop, 1)), nil},
		{"opaque-far", sSingle, cat(withOpaque(i1, 0x7fff), noop), nil},
		{"opaque-late-then-close", sClose | sSingle, cat(withOpaque(i1, -1)), nil},
		{"raw-opaque-zero", sRaw | sSingle, cat(i1, noop), nil},
		{"raw-opaque-high-bytes", sRaw | sSingle, cat(withByte(withByte(i1, 14, 1), 15, 1), withByte(noop, 15, 1)), nil},
		{"raw-opaque-miss-zero", sRaw | sMulti(2), cat(noop), nil},
		// Keys not asked, or answered more often than asked.
		{"foreign-key", sSingle, cat(binItem(0x0d, "k9", "hello", 1, 7), noop), nil},
		{"foreign-other-asked", sSingle, cat(i2, noop), nil},
		{"foreign-then-own", sMulti(2), cat(binItem(0x0d, "k9", "z", 1, 7), i1, i2, noop), nil},
		{"duplicate", sSingle, cat(i1, i1, noop), nil},
		{"duplicate-differs", sSingle, cat(i1, binItem(0x0d, "k1", "world", 9, 9), noop), nil},
		// Truncations.
		{"empty", sSingle, nil, nil},
		{"empty-close", sClose | sSingle, nil, nil},
		{"cut-in-header", sSingle, i1[:10], nil},
		{"cut-in-body", sSingle, i1[:30], nil},
		{"cut-in-body-close", sClose | sSingle, i1[:30], nil},
		{"no-noop", sMulti(2), cat(i1), nil},
		{"no-noop-close", sClose | sMulti(2), cat(i1), nil},
		{"cut-in-noop-close", sClose | sMulti(2), cat(i1, noop[:12]), nil},
		// Bytes after the NOOP.
		{"after-noop-noop", sSingle, cat(noop, noop), nil},
		{"after-noop-stale-item", sSingle, cat(noop, binItem(0x0d, "k1", "wrong", 1, 7), noop), nil},
		{"after-noop-stale-item-split", sMulti(2), cat(i1, noop, binItem(0x0d, "k1", "wrong", 1, 7), noop), []byte{byte(len(i1) + 24), 5}},
		{"after-noop-byte", sSingle, cat(i1, noop, []byte{0x81}), nil},
		// Text to a binary client.
		{"text-end", sSingle, joined("END\r\n"), nil},
		{"text-error", sMulti(2), joined("ERROR\r\n"), nil},
	}
}

func textStoreSeeds() []replySeed {
	return []replySeed{
		// Well formed.
		{"stored", sSingle, joined("STORED\r\n"), nil},
		{"stored-multi", sMulti(1), joined("STORED\r\n"), nil},
		{"stored-four", sMulti(4), joined("STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"), nil},
		{"stored-four-split", sMulti(4), joined("STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\n"), []byte{3, 5, 7, 9, 11}},
		{"stored-repeated-keys", sDup | sMulti(4), joined("STORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\n"), nil},
		{"not-stored", sSingle, joined("NOT_STORED\r\n"), nil},
		{"error", sSingle, joined("ERROR\r\n"), nil},
		{"client-error", sSingle, joined("CLIENT_ERROR bad data chunk\r\n"), nil},
		{"server-error", sSingle, joined("SERVER_ERROR object too large for cache\r\n"), nil},
		{"server-error-oom", sSingle, joined("SERVER_ERROR out of memory storing object\r\n"), nil},
		{"mixed", sMulti(4), joined("STORED\r\nNOT_STORED\r\nSERVER_ERROR out of memory storing object\r\nNOT_STORED\r\n"), nil},
		// A cas's and a delete's replies, not a set's.
		{"exists", sSingle, joined("EXISTS\r\n"), nil},
		{"not-found", sSingle, joined("NOT_FOUND\r\n"), nil},
		{"mixed-exists", sMulti(4), joined("STORED\r\nNOT_STORED\r\nSERVER_ERROR out of memory storing object\r\nEXISTS\r\n"), nil},
		{"not-found-multi", sMulti(2), joined("NOT_FOUND\r\nSTORED\r\n"), nil},
		{"stored-then-close", sClose | sMulti(2), joined("STORED\r\nSTORED\r\n"), nil},
		// D: success lines that are not STORED (libmemcached asserts, storage.cc:257).
		{"D-end", sSingle, joined("END\r\n"), nil},
		{"D-deleted", sSingle, joined("DELETED\r\n"), nil},
		{"D-touched", sSingle, joined("TOUCHED\r\n"), nil},
		{"D-ok", sSingle, joined("OK\r\n"), nil},
		{"D-value", sSingle, joined("VALUE k1 0 1 1\r\nx\r\nEND\r\n"), nil},
		{"D-stat", sSingle, joined("STAT pid 1\r\nEND\r\n"), nil},
		{"D-version", sSingle, joined("VERSION 1.6.18\r\n"), nil},
		{"D-number", sSingle, joined("42\r\n"), nil},
		{"D-end-multi", sMulti(2), joined("STORED\r\nEND\r\n"), nil},
		{"D-deleted-multi", sMulti(2), joined("DELETED\r\nSTORED\r\n"), nil},
		// Malformed lines.
		{"garbage", sSingle, joined("XYZZY\r\n"), nil},
		{"empty-line", sSingle, joined("\r\n"), nil},
		{"stored-lf", sSingle, joined("STORED\n"), nil},
		{"stored-no-crlf", sSingle, joined("STORED"), nil},
		{"stored-no-crlf-close", sClose | sSingle, joined("STORED"), nil},
		{"stored-space", sSingle, joined("STORED \r\n"), nil},
		{"storedx", sSingle, joined("STOREDX\r\n"), nil},
		{"stored-lowercase", sSingle, joined("stored\r\n"), nil},
		{"storstored", sSingle, joined("STORSTORED\r\n"), nil},
		{"client-error-bare", sSingle, joined("CLIENT_ERROR\r\n"), nil},
		{"server-error-long", sSingle, joined("SERVER_ERROR ", strings.Repeat("x", 3000), "\r\n"), nil},
		{"binary-to-text", sSingle, binPacket(0x81, 0x01, 0, nil, nil, nil, 1), nil},
		// Fewer replies than requests; more.
		{"empty", sSingle, nil, nil},
		{"empty-close", sClose | sSingle, nil, nil},
		{"short-multi", sMulti(3), joined("STORED\r\nSTORED\r\n"), nil},
		{"short-multi-close", sClose | sMulti(3), joined("STORED\r\nSTORED\r\n"), nil},
		{"cut-in-line-close", sClose | sMulti(2), joined("STORED\r\nSTO"), nil},
		{"extra-stored", sSingle, joined("STORED\r\nSTORED\r\n"), nil},
		{"extra-stored-late", sSingle, joined("STORED\r\nNOT_STORED\r\n"), []byte{8}},
		{"extra-garbage", sMulti(2), joined("STORED\r\nSTORED\r\nXYZ"), nil},
	}
}

func binaryStoreSeeds() []replySeed {
	noop := binNoopReply
	ok := binPacket(0x81, 0x01, 0, nil, nil, nil, 5)
	st := func(status uint16) []byte { return binPacket(0x81, 0x01, status, nil, nil, []byte("fake refusal"), 0) }
	seeds := []replySeed{
		// Well formed.
		{"stored", sSingle, ok, nil},
		{"stored-multi", sMulti(1), ok, nil},
		{"stored-four", sMulti(4), cat(ok, ok, ok, ok), nil},
		{"stored-four-split", sMulti(4), cat(ok, ok, ok, ok), []byte{3, 20, 7, 30, 11}},
		{"stored-repeated-keys", sDup | sMulti(4), cat(ok, st(0x05), ok, ok), nil},
		{"mixed", sMulti(4), cat(ok, st(0x05), st(0x82), st(0x03)), nil},
		{"stored-then-close", sClose | sMulti(2), cat(ok, ok), nil},
		// Opaques of other requests of the same call: the client takes any
		// of its call's, and reads the replies in order.
		{"opaque-swapped", sMulti(2), cat(withOpaque(ok, 1), withOpaque(st(0x05), -1)), nil},
		// KEY_ENOENT and KEY_EEXISTS answer only a set carrying a cas.
		{"mixed-exists", sMulti(4), cat(ok, st(0x05), st(0x82), st(0x02)), nil},
		{"not-found-multi", sMulti(2), cat(st(0x01), ok), nil},
		// Replies to other requests than this call's (the call before
		// ended with a NOOP).
		{"opaque-late", sSingle, withOpaque(ok, -1), nil},
		{"opaque-late-multi", sMulti(3), cat(ok, withOpaque(ok, -2), ok), nil},
		{"opaque-late-refusal", sSingle, withOpaque(st(0x05), -1), nil},
		{"opaque-late-then-ok", sSingle, cat(withOpaque(ok, -1), ok), nil},
		{"opaque-future", sSingle, withOpaque(ok, 1), nil},
		{"opaque-late-then-close", sClose | sSingle, withOpaque(ok, -1), nil},
		{"raw-opaque-zero", sRaw | sSingle, ok, nil},
		{"raw-opaque-high-bytes", sRaw | sMulti(2), cat(withByte(ok, 14, 1), ok), nil},
		// D: success with another command's opcode.
		{"D-add", sSingle, withByte(ok, 1, 0x02), nil},
		{"D-delete", sSingle, withByte(ok, 1, 0x04), nil},
		{"D-getk", sSingle, binItem(0x0c, "k1", "x", 0, 1), nil},
		{"D-noop", sSingle, noop, nil},
		{"D-incr", sSingle, binPacket(0x81, 0x05, 0, nil, nil, []byte{0, 0, 0, 0, 0, 0, 0, 42}, 1), nil},
		{"D-touch", sSingle, withByte(ok, 1, 0x1c), nil},
		{"D-flush", sSingle, withByte(ok, 1, 0x08), nil},
		{"D-version", sSingle, binPacket(0x81, 0x0b, 0, nil, nil, []byte("1.6.18"), 0), nil},
		{"D-setq", sSingle, withByte(ok, 1, 0x11), nil},
		{"D-noop-multi", sMulti(2), cat(ok, noop), nil},
		// Malformed.
		{"status-06", sSingle, st(0x06), nil},
		{"status-07", sSingle, st(0x07), nil},
		{"status-08", sSingle, st(0x08), nil},
		{"status-21", sSingle, st(0x21), nil},
		{"status-ffff", sSingle, st(0xffff), nil},
		{"success-with-body", sSingle, binPacket(0x81, 0x01, 0, nil, nil, []byte("x"), 5), nil},
		{"success-with-key", sSingle, binPacket(0x81, 0x01, 0, nil, []byte("k1"), nil, 5), nil},
		{"magic-request", sSingle, withByte(ok, 0, 0x80), nil},
		{"magic-zero", sSingle, withByte(ok, 0, 0x00), nil},
		{"datatype", sSingle, withByte(ok, 5, 1), nil},
		{"keylen-ffff", sSingle, withByte(withByte(ok, 2, 0xff), 3, 0xff), nil},
		{"extlen-ff", sSingle, withByte(ok, 4, 0xff), nil},
		{"body-ffffffff-close", sClose | sSingle, withByte(withByte(withByte(withByte(ok, 8, 0xff), 9, 0xff), 10, 0xff), 11, 0xff), nil},
		{"body-5000", sSingle, cat(binPacket(0x81, 0x01, 0x82, nil, nil, []byte(strings.Repeat("m", 5000)), 0)), nil},
		{"text-stored", sSingle, joined("STORED\r\n"), nil},
		// Fewer replies than requests; more.
		{"empty", sSingle, nil, nil},
		{"empty-close", sClose | sSingle, nil, nil},
		{"cut-in-header", sSingle, ok[:10], nil},
		{"short-multi", sMulti(3), cat(ok, ok), nil},
		{"short-multi-close", sClose | sMulti(3), cat(ok, ok), nil},
		{"extra-ok", sSingle, cat(ok, ok), nil},
		{"extra-byte", sMulti(2), cat(ok, ok, []byte{0x81}), nil},
	}
	for _, s := range []uint16{0x01, 0x02, 0x03, 0x04, 0x05, 0x20, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86} {
		seeds = append(seeds, replySeed{fmt.Sprintf("status-%02x", s), sSingle, st(s), nil})
	}
	return seeds
}
