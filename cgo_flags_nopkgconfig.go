//go:build libmemcached_nopkgconfig && !libmemcached_static

package libmemcached

// Built with -tags libmemcached_nopkgconfig, for machines without
// pkg-config: the libraries are named here and their locations come from
// the environment, e.g.
//
//	CGO_CFLAGS=-I/opt/libmemcached/include \
//	CGO_LDFLAGS="-L/opt/libmemcached/lib -Wl,-rpath,/opt/libmemcached/lib" \
//	go build -tags libmemcached_nopkgconfig

// #cgo LDFLAGS: -lmemcached -lmemcachedutil
import "C"

// LinkInfo says how libmemcached was linked into this binary.
const LinkInfo = "dynamic, -lmemcached with CGO_CFLAGS/CGO_LDFLAGS (no pkg-config)"
