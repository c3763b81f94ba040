// golibmc.h is the one header every cgo file of this module includes. It
// pulls in libmemcached and defines the static C functions the thin layer
// (libmemcached.go) calls, so that each Go operation crosses into C once.
//
// What crosses the boundary: a whole operation goes in (a handle, a timeout,
// the keys and values as pointer+length arrays borrowed for the call), and
// its complete outcome comes out in the handle's result arrays (per key: the
// return code, the server index and the server's message; per server: its
// failure, if any), captured during that same operation. A Go call starts
// by clearing the results, so nothing one call recorded is read by the next.
// One exception in kind, not in spirit: a split call (send, wait in Go's
// netpoller, receive) is one operation in two crossings, and the second
// continues the per-server codes, messages and results of the first
// (golibmc_resume); the handle is lent to that Go call throughout. What
// outlives a call is connection state only: the sockets libmemcached keeps,
// and which connections are proven in step (h->proven names each by its
// socket and local port, so a new connection is not taken for a proven one).
//
// What C owns here (policy that has to run between two libmemcached calls,
// or on bytes libmemcached is about to parse, inside one crossing; the
// functions are named golibmc_policy_*):
//   - the call's deadline, re-applied before every libmemcached call (arm);
//   - the checks of a reply before libmemcached parses it, which turn what
//     would trip one of its assertions or desynchronize the connection into
//     an error code (check_read_reply, read_replies, prove);
//   - dropping a connection that is not provably in step (drop), and
//     reading store replies out of the socket when they stall (read_replies);
//   - how a batch of stores is written and its replies read, and, in a
//     multi-key loop, not retrying a server that already timed out.
// Go decides the rest: argument validation, which code becomes which
// error, whether a connection that came back with an error is reused,
// pooling, batching and netpoller waits.
//
// Memory rules:
//   - key and value pointers passed in are borrowed for the call only; the
//     handle's pointer arrays that hold them are cleared before it returns;
//   - results are written into buffers owned by the golibmc_handle (reused,
//     freed by golibmc_handle_free), which Go copies out before the handle
//     is used again.
#ifndef GOLIBMC_H
#define GOLIBMC_H

#include <libmemcached/memcached.h>
#include <libhashkit-1.0/hashkit.h>
#include <errno.h>
#include <poll.h>
#ifndef POLLRDHUP
#define POLLRDHUP 0x2000 // Linux; defined by <poll.h> only with _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#if !defined(LIBMEMCACHED_VERSION_HEX) || LIBMEMCACHED_VERSION_HEX < 0x001000000
#error "golibmc needs libmemcached 1.0 or later (libmemcached-awesome 1.1 recommended)"
#endif

// GOLIBMC_FN marks the functions: static (one copy per cgo file that
// includes this header) and unused-tolerant, since not every file calls all.
#define GOLIBMC_FN static inline __attribute__((unused))

// golibmc_header_version is the version of the headers this is compiled with.
GOLIBMC_FN const char *golibmc_header_version(void) { return LIBMEMCACHED_VERSION_STRING; }

// GOLIBMC_NONE is the server index of a key that reached no server.
#define GOLIBMC_NONE UINT32_MAX

// ---------------------------------------------------------------------------
// Private layout: the only place this file reads libmemcached's internals
// (besides golibmc_ring_point, a point of the continuum, near the end).
//
// libmemcached has no public accessor for a server connection's socket, for
// the bytes it has read but not parsed yet, or for its buffer_requests flag
// that does not close every connection when it changes. Each is read here
// through a mirror of the start of the private memcached_instance_st of the
// library version loaded, or through the public struct memcached_st. The
// mirrors are validated at run time against public accessors
// (golibmc_layout_check); when none matches, golibmc_layout is 0 and every
// feature that needs them (netpoller waits, buffered stores) is off.
// ---------------------------------------------------------------------------

// The prefix shared by libmemcached 1.0.18 and 1.1.x.
typedef struct golibmc_inst_head {
  struct {
    bool is_allocated, is_initialized, is_shutting_down, is_dead, ready;
  } options;
  short events, revents;
  uint32_t cursor_active;
  in_port_t port;
  int fd;
} golibmc_inst_head;

// The two lines differ in one field's width: server_timeout_counter_query_id
// (TIMEOUT_ID below); the fields before and after it are the same. (A
// nested struct for the common tail would be aligned differently: the
// fields are spelled out by these macros instead.)
#define GOLIBMC_INST_FIELDS(TIMEOUT_ID)                          \
  golibmc_inst_head h;                                          \
  uint32_t io_bytes_sent, request_id, server_failure_counter;   \
  uint64_t server_failure_counter_query_id;                     \
  uint32_t server_timeout_counter;                              \
  TIMEOUT_ID server_timeout_counter_query_id;                   \
  uint32_t weight, version;                                     \
  enum memcached_server_state_t state;                          \
  struct {                                                      \
    uint32_t read, write, timeouts;                             \
    size_t bytes_read;                                          \
  } io_wait_count;                                              \
  uint8_t major_version, micro_version, minor_version;          \
  memcached_connection_t type;                                  \
  char *read_ptr;                                               \
  size_t read_buffer_length;

// libmemcached-awesome 1.1.x (src/libmemcached/instance.hpp): a 64-bit
// timeout query id.
typedef struct golibmc_inst_11 {
  GOLIBMC_INST_FIELDS(uint64_t)
} golibmc_inst_11;

// libmemcached 1.0.18 (libmemcached/instance.hpp): a 32-bit timeout query
// id (and read_data_length after read_buffer_length, not read here).
typedef struct golibmc_inst_10 {
  GOLIBMC_INST_FIELDS(uint32_t)
} golibmc_inst_10;

enum { GOLIBMC_LAYOUT_NONE = 0, GOLIBMC_LAYOUT_11 = 11, GOLIBMC_LAYOUT_10 = 10 };

// golibmc_layout is the validated mirror, set once by golibmc_layout_check.
static int golibmc_layout = GOLIBMC_LAYOUT_NONE;

// golibmc_inst_fd returns the socket of server instance s, or -1.
GOLIBMC_FN int golibmc_inst_fd(const memcached_instance_st *s) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE || s == NULL) return -1;
  return ((const golibmc_inst_head *) s)->fd;
}

// golibmc_inst_unread returns how many bytes libmemcached has read from
// server instance s and not parsed yet, and where they are.
GOLIBMC_FN size_t golibmc_inst_unread(const memcached_instance_st *s, const char **at) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11:
    *at = ((const golibmc_inst_11 *) s)->read_ptr;
    return ((const golibmc_inst_11 *) s)->read_buffer_length;
  case GOLIBMC_LAYOUT_10:
    *at = ((const golibmc_inst_10 *) s)->read_ptr;
    return ((const golibmc_inst_10 *) s)->read_buffer_length;
  }
  *at = NULL;
  return 0;
}

// golibmc_set_buffering turns buffered requests on or off on mc without
// memcached_behavior_set, which closes every connection each time; it
// returns the previous setting.
GOLIBMC_FN int golibmc_set_buffering(memcached_st *mc, int on) {
  int was = mc->flags.buffer_requests;
  mc->flags.buffer_requests = on ? 1 : 0;
  return was;
}

// golibmc_layout_matches checks one mirror against the public accessors on
// an instance that is not connected (fd -1, nothing pending, versions
// unknown, read pointer at the start of its buffer inside the instance).
#define GOLIBMC_LAYOUT_MATCHES(T, s)                                                             \
  ({                                                                                             \
    const T *m = (const T *) (s);                                                                \
    const char *base = (const char *) (s);                                                       \
    m->h.port == memcached_server_port(s) && m->h.cursor_active == memcached_server_response_count(s) && \
        m->h.fd == -1 && m->major_version == memcached_server_major_version(s) &&                \
        m->minor_version == memcached_server_minor_version(s) &&                                 \
        m->micro_version == memcached_server_micro_version(s) && m->major_version == UINT8_MAX && \
        m->read_buffer_length == 0 && m->read_ptr > base + sizeof(T) &&                          \
        m->read_ptr < base + sizeof(T) + 4096 &&                                                 \
        strcmp(memcached_server_type(s), m->type == MEMCACHED_CONNECTION_UNIX_SOCKET ? "SOCKET"  \
                                         : m->type == MEMCACHED_CONNECTION_UDP        ? "UDP"     \
                                                                                      : "TCP") == 0; \
  })

// golibmc_layout_check picks the mirror that matches the loaded library,
// using throwaway handles with one unconnected server each (one server:
// adding a second reallocates the instance array, and libmemcached leaves
// the first one's read pointer at the old address until it connects), and
// checks that golibmc_set_buffering reads back through
// memcached_behavior_get and changes nothing else. It returns the layout.
GOLIBMC_FN int golibmc_layout_check(void) {
  int ok11 = 1, ok10 = 1, flips = 1;
  const char *hosts[2] = {"127.0.0.1", "127.0.0.2"};
  in_port_t ports[2] = {47131, 39017};
  for (int i = 0; i < 2; i++) {
    memcached_st *mc = memcached_create(NULL);
    if (mc == NULL) return golibmc_layout = GOLIBMC_LAYOUT_NONE;
    if (memcached_server_add(mc, hosts[i], ports[i]) != MEMCACHED_SUCCESS || memcached_server_count(mc) != 1) {
      ok11 = ok10 = 0;
    } else {
      const memcached_instance_st *s = memcached_server_instance_by_position(mc, 0);
      ok11 = ok11 && GOLIBMC_LAYOUT_MATCHES(golibmc_inst_11, s);
      ok10 = ok10 && GOLIBMC_LAYOUT_MATCHES(golibmc_inst_10, s);
    }
    uint64_t before[MEMCACHED_BEHAVIOR_MAX];
    for (int b = 0; b < MEMCACHED_BEHAVIOR_MAX; b++)
      before[b] = (b == MEMCACHED_BEHAVIOR_SOCKET_SEND_SIZE || b == MEMCACHED_BEHAVIOR_SOCKET_RECV_SIZE)
                      ? 0
                      : memcached_behavior_get(mc, (memcached_behavior_t) b);
    golibmc_set_buffering(mc, 1);
    flips = flips && memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS) == 1;
    golibmc_set_buffering(mc, 0);
    flips = flips && memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS) == 0;
    for (int b = 0; b < MEMCACHED_BEHAVIOR_MAX && flips; b++) {
      if (b == MEMCACHED_BEHAVIOR_SOCKET_SEND_SIZE || b == MEMCACHED_BEHAVIOR_SOCKET_RECV_SIZE) continue;
      flips = memcached_behavior_get(mc, (memcached_behavior_t) b) == before[b];
    }
    memcached_free(mc);
  }
  int layout = GOLIBMC_LAYOUT_NONE;
  if (ok11 && !ok10) layout = GOLIBMC_LAYOUT_11;
  if (ok10 && !ok11) layout = GOLIBMC_LAYOUT_10;
  if (!flips) layout = GOLIBMC_LAYOUT_NONE;
  golibmc_layout = layout;
  return layout;
}

