package libmemcached_test

import (
	"fmt"
	"hash/crc32"
	"log"

	"github.com/golibmc/libmemcached"
)

func ExampleWithGomemcachePlacement() {
	// The servers in the order the gomemcache clients are given them.
	servers := []string{"10.0.0.1:11211", "10.0.0.2:11211", "10.0.0.3:11211"}
	c, err := libmemcached.New(servers, libmemcached.WithGomemcachePlacement())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	s, _ := c.ServerForKey("user:42") // libmemcached's answer, no I/O
	fmt.Println(s, s == servers[crc32.ChecksumIEEE([]byte("user:42"))%3])

	// The placement is fixed for the client's life.
	err = c.SetBehaviors(map[string]any{"distribution": "consistent ketama"})
	fmt.Println(err != nil)
	// Output:
	// 10.0.0.2:11211 true
	// true
}

func ExampleHashCRC32() {
	// A twemproxy pool with "hash: crc32a" and "distribution: ketama", whose
	// servers are 10.0.0.1:11211:1, 10.0.0.2:11211:2 and 10.0.0.3:11211:1:
	// this client talks to them directly and finds every key twemproxy put.
	c, err := libmemcached.New([]string{"10.0.0.1:11211:1", "10.0.0.2:11211:2", "10.0.0.3:11211:1"},
		libmemcached.WithBehaviors(map[string]any{"distribution": "consistent weighted", "hash": "crc32"}))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	fmt.Println(c.Hash("user:42") == crc32.ChecksumIEEE([]byte("user:42")))                 // the whole CRC-32
	fmt.Println(libmemcached.HashKey("user:42", libmemcached.HashCRC) != c.Hash("user:42")) // "crc" keeps 15 bits
	s, _ := c.ServerForKey("user:42")
	fmt.Println(s)
	b, _ := c.Behaviors()
	fmt.Println(b["hash"], b["distribution"])
	// Output:
	// true
	// true
	// 10.0.0.1:11211
	// crc32 consistent weighted
}
