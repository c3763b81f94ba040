package libmemcached

// Placement: the client's key hash, the server a key goes to, and
// gomemcache's placement and the full CRC-32 key hash (custom libhashkit
// functions).

import (
	"fmt"
	"hash/crc32"
	"strings"
)

// HashCRC32 is the whole CRC-32 (IEEE, hash/crc32.ChecksumIEEE) of the key
// as the key hash, "crc32" by name: twemproxy's crc32a, and gomemcache's
// (WithGomemcachePlacement is this hash with the modula distribution).
// libmemcached's own HashCRC ("crc") keeps bits 16-30 of the same CRC, so
// no built-in memcached_hash_t reproduces it: the client installs it as a
// custom libhashkit function (hashkit_set_custom_function), which every
// pooled handle copies, and it works with every distribution, the
// weighted ring included ({"hash": "crc32", "distribution": "consistent
// weighted"} places keys as a twemproxy pool with hash crc32a and
// distribution ketama; see docs/sharing.md).
//
// Its value is this package's, outside libmemcached's enum: SetBehavior
// takes it for BehaviorHash (not BehaviorKetamaHash, which libmemcached
// keeps as a memcached_hash_t), Behavior(BehaviorHash) and Behaviors()
// report it, and HashKey computes it. PHP Memcached and pylibmc have no
// such setting.
const HashCRC32 Hash = 256

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
	if err := checkKey(c.e.cfg.Load(), op, key); err != nil {
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

// keyHash is the master's key hash: HashCRC32 when the custom function is
// this package's CRC-32, else libmemcached's value (HashCustom for another
// custom function).
func (m cMaster) keyHash() Hash {
	h := Hash(m.behavior(BehaviorHash))
	if h == HashCustom && m.hasGomemcacheHash() {
		return HashCRC32
	}
	return h
}

// apply sets one behavior on a master: memcached_behavior_set, or for
// HashCRC32 the custom key hash. Like memcached_behavior_set(HASH), the
// latter does not rebuild the distribution; settle does.
func (m cMaster) apply(x behaviorSetting) ReturnCode {
	if x.b == BehaviorHash && x.v == uint64(HashCRC32) {
		m.setCRC32Hash()
		return ReturnSuccess
	}
	return m.setBehavior(x.b, x.v)
}

// keyHashValue is HashKey: libhashkit's hash of key, or the CRC-32.
func keyHashValue(key string, h Hash) uint32 {
	if h == HashCRC32 {
		return crc32.ChecksumIEEE([]byte(key))
	}
	return hashValue(key, h)
}

// hashValueProblem says why v is not a value of hash behavior b, or "":
// libmemcached leaves the hash as it was and reports success for a value
// past its enum.
func hashValueProblem(b Behavior, v uint64) string {
	if b != BehaviorHash && b != BehaviorKetamaHash {
		return ""
	}
	switch {
	case v == uint64(HashCRC32) && b == BehaviorKetamaHash:
		return `ketama_hash "crc32" is not supported: the CRC-32 is a custom key hash ("hash"), and libmemcached takes ketama_hash as one of its own algorithms`
	case v == uint64(HashCRC32):
		return ""
	case v >= uint64(HashMax):
		return fmt.Sprintf("%s = %d is not a hash algorithm; want one of %s", b, v, choices(hashNames))
	}
	return ""
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