// golibmc_layout_force sets the layout in use and returns the one before
// (tests: GOLIBMC_LAYOUT_NONE runs the library as on a libmemcached that
// neither mirror matches).
GOLIBMC_FN int golibmc_layout_force(int layout) {
  int was = golibmc_layout;
  golibmc_layout = layout;
  return was;
}

// golibmc_verify_socket checks, for a connected server i of mc, that the
// socket read through the private layout is the connection libmemcached
// reports through its public accessors: for TCP the kernel's local port
// is memcached_server_srcport and its peer port memcached_server_port; for
// a unix socket the peer path is the server's name. It returns 1 when it
// is, 0 when not (or when it cannot be told): the netpoller must not wait
// on a socket that is not surely this connection's.
GOLIBMC_FN int golibmc_verify_socket(const memcached_st *mc, uint32_t i) {
  if (i >= memcached_server_count(mc)) return 0;
  const memcached_instance_st *s = memcached_server_instance_by_position(mc, i);
  int fd = golibmc_inst_fd(s);
  if (fd < 0) return 0;
  struct sockaddr_storage local, peer;
  socklen_t ln = sizeof(local), pn = sizeof(peer);
  if (getsockname(fd, (struct sockaddr *) &local, &ln) != 0 || getpeername(fd, (struct sockaddr *) &peer, &pn) != 0)
    return 0;
  if (peer.ss_family == AF_UNIX) {
    const struct sockaddr_un *u = (const struct sockaddr_un *) &peer;
    return strncmp(u->sun_path, memcached_server_name(s), sizeof(u->sun_path)) == 0;
  }
  in_port_t lp = 0, pp = 0;
  if (local.ss_family == AF_INET) lp = ntohs(((struct sockaddr_in *) &local)->sin_port);
  if (local.ss_family == AF_INET6) lp = ntohs(((struct sockaddr_in6 *) &local)->sin6_port);
  if (peer.ss_family == AF_INET) pp = ntohs(((struct sockaddr_in *) &peer)->sin_port);
  if (peer.ss_family == AF_INET6) pp = ntohs(((struct sockaddr_in6 *) &peer)->sin6_port);
  in_port_t src = memcached_server_srcport(s);
  return src != 0 && lp == src && pp == memcached_server_port(s);
}

// golibmc_layout_probe checks the private reads on a live connection to
// host:port (a memcached the caller started): it stores two items, asks
// for both in one mget and takes the first reply only. It copies up to cap
// bytes of what golibmc_inst_unread then shows (the second reply, read
// from the socket and not parsed) into out, and returns
// the socket when golibmc_verify_socket confirms it, -1 when it does not,
// or -3 when the server did not answer.
GOLIBMC_FN int golibmc_layout_probe(const char *host, in_port_t port, char *out, size_t cap, size_t *n) {
  const char *keys[2] = {"golibmc-probe-a", "golibmc-probe-b"};
  size_t lens[2] = {15, 15};
  int ret = -3;
  *n = 0;
  memcached_st *mc = memcached_create(NULL);
  if (mc == NULL) return ret;
  if (memcached_server_add(mc, host, port) == MEMCACHED_SUCCESS &&
      memcached_set(mc, keys[0], lens[0], "a", 1, 0, 0) == MEMCACHED_SUCCESS &&
      memcached_set(mc, keys[1], lens[1], "b", 1, 0, 0) == MEMCACHED_SUCCESS &&
      memcached_mget(mc, keys, lens, 2) == MEMCACHED_SUCCESS) {
    memcached_return_t rc;
    memcached_result_st *r = memcached_fetch_result(mc, NULL, &rc);
    if (r != NULL) {
      const memcached_instance_st *s = memcached_server_instance_by_position(mc, 0);
      const char *at;
      size_t have = golibmc_inst_unread(s, &at);
      *n = have < cap ? have : cap;
      if (*n) memcpy(out, at, *n);
      ret = golibmc_verify_socket(mc, 0) ? golibmc_inst_fd(s) : -1;
      memcached_result_free(r);
    }
  }
  memcached_free(mc);
  return ret;
}

// golibmc_inst_leftover reports whether server instance s has bytes that
// no request expects: read by libmemcached and not parsed, or waiting in
// the socket (peeked, without blocking), while no reply is pending.
GOLIBMC_FN int golibmc_inst_leftover(const memcached_instance_st *s) {
  if (memcached_server_response_count(s) > 0) return 0;
  const char *at;
  if (golibmc_inst_unread(s, &at) > 0) return 1;
  int fd = golibmc_inst_fd(s);
  char c;
  return fd >= 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

// GOLIBMC_LM10 is 1 when compiled against libmemcached 1.0.x (1.0.18),
// whose LIBMEMCACHED_VERSION_HEX is 0x01000018 (1.1.x: 0x001001004).
#define GOLIBMC_LM10 (LIBMEMCACHED_VERSION_HEX < 0x01001000)

#if GOLIBMC_LM10
// golibmc_ketama_hash_10 reads mc's distribution hash on libmemcached
// 1.0.18, whose getters all answer the key hash (and whose libmemcached
// does not export libhashkit's): a scratch handle takes that function as
// its key hash, which it reads right.
GOLIBMC_FN uint64_t golibmc_ketama_hash_10(memcached_st *mc) {
  memcached_st scratch;
  if (memcached_create(&scratch) == NULL) return MEMCACHED_HASH_DEFAULT;
  scratch.hashkit.base_hash = mc->hashkit.distribution_hash;
  uint64_t h = memcached_behavior_get(&scratch, MEMCACHED_BEHAVIOR_HASH);
  memcached_free(&scratch);
  return h;
}
#endif

// The functions below read and write fields of memcached_st itself
// (send_size, recv_size, hashkit): unlike the server instance, that struct
// is declared in libmemcached's installed headers, so the compiler lays it
// out; what could still differ is the library loaded at run time, and New
// refuses one of another release line than the headers (checkLibraryLine
// in client.go; TestLibraryLine). The tests read every behavior back
// through this function after setting each (TestEveryBehaviorByNameAndConstant)
// and check gomemcache's placement key for key through the pool.

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
GOLIBMC_FN uint64_t golibmc_behavior_get(memcached_st *mc, memcached_behavior_t b) {
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

// golibmc_behavior_set is memcached_behavior_set with REMOVE_FAILED_SERVERS
// meaning what it means in libmemcached 1.1 on every version: the
// auto_eject switch. libmemcached 1.0.18 also falls through into
// SERVER_FAILURE_LIMIT (setting the limit to the flag's value, and refusing
// 0 after turning auto_eject off), a bug fixed in 1.1.0.
GOLIBMC_FN memcached_return_t golibmc_behavior_set(memcached_st *mc, memcached_behavior_t b, uint64_t v) {
#if GOLIBMC_LM10
  if (b == MEMCACHED_BEHAVIOR_REMOVE_FAILED_SERVERS) b = MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS;
#endif
  return memcached_behavior_set(mc, b, v);
}

// golibmc_rebuild rebuilds mc's distribution from its current settings:
// memcached_behavior_set(HASH) and memcached_set_hashkit do not, so a
// master configured in steps would otherwise keep a continuum its clones do
// not have. Setting SORT_HOSTS to its own value runs run_distribution and
// nothing else.
GOLIBMC_FN memcached_return_t golibmc_rebuild(memcached_st *mc) {
  return memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_SORT_HOSTS, memcached_behavior_get(mc, MEMCACHED_BEHAVIOR_SORT_HOSTS));
}

// ---------------------------------------------------------------------------
// Handles.
// ---------------------------------------------------------------------------

// golibmc_res is one key's outcome.
typedef struct golibmc_res {
  int32_t rc;      // libmemcached's return code for the key
  uint32_t server; // index of the key's server, GOLIBMC_NONE if unknown
  uint32_t msg;    // 1 + offset in out of the message record, 0 for none
  uint32_t flags;  // item flags (reads)
  uint64_t cas;    // CAS id (reads)
  uint64_t num;    // the new value (increment, decrement)
} golibmc_res;

// golibmc_srv is one server's part of a call.
typedef struct golibmc_srv {
  int32_t rc;       // its failure in this call, SUCCESS if none
  uint32_t msg;     // 1 + offset in out of its message record, 0 for none
  int32_t fd;       // its socket after the call, -1 if not connected or unknown
  uint32_t pending; // replies libmemcached still expects from it
  uint32_t unread;  // bytes libmemcached read from it and did not parse
  uint32_t unsync;  // 1 when a reply from it was not one expected
} golibmc_srv;

// golibmc_handle is one libmemcached connection set (a clone of the
// client's configured master) plus the buffers its results are read from.
typedef struct golibmc_handle {
  memcached_st *mc;
  memcached_result_st result;
  char *out; // records: items read, stats, server identities
  size_t out_len, out_cap;
  char *msgs; // message records (u32 length, bytes)
  size_t msgs_len, msgs_cap;
  golibmc_srv *srv; // per server of the handle
  uint32_t nsrv, srv_cap;
  uint32_t nrecords; // records written to out by a read
  const char **keyp; // key pointers for memcached_mget; cleared before return
  size_t keyp_cap;
  size_t *keyl;
  size_t keyl_cap;
  uint32_t *order; // stores: item indices grouped by server
  size_t order_cap;
  golibmc_res *tmp; // stores: one server's replies until all are read
  size_t tmp_cap;
  char *peek; // stores: reply bytes peeked from a socket
  size_t peek_cap;
  struct golibmc_proven { // per server: the connection that answered a read (golibmc_policy_prove)
    int fd;
    in_port_t port;
  } *proven;
  size_t proven_cap;
  int64_t deadline_ns; // CLOCK_MONOTONIC; 0 for none
  int32_t cfg_poll, cfg_connect;
} golibmc_handle;

GOLIBMC_FN int golibmc_grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (q == NULL) return 0;
  *p = q;
  *cap = n;
  return 1;
}

GOLIBMC_FN int golibmc_out_reserve(golibmc_handle *h, size_t n) {
  if (h->out_len + n <= h->out_cap) return 1;
  size_t cap = h->out_cap ? h->out_cap : 4096;
  while (cap < h->out_len + n) cap *= 2;
  char *p = (char *) realloc(h->out, cap);
  if (p == NULL) return 0;
  h->out = p;
  h->out_cap = cap;
  return 1;
}

GOLIBMC_FN void golibmc_out_put(golibmc_handle *h, const void *p, size_t n) {
  if (n) memcpy(h->out + h->out_len, p, n);
  h->out_len += n;
}

