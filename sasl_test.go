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
