//go:build !libmemcached_static && !libmemcached_nopkgconfig

package libmemcached

// cgo_flags.go holds the module's #cgo directives: how libmemcached is found
// and linked. pkg-config finds it (Debian/Ubuntu and Alpine libmemcached-dev,
// Homebrew libmemcached); for another prefix set PKG_CONFIG_PATH.
// Without pkg-config, build with -tags libmemcached_nopkgconfig
// (cgo_flags_nopkgconfig.go) and give the paths in CGO_CFLAGS/CGO_LDFLAGS;
// -tags libmemcached_static (cgo_flags_static.go) links statically. The
// flags apply to the whole package: its cgo files and its .c files.

// #cgo pkg-config: libmemcached
import "C"

// LinkInfo says how libmemcached was linked into this binary.
const LinkInfo = "dynamic, found with pkg-config libmemcached"
