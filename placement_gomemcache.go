package libmemcached

import (
	"fmt"
	"strings"
)

// WithGomemcachePlacement places keys as github.com/bradfitz/gomemcache
// does: a key goes to servers[crc32.ChecksumIEEE(key) % len(servers)], the
// servers counted in the order given to New (or the order of
// NewFromConfig's --SERVER options), a server listed twice counting twice.
// A Go service that used gomemcache can switch to this package and find
// every key where gomemcache put it, with no cold cache, and move to
// libmemcached's own placement later (shared with PHP, Python and C
// clients; see docs/gomemcache.md for doing so without a cold cache) or
// never. The memcache package uses it for every client.
//
// libmemcached does the placing: the client's key hash is a custom
// libhashkit function (hashkit_set_custom_function) returning the whole
// CRC-32 (IEEE) of the key, where libmemcached's own "crc" hash keeps 15 of
// its bits, and the distribution is modula (hash % number of servers), which
// ignores weights as gomemcache does. Every pooled handle is a
// memcached_clone of the client's master and keeps the function;
// ServerForKey and Hash answer with it.
//
// The placement is fixed for the client's life: New fails with
// ErrInvalidArguments when WithBehaviors or the configuration string also
// sets hash (but to "crc32", the same), distribution, ketama,
// ketama_weighted or _sort_hosts to anything but libmemcached's defaults, and SetBehavior or SetBehaviors of
// any of those returns ErrInvalidArguments and changes nothing (each would
// replace the hash or the distribution and move most keys, or mix the two
// placements). To change placement, make a second client. Other behaviors
// can be set as usual. Behavior(BehaviorHash) reads HashCRC32, and
// Behaviors() reports "hash" as "crc32": the placement is {"hash": "crc32",
// "distribution": "modula"}.
//
// With WithNamespace the prefix is not hashed unless _hash_with_prefix_key
// is on; gomemcache has no namespace.
func WithGomemcachePlacement() Option {
	return func(o *options) error {
		o.gomemcache = true
		return nil
	}
}

// placementBehaviors are the behaviors that change the key hash or the
// distribution; a client with gomemcache's placement refuses them.
var placementBehaviors = []Behavior{BehaviorHash, BehaviorDistribution, BehaviorKetama, BehaviorKetamaWeighted, BehaviorSortHosts}

// setGomemcachePlacement installs gomemcache's placement on a new master
// whose behaviors the options (or the configuration string) have set,
// refusing any that conflict.
func setGomemcachePlacement(m cMaster) error {
	const op = "WithGomemcachePlacement"
	var conflicts []string
	if h := m.keyHash(); h != HashDefault && h != HashCRC32 {
		conflicts = append(conflicts, fmt.Sprintf("hash %q", h.Name()))
	}
	if d := Distribution(m.behavior(BehaviorDistribution)); d != DistributionModula {
		conflicts = append(conflicts, fmt.Sprintf("distribution %q", d.Name()))
	}
	if m.behavior(BehaviorSortHosts) != 0 {
		conflicts = append(conflicts, "_sort_hosts")
	}
	if m.behavior(BehaviorKetamaWeighted) != 0 {
		conflicts = append(conflicts, "ketama_weighted")
	}
	if len(conflicts) > 0 {
		return errorf(op, "", ErrInvalidArguments, "gomemcache's placement sets the key hash and the distribution itself, but "+
			strings.Join(conflicts, ", ")+" was set by WithBehaviors or the configuration string")
	}
	if rc := m.setGomemcachePlacement(); !rc.Success() {
		return newError(op, "", rc, m.lastError())
	}
	return nil
}

// checkPlacementChange refuses, on a client with gomemcache's placement, a
// behavior change that would replace its hash or distribution.
func (c *Client) checkPlacementChange(op string, s []behaviorSetting) error {
	if !c.opts.gomemcache {
		return nil
	}
	for _, x := range s {
		for _, b := range placementBehaviors {
			if x.b == b {
				return errorf(op, "", ErrInvalidArguments, fmt.Sprintf(
					"%s cannot change on a client with gomemcache's placement (WithGomemcachePlacement): it would move most keys; make a second client to change placement", x.b))
			}
		}
	}
	return nil
}
