package libmemcached_test

import (
	"bytes"
	"errors"
	"testing"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// validKey is the rule the client documents: 1-250 bytes, no byte <= 0x20, no 0x7f.
func validKey(k string) bool {
	if len(k) == 0 || len(k) > mc.MaxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

// FuzzRoundTrip sends arbitrary keys and values through a real server over
// both protocols: valid keys round-trip exactly (also through GetMulti and
// SetMulti), invalid ones give ErrMalformedKey, and the server never sees a
// broken request (a sentinel item stays intact). Seeds: testdata/fuzz.
func FuzzRoundTrip(f *testing.F) {
	s := mctest.Start(f)
	var clients []*mc.Client
	for _, opts := range [][]mc.Option{nil, {mc.WithBehaviors(map[string]any{"binary_protocol": true})}} {
		c, err := mc.New([]string{s.Addr}, opts...)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { c.Close() })
		clients = append(clients, c)
	}
	if err := clients[0].Set(bg(), &mc.Item{Key: "sentinel", Value: []byte("intact")}); err != nil {
		f.Fatal(err)
	}
	f.Add("foo", []byte("Hello world!"))
	f.Add("x\r\nflush_all", []byte("v"))
	f.Add("ключ", []byte{0, 0xff, '\r', '\n'})
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		if len(value) > 100_000 {
			value = value[:100_000]
		}
		for i, c := range clients {
			err := c.Set(bg(), &mc.Item{Key: key, Value: value, Flags: uint32(len(value))})
			if !validKey(key) {
				if err == nil || !isMalformed(err) {
					t.Fatalf("client %d: Set(%q) = %v, want ErrMalformedKey", i, key, err)
				}
				if _, err := c.GetMulti(bg(), []string{"sentinel", key}); !isMalformed(err) {
					t.Fatalf("client %d: GetMulti with %q = %v", i, key, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("client %d: Set(%q): %v", i, key, err)
			}
			it, err := c.Get(bg(), key)
			if err != nil || !bytes.Equal(it.Value, value) || it.Flags != uint32(len(value)) {
				t.Fatalf("client %d: Get(%q) = %v, %v; want %q", i, key, it, err, value)
			}
			got, err := c.GetMulti(bg(), []string{key, "sentinel"})
			if err != nil || got[key] == nil || !bytes.Equal(got[key].Value, value) {
				t.Fatalf("client %d: GetMulti(%q): %v %v", i, key, got, err)
			}
			if err := c.SetMulti(bg(), []*mc.Item{{Key: key, Value: value}, {Key: key, Value: value}}); err != nil {
				t.Fatalf("client %d: SetMulti(%q): %v", i, key, err)
			}
			if err := c.Delete(bg(), key); err != nil {
				t.Fatalf("client %d: Delete(%q): %v", i, key, err)
			}
		}
		it, err := clients[0].Get(bg(), "sentinel")
		if err != nil || string(it.Value) != "intact" {
			t.Fatalf("the sentinel item changed after key %q: %v %v", key, it, err)
		}
	})
}

func isMalformed(err error) bool { return errors.Is(err, mc.ErrMalformedKey) }
