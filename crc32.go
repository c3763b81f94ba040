package libmemcached

import "hash/crc32"

// The full CRC-32 key hash (HashCRC32), which this package adds to
// libmemcached's hashes as a custom libhashkit function, and the client's
// key hash however it was set.

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
func (m cMaster) apply(b Behavior, v uint64) ReturnCode {
	if b == BehaviorHash && v == uint64(HashCRC32) {
		m.setCRC32Hash()
		return ReturnSuccess
	}
	return m.setBehavior(b, v)
}

// keyHashValue is HashKey: libhashkit's hash of key, or the CRC-32.
func keyHashValue(key string, h Hash) uint32 {
	if h == HashCRC32 {
		return crc32.ChecksumIEEE([]byte(key))
	}
	return hashValue(key, h)
}
