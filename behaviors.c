//go:build cgo

// behaviors.c is the master's configuration, and what every copy of it
// keeps: behaviors read and set (libmemcached 1.0.18's bugs worked around
// here, behind GOLIBMC_LM10), the distribution built once per
// configuration, and clones of the master checked and repaired until they
// place every key as the master does.
//
// The functions here read and write fields of memcached_st itself
// (send_size, recv_size, hashkit, distribution, ketama): unlike the server
// instance (layout.c), that struct is declared in libmemcached's installed
// headers, so the compiler lays it out; what could still differ is the
// library loaded at run time, and New refuses one of another release line
// than the headers (checkLibraryLine in client.go; TestLibraryLine). The
// tests read every behavior back through golibmc_behavior_get after
// setting each (TestEveryBehaviorByNameAndConstant) and check placement key
// for key through the pool.

#include "golibmc_internal.h"

// ---------------------------------------------------------------------------
// Behaviors.
// ---------------------------------------------------------------------------

#if GOLIBMC_LM10
// golibmc_ketama_hash_10 reads mc's distribution hash on libmemcached
// 1.0.18, whose getters all answer the key hash (and whose libmemcached
// does not export libhashkit's): a scratch handle takes that function as
// its key hash, which it reads right.
static uint64_t golibmc_ketama_hash_10(memcached_st *mc) {
  memcached_st scratch;
  if (memcached_create(&scratch) == NULL) return MEMCACHED_HASH_DEFAULT;
  scratch.hashkit.base_hash = mc->hashkit.distribution_hash;
  uint64_t h = memcached_behavior_get(&scratch, MEMCACHED_BEHAVIOR_HASH);
  memcached_free(&scratch);
  return h;
}
#endif

// golibmc_behavior_get is memcached_behavior_get without its side effects
// and its abort: it reads the socket buffer sizes from the public struct
// memcached_st instead of opening a connection to ask the kernel (-1, the
// system default, reads as 0), answers 0 for the deprecated behaviors, and
// never passes a value outside the enum (memcached_behavior_get asserts).
// On libmemcached 1.0.18 it also reads the two behaviors that version
// reads wrongly (fixed in 1.1.0): KETAMA_HASH (1.0.18 answers the key hash;
// golibmc_ketama_hash_10) and
// REMOVE_FAILED_SERVERS (1.0.18 answers the failure limit; it is the
// auto_eject switch, see golibmc_behavior_set).
uint64_t golibmc_behavior_get(memcached_st *mc, memcached_behavior_t b) {
  if ((int) b < 0 || b >= MEMCACHED_BEHAVIOR_MAX) return 0;
  switch (b) {
  case MEMCACHED_BEHAVIOR_SOCKET_SEND_SIZE: return mc->send_size < 0 ? 0 : (uint64_t) mc->send_size;
  case MEMCACHED_BEHAVIOR_SOCKET_RECV_SIZE: return mc->recv_size < 0 ? 0 : (uint64_t) mc->recv_size;
  case MEMCACHED_BEHAVIOR_USER_DATA:
  case MEMCACHED_BEHAVIOR_LOAD_FROM_FILE:
  case MEMCACHED_BEHAVIOR_CACHE_LOOKUPS:
  case MEMCACHED_BEHAVIOR_CORK: return 0;
#if GOLIBMC_LM10
  case MEMCACHED_BEHAVIOR_KETAMA_HASH: return golibmc_ketama_hash_10(mc);
  case MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS: return memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS);
#endif
  default: return memcached_behavior_get(mc, b);
  }
}