// golibmc_msg stores a message as a record (u32 length, bytes) in msgs and
// returns 1 + its offset, or 0 when there is none or no memory.
GOLIBMC_FN uint32_t golibmc_msg(golibmc_handle *h, const char *s, size_t n) {
  if (s == NULL || n == 0 || h->msgs_len > UINT32_MAX - 2048) return 0;
  if (n > 1024) n = 1024;
  if (!golibmc_grow((void **) &h->msgs, &h->msgs_cap, h->msgs_len + 4 + n, 1)) return 0;
  uint32_t off = (uint32_t) h->msgs_len, len = (uint32_t) n;
  memcpy(h->msgs + off, &len, 4);
  memcpy(h->msgs + off + 4, s, n);
  h->msgs_len += 4 + n;
  return off + 1;
}

GOLIBMC_FN uint32_t golibmc_msg_str(golibmc_handle *h, const char *s) {
  return s ? golibmc_msg(h, s, strlen(s)) : 0;
}

// golibmc_clone_repair makes clone equal master in every behavior that
// memcached_clone dropped (libmemcached 1.1 drops KETAMA_WEIGHTED when all
// weights are equal; golibmc_clone copies it, and this stays the check).
// Setting KETAMA_WEIGHTED resets both hashes, so the comparison runs until
// nothing differs. It returns the first behavior that still differs, or -1.
GOLIBMC_FN int golibmc_clone_repair(memcached_st *master, memcached_st *clone) {
  for (int pass = 0; pass < 4; pass++) {
    int differs = -1;
    for (int b = 0; b < MEMCACHED_BEHAVIOR_MAX; b++) {
      uint64_t want = golibmc_behavior_get(master, (memcached_behavior_t) b);
      if (golibmc_behavior_get(clone, (memcached_behavior_t) b) == want) continue;
      if (differs < 0) differs = b;
      if (pass < 3) golibmc_behavior_set(clone, (memcached_behavior_t) b, want);
    }
    if (differs < 0) return -1;
    if (pass == 3) return differs;
  }
  return -1;
}

// golibmc_same_placement checks that mc and master send the same probe
// keys to the same servers (not for the random distribution).
GOLIBMC_FN int golibmc_same_placement(memcached_st *master, memcached_st *mc) {
  if (memcached_server_count(master) != memcached_server_count(mc)) return 0;
  // memcached_generate_hash divides by the server count.
  if (memcached_server_count(master) < 2) return 1;
  if (memcached_behavior_get_distribution(master) == MEMCACHED_DISTRIBUTION_RANDOM) return 1;
  char key[32];
  for (int i = 0; i < 128; i++) {
    int n = snprintf(key, sizeof(key), "golibmc-placement-%d", i);
    if (memcached_generate_hash(master, key, (size_t) n) != memcached_generate_hash(mc, key, (size_t) n))
      return 0;
  }
  return 1;
}

// golibmc_handle_new clones master into a new handle, ejects the servers
// the master has ejected (ej_idx until ej_until), and checks the clone
// against master: every behavior (repaired where memcached_clone lost one),
// the namespace and the placement of probe keys. On failure it returns NULL
// and writes why into err.
GOLIBMC_FN void golibmc_apply_ejections(memcached_st *mc, size_t n, const uint32_t *idx, const int64_t *until);
GOLIBMC_FN memcached_st *golibmc_clone(memcached_st *master);
GOLIBMC_FN int golibmc_copy_continuum(memcached_st *master, memcached_st *mc);

GOLIBMC_FN golibmc_handle *golibmc_handle_new(memcached_st *master, size_t nej, const uint32_t *ej_idx,
                                              const int64_t *ej_until, char *err, size_t errlen) {
  err[0] = 0;
  golibmc_handle *h = (golibmc_handle *) calloc(1, sizeof(*h));
  if (h == NULL) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  h->mc = golibmc_clone(master); // its distribution is built below, once
  if (h->mc == NULL) {
    snprintf(err, errlen, "memcached_clone failed");
    free(h);
    return NULL;
  }
  int bad = golibmc_clone_repair(master, h->mc);
  if (nej) golibmc_apply_ejections(h->mc, nej, ej_idx, ej_until);
  else if (!golibmc_copy_continuum(master, h->mc)) golibmc_rebuild(h->mc);
  memcached_return_t rc;
  const char *ns1 = (const char *) memcached_callback_get(master, MEMCACHED_CALLBACK_PREFIX_KEY, &rc);
  const char *ns2 = (const char *) memcached_callback_get(h->mc, MEMCACHED_CALLBACK_PREFIX_KEY, &rc);
  if (bad >= 0) {
    snprintf(err, errlen, "memcached_clone lost behavior %d and it could not be restored", bad);
  } else if ((ns1 == NULL) != (ns2 == NULL) || (ns1 && strcmp(ns1, ns2) != 0)) {
    snprintf(err, errlen, "memcached_clone changed the namespace");
  } else if (!golibmc_same_placement(master, h->mc)) {
    snprintf(err, errlen, "memcached_clone places keys differently from the client's configuration");
  } else if (memcached_result_create(h->mc, &h->result) == NULL) {
    snprintf(err, errlen, "out of memory");
  }
  if (err[0]) {
    memcached_free(h->mc);
    free(h);
    return NULL;
  }
  return h;
}

GOLIBMC_FN void golibmc_handle_free(golibmc_handle *h) {
  if (h == NULL) return;
  memcached_result_free(&h->result);
  memcached_free(h->mc);
  free(h->out);
  free(h->msgs);
  free(h->srv);
  free(h->tmp);
  free((void *) h->keyp);
  free(h->keyl);
  free(h->order);
  free(h->peek);
  free(h->proven);
  free(h);
}

// golibmc_put_server appends a server's identity record: u32 port, u32
// weight, u32 type, u32 name length, name.
GOLIBMC_FN int golibmc_put_server(golibmc_handle *h, const memcached_instance_st *s, uint32_t weight) {
  const char *name = memcached_server_name(s);
  uint32_t v[4] = {memcached_server_port(s), weight, 0, (uint32_t) strlen(name)};
  const char *t = memcached_server_type(s);
  v[2] = strcmp(t, "SOCKET") == 0 ? MEMCACHED_CONNECTION_UNIX_SOCKET
       : strcmp(t, "UDP") == 0    ? MEMCACHED_CONNECTION_UDP
                                  : MEMCACHED_CONNECTION_TCP;
  if (!golibmc_out_reserve(h, 16 + v[3])) return 0;
  golibmc_out_put(h, v, 16);
  golibmc_out_put(h, name, v[3]);
  return 1;
}

// golibmc_servers writes the identity of every server of mc, in index
// order, into h->out.
GOLIBMC_FN int golibmc_servers(golibmc_handle *h, memcached_st *mc) {
  h->out_len = 0;
  uint32_t n = memcached_server_count(mc);
  for (uint32_t i = 0; i < n; i++)
    if (!golibmc_put_server(h, memcached_server_instance_by_position(mc, i), 0)) return 0;
  return 1;
}

// golibmc_apply_ejections tells mc's instances that servers idx[0..n) are
// ejected until the given Unix times (memcached_instance_next_retry), then
// rebuilds the distribution without side effects (setting SORT_HOSTS to
// its own value runs run_distribution and nothing else), so that every
// handle of a client skips a server one of them ejected.
GOLIBMC_FN void golibmc_apply_ejections(memcached_st *mc, size_t n, const uint32_t *idx,
                                        const int64_t *until) {
  uint32_t count = memcached_server_count(mc);
  for (size_t i = 0; i < n; i++)
    if (idx[i] < count) memcached_instance_next_retry(memcached_server_instance_by_position(mc, idx[i]), (time_t) until[i]);
  golibmc_rebuild(mc);
}

// ---------------------------------------------------------------------------
// The call frame.
// ---------------------------------------------------------------------------

GOLIBMC_FN int64_t golibmc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// golibmc_begin starts a call on h: results cleared, the deadline (ms >=
// 0) noted. It returns 0 when out of memory.
GOLIBMC_FN int golibmc_begin(golibmc_handle *h, int32_t ms) {
  h->out_len = 0;
  h->msgs_len = 0;
  h->nrecords = 0;
  h->deadline_ns = ms >= 0 ? golibmc_now_ns() + (int64_t) ms * 1000000 : 0;
  h->cfg_poll = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT);
  h->cfg_connect = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT);
  uint32_t ns = memcached_server_count(h->mc);
  size_t cap = h->srv_cap;
  if (!golibmc_grow((void **) &h->srv, &cap, ns ? ns : 1, sizeof(golibmc_srv))) return 0;
  h->srv_cap = (uint32_t) cap;
  h->nsrv = ns;
  memset(h->srv, 0, (ns ? ns : 1) * sizeof(golibmc_srv));
  for (uint32_t i = 0; i < ns; i++) h->srv[i].fd = -1;
  return 1;
}

// golibmc_resume starts the second crossing of a split call (the read
// half): a new deadline, and everything the first half recorded (each
// server's code and message, each key's result) kept, so the call's
// results are complete when it ends.
GOLIBMC_FN void golibmc_resume(golibmc_handle *h, int32_t ms) {
  h->deadline_ns = ms >= 0 ? golibmc_now_ns() + (int64_t) ms * 1000000 : 0;
}

// golibmc_clear_res resets n per-key results.
GOLIBMC_FN void golibmc_clear_res(golibmc_res *res, size_t n) {
  memset(res, 0, n * sizeof(golibmc_res));
  for (size_t i = 0; i < n; i++) res[i].server = GOLIBMC_NONE;
}

// golibmc_policy_arm applies the call's deadline to libmemcached's poll and
// connect timeouts before one libmemcached call: each wait inside it then
// ends by the deadline. It returns TIMEOUT when the deadline has passed.
GOLIBMC_FN memcached_return_t golibmc_policy_arm(golibmc_handle *h) {
  if (h->deadline_ns == 0) return MEMCACHED_SUCCESS;
  int64_t left = h->deadline_ns - golibmc_now_ns();
  if (left <= 0) return MEMCACHED_TIMEOUT;
  int64_t ms = (left + 999999) / 1000000;
  if (h->cfg_poll <= 0 || ms < h->cfg_poll)
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t) ms);
  if (h->cfg_connect <= 0 || ms < h->cfg_connect)
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t) ms);
  return MEMCACHED_SUCCESS;
}

// golibmc_poll_ms is how long one wait of this call may take, in ms (-1: no limit).
GOLIBMC_FN int golibmc_poll_ms(golibmc_handle *h) {
  int ms = h->cfg_poll > 0 ? h->cfg_poll : -1;
  if (h->deadline_ns) {
    int64_t left = (h->deadline_ns - golibmc_now_ns() + 999999) / 1000000;
    if (left < 0) left = 0;
    if (ms < 0 || left < ms) ms = (int) left;
  }
  return ms;
}

