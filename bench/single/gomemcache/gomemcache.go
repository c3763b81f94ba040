//go:build !memcachepkg

package main

import "github.com/bradfitz/gomemcache/memcache"

// The client this build measures.
const label = "gomemcache"

type item = memcache.Item

var newClient = memcache.New
