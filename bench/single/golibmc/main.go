// Command golibmc is bench/single's program for this repository's client:
// the phases run through golibmc.Client with its default options, the way
// a service calls it (see bench/single/README.md).
//
//	golibmc HOST:PORT PHASE:COUNT[,PHASE:COUNT...]
package main

import (
	"context"
	"os"

	golibmc "github.com/golibmc/libmemcached"
	"github.com/golibmc/libmemcached/bench/internal/runner"
)

type client struct{ c *golibmc.Client }

var ctx = context.Background()

func (l client) Set(key string, value []byte) error {
	return l.c.Set(ctx, &golibmc.Item{Key: key, Value: value})
}

func (l client) Get(key string) (int, error) {
	it, err := l.c.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	return len(it.Value), nil
}

func (l client) GetMulti(keys []string, want int) (int, error) {
	got, err := l.c.GetMulti(ctx, keys)
	if err != nil {
		return 0, err
	}
	return runner.CountMulti(got, func(it *golibmc.Item) []byte { return it.Value }, want)
}

func (l client) Incr(key string) error {
	_, err := l.c.Increment(ctx, key, 1)
	return err
}

// SetMulti stores the items in one call.
func (l client) SetMulti(keys []string, value []byte) func() error {
	items := make([]*golibmc.Item, len(keys))
	for i, k := range keys {
		items[i] = &golibmc.Item{Key: k, Value: value}
	}
	return func() error { return l.c.SetMulti(ctx, items) }
}

// multiFunc is the API issue 23 asks for; the getmultifunc phase runs
// only when the client has it, so this program builds before and after.
type multiFunc interface {
	GetMultiFunc(ctx context.Context, keys []string, fn func(it *golibmc.Item) error) error
}

// withFunc is a client whose golibmc.Client has GetMultiFunc.
type withFunc struct {
	client
	mf multiFunc
}

func (w withFunc) GetMultiFunc(keys []string, fn func(key string, value []byte) error) error {
	return w.mf.GetMultiFunc(ctx, keys, func(it *golibmc.Item) error { return fn(it.Key, it.Value) })
}

func main() {
	runner.Main("golibmc", func(addr string) (runner.Client, error) {
		var opts []golibmc.Option
		if os.Getenv("BENCH_GOLIBMC_CAS") == "0" { // the C loop's requests: get, not gets
			opts = append(opts, golibmc.WithBehaviors(map[string]any{"cas": false}))
		}
		c, err := golibmc.New([]string{addr}, opts...)
		if err != nil {
			return nil, err
		}
		if mf, ok := any(c).(multiFunc); ok {
			return withFunc{client{c}, mf}, nil
		}
		return client{c}, nil
	})
}