// golibmc_end restores the configured timeouts and records, per server,
// what Go needs to judge the connection: replies still expected, bytes
// read but not parsed, and its socket.
GOLIBMC_FN void golibmc_end(golibmc_handle *h) {
  if (h->deadline_ns) {
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t) (int64_t) h->cfg_poll);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t) (int64_t) h->cfg_connect);
  }
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    golibmc_srv *v = &h->srv[i];
    const char *at;
    v->pending = memcached_server_response_count(s);
    v->unread = (uint32_t) golibmc_inst_unread(s, &at);
    v->fd = golibmc_inst_fd(s);
  }
}

// golibmc_fail_server records that server i failed with rc in this call
// (the first failure counts); the message is libmemcached's for that
// server when it holds one for this code.
GOLIBMC_FN void golibmc_fail_server(golibmc_handle *h, uint32_t i, memcached_return_t rc) {
  if (i >= h->nsrv || h->srv[i].rc != MEMCACHED_SUCCESS) return;
  const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
  h->srv[i].rc = rc;
  if (memcached_server_error_return(s) == rc) h->srv[i].msg = golibmc_msg_str(h, memcached_server_error(s));
}

// golibmc_policy_drop marks server i failed with rc and shuts its socket
// down, so that libmemcached, at its next read of it, sees the end of the
// stream and closes the connection itself: a reply arriving later can then
// never be read as the answer to another request.
GOLIBMC_FN void golibmc_policy_drop(golibmc_handle *h, uint32_t i, memcached_return_t rc) {
  golibmc_fail_server(h, i, rc);
  h->srv[i].unsync = 1;
  int fd = golibmc_inst_fd(memcached_server_instance_by_position(h->mc, i));
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

// golibmc_server_of is the index of the server key goes to now.
GOLIBMC_FN uint32_t golibmc_server_of(golibmc_handle *h, const char *key, size_t klen) {
  return h->nsrv <= 1 ? 0 : memcached_generate_hash(h->mc, key, klen);
}

// golibmc_connected tells whether server i has a connection: its socket
// when the layout is known, else its local port (TCP), else unknown (-1).
GOLIBMC_FN int golibmc_connected(golibmc_handle *h, uint32_t i) {
  const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
  if (golibmc_layout != GOLIBMC_LAYOUT_NONE) return golibmc_inst_fd(s) >= 0;
  if (strcmp(memcached_server_type(s), "TCP") == 0) return memcached_server_srcport(s) != 0;
  return -1;
}

// golibmc_point makes the key pointer arrays for n keys packed back to back.
GOLIBMC_FN int golibmc_point(golibmc_handle *h, size_t n, const char *keys, const size_t *klens) {
  if (!golibmc_grow((void **) &h->keyp, &h->keyp_cap, n, sizeof(char *))) return 0;
  if (!golibmc_grow((void **) &h->keyl, &h->keyl_cap, n, sizeof(size_t))) return 0;
  for (size_t i = 0; i < n; i++) {
    h->keyp[i] = keys;
    h->keyl[i] = klens[i];
    keys += klens[i];
  }
  return 1;
}

// golibmc_unpoint clears the key pointers: no Go pointer stays in C memory.
GOLIBMC_FN void golibmc_unpoint(golibmc_handle *h, size_t n) {
  if (n && h->keyp) memset((void *) h->keyp, 0, n * sizeof(char *));
}

// golibmc_key_servers records the server of every key.
GOLIBMC_FN void golibmc_key_servers(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
                                    golibmc_res *res) {
  for (size_t i = 0; i < n; i++) {
    res[i].server = golibmc_server_of(h, keys, klens[i]);
    keys += klens[i];
  }
}

// ---------------------------------------------------------------------------
// Reads: memcached_mget, then memcached_fetch_result until every server has
// answered. Items go into out as records (u64 cas, u32 flags, u32 key
// length, u64 value length, key, value); Go checks each key was asked. A
// key's server is recorded when its server failed (or, with auto_eject,
// always, before the request: ejecting a server moves its keys).
// ---------------------------------------------------------------------------

GOLIBMC_FN int golibmc_put_item(golibmc_handle *h, memcached_result_st *r) {
  uint64_t cas = memcached_result_cas(r);
  uint32_t flags = memcached_result_flags(r);
  uint32_t klen = (uint32_t) memcached_result_key_length(r);
  uint64_t vlen = (uint64_t) memcached_result_length(r);
  if (!golibmc_out_reserve(h, 24 + klen + vlen)) return 0;
  golibmc_out_put(h, &cas, 8);
  golibmc_out_put(h, &flags, 4);
  golibmc_out_put(h, &klen, 4);
  golibmc_out_put(h, &vlen, 8);
  golibmc_out_put(h, memcached_result_key_value(r), klen);
  golibmc_out_put(h, memcached_result_value(r), vlen);
  h->nrecords++;
  return 1;
}

GOLIBMC_FN int golibmc_ejecting(golibmc_handle *h) {
  return h->nsrv > 1 && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS) != 0;
}

// golibmc_mget_send sends the request for n keys (memcached_mget, which
// only writes unless a reply is pending from an earlier call). A server
// that could not be asked is marked failed.
GOLIBMC_FN memcached_return_t golibmc_mget_send(golibmc_handle *h, size_t n, const char *keys,
                                                const size_t *klens, golibmc_res *res) {
  golibmc_clear_res(res, n);
  memcached_autoeject(h->mc);
  int known = golibmc_ejecting(h);
  if (known) golibmc_key_servers(h, n, keys, klens, res);
  if (!golibmc_point(h, n, keys, klens)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  memcached_return_t rc = golibmc_policy_arm(h);
  // With replicas, a binary mget counts a reply per key, and past the
  // watermarks libmemcached reads replies while writing (its "purge", which
  // can close the socket in the middle of the write and then assert).
  uint64_t replicas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS);
  uint64_t wm_msg = 0, wm_bytes = 0;
  if (replicas) {
    wm_msg = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK);
    wm_bytes = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, UINT32_MAX);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, UINT32_MAX);
  }
  if (rc == MEMCACHED_SUCCESS) rc = memcached_mget(h->mc, h->keyp, h->keyl, n);
  // memcached_mget answers SUCCESS when a server could not be asked (a
  // failed connect only records an error): the error recorded tells.
  if (rc == MEMCACHED_SUCCESS && memcached_last_error(h->mc) != MEMCACHED_SUCCESS) rc = MEMCACHED_SOME_ERRORS;
  if (replicas) {
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, wm_msg);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, wm_bytes);
  }
  golibmc_unpoint(h, n);
  if (rc == MEMCACHED_SUCCESS) return rc;
  if (!known) golibmc_key_servers(h, n, keys, klens, res);
  for (size_t i = 0; i < n; i++) {
    uint32_t s = res[i].server;
    if (s >= h->nsrv) continue;
    const memcached_instance_st *in = memcached_server_instance_by_position(h->mc, s);
    if (memcached_server_response_count(in) == 0) {
      memcached_return_t src = memcached_server_error_return(in);
      golibmc_fail_server(h, s, src != MEMCACHED_SUCCESS ? src : (rc == MEMCACHED_SOME_ERRORS ? MEMCACHED_FAILURE : rc));
    }
  }
  return rc;
}

// golibmc_wait_more waits, at most ms, for more bytes on fd than the
// queued ones already peeked. poll is level-triggered, so with those bytes
// still queued it would return at once: SO_RCVLOWAT makes it wait for one
// more (TCP; where the kernel ignores it, a short sleep stands in). It
// returns 1 when more may have arrived, 0 on timeout, -1 when the peer
// closed or the socket failed, and 2 when the kernel says the socket is
// readable although it holds no more than the queued bytes: TCP does so
// below SO_RCVLOWAT when its receive buffer is under pressure or its
// window is closing, and then no more arrives until the queue is read.
GOLIBMC_FN int golibmc_wait_more(int fd, size_t queued, int ms) {
  if (ms == 0) return 0;
  int lowat = queued > 0 && queued < (1u << 30) ? (int) queued + 1 : 1;
  int set = lowat > 1 && setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0;
  struct pollfd pfd = {fd, POLLIN | POLLRDHUP, 0};
  int64_t start = golibmc_now_ns();
  int pr = poll(&pfd, 1, ms);
  if (set) {
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
  }
  if (pr < 0) return errno == EINTR ? 1 : -1;
  if (pr == 0) return 0;
  if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) return -1;
  int inq = 0;
  if (set && ioctl(fd, FIONREAD, &inq) == 0 && inq >= 0 && (size_t) inq <= queued) return 2;
  if (queued > 0 && golibmc_now_ns() - start < 20000) {
    struct timespec ts = {0, 50000}; // no SO_RCVLOWAT here (a unix socket): do not spin
    nanosleep(&ts, NULL);
  }
  return 1;
}

// golibmc_policy_check_read_reply waits (at most the call's poll time)
// for the start of server i's reply to a read and checks that it is one: a
// VALUE or END line (text), a GETK/GETKQ/NOOP packet (binary). Anything
// else is the answer to another request (a server that answered one
// twice): the connection is dropped before libmemcached reads it, since a
// read that took it would end early and leave its own reply to be taken as
// the next request's.
GOLIBMC_FN void golibmc_policy_check_read_reply(golibmc_handle *h, uint32_t i, int binary) {
  const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
  char buf[16];
  size_t seen = (size_t) -1;
  int closed = 0;
  for (;;) {
    const char *at;
    size_t have = golibmc_inst_unread(s, &at), n = have < sizeof(buf) ? have : sizeof(buf);
    if (n) memcpy(buf, at, n);
    int fd = golibmc_inst_fd(s);
    if (fd < 0) return;
    size_t queued = 0;
    if (n < sizeof(buf)) {
      ssize_t got = recv(fd, buf + n, sizeof(buf) - n, MSG_PEEK | MSG_DONTWAIT);
      if (got == 0 && n == 0) return; // closed: libmemcached's read reports it
      if (got > 0) queued = (size_t) got;
      n += queued;
    }
    int ok = -1; // not known yet
    if (binary) {
      if (n >= 2 && !((uint8_t) buf[0] == 0x81 && (buf[1] == 0x0c || buf[1] == 0x0d || buf[1] == 0x0a ||
                                                    buf[1] == 0x00 || buf[1] == 0x09)))
        ok = 0;
      else if (n >= 8 && buf[6] == 0x00 && buf[7] == 0x20) { // AUTH_ERROR: a server that requires SASL
        golibmc_policy_drop(h, i, MEMCACHED_AUTH_FAILURE);
        return;
      } else if (n >= 8)
        ok = 1;
    } else if (n >= 6 && memcmp(buf, "VALUE ", 6) == 0) {
      ok = 1;
    } else if (n >= 5 && memcmp(buf, "END\r\n", 5) == 0) {
      ok = 1;
    } else if (n >= 6 || memchr(buf, '\n', n)) {
      ok = 0;
    }
    if (ok == 1) return;
    if (ok == 0) {
      golibmc_policy_drop(h, i, MEMCACHED_PROTOCOL_ERROR);
      return;
    }
    // Not enough yet: wait for more. A connection the server closed is
    // looked at once more (what it sent before closing is still queued),
    // then left to libmemcached's read, which reports it; one that stays
    // silent for the whole wait has timed out, and is dropped so that the
    // read does not wait a second time.
    if (n == seen || closed) return;
    int more = golibmc_wait_more(fd, queued, golibmc_poll_ms(h));
    if (more == 2) more = 1; // a reply's first 16 bytes never fill a receive buffer
    if (more == 0) golibmc_policy_drop(h, i, MEMCACHED_TIMEOUT);
    if (more == 0) return;
    closed = more < 0;
    seen = n;
  }
}

