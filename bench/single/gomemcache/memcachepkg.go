//go:build memcachepkg

package main

import "github.com/golibmc/libmemcached/memcache"

// The client this build measures.
const label = "memcache package"

type item = memcache.Item

var newClient = memcache.New
