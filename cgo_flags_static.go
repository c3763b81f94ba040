//go:build libmemcached_static

package libmemcached

// Built with -tags libmemcached_static: libmemcached (and what it needs,
// per pkg-config's Libs.private) is linked statically into a fully static
// binary. This needs the static archives (libmemcached.a, libhashkit.a,
// libmemcachedutil.a, libsasl2.a, libstdc++.a): Alpine's libmemcached-static
// and cyrus-sasl-static, or libmemcached-awesome built with
// -DBUILD_SHARED_LIBS=OFF. Debian's libmemcached-dev ships only the shared
// library, so this tag fails to link there.

// #cgo pkg-config: --static libmemcached
// #cgo LDFLAGS: -static
import "C"

// LinkInfo says how libmemcached was linked into this binary.
const LinkInfo = "static, found with pkg-config --static libmemcached"