// golibmc_mget_fetch reads every reply of the pending mget into out. A
// server that has not finished when libmemcached stops waiting, or whose
// connection broke while it was read, is marked failed.
GOLIBMC_FN void golibmc_mget_fetch(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
                                   golibmc_res *res) {
  uint8_t conn[256];
  uint32_t nc = h->nsrv < 256 ? h->nsrv : 256;
  if (golibmc_layout != GOLIBMC_LAYOUT_NONE) {
    int binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
    for (uint32_t i = 0; i < h->nsrv; i++)
      if (memcached_server_response_count(memcached_server_instance_by_position(h->mc, i)) > 0)
        golibmc_policy_check_read_reply(h, i, binary);
  }
  for (uint32_t i = 0; i < nc; i++) conn[i] = golibmc_connected(h, i) == 1;
  memcached_return_t frc = golibmc_policy_arm(h);
  if (frc == MEMCACHED_SUCCESS) {
    memcached_result_st *r;
    while ((r = memcached_fetch_result(h->mc, &h->result, &frc)) != NULL) {
      if (!golibmc_put_item(h, r)) {
        frc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
        break;
      }
      if (golibmc_policy_arm(h) != MEMCACHED_SUCCESS) {
        frc = MEMCACHED_TIMEOUT;
        break;
      }
    }
  }
  // A reply the read did not expect (another command's) ends the fetch as
  // if every server had answered: fewer items than keys, and bytes left.
  if (h->nrecords < n)
    for (uint32_t i = 0; i < h->nsrv; i++)
      if (golibmc_inst_leftover(memcached_server_instance_by_position(h->mc, i))) h->srv[i].unsync = 1;
  int failed = 0;
  // memcached_fetch_result reports a CLIENT_ERROR reply as the end of the
  // results; the error it recorded for this call says otherwise.
  memcached_return_t last = memcached_last_error(h->mc);
  if (h->nsrv == 1 && last != MEMCACHED_SUCCESS && !memcached_success(last) && last != MEMCACHED_NOTFOUND)
    golibmc_fail_server(h, 0, last);
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    if (memcached_server_response_count(s) > 0) {
      golibmc_fail_server(h, i, frc == MEMCACHED_MEMORY_ALLOCATION_FAILURE ? frc : MEMCACHED_TIMEOUT);
      failed = 1;
    } else if (i < nc && conn[i] && golibmc_connected(h, i) == 0 && h->srv[i].rc == MEMCACHED_SUCCESS) {
      memcached_return_t src = memcached_server_error_return(s);
      golibmc_fail_server(h, i, src != MEMCACHED_SUCCESS ? src : MEMCACHED_CONNECTION_FAILURE);
      failed = 1;
    }
    if (h->srv[i].rc != MEMCACHED_SUCCESS) failed = 1;
  }
  if ((failed || frc == MEMCACHED_MEMORY_ALLOCATION_FAILURE) && !golibmc_ejecting(h))
    golibmc_key_servers(h, n, keys, klens, res);
}

// golibmc_get_multi is one whole read of n keys (Get, GetMulti).
GOLIBMC_FN memcached_return_t golibmc_get_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                                const size_t *klens, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  memcached_return_t rc = golibmc_mget_send(h, n, keys, klens, res);
  // Whatever mget answered, the servers it did ask have replies coming
  // (the binary mget answers the last failed connect's code).
  golibmc_mget_fetch(h, n, keys, klens, res);
  golibmc_end(h);
  return rc;
}

// golibmc_get_send is the first half of a read whose wait happens in Go.
GOLIBMC_FN memcached_return_t golibmc_get_send(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                               const size_t *klens, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  memcached_return_t rc = golibmc_mget_send(h, n, keys, klens, res);
  golibmc_end(h);
  return rc;
}

// golibmc_get_recv is the second half, once the replies have arrived; the
// servers listed in late did not answer in time and were dropped
// (golibmc_drop) by Go.
GOLIBMC_FN void golibmc_get_recv(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                 const size_t *klens, golibmc_res *res, const uint32_t *late, size_t nlate) {
  golibmc_resume(h, ms);
  for (size_t i = 0; i < nlate; i++) golibmc_fail_server(h, late[i], MEMCACHED_TIMEOUT);
  golibmc_mget_fetch(h, n, keys, klens, res);
  golibmc_end(h);
}

// ---------------------------------------------------------------------------
// Commands that send and wait inside libmemcached, one call per key.
// ---------------------------------------------------------------------------

enum { GOLIBMC_SET, GOLIBMC_ADD, GOLIBMC_REPLACE, GOLIBMC_APPEND, GOLIBMC_PREPEND, GOLIBMC_CAS,
       GOLIBMC_DELETE, GOLIBMC_INCR, GOLIBMC_DECR, GOLIBMC_TOUCH };

GOLIBMC_FN memcached_return_t golibmc_command(memcached_st *mc, int op, const char *key, size_t klen,
                                              const char *val, size_t vlen, time_t exp, uint32_t flags,
                                              uint64_t arg, uint64_t *num) {
  switch (op) {
  case GOLIBMC_SET: return memcached_set(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_ADD: return memcached_add(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_REPLACE: return memcached_replace(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_APPEND: return memcached_append(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_PREPEND: return memcached_prepend(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_CAS: return memcached_cas(mc, key, klen, val, vlen, exp, flags, arg);
  case GOLIBMC_DELETE: return memcached_delete(mc, key, klen, 0);
  // The _by_key variants take a 64-bit delta (memcached_increment a 32-bit one).
  case GOLIBMC_INCR: return memcached_increment_by_key(mc, key, klen, key, klen, arg, num);
  case GOLIBMC_DECR: return memcached_decrement_by_key(mc, key, klen, key, klen, arg, num);
  case GOLIBMC_TOUCH: return memcached_touch(mc, key, klen, exp);
  }
  return MEMCACHED_INVALID_ARGUMENTS;
}

// golibmc_policy_prove readies server s for a binary increment or
// decrement. libmemcached reads their reply inside the call and asserts
// (auto.cc) when it is an error it does not record: AUTH_ERROR, which a
// server that requires SASL sends a client without credentials, and
// ENOMEM. So a connection that has not yet answered a read of this handle
// is first asked for the key itself, through the guarded read path (a
// server that requires authentication fails there, cleanly); the
// connection is remembered by socket and local port. It returns the
// server's code. (ENOMEM cannot be foreseen: see "Guarded assertions" in
// docs/failure-handling.md.)
GOLIBMC_FN memcached_return_t golibmc_policy_prove(golibmc_handle *h, uint32_t s, const char *key, size_t klen) {
  const memcached_instance_st *in = memcached_server_instance_by_position(h->mc, s);
  int fd = golibmc_inst_fd(in);
  if (fd >= 0 && s < h->proven_cap && h->proven[s].fd == fd && h->proven[s].port == memcached_server_srcport(in))
    return MEMCACHED_SUCCESS;
  golibmc_res probe;
  size_t out_len = h->out_len, nrecords = h->nrecords;
  golibmc_mget_send(h, 1, key, &klen, &probe);
  golibmc_mget_fetch(h, 1, key, &klen, &probe);
  h->out_len = out_len; // the value read is not this call's result
  h->nrecords = nrecords;
  if (h->srv[s].rc != MEMCACHED_SUCCESS) return (memcached_return_t) h->srv[s].rc;
  fd = golibmc_inst_fd(in);
  if (fd >= 0 && golibmc_grow((void **) &h->proven, &h->proven_cap, (size_t) s + 1, sizeof(*h->proven))) {
    h->proven[s].fd = fd;
    h->proven[s].port = memcached_server_srcport(in);
  }
  return MEMCACHED_SUCCESS;
}

// golibmc_commands runs op for n keys (and values), one libmemcached call
// each, recording each key's code, server and message in res.
GOLIBMC_FN void golibmc_commands(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                 const size_t *klens, const char *vals, const size_t *vlens,
                                 const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res) {
  golibmc_clear_res(res, n);
  if (!golibmc_begin(h, ms)) return;
  memcached_autoeject(h->mc);
  uint64_t replicas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS);
  int binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  for (size_t i = 0; i < n; i++) {
    golibmc_res *r = &res[i];
    r->server = golibmc_server_of(h, keys, klens[i]);
    memcached_return_t rc = golibmc_policy_arm(h);
    // golibmc_policy_skip: a server that timed out earlier in this call is
    // not asked again, so a hung server costs one timeout, not one per key.
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && h->srv[r->server].rc == MEMCACHED_TIMEOUT)
      rc = MEMCACHED_TIMEOUT;
    // golibmc_policy_clean_start: bytes no request expects on the key's
    // connection (a server that answered something twice) would be read as
    // this command's reply, and a storage command that reads a success line
    // other than STORED aborts (storage.cc): start over on new connections.
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv &&
        golibmc_inst_leftover(memcached_server_instance_by_position(h->mc, r->server)))
      memcached_quit(h->mc);
    if (rc == MEMCACHED_SUCCESS && binary && (op == GOLIBMC_INCR || op == GOLIBMC_DECR) && r->server < h->nsrv)
      rc = golibmc_policy_prove(h, r->server, keys, klens[i]);
    if (rc == MEMCACHED_SUCCESS)
      rc = golibmc_command(h->mc, op, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                           exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, arg, &r->num);
    // With replicas, libmemcached writes the copies to the other servers as
    // quiet requests and leaves them in its buffers: send them now.
    if (replicas && op != GOLIBMC_INCR && op != GOLIBMC_DECR && op != GOLIBMC_TOUCH &&
        memcached_success(rc) && golibmc_policy_arm(h) == MEMCACHED_SUCCESS)
      memcached_flush_buffers(h->mc);
    r->rc = rc;
    if (!memcached_success(rc) && rc != MEMCACHED_NOTFOUND && rc != MEMCACHED_NOTSTORED &&
        rc != MEMCACHED_DATA_EXISTS)
      r->msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
    if (rc == MEMCACHED_TIMEOUT && r->server < h->nsrv) golibmc_fail_server(h, r->server, rc);
    keys += klens[i];
    if (vals) vals += vlens[i];
  }
  golibmc_end(h);
}

// golibmc_gat touches then reads one key: libmemcached 1.1 has no "gat"
// command, so these are two requests in one crossing. res[0].rc is the
// touch's code when it failed.
GOLIBMC_FN void golibmc_gat(golibmc_handle *h, int32_t ms, const char *key, size_t klen, time_t exp,
                            golibmc_res *res) {
  golibmc_clear_res(res, 1);
  if (!golibmc_begin(h, ms)) return;
  memcached_autoeject(h->mc);
  res[0].server = golibmc_server_of(h, key, klen);
  memcached_return_t rc = golibmc_policy_arm(h);
  if (rc == MEMCACHED_SUCCESS) rc = memcached_touch(h->mc, key, klen, exp);
  if (rc == MEMCACHED_SUCCESS) {
    golibmc_mget_send(h, 1, key, &klen, res);
    golibmc_mget_fetch(h, 1, key, &klen, res);
  } else {
    res[0].rc = rc;
    res[0].msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
  }
  golibmc_end(h);
}

// ---------------------------------------------------------------------------
// Buffered stores (Set, Delete): every request of a batch is written back to
// back, then each server's replies are read in order. libmemcached reports
// no per-request outcome for buffered requests (its fetch calls every
// storage reply NOTFOUND), so each reply's status is read here before
// libmemcached consumes it; that also keeps a reply libmemcached would
// assert on (a success line other than STORED) away from it.
//
// The per-item results live in the caller's res array (Go memory without
// pointers): the write half fills in each item's server and BUFFERED, the
// read half the final codes; between the two, only the per-server codes
// and messages stay in the handle (see golibmc_resume).
// ---------------------------------------------------------------------------

// golibmc_can_buffer reports whether buffered stores can be used on h:
// the private layout is known, replies are on and there are no replicas
// (their quiet requests answer only on failure). UDP is refused in Go.
GOLIBMC_FN int golibmc_can_buffer(golibmc_handle *h) {
  return golibmc_layout != GOLIBMC_LAYOUT_NONE && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NOREPLY) == 0 &&
         memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS) == 0;
}

