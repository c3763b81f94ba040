//go:build cgo

// hash.c is gomemcache's placement (WithGomemcachePlacement, the memcache
// package) and the "crc32" key hash.
//
// github.com/bradfitz/gomemcache sends key to server
// crc32.ChecksumIEEE(key) % len(servers), in the order the servers were
// given. libmemcached's own "crc" hash keeps only bits 16-30 of that CRC, so
// no built-in setting reproduces it; a custom libhashkit function returning
// the whole CRC-32 (IEEE, reflected polynomial 0xEDB88320, the one Go's
// hash/crc32 uses), with the modula distribution (hash % server count, no
// host sorting), does. The function keeps no state and gets no context, so
// memcached_clone copies it with the hashkit (hashkit_clone copies the
// function pointer) and no Go pointer is ever handed to C. Nothing here
// allocates.

#include "golibmc_internal.h"

// golibmc_crc32_nibble is the CRC-32 (IEEE) of each 4-bit value, for the
// two-lookups-a-byte loop below: small enough to be a constant.
static const uint32_t golibmc_crc32_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

// golibmc_gomemcache_hash is the libhashkit hash function (hashkit_hash_fn)
// of gomemcache's placement: the CRC-32 (IEEE) of the key, all 32 bits.
uint32_t golibmc_gomemcache_hash(const char *key, size_t key_length, void *context) {
  (void) context;
  uint32_t crc = 0xffffffff;
  const unsigned char *p = (const unsigned char *) key;
  for (size_t i = 0; i < key_length; i++) {
    crc ^= p[i];
    crc = golibmc_crc32_nibble[crc & 15] ^ (crc >> 4);
    crc = golibmc_crc32_nibble[crc & 15] ^ (crc >> 4);
  }
  return ~crc;
}

// golibmc_set_gomemcache_placement makes mc place keys as gomemcache does:
// golibmc_gomemcache_hash becomes the key hash of mc's hashkit (the two
// assignments hashkit_set_custom_function makes; done on the public struct
// memcached_st, as behaviors.c reads it, because calling libhashkit
// would add a library to link: libmemcached.pc names only libmemcached),
// then the distribution becomes modula, which rebuilds it. The continuum
// hash (ketama_hash) is left as it is.
memcached_return_t golibmc_set_gomemcache_placement(memcached_st *mc) {
  mc->hashkit.base_hash.function = golibmc_gomemcache_hash;
  mc->hashkit.base_hash.context = NULL;
  return memcached_behavior_set_distribution(mc, MEMCACHED_DISTRIBUTION_MODULA);
}

// golibmc_has_gomemcache_hash reports whether mc's key hash is
// golibmc_gomemcache_hash.
int golibmc_has_gomemcache_hash(memcached_st *mc) {
  return mc->hashkit.base_hash.function == golibmc_gomemcache_hash;
}

// golibmc_set_crc32_hash makes the whole CRC-32 (IEEE) of the key mc's key
// hash (the "crc32" hash: twemproxy's crc32a, gomemcache's), installed as
// golibmc_set_gomemcache_placement installs it but leaving the
// distribution as it is. libmemcached's own MEMCACHED_HASH_CRC keeps bits
// 16-30 of the same CRC. memcached_behavior_set(HASH) does not rebuild a
// continuum hashed with the key hash: golibmc_settle does.
void golibmc_set_crc32_hash(memcached_st *mc) {
  mc->hashkit.base_hash.function = golibmc_gomemcache_hash;
  mc->hashkit.base_hash.context = NULL;
}
