//go:build race

package otel_test

// raceEnabled is whether the tests run with the race detector, which
// allocates on its own.
const raceEnabled = true
