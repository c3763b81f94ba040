package libmemcached

import (
	"context"
	"fmt"
	"time"
)

// Hooks the external tests (package libmemcached_test) reach inside a
// client with: every pooled handle, and a server's ejection and return
// without waiting for a failure or for the retry time.

// takeAll takes every handle of c's pool, cloning each as a call would,
// and returns them with the function that gives them back.
func takeAll(c *Client) ([]*handle, func(), error) {
	var hs []*handle
	back := func() {
		for _, h := range hs {
			c.e.release(h, c.e.cfg.Load(), false)
		}
	}
	for i := 0; i < c.e.pool.size; i++ {
		g, _, err := c.e.wait(getCall(context.Background(), callSolo, "test", nil, nil), "")
		if err == nil {
			h, _, perr := c.e.prepare(g.h, "test", "", false)
			if perr != nil {
				err = perr
			} else {
				hs = append(hs, h)
			}
		}
		if err != nil {
			back()
			return nil, nil, err
		}
	}
	return hs, back, nil
}

// PooledHandlesDiffer takes every handle of c's pool (as calls would, with
// the ejections in force), and compares each with the master in every
// behavior and in the server it picks for each key; then closes their
// connections (memcached_quit, as a reconnect does) and compares again. It
// returns the first difference, or "".
func PooledHandlesDiffer(c *Client, keys []string) string {
	hs, back, err := takeAll(c)
	if err != nil {
		return err.Error()
	}
	defer back()
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	for round := 0; round < 2; round++ {
		for i, h := range hs {
			for b := Behavior(0); b < BehaviorMax; b++ {
				if want, got := c.e.master.behavior(b), h.c.behavior(b); want != got {
					return fmt.Sprintf("round %d, handle %d: behavior %s is %d, the master's %d", round, i, b, got, want)
				}
			}
			for _, k := range keys {
				want, rc := c.e.master.serverByKey(c.e.scratch, k)
				if rc != ReturnSuccess {
					return fmt.Sprintf("master: key %s: %s", k, rc)
				}
				got, rc := cMaster{h.c.p.mc}.serverByKey(c.e.scratch, k)
				if rc != ReturnSuccess || got != want {
					return fmt.Sprintf("round %d, handle %d: key %s on %s (%s), the master's on %s", round, i, k, got.name(), rc, want.name())
				}
			}
			h.c.quit()
		}
	}
	return ""
}

// EjectServer ejects server i as libmemcached's auto_eject does after
// failures, until its retry time (dead_timeout, else retry_timeout).
func EjectServer(c *Client, i int) { c.e.eject(i, c.e.cfg.Load()) }

// ReturnServer ends server i's ejection on the master and on every pooled
// handle, as its retry time passing does.
func ReturnServer(c *Client, i int) error {
	past := []int64{time.Now().Unix() - 1}
	c.e.ejected.mu.Lock()
	delete(c.e.ejected.until, i)
	c.e.ejected.mu.Unlock()
	hs, back, err := takeAll(c)
	if err != nil {
		return err
	}
	defer back()
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	c.e.master.applyEjections([]uint32{uint32(i)}, past)
	for _, h := range hs {
		h.c.applyEjections([]uint32{uint32(i)}, past)
	}
	return nil
}

// LookForLateRepliesAlways makes every call look for late replies, however
// soon it follows the last (the library waits until a handle has been idle
// leftoverIdle), so that a test that writes a late reply and then calls
// needs no pause; TestMain sets it for the tests, not for the benchmarks,
// which measure the library as it ships. TestLeftoverCheckedWhenIdle
// checks the library's own threshold.
func LookForLateRepliesAlways() { leftoverIdle = 0 }

// SetLeftoverIdle sets the idle time after which a handle is looked at for
// late replies, and returns a func that restores it.
func SetLeftoverIdle(d time.Duration) (restore func()) {
	old := leftoverIdle
	leftoverIdle = d
	return func() { leftoverIdle = old }
}