// golibmc_text_reply parses one text reply line at p (n bytes) to a store
// or delete: the bytes it takes, 0 if the line is incomplete, -1 if it is
// not such a reply. The codes are those libmemcached's response.cc gives.
GOLIBMC_FN long golibmc_text_reply(const char *p, size_t n, int op, memcached_return_t *rc,
                                   const char **msg, size_t *mlen) {
  const char *eol = (const char *) memchr(p, '\n', n > 2048 ? 2048 : n);
  if (eol == NULL) return n >= 2048 ? -1 : 0;
  size_t len = (size_t) (eol - p);
  if (len == 0 || p[len - 1] != '\r') return -1;
  len--;
#define GOLIBMC_IS(s) (len == sizeof(s) - 1 && memcmp(p, s, sizeof(s) - 1) == 0)
#define GOLIBMC_HAS(s) (len >= sizeof(s) - 1 && memcmp(p, s, sizeof(s) - 1) == 0)
  *msg = NULL;
  *mlen = 0;
  if (op == GOLIBMC_SET && GOLIBMC_IS("STORED")) *rc = MEMCACHED_SUCCESS;
  else if (op == GOLIBMC_SET && GOLIBMC_IS("NOT_STORED")) *rc = MEMCACHED_NOTSTORED;
  else if (op == GOLIBMC_SET && GOLIBMC_IS("EXISTS")) *rc = MEMCACHED_DATA_EXISTS;
  else if (op == GOLIBMC_DELETE && GOLIBMC_IS("DELETED")) *rc = MEMCACHED_SUCCESS;
  else if (GOLIBMC_IS("NOT_FOUND")) *rc = MEMCACHED_NOTFOUND;
  else if (GOLIBMC_IS("ERROR")) *rc = MEMCACHED_ERROR;
  else if (GOLIBMC_HAS("SERVER_ERROR object too large for cache")) *rc = MEMCACHED_E2BIG;
  else if (GOLIBMC_HAS("SERVER_ERROR out of memory") || GOLIBMC_HAS("SERVER_ERROR Out of memory"))
    *rc = MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE;
  else if (GOLIBMC_HAS("SERVER_ERROR")) {
    *rc = MEMCACHED_SERVER_ERROR;
    *msg = p;
    *mlen = len;
  } else if (GOLIBMC_HAS("CLIENT_ERROR")) {
    *rc = MEMCACHED_CLIENT_ERROR;
    *msg = p;
    *mlen = len;
  } else
    return -1;
#undef GOLIBMC_IS
#undef GOLIBMC_HAS
  return (long) (eol - p) + 1;
}

// golibmc_binary_reply parses one binary reply header (and body) the same way.
GOLIBMC_FN long golibmc_binary_reply(const char *p, size_t n, int op, memcached_return_t *rc,
                                     const char **msg, size_t *mlen) {
  if (n < 24) return 0;
  const unsigned char *u = (const unsigned char *) p;
  uint8_t want = op == GOLIBMC_SET ? 0x01 : 0x04; // SET, DELETE
  uint32_t body = ((uint32_t) u[8] << 24) | ((uint32_t) u[9] << 16) | ((uint32_t) u[10] << 8) | u[11];
  if (u[0] != 0x81 || u[1] != want || body > 4096) return -1;
  if (n < 24 + (size_t) body) return 0;
  uint16_t status = (uint16_t) ((u[6] << 8) | u[7]);
  *msg = NULL;
  *mlen = 0;
  switch (status) {
  case 0x00: *rc = MEMCACHED_SUCCESS; break;
  case 0x01: *rc = MEMCACHED_NOTFOUND; break;
  case 0x02: *rc = MEMCACHED_DATA_EXISTS; break;
  case 0x03: *rc = MEMCACHED_E2BIG; break;
  case 0x04: *rc = MEMCACHED_INVALID_ARGUMENTS; break;
  case 0x05: *rc = MEMCACHED_NOTSTORED; break;
  case 0x20: *rc = MEMCACHED_AUTH_FAILURE; break;
  case 0x82: *rc = MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE; break;
  default:
    *rc = MEMCACHED_UNKNOWN_READ_FAILURE;
    *msg = p + 24;
    *mlen = body;
  }
  return 24 + (long) body;
}

// golibmc_policy_stall_ms is how long a look at the replies waits for
// more bytes, while some are queued, before it takes the peer to be
// stalled: the peer stops sending when the socket's receive buffer is full,
// and a peek never empties it (small replies each in their own segment fill
// it long before their bytes do).
#define golibmc_policy_stall_ms 10

// golibmc_policy_read_replies assigns the replies of server i to its items
// (order[0..m), in the order they were sent): first the bytes libmemcached
// has already read from the socket, then the socket's queue, peeked
// (MSG_PEEK) and polled for until all have arrived or the call's time is
// up. When the queue stops growing before all have arrived
// (golibmc_policy_stall_ms), the rest of the socket is read here for real
// ("drained"), and once every reply is in, the connection is dropped
// (libmemcached, which never sees the drained replies, starts over). It
// returns 1 when all m replies were read, -1 when the server failed (the
// replies read are assigned, the rest fail).
GOLIBMC_FN int golibmc_policy_read_replies(golibmc_handle *h, uint32_t i, golibmc_res *res, const uint32_t *order,
                                           size_t m, int op) {
  const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
  int binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  memcached_return_t fail = MEMCACHED_TIMEOUT;
  // done: replies parsed, ending at byte at of the look (each look keeps
  // what the last one parsed: the bytes before are the same); drained:
  // bytes read from the socket here, after the have bytes libmemcached
  // holds, once draining.
  size_t done = 0, at = 0, drained = 0;
  int draining = 0;
  if (!golibmc_grow((void **) &h->tmp, &h->tmp_cap, m, sizeof(golibmc_res))) {
    fail = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    goto failed;
  }
  int closed = 0;
  // room is how many bytes past libmemcached's own buffer are peeked: it
  // doubles while the socket holds more than that and the replies are not
  // all complete, up to the most m replies can take (2,048 bytes per text
  // line, 24 + 4,096 per binary reply), so the loop always ends.
  size_t room = 4096, most = m * (binary ? 24 + 4096 : 2048);
  for (;;) {
    const char *buffered;
    size_t have = golibmc_inst_unread(s, &buffered);
    int fd = golibmc_inst_fd(s);
    if (fd < 0) {
      fail = MEMCACHED_CONNECTION_FAILURE;
      break;
    }
    if (!golibmc_grow((void **) &h->peek, &h->peek_cap, have + drained + room, 1)) {
      fail = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
      break;
    }
    if (have && !drained) memcpy(h->peek, buffered, have);
    ssize_t got = recv(fd, h->peek + have + drained, h->peek_cap - have - drained,
                       draining ? MSG_DONTWAIT : MSG_PEEK | MSG_DONTWAIT);
    if (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail = MEMCACHED_CONNECTION_FAILURE;
      break;
    }
    size_t total = have + drained + (got > 0 ? (size_t) got : 0);
    if (draining && got > 0) drained += (size_t) got;
    int bad = 0;
    while (done < m) {
      memcached_return_t rc;
      const char *msg;
      size_t mlen;
      long used = binary ? golibmc_binary_reply(h->peek + at, total - at, op, &rc, &msg, &mlen)
                         : golibmc_text_reply(h->peek + at, total - at, op, &rc, &msg, &mlen);
      if (used < 0) {
        bad = 1;
        break;
      }
      if (used == 0) break;
      h->tmp[done].rc = rc;
      h->tmp[done].msg = msg ? golibmc_msg(h, msg, mlen) : 0;
      at += (size_t) used;
      done++;
    }
    if (bad) {
      fail = MEMCACHED_PROTOCOL_ERROR;
      break;
    }
    if (done == m) {
      if (at < total) h->srv[i].unsync = 1; // more than the replies asked for
      for (size_t k = 0; k < m; k++) {
        res[order[k]].rc = h->tmp[k].rc;
        res[order[k]].msg = h->tmp[k].msg;
      }
      if (draining) { // out of step with libmemcached, which reads the end of the stream next
        h->srv[i].unsync = 1;
        shutdown(fd, SHUT_RDWR);
      }
      return 1;
    }
    if (got == 0 || closed) { // the server closed the connection
      fail = MEMCACHED_CONNECTION_FAILURE;
      break;
    }
    if (total == h->peek_cap) { // more has arrived than fits: look again with more room
      if (room >= most) {
        fail = MEMCACHED_PROTOCOL_ERROR; // m replies cannot be this long
        break;
      }
      room *= 2;
      continue;
    }
    int wait = golibmc_poll_ms(h);
    int stall = !draining && total > have && (wait < 0 || wait > golibmc_policy_stall_ms);
    int more = golibmc_wait_more(fd, draining ? 0 : total - have, stall ? golibmc_policy_stall_ms : wait);
    if ((more == 0 && stall) || more == 2) { // drain: what libmemcached holds stays, the socket is read from here
      draining = 1;
      if (have) memcpy(h->peek, buffered, have);
      continue;
    }
    if (more == 0) break;
    closed = more < 0; // look once more: what came before the end is still queued
  }
failed:
  for (size_t k = 0; k < m; k++) {
    res[order[k]].rc = k < done ? h->tmp[k].rc : (int32_t) fail;
    res[order[k]].msg = k < done ? h->tmp[k].msg : 0;
  }
  golibmc_policy_drop(h, i, fail);
  return -1;
}

