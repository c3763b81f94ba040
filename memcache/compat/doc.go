// Package compat checks the memcache package against gomemcache itself. It
// is a module of its own so that the library's go.mod never requires
// gomemcache; its go.mod pins the gomemcache version every check uses
// (scripts/gomemcache-suite.sh reads it too).
//
//   - api_test.go: the memcache package exports exactly gomemcache's API;
//   - landing_test.go: keys written by gomemcache are read through the
//     memcache package and through libmemcached.WithGomemcachePlacement,
//     and the other way round, on 1, 2, 3 and 5 servers, and both clients
//     interleaved on the same keys behave as gomemcache alone;
//   - switchover_test.go: the read-through docs/gomemcache.md describes for
//     moving to libmemcached's own placement without a cold cache;
//   - cmd/sidebyside and bench_test.go: the memcache package next to
//     gomemcache (and the libmemcached package) on the same workloads.
package compat
