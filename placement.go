package libmemcached

// Placement: the client's key hash, the server a key goes to, and
// gomemcache's placement and the full CRC-32 key hash (custom libhashkit
// functions).

import (
	"fmt"
	"strings"
)

// Hash returns libmemcached's hash of key with the client's "hash" behavior
// (memcached_generate_hash_value), or the whole CRC-32 of key under
// HashCRC32 (and WithGomemcachePlacement).
func (c *Client) Hash(key string) uint32 { return keyHashValue(key, c.e.cfg.Load().hash) }

// HashKey returns libmemcached's hash of key with algorithm h
// (memcached_generate_hash_value), or for HashCRC32 the whole CRC-32 (IEEE)
// of key. For an algorithm this libmemcached was built without (hsieh on
// Debian), HashCustom or an invalid value, libhashkit returns 1.
func HashKey(key string, h Hash) uint32 { return keyHashValue(key, h) }

// ServerForKey returns the server the client's next call for key goes to
// (memcached_server_by_key, with the servers any pooled handle has ejected
// left out), as "host:port", "[v6]:port" or a socket path.
func (c *Client) ServerForKey(key string) (string, error) {
	const op = "ServerForKey"
	if err := c.e.cfg.Load().checkKey(op, key); err != nil {
		return "", err
	}
	var name string
	err := c.e.withMaster(op, func(m cMaster, scratch *cHandle) error {
		id, rc := m.serverByKey(scratch, key)
		if rc != ReturnSuccess {
			return newError(op, key, rc, m.lastError())
		}
		name = id.name()
		return nil
	})
	return name, err
}

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
