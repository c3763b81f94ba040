// Package libmemcached is a memcached client that calls the real
// libmemcached (the C client library of memcached) for every operation,
// through a thin cgo layer: libmemcached hashes and distributes the keys, so
// a Go service places keys exactly as PHP (Memcached), Python (pylibmc),
// Perl and C programs on libmemcached do, and shares one memcached pool
// with them key for key. On top sits an idiomatic Go API: a
// concurrency-safe *Client, context-first methods, Item, errors that work
// with errors.Is, and pylibmc's behaviors by name.
//
//	c, err := libmemcached.New([]string{"10.0.0.1:11211", "10.0.0.2:11211"},
//		libmemcached.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer c.Close()
//	err = c.Set(ctx, &libmemcached.Item{Key: "foo", Value: []byte("bar")})
//	it, err := c.Get(ctx, "foo") // errors.Is(err, libmemcached.ErrCacheMiss) when absent
//
// The package needs cgo and libmemcached (Debian: apt-get install
// libmemcached-dev). A program built with CGO_ENABLED=0 compiles, and New
// says why it cannot work. The subpackage memcache is a drop-in replacement
// for github.com/bradfitz/gomemcache/memcache that runs every operation
// through libmemcached; the module github.com/golibmc/libmemcached/otel
// turns the client's events (WithObserver) into OpenTelemetry metrics and
// traces.
//
// How it works, and what each failure gives the caller: the documents in
// the repository's docs/ folder (usage, behaviors, sharing a pool with other
// clients, concurrency, failure handling, observability, performance,
// development).
package libmemcached

// constants_gen.go and internal/cenum/cenum_gen.go are generated from the
// installed libmemcached headers; `go generate ./...` or `make generate`
// rewrites them.

//go:generate go run ./cmd/genconst
