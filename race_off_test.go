//go:build !race

package libmemcached_test

const raceEnabled = false
