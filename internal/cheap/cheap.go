// Package cheap reads how much memory the C heap has handed out, for the
// leak checks of the tests (it is imported by tests only).
package cheap

// #include <stdint.h>
// #if defined(__GLIBC__)
// #include <malloc.h>
// #endif
// static int64_t cheap_in_use(void) {
// #if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
//   struct mallinfo2 mi = mallinfo2();
//   return (int64_t) mi.uordblks + (int64_t) mi.hblkhd;
// #else
//   return -1;
// #endif
// }
import "C"

// InUse returns the bytes malloc has handed out and not taken back
// (glibc's mallinfo2), or -1 where that cannot be read.
func InUse() int64 { return int64(C.cheap_in_use()) }
