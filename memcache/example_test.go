package memcache_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/memcache"
)

func Example() {
	// In production: memcache.New("10.0.0.1:11211", "10.0.0.2:11211"), the
	// same servers, in the same order, as the gomemcache clients use.
	c := memcache.New(memcachedServer)
	defer c.Close()

	if err := c.Set(&memcache.Item{Key: "greeting", Value: []byte("Hello world!")}); err != nil {
		log.Fatal(err)
	}
	it, err := c.Get("greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(it.Value))

	_, err = c.Get("no-such-key")
	fmt.Println(err == memcache.ErrCacheMiss, errors.Is(err, libmemcached.ErrCacheMiss))
	// Output:
	// Hello world!
	// true true
}

func ExampleClient_CompareAndSwap() {
	c := memcache.New(memcachedServer)
	defer c.Close()
	c.Set(&memcache.Item{Key: "visits", Value: []byte("1")})

	it, err := c.Get("visits") // fills it.CasID
	if err != nil {
		log.Fatal(err)
	}
	other, _ := c.Get("visits")

	it.Value = []byte("2")
	fmt.Println(c.CompareAndSwap(it))
	other.Value = []byte("2")
	fmt.Println(c.CompareAndSwap(other) == memcache.ErrCASConflict) // changed since other was read
	// Output:
	// <nil>
	// true
}

func ExampleClient_GetMulti() {
	c := memcache.New(memcachedServer)
	defer c.Close()
	for _, k := range []string{"multi-a", "multi-b"} {
		c.Set(&memcache.Item{Key: k, Value: []byte(k)})
	}
	items, err := c.GetMulti([]string{"multi-a", "multi-b", "multi-missing"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(items), string(items["multi-b"].Value))
	// Output: 2 multi-b
}

func ExampleServerList_PickServer() {
	var ss memcache.ServerList
	ss.SetServers("127.0.0.1:11211", "127.0.0.1:11212", "127.0.0.1:11213")
	// gomemcache's choice: crc32.ChecksumIEEE(key) % 3. A Client over ss
	// (memcache.NewFromSelector(&ss)) sends the key there too.
	addr, _ := ss.PickServer("user:42")
	fmt.Println(addr)
	// Output: 127.0.0.1:11212
}

func ExampleClient_Close() {
	c := memcache.New(memcachedServer)
	c.Set(&memcache.Item{Key: "still", Value: []byte("here")})
	c.Close() // closes the connections; the Client stays usable
	it, err := c.Get("still")
	fmt.Println(string(it.Value), err)
	// Output: here <nil>
}
