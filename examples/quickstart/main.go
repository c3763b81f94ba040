// Command quickstart shows the client against a running memcached:
//
//	go run ./examples/quickstart 127.0.0.1:11211 [more servers...]
//
// (make demo starts a memcached on a free port and runs it.)
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"os"
	"slices"

	"github.com/golibmc/libmemcached"
)

func main() {
	servers := os.Args[1:]
	if len(servers) == 0 {
		servers = []string{"127.0.0.1:11211"}
	}
	c, err := libmemcached.New(servers)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	// Set "foo" and read it back.
	if err := c.Set(ctx, &libmemcached.Item{Key: "foo", Value: []byte("Hello world!")}); err != nil {
		log.Fatal(err)
	}
	it, err := c.Get(ctx, "foo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("get foo        -> %q (flags %d, cas %d)\n", it.Value, it.Flags, it.CasID)

	// A miss is an error that errors.Is ErrCacheMiss.
	_, err = c.Get(ctx, "no-such-key")
	fmt.Printf("get missing    -> cache miss: %v (%v)\n", errors.Is(err, libmemcached.ErrCacheMiss), err)

	// A counter.
	if err := c.Set(ctx, &libmemcached.Item{Key: "counter", Value: []byte("10")}); err != nil {
		log.Fatal(err)
	}
	n, err := c.Increment(ctx, "counter", 5)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("incr counter 5 -> %d\n", n)

	// GetMulti: one libmemcached mget across all servers.
	items, err := c.GetMulti(ctx, []string{"foo", "counter", "no-such-key"})
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(items)) {
		fmt.Printf("get_multi      -> %s = %q\n", k, items[k].Value)
	}

	// Which server a key maps to, as libmemcached places it.
	server, err := c.ServerForKey("foo")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server for foo -> %s (hash %d)\n", server, c.Hash("foo"))

	// The client's behaviors, by pylibmc name.
	b, err := c.Behaviors()
	if err != nil {
		log.Fatal(err)
	}
	for _, name := range libmemcached.BehaviorNames() {
		fmt.Printf("behavior       -> %-22s %v\n", name, b[name])
	}
	fmt.Printf("libmemcached   -> %s (%s)\n", libmemcached.LibraryVersion(), libmemcached.LinkInfo)
}