#if GOLIBMC_LM10
// golibmc_continuum_room_10 gives mc's continuum, once libmemcached 1.0.18
// has allocated it, room for any build: 160 points
// (MEMCACHED_POINTS_PER_SERVER_KETAMA, the most a server gets) in each of
// at least server count + MEMCACHED_CONTINUUM_ADDITION slots. 1.0.18
// counts the continuum in servers (continuum_count), sizes the block with
// the points a server gets at the time it grows it, and grows it only for
// more live servers than slots: a build after weighted ketama is turned on
// (by KETAMA_WEIGHTED, by a server weighing more than 1 added under a
// consistent distribution, by golibmc_settle) writes 160 points a server
// into a block sized for 100, past its end (1.1.0 counts points and grows
// the block for any build). A continuum not allocated yet is left to the
// first build, which sizes it for the flag it builds with. A point is two
// uint32_t (golibmc_ring_point). It returns 0, changing nothing, when the
// block cannot grow.
static int golibmc_continuum_room_10(memcached_st *mc) {
  if (mc->ketama.continuum == NULL) return 1;
  uint32_t slots = memcached_server_count(mc) + MEMCACHED_CONTINUUM_ADDITION;
  if (slots < mc->ketama.continuum_count) slots = mc->ketama.continuum_count;
  memcached_malloc_fn m;
  memcached_free_fn f;
  memcached_realloc_fn r;
  memcached_calloc_fn c;
  memcached_get_memory_allocators(mc, &m, &f, &r, &c);
  void *p = r(mc, mc->ketama.continuum, (size_t) slots * MEMCACHED_POINTS_PER_SERVER_KETAMA * 2 * sizeof(uint32_t),
              memcached_get_memory_allocators_context(mc));
  if (p == NULL) return 0;
  mc->ketama.continuum = (struct memcached_continuum_item_st *) p;
  mc->ketama.continuum_count = slots;
  return 1;
}
#endif

// golibmc_behavior_set is memcached_behavior_set with REMOVE_FAILED_SERVERS
// meaning what it means in libmemcached 1.1 on every version: the
// auto_eject switch. libmemcached 1.0.18 also falls through into
// SERVER_FAILURE_LIMIT (setting the limit to the flag's value, and refusing
// 0 after turning auto_eject off), a bug fixed in 1.1.0. On 1.0.18 the
// behaviors that rebuild the distribution first give the continuum room
// for any build (golibmc_continuum_room_10).
memcached_return_t golibmc_behavior_set(memcached_st *mc, memcached_behavior_t b, uint64_t v) {
#if GOLIBMC_LM10
  if (b == MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS) b = MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS;
  if ((b == MEMCACHED_BEHAVIOR_DISTRIBUTION || b == MEMCACHED_BEHAVIOR_KETAMA || b == MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED ||
       b == MEMCACHED_BEHAVIOR_SORT_HOSTS) &&
      !golibmc_continuum_room_10(mc))
    return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
#endif
  return memcached_behavior_set(mc, b, v);
}

// golibmc_namespace returns mc's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY), or NULL.
const char *golibmc_namespace(memcached_st *mc) {
  memcached_return_t rc;
  return (const char *) memcached_callback_get(mc, MEMCACHED_CALLBACK_PREFIX_KEY, &rc);
}

// ---------------------------------------------------------------------------
// The distribution, built once: one build per configuration, and the same
// placement however a client is configured.
//
// libmemcached rebuilds the distribution (the consistent continuum: 100 to
// 160 points a server, hashed and sorted) on every server added, on every
// distribution change, and twice in memcached_clone; with 100 servers one
// build costs milliseconds. The functions below hold the distribution at
// modula (the field itself, which nothing reads meanwhile) while servers
// are added or a handle is cloned, then build it once.
//
// Where a server weighs more than 1, libmemcached turns weighted ketama on
// when the server is added under a consistent distribution, and
// memcached_server_push and memcached_clone turn it on whatever the
// distribution; a distribution set after the servers ("consistent",
// "consistent ketama") turns it off again. PHP Memcached and pylibmc set
// their options before adding servers. golibmc_settle makes every client
// end as they do, whichever order it was configured in: weighted when a
// server weighs more than 1 (memcached_server_push's rule, which differs
// from a server added one by one only under a distribution that has no
// continuum, where the flag is not read).
// ---------------------------------------------------------------------------

// golibmc_hold_distribution makes mc's distribution modula without
// rebuilding anything and returns the one to restore with golibmc_settle.
int golibmc_hold_distribution(memcached_st *mc) {
  int d = (int) mc->distribution;
  mc->distribution = MEMCACHED_DISTRIBUTION_MODULA;
  return d;
}

// golibmc_any_weight reports whether a server of mc weighs more than 1, as
// memcached_server_push reads it: libmemcached has no accessor for a
// server's weight, so mc's servers are pushed into a scratch memcached_st
// (modula: nothing is built) whose weighted flag push sets.
static int golibmc_any_weight(memcached_st *mc) {
  memcached_st scratch;
  if (memcached_server_count(mc) == 0 || memcached_create(&scratch) == NULL) return 0;
  int w = memcached_success(memcached_push(&scratch, mc)) && scratch.ketama.weighted_;
  memcached_free(&scratch);
  return w;
}

