//go:build !libmemcached_static

package libmemcached

// cgo_flags.go holds the module's #cgo directives: how libmemcached is found
// and linked. By default pkg-config finds it (Debian/Ubuntu libmemcached-dev,
// Alpine libmemcached-dev, Homebrew libmemcached). Where pkg-config is absent,
// build with CGO_ENABLED=1 CGO_CFLAGS=-I<prefix>/include
// CGO_LDFLAGS="-L<prefix>/lib -lmemcached -lmemcachedutil" and the tag
// libmemcached_nopkgconfig is not needed: cgo merges the environment flags
// with these. See cgo_flags_static.go for static linking.

// #cgo pkg-config: libmemcached
// #include "golibmc.h"
import "C"

// LinkInfo says how libmemcached was linked into this binary.
const LinkInfo = "dynamic, found with pkg-config libmemcached"
