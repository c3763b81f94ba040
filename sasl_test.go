package libmemcached_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	mc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

func TestSASL(t *testing.T) {
	const user, password = "golibmc", "s3cret-Pa55word"
	s := mctest.StartSASL(t, user, password)

	good, err := mc.New([]string{s.Addr}, mc.WithSASL(user, password))
	require.NoError(t, err)
	defer good.Close()
	require.NoError(t, good.Set(bg(), &mc.Item{Key: "sasl", Value: []byte("authenticated")}))
	it, err := good.Get(bg(), "sasl")
	require.NoError(t, err)
	assert.Equal(t, "authenticated", string(it.Value))
	b, err := good.Behaviors()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), b["binary_protocol"], "SASL turns the binary protocol on")

	bad, err := mc.New([]string{s.Addr}, mc.WithSASL(user, "wrong-password"))
	require.NoError(t, err)
	defer bad.Close()
	_, err = bad.Get(bg(), "sasl")
	require.ErrorIs(t, err, mc.ErrAuthFailed)
	t.Logf("wrong password: %v", err)
	require.ErrorIs(t, bad.Set(bg(), &mc.Item{Key: "sasl", Value: []byte("overwritten")}), mc.ErrAuthFailed)
	assert.NotContains(t, err.Error(), "wrong-password")
	assert.NotContains(t, err.Error(), password)

	none, err := mc.New([]string{s.Addr}, mc.WithBehaviors(map[string]any{"binary_protocol": true}))
	require.NoError(t, err)
	defer none.Close()
	_, err = none.Get(bg(), "sasl")
	require.Error(t, err, "no data without credentials")

	it, err = good.Get(bg(), "sasl")
	require.NoError(t, err)
	assert.Equal(t, "authenticated", string(it.Value), "the failed clients changed nothing")
	_, err = mc.New([]string{s.Addr}, mc.WithSASL("", password))
	require.ErrorIs(t, err, mc.ErrInvalidArguments, "an empty user name")
	assert.NotContains(t, err.Error(), password, "the password is never in an error")
}

// TestSASLServerWithoutCredentials: a binary-protocol client without
// credentials against a server that requires SASL gets ErrAuthFailed from
// every operation, starting with a counter on a fresh connection:
// libmemcached reads an increment's AUTH_ERROR reply without recording an
// error and asserts (auto.cc), so the connection is first proven by a read.
func TestSASLServerWithoutCredentials(t *testing.T) {
	s := mctest.StartSASL(t, "golibmc", "pw")
	none, err := mc.New([]string{s.Addr}, mc.WithPoolSize(1), mc.WithBehaviors(map[string]any{"binary_protocol": true}))
	require.NoError(t, err)
	defer none.Close()
	ops := map[string]func() error{
		"Increment":      func() error { _, err := none.Increment(bg(), "n", 1); return err },
		"Decrement":      func() error { _, err := none.Decrement(bg(), "n", 1); return err },
		"IncrementMulti": func() error { return none.IncrementMulti(bg(), []string{"a", "b"}, 1) },
		"Touch":          func() error { return none.Touch(bg(), "n", 10) },
		"Set":            func() error { return none.Set(bg(), &mc.Item{Key: "n", Value: []byte("1")}) },
		"Add":            func() error { return none.Add(bg(), &mc.Item{Key: "n", Value: []byte("1")}) },
		"Delete":         func() error { return none.Delete(bg(), "n") },
		"GetMulti":       func() error { _, err := none.GetMulti(bg(), []string{"a", "b"}); return err },
		"SetMulti": func() error {
			return none.SetMulti(bg(), []*mc.Item{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("1")}})
		},
		"GetAndTouch": func() error { _, err := none.GetAndTouch(bg(), "a", 5); return err },
	}
	for _, name := range []string{"Increment", "Decrement", "IncrementMulti", "Touch", "Set", "Add", "Delete", "GetMulti", "SetMulti", "GetAndTouch"} {
		for round := 0; round < 2; round++ { // on a fresh connection, then on the same one
			if round == 0 {
				require.NoError(t, none.DisconnectAll())
			}
			assert.ErrorIs(t, ops[name](), mc.ErrAuthFailed, "%s (round %d)", name, round)
		}
	}
}