// golibmc_consume lets libmemcached read every pending reply (one storage
// reply per memcached_fetch_result call), so its bookkeeping is in step
// with the socket. A dropped server's pending replies end at once (its
// socket was shut down), so this never waits for a failed server.
GOLIBMC_FN void golibmc_consume(golibmc_handle *h) {
  for (size_t guard = 0; guard < (1u << 20); guard++) {
    int pending = 0;
    for (uint32_t i = 0; i < h->nsrv && !pending; i++)
      pending = memcached_server_response_count(memcached_server_instance_by_position(h->mc, i)) > 0;
    if (!pending || golibmc_policy_arm(h) != MEMCACHED_SUCCESS) return;
    memcached_return_t rc;
    memcached_fetch_result(h->mc, &h->result, &rc);
  }
}

// golibmc_policy_chunk is how many stores go out before their replies are
// read: few enough that the replies fit the socket buffers, so neither
// side can block writing while the other is not reading.
#define golibmc_policy_chunk 256

// golibmc_store_write writes n items with buffering on (requests wait in
// libmemcached's buffers until the flush). Each item gets its server and
// BUFFERED, or at once the code of its failure.
GOLIBMC_FN void golibmc_store_write(golibmc_handle *h, int op, size_t n, const char *keys, const size_t *klens,
                                    const char *vals, const size_t *vlens, const int64_t *exps,
                                    const uint32_t *flags, golibmc_res *res) {
  uint32_t saved_msg = (uint32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK);
  uint32_t saved_bytes = (uint32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK);
  // Past the watermarks libmemcached reads (and discards) replies while
  // writing; the replies must stay unread until they are read here.
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, UINT32_MAX);
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, UINT32_MAX);
  int was_buffering = golibmc_set_buffering(h->mc, 1);
  memcached_autoeject(h->mc);
  for (size_t i = 0; i < n; i++) {
    golibmc_res *r = &res[i];
    memset(r, 0, sizeof(*r));
    r->server = golibmc_server_of(h, keys, klens[i]);
    memcached_return_t rc = golibmc_policy_arm(h);
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && h->srv[r->server].rc != MEMCACHED_SUCCESS)
      rc = (memcached_return_t) h->srv[r->server].rc;
    if (rc == MEMCACHED_SUCCESS)
      rc = op == GOLIBMC_DELETE ? memcached_delete(h->mc, keys, klens[i], 0)
                                : memcached_set(h->mc, keys, klens[i], vals, vlens[i], (time_t) exps[i], flags[i]);
    if (rc == MEMCACHED_BUFFERED && r->server < h->nsrv) {
      r->rc = MEMCACHED_BUFFERED;
    } else {
      r->rc = rc == MEMCACHED_BUFFERED ? MEMCACHED_FAILURE : rc;
      r->msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
      if (r->server < h->nsrv) golibmc_fail_server(h, r->server, (memcached_return_t) r->rc);
    }
    keys += klens[i];
    if (vals) vals += vlens[i];
  }
  memcached_return_t frc = golibmc_policy_arm(h);
  if (frc == MEMCACHED_SUCCESS) frc = memcached_flush_buffers(h->mc);
  golibmc_set_buffering(h->mc, was_buffering);
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, saved_msg);
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, saved_bytes);
  // A server whose connection was lost while writing has no replies coming.
  for (size_t i = 0; i < n; i++) {
    uint32_t s = res[i].server;
    if (res[i].rc != MEMCACHED_BUFFERED || s >= h->nsrv) continue;
    const memcached_instance_st *in = memcached_server_instance_by_position(h->mc, s);
    if (h->srv[s].rc == MEMCACHED_SUCCESS && memcached_server_response_count(in) == 0) {
      memcached_return_t src = memcached_server_error_return(in);
      golibmc_fail_server(h, s, src != MEMCACHED_SUCCESS ? src : (frc != MEMCACHED_SUCCESS ? frc : MEMCACHED_WRITE_FAILURE));
    }
    if (h->srv[s].rc != MEMCACHED_SUCCESS) res[i].rc = h->srv[s].rc;
  }
}

// golibmc_store_read reads the replies to the n items that golibmc_store_write
// left BUFFERED, polling for those still on their way (a server the caller
// marked failed, one that did not answer in time, is dropped instead).
// Once all are read (or their servers dropped), libmemcached consumes them.
GOLIBMC_FN void golibmc_store_read(golibmc_handle *h, int op, size_t n, golibmc_res *res) {
  if (!golibmc_grow((void **) &h->order, &h->order_cap, n ? n : 1, sizeof(uint32_t))) {
    for (size_t i = 0; i < n; i++)
      if (res[i].rc == MEMCACHED_BUFFERED) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    for (uint32_t s = 0; s < h->nsrv; s++) golibmc_policy_drop(h, s, MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    return;
  }
  for (uint32_t s = 0; s < h->nsrv; s++) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
      if (res[i].server == s && res[i].rc == MEMCACHED_BUFFERED) h->order[m++] = (uint32_t) i;
    if (m > 0 && h->srv[s].rc != MEMCACHED_SUCCESS) { // marked late by the caller
      for (size_t k = 0; k < m; k++) res[h->order[k]].rc = h->srv[s].rc;
      golibmc_policy_drop(h, s, (memcached_return_t) h->srv[s].rc);
      continue;
    }
    if (m > 0) golibmc_policy_read_replies(h, s, res, h->order, m, op);
  }
  if (h->peek_cap > 65536) { // a large burst of replies: do not keep its buffer
    free(h->peek);
    h->peek = NULL;
    h->peek_cap = 0;
  }
  golibmc_consume(h);
}

// golibmc_stores runs a whole batch of Set or Delete requests (n items,
// keys and values packed back to back) in chunks, each written back to
// back and then answered; without buffering, one call per item.
GOLIBMC_FN void golibmc_stores(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                               const size_t *klens, const char *vals, const size_t *vlens,
                               const int64_t *exps, const uint32_t *flags, golibmc_res *res) {
  if (!golibmc_can_buffer(h)) {
    golibmc_commands(h, ms, op, n, keys, klens, vals, vlens, exps, flags, 0, res);
    return;
  }
  if (!golibmc_begin(h, ms)) return;
  for (size_t from = 0; from < n; from += golibmc_policy_chunk) {
    size_t m = n - from < golibmc_policy_chunk ? n - from : golibmc_policy_chunk;
    golibmc_store_write(h, op, m, keys, klens + from, vals, vlens ? vlens + from : NULL,
                        exps ? exps + from : NULL, flags ? flags + from : NULL, res + from);
    golibmc_store_read(h, op, m, res + from);
    for (size_t i = from; i < from + m; i++) {
      keys += klens[i];
      if (vals) vals += vlens[i];
    }
  }
  golibmc_end(h);
}

// golibmc_store_send is the write half of a batch whose wait happens in Go.
GOLIBMC_FN void golibmc_store_send(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                   const size_t *klens, const char *vals, const size_t *vlens,
                                   const int64_t *exps, const uint32_t *flags, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return;
  golibmc_store_write(h, op, n, keys, klens, vals, vlens, exps, flags, res);
  golibmc_end(h);
}

// golibmc_store_recv is the read half, once the replies have started to
// arrive: it waits (in C) for the rest. The servers listed in late did not
// answer in time: their items fail with TIMEOUT.
GOLIBMC_FN void golibmc_store_recv(golibmc_handle *h, int32_t ms, int op, size_t n, golibmc_res *res,
                                   const uint32_t *late, size_t nlate) {
  golibmc_resume(h, ms);
  for (size_t i = 0; i < nlate; i++) golibmc_fail_server(h, late[i], MEMCACHED_TIMEOUT);
  golibmc_store_read(h, op, n, res);
  golibmc_end(h);
}

// ---------------------------------------------------------------------------
// Per-server commands, run on a handle holding one server.
// ---------------------------------------------------------------------------

