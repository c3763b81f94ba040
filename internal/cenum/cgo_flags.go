//go:build !libmemcached_nopkgconfig

package cenum

// The headers are found as for the main package (see ../../cgo_flags.go);
// nothing is linked from them, only enum values are read.

// #cgo pkg-config: libmemcached
import "C"
