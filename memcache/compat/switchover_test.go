package compat

import (
	"context"
	"errors"
	"fmt"
	"testing"

	gm "github.com/bradfitz/gomemcache/memcache"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/internal/mctest"
)

// switchover is the read-through of docs/gomemcache.md ("Moving to
// libmemcached's placement"): while a fleet moves from gomemcache's
// placement (old) to libmemcached's (cur), reads try cur and fall back to
// old, copying what they find forward; writes and deletes go to both, so
// instances still on old see every change.
type switchover struct {
	cur, old *libmemcached.Client
	copyTTL  int32 // expiration of a copied-forward item (memcached does not tell the remaining one)
}

// Get reads key from the new placement, else from the old one, copying it
// forward with Add (a value another instance wrote meanwhile wins).
func (s *switchover) Get(ctx context.Context, key string) (*libmemcached.Item, error) {
	it, err := s.cur.Get(ctx, key)
	if !errors.Is(err, libmemcached.ErrCacheMiss) || s.sameServer(key) {
		return it, err
	}
	if it, err = s.old.Get(ctx, key); err != nil {
		return nil, err
	}
	s.cur.Add(ctx, &libmemcached.Item{Key: key, Value: it.Value, Flags: it.Flags, Expiration: s.copyTTL})
	return it, nil
}

// Set writes to the new placement, then to the old one.
func (s *switchover) Set(ctx context.Context, it *libmemcached.Item) error {
	if err := s.cur.Set(ctx, it); err != nil || s.sameServer(it.Key) {
		return err
	}
	return s.old.Set(ctx, it)
}

// Delete deletes from both placements; it is a miss only if both missed.
func (s *switchover) Delete(ctx context.Context, key string) error {
	err := s.cur.Delete(ctx, key)
	if s.sameServer(key) {
		return err
	}
	if errOld := s.old.Delete(ctx, key); errors.Is(err, libmemcached.ErrCacheMiss) {
		return errOld
	}
	return err
}

// sameServer reports whether both placements put key on the same server
// (about one key in n): then it is one item, and one call is enough.
func (s *switchover) sameServer(key string) bool {
	a, err1 := s.cur.ServerForKey(key)
	b, err2 := s.old.ServerForKey(key)
	return err1 == nil && err2 == nil && a == b
}

// TestSwitchover: a cache gomemcache filled stays warm when instances move
// to libmemcached's consistent placement through switchover, instances
// still on gomemcache see the switched ones' writes and deletes, and once
// every key has been read or written through switchover, the new
// placement alone has them all.
func TestSwitchover(t *testing.T) {
	addrs := mctest.Addrs(mctest.StartN(t, 4))
	ctx := context.Background()
	g := gm.New(addrs...) // an instance not switched yet
	old, err := libmemcached.New(addrs, libmemcached.WithGomemcachePlacement())
	require.NoError(t, err)
	defer old.Close()
	cur, err := libmemcached.New(addrs, libmemcached.WithBehaviors(map[string]any{"distribution": "consistent ketama"}))
	require.NoError(t, err)
	defer cur.Close()
	s := &switchover{cur: cur, old: old, copyTTL: 3600}

	keys := make([]string, 400)
	moved := 0
	for i := range keys {
		keys[i] = fmt.Sprint("switch-", i)
		require.NoError(t, g.Set(&gm.Item{Key: keys[i], Value: []byte("v1")}))
		if !s.sameServer(keys[i]) {
			moved++
		}
	}
	assert.Greater(t, moved, len(keys)/2, "the new placement moves most keys")
	for _, k := range keys {
		it, err := s.Get(ctx, k)
		require.NoError(t, err, "warm through the switch: %s", k)
		assert.Equal(t, "v1", string(it.Value))
	}
	for i, k := range keys {
		switch i % 3 {
		case 0:
			require.NoError(t, s.Set(ctx, &libmemcached.Item{Key: k, Value: []byte("v2")}))
			it, err := g.Get(k)
			require.NoError(t, err)
			assert.Equal(t, "v2", string(it.Value), "an unswitched instance sees the write")
		case 1:
			require.NoError(t, s.Delete(ctx, k))
			_, err := g.Get(k)
			assert.True(t, err == gm.ErrCacheMiss, "an unswitched instance sees the delete")
			_, err = s.Get(ctx, k)
			assert.ErrorIs(t, err, libmemcached.ErrCacheMiss)
		}
	}
	// Every instance switched: the new placement alone has every key.
	for i, k := range keys {
		it, err := cur.Get(ctx, k)
		if i%3 == 1 {
			assert.ErrorIs(t, err, libmemcached.ErrCacheMiss)
			continue
		}
		require.NoError(t, err, k)
		assert.Equal(t, map[bool]string{true: "v2", false: "v1"}[i%3 == 0], string(it.Value))
	}
	t.Logf("%d of %d keys moved server; none missed through the switch", moved, len(keys))
}
