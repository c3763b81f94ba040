package libmemcached_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"sort"
	"time"

	"github.com/golibmc/libmemcached"
)

func Example() {
	// In production: libmemcached.New([]string{"10.0.0.1:11211", "10.0.0.2:11211"})
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	greeting := &libmemcached.Item{Key: "greeting", Value: []byte("Hello world!"), Expiration: 60}
	if err := c.Set(ctx, greeting); err != nil {
		log.Fatal(err)
	}
	if it, err := c.Get(ctx, "greeting"); err == nil {
		fmt.Println(string(it.Value))
	}
	if _, err := c.Get(ctx, "no-such-key"); errors.Is(err, libmemcached.ErrCacheMiss) {
		fmt.Println("no-such-key: a miss")
	}
	// Output:
	// Hello world!
	// no-such-key: a miss
}

func ExampleNewFromConfig() {
	c, err := libmemcached.NewFromConfig("--SERVER=" + memcachedServer + " --BINARY-PROTOCOL --HASH=FNV1A_32")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	b, _ := c.Behaviors()
	fmt.Println(b["binary_protocol"], b["hash"])
	// Output: 1 fnv1a_32
}

func ExampleClient_GetMulti() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		c.Set(ctx, &libmemcached.Item{Key: "gm-" + k, Value: []byte(k + k)})
	}
	items, err := c.GetMulti(ctx, []string{"gm-a", "gm-b", "gm-c", "gm-missing"})
	if err != nil {
		log.Fatal(err)
	}
	keys := make([]string, 0, len(items))
	for k := range items {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Println(k, string(items[k].Value))
	}
	// Output:
	// gm-a aa
	// gm-b bb
	// gm-c cc
}

func ExampleClient_GetMultiFunc() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		c.Set(ctx, &libmemcached.Item{Key: "gmf-" + k, Value: []byte(k + k)})
	}
	// The item and its value are the client's, reused after fn returns:
	// copy what you keep.
	total := 0
	kept := map[string]string{}
	err = c.GetMultiFunc(ctx, []string{"gmf-a", "gmf-b", "gmf-c", "gmf-missing"}, func(it *libmemcached.Item) error {
		total += len(it.Value)
		kept[it.Key] = string(it.Value) // a copy
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(total, "bytes;", "gmf-b is", kept["gmf-b"])
	// Output:
	// 6 bytes; gmf-b is bb
}

func ExampleClient_CompareAndSwap() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, &libmemcached.Item{Key: "cas-example", Value: []byte("v1")})

	it, _ := c.Get(ctx, "cas-example")
	it.Value = []byte("v2")
	fmt.Println(c.CompareAndSwap(ctx, it)) // nothing changed since Get: stored

	it.Value = []byte("v3")
	err = c.CompareAndSwap(ctx, it) // the CasID is stale now
	fmt.Println(errors.Is(err, libmemcached.ErrCASConflict))
	// Output:
	// <nil>
	// true
}

func ExampleClient_Increment() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.Set(ctx, &libmemcached.Item{Key: "hits", Value: []byte("41")})
	n, _ := c.Increment(ctx, "hits", 1)
	fmt.Println(n)
	n, _ = c.Decrement(ctx, "hits", 100) // memcached clamps at 0
	fmt.Println(n)
	// Output:
	// 42
	// 0
}

func ExampleClient_SetMulti() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.SetMulti(context.Background(), []*libmemcached.Item{
		{Key: "sm-ok", Value: []byte("small")},
		{Key: "sm-big", Value: make([]byte, 2<<20)}, // over memcached's 1 MiB item size
	})
	var me *libmemcached.MultiError
	if errors.As(err, &me) {
		for key, err := range me.Errors {
			fmt.Println(key, errors.Is(err, libmemcached.ErrTooLarge))
		}
	}
	// Output: sm-big true
}

func ExampleClient_SetBehaviors() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.SetBehaviors(map[string]any{
		"distribution":    "consistent ketama",
		"hash":            "md5",
		"connect_timeout": 500, // milliseconds
	})
	fmt.Println(err)
	b, _ := c.Behaviors()
	fmt.Println(b["distribution"], b["hash"], b["connect_timeout"])

	err = c.SetBehaviors(map[string]any{"hash": "no-such-hash"})
	fmt.Println(errors.Is(err, libmemcached.ErrInvalidArguments))
	// Output:
	// <nil>
	// consistent ketama md5 500
	// true
}

func ExampleClient_ServerForKey() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	server, _ := c.ServerForKey("foo")
	fmt.Println(server == memcachedServer)
	fmt.Println(libmemcached.HashKey("foo", libmemcached.HashFNV1a32))
	// Output:
	// true
	// 2851307223
}

func ExampleClient_Get_withDeadline() {
	c, err := libmemcached.New([]string{memcachedServer})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	// The deadline bounds the wait for a pooled connection and lowers
	// libmemcached's poll and connect timeouts for this call.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Get(ctx, "maybe")
	fmt.Println(errors.Is(err, libmemcached.ErrCacheMiss))
	// Output: true
}

func ExampleClient_SetValue() {
	// Values in pylibmc's format: Python's pylibmc reads these as str, int and bytes.
	c, err := libmemcached.New([]string{memcachedServer}, libmemcached.WithCompression(1024, 6))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	c.SetValue(ctx, "greeting", "héllo", 0) // flags 16 (text)
	c.SetValue(ctx, "answer", 42, 0)        // flags 4 (integer), incr works on it

	var s string
	c.GetValue(ctx, "greeting", &s)
	var n int64
	c.GetValue(ctx, "answer", &n)
	var v any // string, []byte, int64 (*big.Int if larger), or bool
	c.GetValue(ctx, "answer", &v)
	fmt.Println(s, n, v)
	// Output: héllo 42 42
}

// jsonCodec stores any Go value as JSON, with its own flag (and falls back
// to the pylibmc format for what it does not own).
type jsonCodec struct{ libmemcached.PylibmcCodec }

const flagJSON = 1 << 8

func (j jsonCodec) Encode(v any) ([]byte, uint32, error) {
	switch v.(type) {
	case string, []byte:
		return j.PylibmcCodec.Encode(v)
	}
	b, err := json.Marshal(v)
	return b, flagJSON, err
}

func (j jsonCodec) Decode(value []byte, flags uint32, dst any) error {
	if flags == flagJSON {
		return json.Unmarshal(value, dst)
	}
	return j.PylibmcCodec.Decode(value, flags, dst)
}

func ExampleCodec() {
	c, err := libmemcached.New([]string{memcachedServer}, libmemcached.WithCodec(jsonCodec{}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	type user struct {
		Name string
		Age  int
	}
	if err := c.SetValue(ctx, "user:1", user{"Ada", 36}, 0); err != nil {
		log.Fatal(err)
	}
	var u user
	if err := c.GetValue(ctx, "user:1", &u); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", u)
	// Output: {Name:Ada Age:36}
}
