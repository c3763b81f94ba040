//go:build race

package libmemcached_test

// raceEnabled: built with -race (sync.Pool drops items at random then,
// so allocation counts are not the program's).
const raceEnabled = true
