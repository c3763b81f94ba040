// Package stats holds the small statistics the benchmark programs share
// (bench/compare and memcache/compat's sidebyside, separate modules).
package stats

import "sort"

// Median returns the median of xs (0 for none), leaving xs as it is.
func Median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
