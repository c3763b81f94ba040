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