// golibmc_settle restores distribution d (d < 0: keeps mc's), turns
// weighted ketama on when a server weighs more than 1, and builds the
// distribution once from mc's settings (see golibmc_rebuild). weighted
// says whether one does when the caller knows (1 or 0: New, which added
// the servers); < 0 reads it from mc's servers (golibmc_any_weight, which
// copies every server: about 8 KB each).
memcached_return_t golibmc_settle(memcached_st *mc, int d, int weighted) {
  if (d >= 0) mc->distribution = (memcached_server_distribution_t) d;
  if (weighted < 0) weighted = golibmc_any_weight(mc);
  if (weighted) mc->ketama.weighted_ = true;
  return golibmc_rebuild(mc);
}

// golibmc_rebuild rebuilds mc's distribution from its current settings:
// memcached_behavior_set(HASH) and memcached_set_hashkit do not, so a
// master configured in steps would otherwise keep a continuum its clones do
// not have. Setting SORT_HOSTS to its own value runs run_distribution and
// nothing else (on 1.0.18 after golibmc_continuum_room_10).
memcached_return_t golibmc_rebuild(memcached_st *mc) {
  return golibmc_behavior_set(mc, MEMCACHED_BEHAVIOR_SORT_HOSTS, memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_SORT_HOSTS));
}

// golibmc_apply_ejections tells mc's instances that servers idx[0..n) are
// ejected until the given Unix times (memcached_instance_next_retry), then
// rebuilds the distribution without side effects (setting SORT_HOSTS to
// its own value runs run_distribution and nothing else), so that every
// handle of a client skips a server one of them ejected.
void golibmc_apply_ejections(memcached_st *mc, size_t n, const uint32_t *idx, const int64_t *until) {
  uint32_t count = memcached_server_count(mc);
  for (size_t i = 0; i < n; i++)
    if (idx[i] < count) memcached_instance_next_retry(memcached_server_instance_by_position(mc, idx[i]), (time_t) until[i]);
  golibmc_rebuild(mc);
}

// ---------------------------------------------------------------------------
// Clones: a handle's copy of the master, made without building its
// distribution twice, then checked against the master and repaired.
// ---------------------------------------------------------------------------

// golibmc_clone is memcached_clone without its two builds of the
// distribution (the master's is held at modula meanwhile), keeping what
// memcached_clone does not copy: the distribution is restored and the
// weighted flag copied. The caller builds the distribution once
// (golibmc_rebuild, golibmc_apply_ejections or golibmc_settle).
memcached_st *golibmc_clone(memcached_st *master) {
  int d = golibmc_hold_distribution(master);
  memcached_st *mc = memcached_clone(NULL, master);
  master->distribution = (memcached_server_distribution_t) d;
  if (mc == NULL) return NULL;
  mc->distribution = (memcached_server_distribution_t) d;
  mc->ketama.weighted_ = master->ketama.weighted_;
  return mc;
}

// golibmc_clone_repair makes clone equal master in every behavior that
// memcached_clone dropped (libmemcached 1.1 drops KETAMA_WEIGHTED when all
// weights are equal; golibmc_clone copies it, and this stays the check).
// Setting KETAMA_WEIGHTED resets both hashes, so the comparison runs until
// nothing differs, GOLIBMC_POLICY_REPAIR_PASSES times at most. It returns
// the first behavior that still differs, or -1.
int golibmc_clone_repair(memcached_st *master, memcached_st *clone) {
  for (int pass = 0; pass <= GOLIBMC_POLICY_REPAIR_PASSES; pass++) {
    int differs = -1;
    for (int b = 0; b < MEMCACHED_BEHAVIOR_MAX; b++) {
      uint64_t want = golibmc_behavior_get(master, (memcached_behavior_t) b);
      if (golibmc_behavior_get(clone, (memcached_behavior_t) b) == want) continue;
      if (differs < 0) differs = b;
      if (pass < GOLIBMC_POLICY_REPAIR_PASSES) golibmc_behavior_set(clone, (memcached_behavior_t) b, want);
    }
    if (differs < 0) return -1;
    if (pass == GOLIBMC_POLICY_REPAIR_PASSES) return differs;
  }
  return -1;
}

