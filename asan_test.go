//go:build asan

package libmemcached_test

// ASan replaces glibc's allocator and must come first among the loaded
// libraries: TestWeightedContinuumHeap then preloads no malloc debug
// library into its child.
func init() { builtWithASan = true }
