package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// counter is a Client that counts its calls and skips the phases in skip.
type counter struct {
	gets, sets int
	skip       map[string]bool
}

func (c *counter) Set(string, []byte) error { c.sets++; return nil }
func (c *counter) Get(string) (int, error)  { c.gets++; return len(value100), nil }
func (c *counter) GetMulti(keys []string, _ int) (int, error) {
	return len(keys), nil
}
func (c *counter) Incr(string) error { return nil }

type skipping struct{ *counter }

func (s skipping) Skips(phase string) bool { return s.skip[phase] }

// TestPhaseOfSkips: a Skipper's skipped phases (and their warm-ups) have no
// loop; the others run their loop, a warm-up its phase's.
func TestPhaseOfSkips(t *testing.T) {
	c := &counter{skip: map[string]bool{"set": true}}
	for _, name := range []string{"set", "warm-set"} {
		loop, units := phaseOf(skipping{c}, name, 3)
		assert.Nil(t, loop, name)
		assert.Zero(t, units, name)
	}
	loop, units := phaseOf(skipping{c}, "warm-get", 3)
	require.NotNil(t, loop)
	assert.Equal(t, 3, units)
	require.NoError(t, loop())
	assert.Equal(t, 3, c.gets)
	// A client that is no Skipper runs every phase it has.
	loop, _ = phaseOf(c, "set", 2)
	require.NotNil(t, loop)
	require.NoError(t, loop())
	assert.Equal(t, 2, c.sets)
	loop, _ = phaseOf(c, "getmultifunc", 2)
	assert.Nil(t, loop, "no GetMultiFunc: no loop")
}