// golibmc_same_placement checks that mc and master send the same probe
// keys (GOLIBMC_POLICY_PROBE_KEYS of them) to the same servers (not for the
// random distribution).
int golibmc_same_placement(memcached_st *master, memcached_st *mc) {
  if (memcached_server_count(master) != memcached_server_count(mc)) return 0;
  // memcached_generate_hash divides by the server count.
  if (memcached_server_count(master) < 2) return 1;
  if (memcached_behavior_get_distribution(master) == MEMCACHED_DISTRIBUTION_RANDOM) return 1;
  char key[32];
  for (int i = 0; i < GOLIBMC_POLICY_PROBE_KEYS; i++) {
    int n = snprintf(key, sizeof(key), "golibmc-placement-%d", i);
    if (memcached_generate_hash(master, key, (size_t) n) != memcached_generate_hash(mc, key, (size_t) n))
      return 0;
  }
  return 1;
}

// golibmc_master_clone is golibmc_clone checked as golibmc_handle_new
// checks a handle's clone (every behavior, repaired where it differs): the
// copy of the master a behavior change is made on. On failure it returns
// NULL and writes why into err.
memcached_st *golibmc_master_clone(memcached_st *master, char *err, size_t errlen) {
  err[0] = 0;
  memcached_st *mc = golibmc_clone(master);
  if (mc == NULL) {
    snprintf(err, errlen, "memcached_clone failed");
    return NULL;
  }
  int bad = golibmc_clone_repair(master, mc);
  if (bad >= 0) {
    snprintf(err, errlen, "memcached_clone lost behavior %d and it could not be restored", bad);
    memcached_free(mc);
    return NULL;
  }
  return mc;
}

// golibmc_ring_point mirrors libmemcached's private memcached_continuum_item_st
// (one point of the consistent continuum: the server's index, the point's
// hash), the same in 1.0.18 and 1.1.x. golibmc_copy_continuum reads it
// only after checking that the master's continuum reads as one: indices of
// its servers, hashes in ascending order.
typedef struct golibmc_ring_point {
  uint32_t index, value;
} golibmc_ring_point;

// golibmc_copy_continuum gives clone mc (golibmc_clone of master, not
// built) master's consistent continuum instead of building it again: the
// same servers in the same order with the same settings build the same
// points. It copies only when master's continuum holds every server
// (libmemcached has no ejection pending on it: next_distribution_rebuild
// is 0) and reads as golibmc_ring_point, allocating with mc's own allocator as
// libmemcached does, and reports whether it copied; otherwise the caller
// builds it (golibmc_rebuild). golibmc_handle_new checks the placement of
// probe keys either way. On libmemcached 1.0.18 it never copies: that
// version counts continuum_count in servers, not points, and sizes the
// block by the points of its last growth (golibmc_continuum_room_10), so
// the bounds and sizes below, 1.1.x's, do not hold there.
int golibmc_copy_continuum(memcached_st *master, memcached_st *mc) {
#if GOLIBMC_LM10
  (void) master;
  (void) mc;
  return 0;
#else
  switch (master->distribution) {
  case MEMCACHED_DISTRIBUTION_CONSISTENT:
  case MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA:
  case MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA_SPY:
  case MEMCACHED_DISTRIBUTION_CONSISTENT_WEIGHTED: break;
  default: return 0;
  }
  uint32_t n = master->ketama.continuum_points_counter, servers = memcached_server_count(master);
  const golibmc_ring_point *from = (const golibmc_ring_point *) (void *) master->ketama.continuum;
  if (n == 0 || from == NULL || n > master->ketama.continuum_count || master->ketama.next_distribution_rebuild != 0 ||
      mc->distribution != master->distribution || mc->ketama.weighted_ != master->ketama.weighted_ ||
      memcached_server_count(mc) != servers)
    return 0;
  for (uint32_t i = 0; i < n; i++)
    if (from[i].index >= servers || (i > 0 && from[i].value < from[i - 1].value)) return 0;
  memcached_malloc_fn m;
  memcached_free_fn f;
  memcached_realloc_fn r;
  memcached_calloc_fn c;
  memcached_get_memory_allocators(mc, &m, &f, &r, &c);
  golibmc_ring_point *p = (golibmc_ring_point *) r(mc, mc->ketama.continuum, (size_t) n * sizeof(*p),
                                         memcached_get_memory_allocators_context(mc));
  if (p == NULL) return 0;
  memcpy(p, from, (size_t) n * sizeof(*p));
  mc->ketama.continuum = (struct memcached_continuum_item_st *) (void *) p;
  mc->ketama.continuum_count = n;
  mc->ketama.continuum_points_counter = n;
  mc->ketama.next_distribution_rebuild = 0;
  return 1;
#endif
}