// golibmc_stat_cb is memcached_stat_execute's callback: one record per
// stat, u32 key length, u32 value length, key, value.
GOLIBMC_FN memcached_return_t golibmc_stat_cb(const memcached_instance_st *s, const char *key, size_t klen,
                                              const char *value, size_t vlen, void *ctx) {
  (void) s;
  golibmc_handle *h = (golibmc_handle *) ctx;
  uint32_t k = (uint32_t) klen, v = (uint32_t) vlen;
  if (!golibmc_out_reserve(h, 8 + klen + vlen)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  golibmc_out_put(h, &k, 4);
  golibmc_out_put(h, &v, 4);
  golibmc_out_put(h, key, klen);
  golibmc_out_put(h, value, vlen);
  h->nrecords++;
  return MEMCACHED_SUCCESS;
}

enum { GOLIBMC_STATS, GOLIBMC_VERSION, GOLIBMC_PING, GOLIBMC_FLUSH };

// golibmc_server_command runs a command on h's only server: STATS (args
// may be NULL), VERSION (its version in res->num as major<<16|minor<<8|
// micro), PING (a new connection and a version request: libmemcached asks
// a connection its version only once) or FLUSH (flush_all exp).
GOLIBMC_FN void golibmc_server_command(golibmc_handle *h, int32_t ms, int op, const char *args, time_t exp,
                                       golibmc_res *res) {
  golibmc_clear_res(res, 1);
  if (!golibmc_begin(h, ms)) {
    res->rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  res->server = 0;
  const memcached_instance_st *s = h->nsrv == 1 ? memcached_server_instance_by_position(h->mc, 0) : NULL;
  memcached_return_t rc = s ? golibmc_policy_arm(h) : MEMCACHED_NO_SERVERS;
  if (rc == MEMCACHED_SUCCESS) {
    switch (op) {
    case GOLIBMC_STATS: rc = memcached_stat_execute(h->mc, args, golibmc_stat_cb, h); break;
    case GOLIBMC_PING: memcached_quit(h->mc); // fall through
    case GOLIBMC_VERSION:
      rc = memcached_version(h->mc);
      if (rc == MEMCACHED_SUCCESS && memcached_server_major_version(s) == UINT8_MAX) rc = MEMCACHED_UNKNOWN_READ_FAILURE;
      res->num = ((uint64_t) memcached_server_major_version(s) << 16) |
                 ((uint64_t) memcached_server_minor_version(s) << 8) | memcached_server_micro_version(s);
      break;
    case GOLIBMC_FLUSH: rc = memcached_flush(h->mc, exp); break;
    default: rc = MEMCACHED_INVALID_ARGUMENTS;
    }
  }
  // memcached_stat_execute ignores a failed read of the stats, and the
  // binary memcached_flush a failed reply: both answer SUCCESS. The error
  // recorded for this call tells (each of them starts by clearing it).
  if (rc == MEMCACHED_SUCCESS && memcached_last_error(h->mc) != MEMCACHED_SUCCESS) rc = memcached_last_error(h->mc);
  // SOME_ERRORS from a one-server handle: the server's own error says what.
  if (rc == MEMCACHED_SOME_ERRORS && s && memcached_server_error_return(s) != MEMCACHED_SUCCESS)
    rc = memcached_server_error_return(s);
  res->rc = rc;
  if (!memcached_success(rc))
    res->msg = golibmc_msg_str(h, s && memcached_server_error_return(s) == rc ? memcached_server_error(s)
                                                                           : memcached_last_error_message(h->mc));
  golibmc_end(h);
}

// golibmc_handle_new_single clones master into a handle for its server i
// only (memcached_servers_reset, then the server added again with its
// weight and kind), for the commands every server answers separately.
GOLIBMC_FN golibmc_handle *golibmc_handle_new_single(memcached_st *master, uint32_t i, char *err,
                                                     size_t errlen) {
  if (i >= memcached_server_count(master)) {
    snprintf(err, errlen, "no server %u", i);
    return NULL;
  }
  golibmc_handle *h = golibmc_handle_new(master, 0, NULL, NULL, err, errlen);
  if (h == NULL) return NULL;
  const memcached_instance_st *s = memcached_server_instance_by_position(master, i);
  char name[MEMCACHED_NI_MAXHOST + 1];
  snprintf(name, sizeof(name), "%s", memcached_server_name(s));
  in_port_t port = memcached_server_port(s);
  int sock = strcmp(memcached_server_type(s), "SOCKET") == 0;
  memcached_servers_reset(h->mc);
  // libmemcached 1.0.18 frees the continuum here but keeps its size, and
  // the next rebuild then writes the new one through a null pointer (fixed
  // in 1.1.0, which resets both counts itself).
  h->mc->ketama.continuum_count = 0;
  h->mc->ketama.continuum_points_counter = 0;
  memcached_return_t rc = sock ? memcached_server_add_unix_socket(h->mc, name) : memcached_server_add(h->mc, name, port);
  if (rc != MEMCACHED_SUCCESS) {
    snprintf(err, errlen, "%s", memcached_last_error_message(h->mc));
    golibmc_handle_free(h);
    return NULL;
  }
  return h;
}

// ---------------------------------------------------------------------------
// The master.
// ---------------------------------------------------------------------------

// golibmc_server_by_key writes the identity of the server libmemcached
// picks for key on mc (after rebuilding it for ejected servers) into h->out.
GOLIBMC_FN memcached_return_t golibmc_server_by_key(golibmc_handle *h, memcached_st *mc, const char *key,
                                                    size_t klen) {
  memcached_return_t rc;
  h->out_len = 0;
  memcached_autoeject(mc);
  const memcached_instance_st *s = memcached_server_by_key(mc, key, klen, &rc);
  if (s == NULL) return memcached_success(rc) ? MEMCACHED_NO_SERVERS : rc;
  if (!golibmc_put_server(h, s, 0)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  return MEMCACHED_SUCCESS;
}

// golibmc_namespace returns mc's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY), or NULL.
GOLIBMC_FN const char *golibmc_namespace(memcached_st *mc) {
  memcached_return_t rc;
  return (const char *) memcached_callback_get(mc, MEMCACHED_CALLBACK_PREFIX_KEY, &rc);
}

// golibmc_c_heap returns the bytes malloc has handed out (glibc's
// mallinfo2), or -1 where it is not available; the leak checks read it.
GOLIBMC_FN int64_t golibmc_c_heap(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 mi = mallinfo2();
  return (int64_t) mi.uordblks + (int64_t) mi.hblkhd;
#else
  return -1;
#endif
}


// ---------------------------------------------------------------------------
// gomemcache's placement (WithGomemcachePlacement, the memcache package).
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
// ---------------------------------------------------------------------------

// golibmc_crc32_nibble is the CRC-32 (IEEE) of each 4-bit value, for the
// two-lookups-a-byte loop below: small enough to be a constant.
static const uint32_t golibmc_crc32_nibble[16] = {
    0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4, 0x4db26158, 0x5005713c,
    0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c, 0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
};

// golibmc_gomemcache_hash is the libhashkit hash function (hashkit_hash_fn)
// of gomemcache's placement: the CRC-32 (IEEE) of the key, all 32 bits.
GOLIBMC_FN uint32_t golibmc_gomemcache_hash(const char *key, size_t key_length, void *context) {
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
// memcached_st, as the functions above read it, because calling libhashkit
// would add a library to link: libmemcached.pc names only libmemcached),
// then the distribution becomes modula, which rebuilds it. The continuum
// hash (ketama_hash) is left as it is.
GOLIBMC_FN memcached_return_t golibmc_set_gomemcache_placement(memcached_st *mc) {
  mc->hashkit.base_hash.function = golibmc_gomemcache_hash;
  mc->hashkit.base_hash.context = NULL;
  return memcached_behavior_set_distribution(mc, MEMCACHED_DISTRIBUTION_MODULA);
}

// golibmc_has_gomemcache_hash reports whether mc's key hash is
// golibmc_gomemcache_hash (this copy of it: each cgo file has its own, and
// only libmemcached.go installs it).
GOLIBMC_FN int golibmc_has_gomemcache_hash(memcached_st *mc) {
  return mc->hashkit.base_hash.function == golibmc_gomemcache_hash;
}

// ---------------------------------------------------------------------------
// Placement at fleet scale: one build of the distribution per configuration,
// the same placement however a client is configured, and the whole CRC-32
// as a key hash on any distribution.
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
GOLIBMC_FN int golibmc_hold_distribution(memcached_st *mc) {
  int d = (int) mc->distribution;
  mc->distribution = MEMCACHED_DISTRIBUTION_MODULA;
  return d;
}

// golibmc_any_weight reports whether a server of mc weighs more than 1, as
// memcached_server_push reads it: libmemcached has no accessor for a
// server's weight, so mc's servers are pushed into a scratch memcached_st
// (modula: nothing is built) whose weighted flag push sets.
GOLIBMC_FN int golibmc_any_weight(memcached_st *mc) {
  memcached_st scratch;
  if (memcached_server_count(mc) == 0 || memcached_create(&scratch) == NULL) return 0;
  int w = memcached_success(memcached_push(&scratch, mc)) && scratch.ketama.weighted_;
  memcached_free(&scratch);
  return w;
}

// golibmc_settle restores distribution d (d < 0: keeps mc's), turns
// weighted ketama on when a server weighs more than 1, and builds the
// distribution once from mc's settings (see golibmc_rebuild).
GOLIBMC_FN memcached_return_t golibmc_settle(memcached_st *mc, int d) {
  if (d >= 0) mc->distribution = (memcached_server_distribution_t) d;
  if (golibmc_any_weight(mc)) mc->ketama.weighted_ = true;
  return golibmc_rebuild(mc);
}

// golibmc_clone is memcached_clone without its two builds of the
// distribution (the master's is held at modula meanwhile), keeping what
// memcached_clone does not copy: the distribution is restored and the
// weighted flag copied. The caller builds the distribution once
// (golibmc_rebuild, golibmc_apply_ejections or golibmc_settle).
GOLIBMC_FN memcached_st *golibmc_clone(memcached_st *master) {
  int d = golibmc_hold_distribution(master);
  memcached_st *mc = memcached_clone(NULL, master);
  master->distribution = (memcached_server_distribution_t) d;
  if (mc == NULL) return NULL;
  mc->distribution = (memcached_server_distribution_t) d;
  mc->ketama.weighted_ = master->ketama.weighted_;
  return mc;
}

// golibmc_master_clone is golibmc_clone checked as golibmc_handle_new
// checks a handle's clone (every behavior, repaired where it differs): the
// copy of the master a behavior change is made on. On failure it returns
// NULL and writes why into err.
GOLIBMC_FN memcached_st *golibmc_master_clone(memcached_st *master, char *err, size_t errlen) {
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

// golibmc_handle_new_empty is a handle on a memcached_st with no server:
// the client's scratch handle, whose buffers placement queries on the
// master write into (a clone of the master would build its distribution
// for nothing).
GOLIBMC_FN golibmc_handle *golibmc_handle_new_empty(void) {
  golibmc_handle *h = (golibmc_handle *) calloc(1, sizeof(*h));
  if (h == NULL) return NULL;
  h->mc = memcached_create(NULL);
  if (h->mc == NULL || memcached_result_create(h->mc, &h->result) == NULL) {
    if (h->mc) memcached_free(h->mc);
    free(h);
    return NULL;
  }
  return h;
}

// golibmc_set_crc32_hash makes the whole CRC-32 (IEEE) of the key mc's key
// hash (the "crc32" hash: twemproxy's crc32a, gomemcache's), installed as
// golibmc_set_gomemcache_placement installs it but leaving the
// distribution as it is. libmemcached's own MEMCACHED_HASH_CRC keeps bits
// 16-30 of the same CRC. memcached_behavior_set(HASH) does not rebuild a
// continuum hashed with the key hash: golibmc_settle does.
GOLIBMC_FN void golibmc_set_crc32_hash(memcached_st *mc) {
  mc->hashkit.base_hash.function = golibmc_gomemcache_hash;
  mc->hashkit.base_hash.context = NULL;
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
// probe keys either way.
GOLIBMC_FN int golibmc_copy_continuum(memcached_st *master, memcached_st *mc) {
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
}

#endif
