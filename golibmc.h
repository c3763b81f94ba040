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
#include <stddef.h>
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
#include <unistd.h>
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
// Nor is there one for the query that recorded a server's error: that is
// read from the head of the error record memcached_server_error points
// into, which each read checks against the public accessors itself
// (golibmc_inst_error_query; the same on every layout).
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

// golibmc_inst_w is instance s for the writes below: the handle that owns
// it is lent to one call at a time, so nothing else touches it meanwhile.
#define golibmc_inst_w(s) ((golibmc_inst_head *) (void *) (s))

// golibmc_inst_cursor is the address of instance s's count of replies it
// still expects (what memcached_server_response_count reads).
GOLIBMC_FN uint32_t *golibmc_inst_cursor(const memcached_instance_st *s) { return &golibmc_inst_w(s)->cursor_active; }

// golibmc_inst_input returns the addresses of instance s's read pointer and
// of the count of bytes at it that libmemcached has not parsed yet, or 0
// when the layout is unknown. Every read libmemcached makes takes its bytes
// there first, and it only reads its socket when the count is 0.
GOLIBMC_FN int golibmc_inst_input(const memcached_instance_st *s, char ***ptr, size_t **len) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11:
    *ptr = &((golibmc_inst_11 *) (void *) s)->read_ptr;
    *len = &((golibmc_inst_11 *) (void *) s)->read_buffer_length;
    return 1;
  case GOLIBMC_LAYOUT_10:
    *ptr = &((golibmc_inst_10 *) (void *) s)->read_ptr;
    *len = &((golibmc_inst_10 *) (void *) s)->read_buffer_length;
    return 1;
  }
  return 0;
}

// golibmc_inst_request_id is instance s's count of binary requests (each
// carries it, as htons((uint16_t) id), in its opaque field, which memcached
// echoes in the reply).
GOLIBMC_FN uint32_t golibmc_inst_request_id(const memcached_instance_st *s) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11: return ((const golibmc_inst_11 *) (const void *) s)->request_id;
  case GOLIBMC_LAYOUT_10: return ((const golibmc_inst_10 *) (const void *) s)->request_id;
  }
  return 0;
}

// golibmc_inst_version returns the address of instance s's known major
// version (UINT8_MAX: not known yet, and memcached_version asks), or NULL.
GOLIBMC_FN uint8_t *golibmc_inst_version(const memcached_instance_st *s) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11: return &((golibmc_inst_11 *) (void *) s)->major_version;
  case GOLIBMC_LAYOUT_10: return &((golibmc_inst_10 *) (void *) s)->major_version;
  }
  return NULL;
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

// golibmc_lend_check proves the input layer (see golibmc_lend) on the
// loaded library with the layout in use: a throwaway handle's instance, not
// connected, is lent an item and then the end of a read's reply (text:
// VALUE and END; binary: a GETKQ hit and a NOOP), and each must parse as
// written, taking exactly its bytes and leaving the reply count as a real
// reply does. It returns 1 when all do.
GOLIBMC_FN int golibmc_lend_check(int binary) {
  static const char text_item[] = "VALUE golibmc-lend 7 3 9\r\nabc\r\n", text_end[] = "END\r\n";
  static const unsigned char bin_item[] = {0x81, 0x0d, 0, 12, 4, 0, 0, 0, 0, 0, 0, 19, 0, 0, 0, 0, 0, 0, 0, 0,
                                           0,    0,    0, 9,  0, 0, 0, 7, 'g', 'o', 'l', 'i', 'b', 'm', 'c', '-',
                                           'l',  'e',  'n', 'd', 'a', 'b', 'c'};
  static const unsigned char bin_end[24] = {0x81, 0x0a};
  const char *item = binary ? (const char *) bin_item : text_item, *end = binary ? (const char *) bin_end : text_end;
  size_t ilen = binary ? sizeof(bin_item) : sizeof(text_item) - 1, elen = binary ? sizeof(bin_end) : sizeof(text_end) - 1;
  memcached_st *mc = memcached_create(NULL);
  if (mc == NULL) return 0;
  memcached_result_st res;
  int ok = memcached_server_add(mc, "127.0.0.1", 47131) == MEMCACHED_SUCCESS &&
           memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, (uint64_t) binary) == MEMCACHED_SUCCESS &&
           memcached_result_create(mc, &res) != NULL;
  if (!ok) {
    memcached_free(mc);
    return 0;
  }
  const memcached_instance_st *s = memcached_server_instance_by_position(mc, 0);
  char **ptr;
  size_t *len;
  // libmemcached reads only from a connected instance: it is given one end
  // of a socket pair for the check (nothing is read from it or written).
  int sv[2] = {-1, -1};
  ok = golibmc_inst_input(s, &ptr, &len) && *len == 0 && golibmc_inst_w(s)->fd == -1 &&
       socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0;
  char *own = ok ? *ptr : NULL, buf[64];
  if (ok) {
    golibmc_inst_w(s)->fd = sv[0];
    *golibmc_inst_cursor(s) = 1;
    ok = memcached_server_response_count(s) == 1;
  }
  memcached_return_t rc = MEMCACHED_SUCCESS;
  if (ok) {
    memcpy(buf, item, ilen);
    *ptr = buf;
    *len = ilen;
    memcached_result_st *r = memcached_fetch_result(mc, &res, &rc);
    ok = r != NULL && *ptr == buf + ilen && *len == 0 && memcached_server_response_count(s) == 1 &&
         memcached_result_key_length(r) == 12 && memcmp(memcached_result_key_value(r), "golibmc-lend", 12) == 0 &&
         memcached_result_flags(r) == 7 && memcached_result_cas(r) == 9 && memcached_result_length(r) == 3 &&
         memcmp(memcached_result_value(r), "abc", 3) == 0;
  }
  if (ok) {
    memcpy(buf, end, elen);
    *ptr = buf;
    *len = elen;
    ok = memcached_fetch_result(mc, &res, &rc) == NULL && rc == MEMCACHED_END && *ptr == buf + elen && *len == 0 &&
         memcached_server_response_count(s) == 0;
  }
  if (own) {
    *ptr = own;
    *len = 0;
    *golibmc_inst_cursor(s) = 0;
    golibmc_inst_w(s)->fd = -1;
  }
  if (sv[0] >= 0) {
    close(sv[0]);
    close(sv[1]);
  }
  memcached_result_free(&res);
  memcached_free(mc);
  return ok;
}

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
  if (layout != GOLIBMC_LAYOUT_NONE && !(golibmc_lend_check(0) && golibmc_lend_check(1)))
    golibmc_layout = layout = GOLIBMC_LAYOUT_NONE;
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

// What golibmc_verify_fd tells of a socket.
enum {
  GOLIBMC_SOCKET_OTHER = 0,    // the kernel answered: not this connection (a layout mismatch)
  GOLIBMC_SOCKET_SAME = 1,     // this connection
  GOLIBMC_SOCKET_UNKNOWN = -1, // cannot be told now: not connected, or the connection failed
};

// golibmc_verify_fd checks, for a connected server i of mc, that fd is the
// connection libmemcached reports through its public accessors: for TCP
// the kernel's local port is memcached_server_srcport and its peer port
// memcached_server_port; for a unix socket the peer path is the server's
// name. Only the kernel's answers prove a mismatch: fd is not an open
// socket (EBADF, ENOTSOCK), or it is connected elsewhere. A connection the
// peer has reset has no peer any more (getpeername: ENOTCONN), and a
// server not connected has nothing to compare: those cannot be told, and
// prove nothing about the layout the fd was read through.
GOLIBMC_FN int golibmc_verify_fd(const memcached_st *mc, uint32_t i, int fd) {
  if (i >= memcached_server_count(mc) || fd < 0) return GOLIBMC_SOCKET_UNKNOWN;
  const memcached_instance_st *s = memcached_server_instance_by_position(mc, i);
  struct sockaddr_storage local, peer;
  socklen_t ln = sizeof(local), pn = sizeof(peer);
  if (getsockname(fd, (struct sockaddr *) &local, &ln) != 0 || getpeername(fd, (struct sockaddr *) &peer, &pn) != 0)
    return errno == EBADF || errno == ENOTSOCK ? GOLIBMC_SOCKET_OTHER : GOLIBMC_SOCKET_UNKNOWN;
  if (peer.ss_family == AF_UNIX) {
    const struct sockaddr_un *u = (const struct sockaddr_un *) &peer;
    return strncmp(u->sun_path, memcached_server_name(s), sizeof(u->sun_path)) == 0 ? GOLIBMC_SOCKET_SAME
                                                                                    : GOLIBMC_SOCKET_OTHER;
  }
  in_port_t lp = 0, pp = 0;
  if (local.ss_family == AF_INET) lp = ntohs(((struct sockaddr_in *) &local)->sin_port);
  if (local.ss_family == AF_INET6) lp = ntohs(((struct sockaddr_in6 *) &local)->sin6_port);
  if (peer.ss_family == AF_INET) pp = ntohs(((struct sockaddr_in *) &peer)->sin_port);
  if (peer.ss_family == AF_INET6) pp = ntohs(((struct sockaddr_in6 *) &peer)->sin6_port);
  // memcached_server_srcport asks the kernel about libmemcached's own
  // socket (0: it has none), which fd, connected, must be.
  in_port_t src = memcached_server_srcport(s);
  return src != 0 && lp == src && pp == memcached_server_port(s) ? GOLIBMC_SOCKET_SAME : GOLIBMC_SOCKET_OTHER;
}

// golibmc_verify_socket is golibmc_verify_fd for the socket of server i
// read through the private layout: the netpoller must not wait on a
// socket that is not surely this connection's.
GOLIBMC_FN int golibmc_verify_socket(const memcached_st *mc, uint32_t i) {
  if (i >= memcached_server_count(mc)) return GOLIBMC_SOCKET_UNKNOWN;
  return golibmc_verify_fd(mc, i, golibmc_inst_fd(memcached_server_instance_by_position(mc, i)));
}

// The head of libmemcached's private error record (memcached_error_t, in
// error.cc; the same in 1.0.18 and 1.1.x), which memcached_server_error
// points into: message is its last field. libmemcached keeps a server's
// last error until a later query records another one on that server (a
// query clears only the handle's own errors, in initialize_query), so the
// query id is the only way to tell an error of this call from a stale one.
typedef struct golibmc_err_head {
  const memcached_st *root;
  uint64_t query_id;
  const void *next;
  memcached_return_t rc;
  int local_errno;
  size_t size;
  char message[8];
} golibmc_err_head;

// GOLIBMC_QUERY_UNKNOWN: an error whose query cannot be told.
#define GOLIBMC_QUERY_UNKNOWN UINT64_MAX

// golibmc_inst_error_query returns the query id (memcached_query_id of mc
// when it was recorded) of server instance s's last error: 0 when it has
// none, GOLIBMC_QUERY_UNKNOWN when the record does not prove itself one of
// mc's. A record proves itself by what its public accessors also say: its
// message starts with "(<mc>) " (libmemcached formats every error message
// so), and its handle and code fields are mc and memcached_server_error_
// return(s). Nothing outside the record is read: a message that does not
// start so is a static string, and is not looked behind.
GOLIBMC_FN uint64_t golibmc_inst_error_query(const memcached_st *mc, const memcached_instance_st *s) {
  memcached_return_t rc = memcached_server_error_return(s);
  if (rc == MEMCACHED_SUCCESS) return 0;
  const char *msg = memcached_server_error(s);
  char prefix[48];
  int n = snprintf(prefix, sizeof(prefix), "(%p) ", (const void *) mc);
  if (msg == NULL || n <= 0 || (size_t) n >= sizeof(prefix) || strncmp(msg, prefix, (size_t) n) != 0)
    return GOLIBMC_QUERY_UNKNOWN;
  const golibmc_err_head *e = (const golibmc_err_head *) (msg - offsetof(golibmc_err_head, message));
  if (e->root != mc || e->rc != rc || e->size == 0) return GOLIBMC_QUERY_UNKNOWN;
  return e->query_id;
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
      ret = golibmc_verify_socket(mc, 0) == GOLIBMC_SOCKET_SAME ? golibmc_inst_fd(s) : -1;
      memcached_result_free(r);
    }
  }
  memcached_free(mc);
  return ret;
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

// golibmc_item_head starts each item record a read writes to out, followed
// by the key and the value; Go reads its fields at the GOLIBMC_ITEM_*
// offsets (records are packed back to back, so a head need not be aligned).
typedef struct golibmc_item_head {
  uint64_t cas;
  uint64_t vlen;   // value length
  uint32_t flags;
  uint32_t klen;   // key length (the namespace stripped)
  uint32_t server; // index of the server that sent it
  uint32_t unused;
} golibmc_item_head;

enum {
  GOLIBMC_ITEM_CAS = offsetof(golibmc_item_head, cas),
  GOLIBMC_ITEM_VLEN = offsetof(golibmc_item_head, vlen),
  GOLIBMC_ITEM_FLAGS = offsetof(golibmc_item_head, flags),
  GOLIBMC_ITEM_KLEN = offsetof(golibmc_item_head, klen),
  GOLIBMC_ITEM_SERVER = offsetof(golibmc_item_head, server),
  GOLIBMC_ITEM_HEAD = sizeof(golibmc_item_head),
};

// golibmc_res is one key's outcome.
typedef struct golibmc_res {
  int32_t rc;      // libmemcached's return code for the key
  uint32_t server; // index of the key's server, GOLIBMC_NONE if unknown
  uint32_t msg;    // 1 + offset in out of the message record, 0 for none
  uint32_t flags;  // item flags (reads)
  uint64_t cas;    // CAS id (reads)
  uint64_t num;    // the new value (increment, decrement)
  uint32_t sent;   // 1 when the request went out (its outcome is then the server's)
} golibmc_res;

// golibmc_srv is one server's part of a call.
typedef struct golibmc_srv {
  int32_t rc;       // its failure in this call, SUCCESS if none
  uint32_t msg;     // 1 + offset in out of its message record, 0 for none
  int32_t fd;       // its socket after the call, -1 if not connected or unknown
  uint32_t pending; // replies libmemcached still expects from it
  uint32_t unread;  // bytes libmemcached read from it and did not parse
  uint32_t unsync;  // 1 when a reply from it was not one expected
  uint32_t wait;    // 1 when a split call waits for its socket to be readable
  uint32_t stale;   // 1 when its reply was followed by more: which bytes were this call's is not known
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
  struct golibmc_in *in; // per server: its input during a call (the input layer)
  uint32_t in_n, in_cap;
  int reading; // a read's or a request's replies are being read
  int reply_lend; // the requests' replies go to libmemcached once read (buffered Set, Delete)
  int64_t read_deadline_ns; // when the replies must all be in (CLOCK_MONOTONIC; 0: none)
  int64_t deadline_ns; // CLOCK_MONOTONIC; 0 for none
  int32_t cfg_poll, cfg_connect;
  int64_t begin_ns;  // CLOCK_MONOTONIC at the call's start
  uint64_t query0;   // memcached_query_id at the call's start
  int64_t *retry_at; // per server: when it may be tried again (CLOCK_MONOTONIC; 0: any time), golibmc_policy_retry
  size_t retry_cap, retry_n;
} golibmc_handle;

// golibmc_policy_line_max is the longest reply line accepted (memcached's
// lines are under 300 bytes; an error message may be longer).
#define golibmc_policy_line_max 2048
// golibmc_policy_value_max is the largest value a reply may carry: 1 GiB,
// memcached's largest item size (-I 1024m).
#define golibmc_policy_value_max (1u << 30)
// golibmc_policy_recv_room is the least room a receive is given.
#define golibmc_policy_recv_room 16384
// golibmc_policy_in_keep: input buffers larger than this are freed when the
// call ends (a large reply does not pin its memory to the handle).
#define golibmc_policy_in_keep 65536

// golibmc_in is one server's input during a call.
typedef struct golibmc_in {
  char *buf;
  size_t cap;
  size_t start;     // bytes before start were parsed by libmemcached
  size_t end;       // bytes received
  uint32_t cursor;  // libmemcached's reply count, saved while hidden
  uint32_t want;    // stores: replies expected; got: replies parsed so far
  uint32_t got;
  uint32_t off;     // stores: where this server's items start in h->order
  size_t parsed;    // stores: bytes of the replies checked so far
  uint32_t rid0, rid1; // binary: the requests of this call to it, by request id: (rid0, rid1]
  uint8_t active;   // its replies are being read
  uint8_t hidden;   // its reply count is saved in cursor and set to 0
  uint8_t closed;   // the peer ended the stream
} golibmc_in;

// golibmc_in_reset forgets every server's input (a new call).
GOLIBMC_FN void golibmc_in_reset(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) {
    golibmc_in *in = &h->in[i];
    in->start = in->end = in->parsed = 0;
    in->cursor = in->want = in->got = in->off = 0;
    in->active = in->hidden = in->closed = 0;
  }
}

// golibmc_in_trim frees the large input buffers (the end of a call).
GOLIBMC_FN void golibmc_in_trim(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_cap; i++) {
    if (h->in[i].cap > golibmc_policy_in_keep) {
      free(h->in[i].buf);
      h->in[i].buf = NULL;
      h->in[i].cap = 0;
    }
  }
}

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
  free((void *) h->keyp);
  free(h->keyl);
  free(h->order);
  for (uint32_t i = 0; i < h->in_cap; i++) free(h->in[i].buf);
  free(h->in);
  free(h->retry_at);
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

GOLIBMC_FN int golibmc_connected(golibmc_handle *h, uint32_t i);

// golibmc_policy_retry (at the start of every call) makes a server that
// failed be tried again when its retry_timeout has passed, counted from
// the start of the call in which it failed, and from the next call when
// retry_timeout is 0. libmemcached counts it in whole seconds (time()) and
// retries only once the clock is past the failure's second plus
// retry_timeout, on each handle separately: with retry_timeout 0 a server
// back at once was still refused (SERVER_TEMPORARILY_DISABLED, no connect
// tried) until the next whole second, on every pooled handle. Here a
// server that is not connected and whose time has come gets next_retry 0
// (memcached_instance_next_retry, public): its next connect is tried. For
// a server that is not in its retry timeout that changes nothing (without
// auto_eject nothing else reads next_retry); with auto_eject next_retry is
// when an ejected server comes back (and Go shares it between handles), so
// nothing is done then. This only ever brings a retry forward.
GOLIBMC_FN void golibmc_policy_retry(golibmc_handle *h) {
  h->begin_ns = golibmc_now_ns();
  h->query0 = memcached_query_id(h->mc);
  if (memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS) != 0) return;
  if (h->retry_n < h->nsrv) {
    if (!golibmc_grow((void **) &h->retry_at, &h->retry_cap, h->nsrv, sizeof(int64_t))) return;
    memset(h->retry_at + h->retry_n, 0, (h->nsrv - h->retry_n) * sizeof(int64_t));
    h->retry_n = h->nsrv;
  }
  for (uint32_t i = 0; i < h->nsrv; i++)
    if (h->retry_at[i] <= h->begin_ns && golibmc_connected(h, i) != 1)
      memcached_instance_next_retry(memcached_server_instance_by_position(h->mc, i), 0);
}

// golibmc_policy_note_failures (at the end of every call) notes when each
// server that failed in this call may be tried again: retry_timeout after
// the call's start, for a server left without a connection and with an
// error recorded by this call (its query id after the call's start) that
// is a failed connect, not a refusal while its time had not come; a
// connected server may be tried at any time.
GOLIBMC_FN void golibmc_policy_note_failures(golibmc_handle *h) {
  if (h->retry_n < h->nsrv) return;
  int64_t wait = (int64_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT) * 1000000000;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    if (golibmc_connected(h, i) == 1) {
      h->retry_at[i] = 0;
      continue;
    }
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    uint64_t q = golibmc_inst_error_query(h->mc, s);
    if (q == 0 || (q != GOLIBMC_QUERY_UNKNOWN && q <= h->query0)) continue;
    if (h->retry_at[i] <= h->begin_ns || memcached_server_error_return(s) != MEMCACHED_SERVER_TEMPORARILY_DISABLED)
      h->retry_at[i] = h->begin_ns + wait > 0 ? h->begin_ns + wait : 1;
  }
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
  if (ns > h->in_cap) {
    golibmc_in *in = (golibmc_in *) realloc(h->in, ns * sizeof(*in));
    if (in == NULL) return 0;
    memset(in + h->in_cap, 0, (ns - h->in_cap) * sizeof(*in));
    h->in = in;
    h->in_cap = ns;
  }
  golibmc_in_trim(h);
  h->in_n = ns;
  golibmc_in_reset(h);
  h->reading = 0;
  golibmc_policy_retry(h);
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
  golibmc_policy_note_failures(h);
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
// The input layer. The replies to a read (memcached_mget) and to buffered
// stores are read from each socket here, into a buffer per server of the
// handle (golibmc_in), with one recv per arrival and no peeking. Each reply
// record is checked against the protocol's grammar once it is complete
// (golibmc_text_record, golibmc_binary_record), and only a record that
// passes is handed to libmemcached to parse: it is lent to the instance as
// its read buffer (golibmc_lend), so libmemcached parses exactly those bytes
// and never reads the socket itself during these calls. Every other server
// with replies pending is hidden meanwhile (its reply count set to 0 and
// restored after: golibmc_hide, golibmc_show), because libmemcached's fetch
// loop goes on to the next server that expects replies once a server's
// reply ends. Waiting for bytes happens in poll() here (golibmc_wait), for
// at most the time left to the call, or, for a split call, in Go's
// netpoller between two crossings (srv[i].wait tells Go which sockets).
//
// So a reply that does not parse (a number out of range, a length that does
// not match, a value not followed by \r\n, a key longer than a key, a
// binary body shorter than its key), a reply to another request, or bytes
// after the last reply, never reach libmemcached: the server's call fails
// with a protocol error and its connection is shut down.
// ---------------------------------------------------------------------------

// golibmc_hide saves server i's reply count and sets it to 0, so that
// libmemcached's fetch loop does not turn to it.
GOLIBMC_FN void golibmc_hide(golibmc_handle *h, uint32_t i) {
  golibmc_in *in = &h->in[i];
  if (in->hidden) return;
  uint32_t *c = golibmc_inst_cursor(memcached_server_instance_by_position(h->mc, i));
  in->cursor = *c;
  *c = 0;
  in->hidden = 1;
}

// golibmc_show restores server i's reply count.
GOLIBMC_FN void golibmc_show(golibmc_handle *h, uint32_t i) {
  golibmc_in *in = &h->in[i];
  if (!in->hidden) return;
  *golibmc_inst_cursor(memcached_server_instance_by_position(h->mc, i)) = in->cursor;
  in->hidden = 0;
}

// golibmc_hide_all hides every server: while one server's replies are lent,
// libmemcached's fetch loop must turn to no other (one being read, or one
// whose replies will never be read in this call).
GOLIBMC_FN void golibmc_hide_all(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) golibmc_hide(h, i);
}

// golibmc_show_all restores every hidden server (before anything else runs
// on the handle: the crossing ends, or libmemcached is called otherwise).
GOLIBMC_FN void golibmc_show_all(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) golibmc_show(h, i);
}

// golibmc_lend makes bytes [from, to) of server i's input the instance's
// read buffer, calls memcached_fetch_result once, and takes the buffer
// back. It returns what the fetch returned and the bytes libmemcached
// parsed in *used; *used is (size_t) -1 when libmemcached dropped the
// connection meanwhile (a reply it counts as fatal: it then points its read
// buffer at its own again).
GOLIBMC_FN memcached_result_st *golibmc_lend(golibmc_handle *h, uint32_t i, size_t from, size_t to,
                                             memcached_return_t *rc, size_t *used) {
  const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
  char **ptr;
  size_t *len;
  *used = (size_t) -1;
  if (!golibmc_inst_input(s, &ptr, &len)) {
    *rc = MEMCACHED_NOT_SUPPORTED;
    return NULL;
  }
  char *own = *ptr, *at = h->in[i].buf + from;
  *ptr = at;
  *len = to - from;
  memcached_result_st *r = memcached_fetch_result(h->mc, &h->result, rc);
  if (*ptr >= at && *ptr <= at + (to - from) && *len == (size_t) (at + (to - from) - *ptr)) {
    *used = (size_t) (*ptr - at);
    *ptr = own;
    *len = 0;
  }
  return r;
}

// golibmc_in_recv reads what server i's socket holds, without waiting, into
// its input, making room for at least need more bytes. It returns 1 when
// bytes came, 0 when none were there, and -1 when the stream ended (the
// peer closed it: in->closed) or failed (*rc).
GOLIBMC_FN int golibmc_in_recv(golibmc_handle *h, uint32_t i, size_t need, memcached_return_t *rc) {
  golibmc_in *in = &h->in[i];
  int fd = golibmc_inst_fd(memcached_server_instance_by_position(h->mc, i));
  if (fd < 0) {
    *rc = MEMCACHED_CONNECTION_FAILURE;
    return -1;
  }
  if (need < golibmc_policy_recv_room) need = golibmc_policy_recv_room;
  if (in->start > 0 && in->cap - in->end < need) { // move the unparsed bytes to the front
    memmove(in->buf, in->buf + in->start, in->end - in->start);
    in->end -= in->start;
    in->start = 0;
  }
  if (in->cap - in->end < need && !golibmc_grow((void **) &in->buf, &in->cap, in->end + need, 1)) {
    *rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return -1;
  }
  for (;;) {
    ssize_t got = recv(fd, in->buf + in->end, in->cap - in->end, MSG_DONTWAIT);
    if (got > 0) {
      in->end += (size_t) got;
      return 1;
    }
    if (got == 0) {
      in->closed = 1;
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    *rc = errno == ECONNRESET ? MEMCACHED_CONNECTION_FAILURE : MEMCACHED_READ_FAILURE;
    return -1;
  }
}

// golibmc_wait_ms is how long a wait for replies may take now: the call's
// time for one wait (golibmc_poll_ms), and no later than the poll timeout
// after the replies started to be read, so that a server sending its
// reply a byte at a time cannot stretch the call (each byte would start
// libmemcached's per-wait timeout again).
GOLIBMC_FN int golibmc_wait_ms(golibmc_handle *h) {
  int ms = golibmc_poll_ms(h);
  if (h->read_deadline_ns) {
    int64_t left = (h->read_deadline_ns - golibmc_now_ns() + 999999) / 1000000;
    if (left < 0) left = 0;
    if (ms < 0 || left < ms) ms = (int) left;
  }
  return ms;
}

// golibmc_wait waits until one of the servers flagged in srv[].wait has
// bytes to read, at most the time this call has left for one wait. It
// returns 1 when one may have, 0 when the time ran out.
GOLIBMC_FN int golibmc_wait(golibmc_handle *h) {
  struct pollfd stack[16], *fds = stack;
  uint32_t n = 0;
  for (uint32_t i = 0; i < h->nsrv; i++) n += h->srv[i].wait;
  if (n == 0) return 1;
  if (n > 16 && (fds = (struct pollfd *) calloc(n, sizeof(*fds))) == NULL) return 0;
  n = 0;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    if (!h->srv[i].wait) continue;
    fds[n].fd = golibmc_inst_fd(memcached_server_instance_by_position(h->mc, i));
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    n++;
  }
  int ms = golibmc_wait_ms(h), pr;
  do {
    pr = ms == 0 ? 0 : poll(fds, n, ms);
  } while (pr < 0 && errno == EINTR && (ms = golibmc_wait_ms(h)) != 0);
  if (fds != stack) free(fds);
  return pr != 0;
}

// GOLIBMC_REC_* say what the next record of a reply is.
enum {
  GOLIBMC_REC_MORE,  // not complete yet: need more bytes (at least *len in all)
  GOLIBMC_REC_ITEM,  // an item (VALUE, or a GETK/GETKQ hit)
  GOLIBMC_REC_MISS,  // a miss (a GETK's KEY_ENOENT)
  GOLIBMC_REC_END,   // the end of a read's reply (END, NOOP)
  GOLIBMC_REC_FAIL,  // the server reported an error (*rc, *msg)
  GOLIBMC_REC_BAD,   // not a reply to this request: out of step
};

// golibmc_digits reads a decimal number of at most max (no sign, no
// leading space) at p, up to n bytes; it returns the digits read, 0 if none
// or if the number is above max.
GOLIBMC_FN size_t golibmc_digits(const char *p, size_t n, uint64_t max, uint64_t *v) {
  uint64_t x = 0;
  size_t i = 0;
  for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
    uint64_t d = (uint64_t) (p[i] - '0');
    if (x > (max - d) / 10) return 0;
    x = x * 10 + d;
  }
  *v = x;
  return i;
}

// golibmc_key_ok checks a key a reply carries (namespace included): 1 to
// 250 bytes, none a space or a control byte, longer than the namespace and
// starting with it (libmemcached strips that many bytes off).
GOLIBMC_FN int golibmc_key_ok(const char *k, size_t n, const char *ns, size_t nslen) {
  if (n <= nslen || n > MEMCACHED_MAX_KEY - 1) return 0;
  if (nslen && memcmp(k, ns, nslen) != 0) return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char) k[i] <= ' ' || (unsigned char) k[i] == 0x7f) return 0;
  return 1;
}

// golibmc_text_error reads a text error line (SERVER_ERROR, CLIENT_ERROR,
// ERROR) of len bytes at p into the code libmemcached's response.cc gives
// it, and the message; it returns 0 for any other line.
GOLIBMC_FN int golibmc_text_error(const char *p, size_t len, memcached_return_t *rc, const char **msg,
                                  size_t *mlen) {
#define GOLIBMC_HAS(s) (len >= sizeof(s) - 1 && memcmp(p, s, sizeof(s) - 1) == 0)
  *msg = NULL;
  *mlen = 0;
  if (len == 5 && memcmp(p, "ERROR", 5) == 0) {
    *rc = MEMCACHED_ERROR;
  } else if (GOLIBMC_HAS("SERVER_ERROR object too large for cache")) {
    *rc = MEMCACHED_E2BIG;
  } else if (GOLIBMC_HAS("SERVER_ERROR out of memory") || GOLIBMC_HAS("SERVER_ERROR Out of memory")) {
    *rc = MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE;
  } else if ((GOLIBMC_HAS("SERVER_ERROR") || GOLIBMC_HAS("CLIENT_ERROR")) && (len == 12 || p[12] == ' ')) {
    // The message is what follows the keyword, as libmemcached records it.
    *rc = p[0] == 'S' ? MEMCACHED_SERVER_ERROR : MEMCACHED_CLIENT_ERROR;
    *msg = len > 13 ? p + 13 : NULL;
    *mlen = len > 13 ? len - 13 : 0;
  } else {
    return 0;
  }
#undef GOLIBMC_HAS
  return 1;
}

// golibmc_line finds the line at p (n bytes): its length without \r\n in
// *len; it returns 1, 0 when it is not complete yet, -1 when it is too long
// or does not end in \r\n.
GOLIBMC_FN int golibmc_line(const char *p, size_t n, size_t *len) {
  const char *eol = (const char *) memchr(p, '\n', n < golibmc_policy_line_max ? n : golibmc_policy_line_max);
  if (eol == NULL) return n >= golibmc_policy_line_max ? -1 : 0;
  if (eol == p || eol[-1] != '\r') return -1;
  *len = (size_t) (eol - p) - 1;
  return 1;
}

// golibmc_text_record checks the record of a text read's reply at p (n
// bytes): "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" with the cas
// iff cas (libmemcached sent gets), or "END\r\n", or an error line. *len is
// the record's length (or, for MORE, the length known so far).
GOLIBMC_FN int golibmc_text_record(const char *p, size_t n, const char *ns, size_t nslen, int cas, size_t *len,
                                   memcached_return_t *rc, const char **msg, size_t *mlen) {
  size_t ll;
  int l = golibmc_line(p, n, &ll);
  *len = n + 1;
  if (l < 0) return GOLIBMC_REC_BAD;
  if (l == 0) return GOLIBMC_REC_MORE;
  *len = ll + 2;
  if (ll == 3 && memcmp(p, "END", 3) == 0) return GOLIBMC_REC_END;
  if (golibmc_text_error(p, ll, rc, msg, mlen)) return GOLIBMC_REC_FAIL;
  if (ll < 6 || memcmp(p, "VALUE ", 6) != 0) return GOLIBMC_REC_BAD;
  size_t at = 6, k = at;
  while (k < ll && p[k] != ' ') k++;
  if (k == ll || !golibmc_key_ok(p + at, k - at, ns, nslen)) return GOLIBMC_REC_BAD;
  uint64_t flags, bytes, unique;
  size_t d = golibmc_digits(p + k + 1, ll - k - 1, UINT32_MAX, &flags);
  if (d == 0 || k + 1 + d >= ll || p[k + 1 + d] != ' ') return GOLIBMC_REC_BAD;
  at = k + 2 + d;
  d = golibmc_digits(p + at, ll - at, golibmc_policy_value_max, &bytes);
  if (d == 0) return GOLIBMC_REC_BAD;
  at += d;
  if (cas) {
    if (at >= ll || p[at] != ' ') return GOLIBMC_REC_BAD;
    d = golibmc_digits(p + at + 1, ll - at - 1, UINT64_MAX, &unique);
    if (d == 0) return GOLIBMC_REC_BAD;
    at += 1 + d;
  }
  if (at != ll) return GOLIBMC_REC_BAD;
  *len = ll + 2 + (size_t) bytes + 2;
  if (n < *len) return GOLIBMC_REC_MORE;
  if (p[*len - 2] != '\r' || p[*len - 1] != '\n') return GOLIBMC_REC_BAD;
  return GOLIBMC_REC_ITEM;
}

// golibmc_be16 and golibmc_be32 read big-endian numbers.
GOLIBMC_FN uint32_t golibmc_be16(const unsigned char *u) { return (uint32_t) u[0] << 8 | u[1]; }
GOLIBMC_FN uint32_t golibmc_be32(const unsigned char *u) {
  return (uint32_t) u[0] << 24 | (uint32_t) u[1] << 16 | (uint32_t) u[2] << 8 | u[3];
}

// golibmc_ids_before and golibmc_ids_after note, around the libmemcached
// calls that send a call's binary requests, the request ids they used on
// each server (see golibmc_opaque_ok).
GOLIBMC_FN void golibmc_ids_before(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++)
    h->in[i].rid0 = h->in[i].rid1 = golibmc_inst_request_id(memcached_server_instance_by_position(h->mc, i));
}

GOLIBMC_FN void golibmc_ids_after(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++)
    h->in[i].rid1 = golibmc_inst_request_id(memcached_server_instance_by_position(h->mc, i));
}

// golibmc_opaque_ok reports whether the binary reply header at u echoes
// the opaque of one of this call's requests to server i: a reply to an
// earlier request (a server that answered one twice, late) is out of step.
GOLIBMC_FN int golibmc_opaque_ok(const golibmc_handle *h, uint32_t i, const unsigned char *u) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE || i >= h->in_n) return 1;
  uint32_t got;
  memcpy(&got, u + 12, 4);
  if (got > UINT16_MAX) return 0;
  uint16_t id = ntohs((uint16_t) got), first = (uint16_t) (h->in[i].rid0 + 1);
  return (uint32_t) (uint16_t) (id - first) < h->in[i].rid1 - h->in[i].rid0;
}

// golibmc_binary_status is the code of a binary error status, as
// libmemcached's response.cc gives it (ENOMEM: the server's).
GOLIBMC_FN memcached_return_t golibmc_binary_status(uint32_t status) {
  switch (status) {
  case 0x00: return MEMCACHED_SUCCESS;
  case 0x01: return MEMCACHED_NOTFOUND;
  case 0x02: return MEMCACHED_DATA_EXISTS;
  case 0x03: return MEMCACHED_E2BIG;
  case 0x04: return MEMCACHED_INVALID_ARGUMENTS;
  case 0x05: return MEMCACHED_NOTSTORED;
  case 0x20: return MEMCACHED_AUTH_FAILURE;
  case 0x82: return MEMCACHED_SERVER_MEMORY_ALLOCATION_FAILURE;
  }
  return MEMCACHED_UNKNOWN_READ_FAILURE;
}

// golibmc_binary_record checks the record of a binary read's reply at p:
// GETKQ hits then a NOOP (an mget), or one GETK per key, hit or miss (an
// mget with replicas). A status a get cannot have fails the server.
GOLIBMC_FN int golibmc_binary_record(const golibmc_handle *h, uint32_t i, const char *p, size_t n, const char *ns,
                                     size_t nslen, int getk, size_t *len, memcached_return_t *rc, const char **msg,
                                     size_t *mlen) {
  const unsigned char *u = (const unsigned char *) p;
  *len = 24;
  if (n < 24) return GOLIBMC_REC_MORE;
  uint32_t op = u[1], keylen = golibmc_be16(u + 2), extlen = u[4], status = golibmc_be16(u + 6);
  uint32_t body = golibmc_be32(u + 8);
  if (u[0] != 0x81 || u[5] != 0 || body > golibmc_policy_value_max + 4 + MEMCACHED_MAX_KEY || !golibmc_opaque_ok(h, i, u))
    return GOLIBMC_REC_BAD;
  *len = 24 + (size_t) body;
  if (n < *len) return GOLIBMC_REC_MORE;
  if (op == 0x0a && !getk) // NOOP: the end of the mget's reply
    return status == 0 && keylen == 0 && extlen == 0 && body == 0 ? GOLIBMC_REC_END : GOLIBMC_REC_BAD;
  if (op != (getk ? 0x0cu : 0x0du)) return GOLIBMC_REC_BAD;
  if (status == 0) {
    if (extlen != 4 || keylen + extlen > body || !golibmc_key_ok(p + 28, keylen, ns, nslen)) return GOLIBMC_REC_BAD;
    return GOLIBMC_REC_ITEM;
  }
  if (status == 0x01 && getk && extlen == 0 && keylen <= body) return GOLIBMC_REC_MISS;
  if (status == 0x01 || status == 0x02 || status == 0x03 || status == 0x05) return GOLIBMC_REC_BAD; // not a get's
  *rc = golibmc_binary_status(status);
  *msg = body > extlen + keylen ? p + 24 + extlen + keylen : NULL;
  *mlen = body > extlen + keylen ? body - extlen - keylen : 0;
  return GOLIBMC_REC_FAIL;
}

// golibmc_read_mode is how a read's replies are checked, set by
// golibmc_read_start.
typedef struct golibmc_read_mode {
  int binary, cas, getk;
  const char *ns;
  size_t nslen;
} golibmc_read_mode;

// golibmc_put_item appends an item record to out: a golibmc_item_head
// (see it), the key, the value. A value longer than any a reply may carry
// (which the record checks rule out) fails.
GOLIBMC_FN int golibmc_put_item(golibmc_handle *h, memcached_result_st *r, uint32_t server) {
  size_t klen = memcached_result_key_length(r), vlen = memcached_result_length(r);
  if (klen >= MEMCACHED_MAX_KEY || vlen > golibmc_policy_value_max) return 0;
  if (!golibmc_out_reserve(h, sizeof(golibmc_item_head) + klen + vlen)) return 0;
  golibmc_item_head head = {memcached_result_cas(r), (uint64_t) vlen, memcached_result_flags(r), (uint32_t) klen,
                            server, 0};
  golibmc_out_put(h, &head, sizeof(head));
  golibmc_out_put(h, memcached_result_key_value(r), klen);
  golibmc_out_put(h, memcached_result_value(r), vlen);
  h->nrecords++;
  return 1;
}

// golibmc_read_fail ends server i's part of a read with rc: its socket is
// shut down (golibmc_policy_drop) and it is no longer read.
GOLIBMC_FN void golibmc_read_fail(golibmc_handle *h, uint32_t i, memcached_return_t rc, const char *msg,
                                  size_t mlen) {
  if (msg && mlen && i < h->nsrv && h->srv[i].rc == MEMCACHED_SUCCESS) h->srv[i].msg = golibmc_msg(h, msg, mlen);
  golibmc_policy_drop(h, i, rc);
  h->in[i].active = 0;
  h->srv[i].wait = 0;
}

// golibmc_read_server parses every complete record server i's input holds,
// each checked then lent to libmemcached, and reads the socket again while
// it gives more. It returns 1 while the server's reply needs more bytes.
GOLIBMC_FN int golibmc_read_server(golibmc_handle *h, uint32_t i, const golibmc_read_mode *m) {
  golibmc_in *in = &h->in[i];
  for (;;) {
    memcached_return_t rc = MEMCACHED_SUCCESS;
    const char *msg = NULL;
    size_t mlen = 0, len = 0, avail = in->end - in->start;
    const char *p = in->buf + in->start;
    int kind = avail == 0       ? GOLIBMC_REC_MORE
             : m->binary       ? golibmc_binary_record(h, i, p, avail, m->ns, m->nslen, m->getk, &len, &rc, &msg, &mlen)
                               : golibmc_text_record(p, avail, m->ns, m->nslen, m->cas, &len, &rc, &msg, &mlen);
    if (kind == GOLIBMC_REC_BAD) {
      golibmc_read_fail(h, i, MEMCACHED_PROTOCOL_ERROR, NULL, 0);
      return 0;
    }
    if (kind == GOLIBMC_REC_FAIL) {
      golibmc_read_fail(h, i, rc, msg, mlen);
      return 0;
    }
    if (kind == GOLIBMC_REC_MORE) {
      if (in->closed) {
        golibmc_read_fail(h, i, MEMCACHED_CONNECTION_FAILURE, NULL, 0);
        return 0;
      }
      int got = golibmc_in_recv(h, i, len > avail ? len - avail : 0, &rc);
      if (got > 0 || (got < 0 && in->closed)) continue; // a close is seen once what came before it is parsed
      if (got < 0) {
        golibmc_read_fail(h, i, rc, NULL, 0);
        return 0;
      }
      return 1;
    }
    // A complete record that parses: libmemcached reads it, alone (a
    // GETK's reply count is one per key, so it sees one reply expected).
    uint32_t count = in->cursor;
    if (m->getk) in->cursor = 1;
    golibmc_show(h, i);
    size_t used;
    memcached_result_st *r = golibmc_lend(h, i, in->start, in->start + len, &rc, &used);
    golibmc_hide(h, i);
    if (m->getk) in->cursor = count - 1;
    int want_item = kind == GOLIBMC_REC_ITEM;
    if (used != len || (r != NULL) != want_item) {
      golibmc_read_fail(h, i, used == (size_t) -1 && rc != MEMCACHED_SUCCESS ? rc : MEMCACHED_PROTOCOL_ERROR, NULL, 0);
      return 0;
    }
    in->start += len;
    if (r != NULL && !golibmc_put_item(h, r, i)) {
      golibmc_read_fail(h, i, MEMCACHED_MEMORY_ALLOCATION_FAILURE, NULL, 0);
      return 0;
    }
    if (in->cursor == 0) { // the reply is complete: nothing else may follow
      in->active = 0;
      if (in->start != in->end) { // more than one reply: the first may be an earlier request's, late
        h->srv[i].stale = 1;
        golibmc_read_fail(h, i, MEMCACHED_PROTOCOL_ERROR, NULL, 0);
      }
      else if (in->closed) h->srv[i].unsync = 1;
      return 0;
    }
  }
}

// golibmc_namespace returns mc's key prefix (MEMCACHED_CALLBACK_PREFIX_KEY), or NULL.
GOLIBMC_FN const char *golibmc_namespace(memcached_st *mc) {
  memcached_return_t rc;
  return (const char *) memcached_callback_get(mc, MEMCACHED_CALLBACK_PREFIX_KEY, &rc);
}

// golibmc_read_mode_of reads how h's replies are checked.
GOLIBMC_FN void golibmc_read_mode_of(golibmc_handle *h, golibmc_read_mode *m) {
  m->binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  m->cas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS) != 0;
  m->getk = m->binary && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS) != 0;
  m->ns = golibmc_namespace(h->mc);
  m->nslen = m->ns ? strlen(m->ns) : 0;
}

GOLIBMC_FN int golibmc_ejecting(golibmc_handle *h) {
  return h->nsrv > 1 && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS) != 0;
}

// golibmc_policy_skipped reports whether memcached_mget, just returned,
// may have left keys of server s unasked although s has a reply coming.
// (To port: call it after memcached_mget and before any libmemcached call
// that starts another query (memcached_query_id must still be the mget's),
// for every server of the keys, and fail the server when it answers 1;
// its items that do arrive still count.)
//
// memcached_mget asks each server for its keys in key order, connecting
// (memcached_connect) at a server's first key and again at every later
// key while the server has no reply pending. A key whose connect fails or
// is refused (a server in its retry timeout: SERVER_TEMPORARILY_DISABLED),
// or whose write fails (the connection reset: libmemcached closes it and
// forgets the keys written since the last flush), is skipped with only an
// error recorded on the server; a later key of the same server that
// connects (its retry time came during the loop, at one of libmemcached's
// whole-second boundaries; or a reconnect after the reset) is sent, and
// the server then has a reply pending. Its answer covers only the keys
// sent: the skipped ones would read as clean misses. The only trace is
// the server's error recorded by this mget's query (memcached_query_id):
// a server's error outlives the query that recorded it, so an older one
// proves nothing (golibmc_inst_error_query). One that cannot be dated
// counts: an error for keys that may have been answered is better than a
// miss for keys that were never asked.
GOLIBMC_FN int golibmc_policy_skipped(golibmc_handle *h, uint32_t s) {
  const memcached_instance_st *in = memcached_server_instance_by_position(h->mc, s);
  if (memcached_server_response_count(in) == 0) return 0;
  uint64_t q = golibmc_inst_error_query(h->mc, in);
  return q != 0 && (q == GOLIBMC_QUERY_UNKNOWN || q == memcached_query_id(h->mc));
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
  golibmc_ids_before(h);
  if (rc == MEMCACHED_SUCCESS) rc = memcached_mget(h->mc, h->keyp, h->keyl, n);
  golibmc_ids_after(h);
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
    } else if (h->srv[s].rc == MEMCACHED_SUCCESS && golibmc_policy_skipped(h, s)) {
      golibmc_fail_server(h, s, memcached_server_error_return(in));
    }
  }
  return rc;
}

// golibmc_read_start begins reading the replies of the mget just sent:
// every server expecting replies is read (and hidden), but one whose
// instance still holds bytes of its own that no request expects, which is
// out of step.
GOLIBMC_FN void golibmc_read_start(golibmc_handle *h) {
  h->reading = 1;
  h->read_deadline_ns = h->cfg_poll > 0 ? golibmc_now_ns() + (int64_t) h->cfg_poll * 1000000 : 0;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    // A server that failed in the mget but has a reply coming (it skipped
    // keys: golibmc_policy_skipped) is read too: its items count.
    if (memcached_server_response_count(s) == 0) continue;
    const char *at;
    h->in[i].active = 1;
    golibmc_hide(h, i);
    if (golibmc_inst_unread(s, &at) > 0) golibmc_read_fail(h, i, MEMCACHED_PROTOCOL_ERROR, NULL, 0);
  }
}

// golibmc_read_step reads every server still being read as far as its
// bytes go (golibmc_read_server); with block, it then waits in poll() for
// more (golibmc_wait) until every reply is read or the call's time for a
// wait runs out (those servers fail with TIMEOUT). It returns how many
// servers still wait for bytes (flagged in srv[].wait), 0 with block.
GOLIBMC_FN uint32_t golibmc_read_step(golibmc_handle *h, const golibmc_read_mode *m, int block) {
  golibmc_hide_all(h);
  for (;;) {
    uint32_t waiting = 0;
    for (uint32_t i = 0; i < h->nsrv; i++) {
      h->srv[i].wait = 0;
      if (!h->in[i].active) continue;
      if (golibmc_read_server(h, i, m)) {
        h->srv[i].wait = 1;
        waiting++;
      }
    }
    if (waiting == 0 || !block) return waiting;
    if (!golibmc_wait(h)) {
      for (uint32_t i = 0; i < h->nsrv; i++)
        if (h->srv[i].wait) golibmc_read_fail(h, i, MEMCACHED_TIMEOUT, NULL, 0);
      return 0;
    }
  }
}

// golibmc_fetch_plain reads the replies of the mget just sent with
// libmemcached's own memcached_fetch_result, unchecked: the reads of a
// library whose private layout is not known (no input layer).
GOLIBMC_FN void golibmc_fetch_plain(golibmc_handle *h) {
  uint8_t conn[256];
  uint32_t nc = h->nsrv < 256 ? h->nsrv : 256;
  for (uint32_t i = 0; i < nc; i++) conn[i] = golibmc_connected(h, i) == 1;
  memcached_return_t frc = golibmc_policy_arm(h);
  if (frc == MEMCACHED_SUCCESS) {
    memcached_result_st *r;
    while ((r = memcached_fetch_result(h->mc, &h->result, &frc)) != NULL) {
      if (!golibmc_put_item(h, r, GOLIBMC_NONE)) {
        frc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
        break;
      }
      if (golibmc_policy_arm(h) != MEMCACHED_SUCCESS) {
        frc = MEMCACHED_TIMEOUT;
        break;
      }
    }
  }
  // memcached_fetch_result reports a CLIENT_ERROR reply as the end of the
  // results; the error it recorded for this call says otherwise.
  memcached_return_t last = memcached_last_error(h->mc);
  if (h->nsrv == 1 && last != MEMCACHED_SUCCESS && !memcached_success(last) && last != MEMCACHED_NOTFOUND)
    golibmc_fail_server(h, 0, last);
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    if (memcached_server_response_count(s) > 0) {
      golibmc_fail_server(h, i, frc == MEMCACHED_MEMORY_ALLOCATION_FAILURE ? frc : MEMCACHED_TIMEOUT);
    } else if (i < nc && conn[i] && golibmc_connected(h, i) == 0 && h->srv[i].rc == MEMCACHED_SUCCESS) {
      memcached_return_t src = memcached_server_error_return(s);
      golibmc_fail_server(h, i, src != MEMCACHED_SUCCESS ? src : MEMCACHED_CONNECTION_FAILURE);
    }
  }
}

// golibmc_read_finish ends a read: every server hidden is shown again, and
// when a server failed, every key's server is recorded (Go gives the keys
// of a failed server its error, never a miss).
GOLIBMC_FN void golibmc_read_finish(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
                                    golibmc_res *res) {
  h->reading = 0;
  golibmc_show_all(h);
  for (uint32_t i = 0; i < h->nsrv; i++) {
    if (h->srv[i].rc != MEMCACHED_SUCCESS) {
      if (!golibmc_ejecting(h)) golibmc_key_servers(h, n, keys, klens, res);
      return;
    }
  }
}

// golibmc_read runs the read half in the calling crossing: with the input
// layer when the layout is known, else libmemcached's own fetch.
GOLIBMC_FN uint32_t golibmc_read(golibmc_handle *h, int block) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE) {
    golibmc_fetch_plain(h);
    return 0;
  }
  golibmc_read_mode m;
  golibmc_read_mode_of(h, &m);
  if (!h->reading) golibmc_read_start(h);
  return golibmc_read_step(h, &m, block);
}

// golibmc_get_multi is one whole read of n keys (Get, GetMulti), waiting in
// poll() for the replies.
GOLIBMC_FN memcached_return_t golibmc_get_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                                const size_t *klens, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  // Whatever mget answered, the servers it did ask have replies coming
  // (the binary mget answers the last failed connect's code).
  memcached_return_t rc = golibmc_mget_send(h, n, keys, klens, res);
  golibmc_read(h, 1);
  golibmc_read_finish(h, n, keys, klens, res);
  golibmc_end(h);
  return rc;
}

// golibmc_get_send is the first half of a read whose waits happen in Go.
GOLIBMC_FN memcached_return_t golibmc_get_send(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                               const size_t *klens, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  memcached_return_t rc = golibmc_mget_send(h, n, keys, klens, res);
  for (uint32_t i = 0; i < h->nsrv; i++) // the servers whose replies are to be read
    h->srv[i].wait = h->srv[i].rc == MEMCACHED_SUCCESS &&
                     memcached_server_response_count(memcached_server_instance_by_position(h->mc, i)) > 0;
  golibmc_end(h);
  return rc;
}

// golibmc_get_recv reads what has arrived of the replies, without
// waiting (with block: waiting in poll() for the rest); the servers listed in late did not send more in time and fail
// with TIMEOUT. It returns how many servers still wait for bytes
// (srv[].wait): Go waits for them in its netpoller and calls again. At 0
// the read is over.
GOLIBMC_FN uint32_t golibmc_get_recv(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                     const size_t *klens, golibmc_res *res, const uint32_t *late, size_t nlate,
                                     int block) {
  golibmc_resume(h, ms);
  for (size_t i = 0; i < nlate; i++)
    if (late[i] < h->nsrv) golibmc_read_fail(h, late[i], MEMCACHED_TIMEOUT, NULL, 0);
  uint32_t waiting = golibmc_read(h, block);
  if (waiting == 0) golibmc_read_finish(h, n, keys, klens, res);
  else golibmc_show_all(h);
  golibmc_end(h);
  return waiting;
}

// ---------------------------------------------------------------------------
// Requests: every storage command, Delete, Increment, Decrement and Touch.
//
// libmemcached formats, routes and sends each request; golibmc reads every
// reply through the input layer and checks it against the replies that
// request can have (golibmc_text_reply, golibmc_binary_reply), which give
// each item its code. Two ways keep libmemcached from reading a reply
// itself:
//   - Set and Delete are buffered (libmemcached buffers only these): the
//     requests of a batch are written back to back and flushed, and once a
//     server's replies are all in and checked, libmemcached parses them from
//     the lent buffer, so that its bookkeeping is in step.
//   - Every other command (Add, Replace, Append, Prepend, CompareAndSwap,
//     Increment, Decrement, Touch) reads its reply inside the libmemcached
//     call. Before the call, libmemcached is lent a success reply to parse
//     (golibmc_fake_reply): it sends the request, parses that reply and
//     returns, and the server's real reply is read and checked here. A
//     request whose lent reply was not taken was not sent.
// So no reply ever reaches libmemcached's parser unchecked: one it would
// assert on (a success line other than STORED: storage.cc) or misread (a
// binary reply with a key longer than its body) is a protocol error.
//
// The per-item results live in the caller's res array (Go memory without
// pointers): the write half fills in each item's server and BUFFERED (sent,
// reply pending) or its failure; the read half the final codes.
// ---------------------------------------------------------------------------

enum { GOLIBMC_SET, GOLIBMC_ADD, GOLIBMC_REPLACE, GOLIBMC_APPEND, GOLIBMC_PREPEND, GOLIBMC_CAS,
       GOLIBMC_DELETE, GOLIBMC_INCR, GOLIBMC_DECR, GOLIBMC_TOUCH };

// golibmc_command is op's libmemcached call for one key.
GOLIBMC_FN memcached_return_t golibmc_command(memcached_st *mc, int op, const char *key, size_t klen,
                                              const char *val, size_t vlen, time_t exp, uint32_t flags,
                                              uint64_t arg, uint64_t *num) {
  uint64_t unused;
  if (num == NULL) num = &unused;
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

// golibmc_binary_opcode is the binary protocol's opcode for op.
GOLIBMC_FN uint32_t golibmc_binary_opcode(int op) {
  switch (op) {
  case GOLIBMC_SET: return 0x01;
  case GOLIBMC_ADD: return 0x02;
  case GOLIBMC_CAS: // libmemcached sends a CAS as a REPLACE with the unique
  case GOLIBMC_REPLACE: return 0x03;
  case GOLIBMC_DELETE: return 0x04;
  case GOLIBMC_INCR: return 0x05;
  case GOLIBMC_DECR: return 0x06;
  case GOLIBMC_APPEND: return 0x0e;
  case GOLIBMC_PREPEND: return 0x0f;
  case GOLIBMC_TOUCH: return 0x1c;
  }
  return 0x100;
}

// golibmc_fake_reply writes into buf (at least 32 bytes) the success reply
// libmemcached is lent to parse for op (see above) and returns its length.
GOLIBMC_FN size_t golibmc_fake_reply(int op, int binary, char *buf) {
  if (binary) {
    memset(buf, 0, 32);
    buf[0] = (char) 0x81;
    buf[1] = (char) golibmc_binary_opcode(op);
    if (op == GOLIBMC_INCR || op == GOLIBMC_DECR) { // an 8-byte value
      buf[11] = 8;
      return 32;
    }
    return 24;
  }
  const char *s = op == GOLIBMC_INCR || op == GOLIBMC_DECR ? "0\r\n" : op == GOLIBMC_TOUCH ? "TOUCHED\r\n" : "STORED\r\n";
  size_t n = strlen(s);
  memcpy(buf, s, n);
  return n;
}

// golibmc_text_reply parses one text reply line at p (n bytes) to op: the
// bytes it takes, 0 if the line is incomplete, -1 if it is not a reply op
// can have. The codes are those libmemcached's response.cc gives; an
// increment's or decrement's new value goes to *num.
GOLIBMC_FN long golibmc_text_reply(const char *p, size_t n, int op, memcached_return_t *rc, const char **msg,
                                   size_t *mlen, uint64_t *num) {
  size_t len;
  int l = golibmc_line(p, n, &len);
  if (l <= 0) return l;
#define GOLIBMC_IS(s) (len == sizeof(s) - 1 && memcmp(p, s, sizeof(s) - 1) == 0)
  *msg = NULL;
  *mlen = 0;
  int store = op == GOLIBMC_SET || op == GOLIBMC_ADD || op == GOLIBMC_REPLACE || op == GOLIBMC_APPEND ||
              op == GOLIBMC_PREPEND;
  int counter = op == GOLIBMC_INCR || op == GOLIBMC_DECR;
  uint64_t v;
  if ((store || op == GOLIBMC_CAS) && GOLIBMC_IS("STORED")) *rc = MEMCACHED_SUCCESS;
  else if (store && GOLIBMC_IS("NOT_STORED")) *rc = MEMCACHED_NOTSTORED;
  else if (op == GOLIBMC_CAS && GOLIBMC_IS("EXISTS")) *rc = MEMCACHED_DATA_EXISTS;
  else if (!store && GOLIBMC_IS("NOT_FOUND")) *rc = MEMCACHED_NOTFOUND;
  else if (op == GOLIBMC_DELETE && GOLIBMC_IS("DELETED")) *rc = MEMCACHED_SUCCESS;
  else if (op == GOLIBMC_TOUCH && GOLIBMC_IS("TOUCHED")) *rc = MEMCACHED_SUCCESS;
  else if (counter && len > 0 && golibmc_digits(p, len, UINT64_MAX, &v) == len) {
    *rc = MEMCACHED_SUCCESS;
    *num = v;
  } else if (!golibmc_text_error(p, len, rc, msg, mlen))
    return -1;
#undef GOLIBMC_IS
  return (long) len + 2;
}

// golibmc_binary_reply parses one binary reply (header and body) the same
// way: the opcode must be op's; a success carries no body but a counter's
// 8-byte value (and a touch's item flags, as extras, which memcached
// sends); an error's body is its message. DELTA_BADVAL (a counter that is not a
// number) reads as the text protocol's CLIENT_ERROR.
GOLIBMC_FN long golibmc_binary_reply(const golibmc_handle *h, uint32_t s, const char *p, size_t n, int op,
                                     memcached_return_t *rc, const char **msg, size_t *mlen, uint64_t *num) {
  if (n < 24) return 0;
  const unsigned char *u = (const unsigned char *) p;
  uint32_t body = golibmc_be32(u + 8), status = golibmc_be16(u + 6);
  int counter = op == GOLIBMC_INCR || op == GOLIBMC_DECR;
  if (u[0] != 0x81 || u[1] != golibmc_binary_opcode(op) || u[5] != 0 || body > golibmc_policy_line_max ||
      !golibmc_opaque_ok(h, s, u))
    return -1;
  int touched = op == GOLIBMC_TOUCH && status == 0 && u[4] == 4 && body == 4; // memcached sends the flags
  if (golibmc_be16(u + 2) != 0 || (u[4] != 0 && !touched)) return -1;
  if (status == 0 && !(counter ? body == 8 : body == 0 || touched)) return -1;
  if (n < 24 + (size_t) body) return 0;
  *rc = status == 0x06 && counter ? MEMCACHED_CLIENT_ERROR : golibmc_binary_status(status);
  *msg = status != 0 && body ? p + 24 : NULL;
  *mlen = *msg ? body : 0;
  if (status == 0 && counter)
    *num = (uint64_t) golibmc_be32(u + 24) << 32 | golibmc_be32(u + 28);
  return 24 + (long) body;
}

// golibmc_can_buffer reports whether Set and Delete can be buffered on h:
// the private layout is known, replies are on and there are no replicas
// (their quiet requests answer only on failure). UDP is refused in Go.
GOLIBMC_FN int golibmc_can_buffer(golibmc_handle *h) {
  return golibmc_layout != GOLIBMC_LAYOUT_NONE && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NOREPLY) == 0 &&
         memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS) == 0;
}

// golibmc_can_read reports whether golibmc reads the replies of op on h
// (buffered, or with a reply lent): the private layout is known and
// replies are on; Set and Delete also need buffering (replicas: their
// copies go out as quiet requests that answer only on failure).
GOLIBMC_FN int golibmc_can_read(golibmc_handle *h, int op) {
  if (op == GOLIBMC_SET || op == GOLIBMC_DELETE) return golibmc_can_buffer(h);
  return golibmc_layout != GOLIBMC_LAYOUT_NONE && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NOREPLY) == 0;
}

// golibmc_request_lent sends one request of op through libmemcached with a
// success reply lent to it (see above). It returns libmemcached's code:
// BUFFERED when the request was sent and its real reply is to be read (the
// lent reply was taken), or the code of a failure before anything was sent.
GOLIBMC_FN memcached_return_t golibmc_request_lent(golibmc_handle *h, uint32_t s, int op, int binary,
                                                   const char *key, size_t klen, const char *val, size_t vlen,
                                                   time_t exp, uint32_t flags, uint64_t arg) {
  const memcached_instance_st *inst = memcached_server_instance_by_position(h->mc, s);
  char **ptr, fake[32];
  size_t *len, flen = golibmc_fake_reply(op, binary, fake);
  if (!golibmc_inst_input(inst, &ptr, &len)) return MEMCACHED_NOT_SUPPORTED;
  if (*len > 0) return MEMCACHED_PROTOCOL_ERROR; // bytes no request expects (golibmc_request_write quits first)
  char *own = *ptr;
  *ptr = fake;
  *len = flen;
  memcached_return_t rc = golibmc_command(h->mc, op, key, klen, val, vlen, exp, flags, arg, NULL);
  int taken = *ptr == fake + flen && *len == 0, untouched = *ptr == fake && *len == flen;
  if (*ptr >= fake && *ptr <= fake + flen) {
    *ptr = own;
    *len = 0;
  } else if (*len > 0) {
    // libmemcached moved the lent reply into its own buffer to read more
    // while a large request would not go out at once (repack_input_buffer):
    // what it read after it is the start of the real replies.
    taken = 1;
    golibmc_in *in = &h->in[s];
    if (golibmc_grow((void **) &in->buf, &in->cap, in->end + *len, 1)) {
      memcpy(in->buf + in->end, *ptr, *len);
      in->end += *len;
    } else {
      h->srv[s].unsync = 1;
    }
    *len = 0;
  }
  if (memcached_success(rc) && taken) return MEMCACHED_BUFFERED;
  if (memcached_success(rc) && untouched) return MEMCACHED_FAILURE; // nothing read: not a request of ours
  return memcached_success(rc) ? MEMCACHED_PROTOCOL_ERROR : rc;
}

// golibmc_connect_by_read connects server s by reading key (through the
// input layer: a server that requires authentication fails there, cleanly)
// and returns the server's code.
GOLIBMC_FN memcached_return_t golibmc_connect_by_read(golibmc_handle *h, uint32_t s, const char *key, size_t klen) {
  golibmc_res probe;
  size_t out_len = h->out_len, nrecords = h->nrecords;
  uint32_t rid0 = h->in[s].rid0; // the call's first request id there (the read notes its own)
  golibmc_mget_send(h, 1, key, &klen, &probe);
  golibmc_read(h, 1);
  golibmc_read_finish(h, 1, key, &klen, &probe);
  h->out_len = out_len; // the value read is not this call's result
  h->nrecords = nrecords;
  h->in[s].rid0 = rid0;
  return (memcached_return_t) h->srv[s].rc;
}

// golibmc_request_write writes n requests of op (keys and values packed
// back to back): Set and Delete buffered and flushed once (buffered), the
// others one libmemcached call each with a reply lent. Each item gets its
// server and BUFFERED, or at once the code of its failure. arg is a CAS's
// unique or a counter's delta.
GOLIBMC_FN void golibmc_request_write(golibmc_handle *h, int op, int buffered, size_t n, const char *keys,
                                      const size_t *klens, const char *vals, const size_t *vlens,
                                      const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res) {
  uint32_t saved_msg = 0, saved_bytes = 0;
  int was_buffering = 0, binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  if (buffered) {
    saved_msg = (uint32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK);
    saved_bytes = (uint32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK);
    // Past the watermarks libmemcached reads (and discards) replies while
    // writing; the replies must stay unread until they are read here.
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, UINT32_MAX);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, UINT32_MAX);
    was_buffering = golibmc_set_buffering(h->mc, 1);
  }
  memcached_autoeject(h->mc);
  golibmc_ids_before(h);
  for (size_t i = 0; i < n; i++) {
    golibmc_res *r = &res[i];
    memset(r, 0, sizeof(*r));
    r->server = golibmc_server_of(h, keys, klens[i]);
    memcached_return_t rc = golibmc_policy_arm(h);
    // golibmc_policy_skip: a server that failed earlier in this call is not
    // asked again, so a hung server costs one timeout, not one per key.
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && h->srv[r->server].rc != MEMCACHED_SUCCESS)
      rc = (memcached_return_t) h->srv[r->server].rc;
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && !buffered) {
      // With SASL, connecting reads the server's answers to the
      // authentication, which must not take the lent reply: a server not
      // connected yet is connected by a read of the key first.
      if (h->mc->sasl.callbacks != NULL && golibmc_connected(h, r->server) != 1)
        rc = golibmc_connect_by_read(h, r->server, keys, klens[i]);
      if (rc == MEMCACHED_SUCCESS)
        rc = golibmc_request_lent(h, r->server, op, binary, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                                  exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, arg);
      if (rc == MEMCACHED_PROTOCOL_ERROR) h->srv[r->server].unsync = 1;
    } else if (rc == MEMCACHED_SUCCESS) {
      rc = golibmc_command(h->mc, op, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                           exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, arg, NULL);
    }
    if (rc == MEMCACHED_BUFFERED && r->server < h->nsrv) {
      r->rc = MEMCACHED_BUFFERED;
      r->sent = 1;
    } else {
      r->rc = rc == MEMCACHED_BUFFERED ? MEMCACHED_FAILURE : rc;
      r->msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
      if (r->server < h->nsrv) golibmc_fail_server(h, r->server, (memcached_return_t) r->rc);
    }
    keys += klens[i];
    if (vals) vals += vlens[i];
  }
  memcached_return_t frc = MEMCACHED_SUCCESS;
  if (buffered) {
    frc = golibmc_policy_arm(h);
    if (frc == MEMCACHED_SUCCESS) frc = memcached_flush_buffers(h->mc);
    golibmc_set_buffering(h->mc, was_buffering);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK, saved_msg);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK, saved_bytes);
  }
  golibmc_ids_after(h);
  // A server whose connection was lost while writing has no replies coming.
  for (size_t i = 0; i < n; i++) {
    uint32_t s = res[i].server;
    if (res[i].rc != MEMCACHED_BUFFERED || s >= h->nsrv) continue;
    const memcached_instance_st *in = memcached_server_instance_by_position(h->mc, s);
    if (h->srv[s].rc == MEMCACHED_SUCCESS && memcached_server_response_count(in) == 0 && buffered) {
      memcached_return_t src = memcached_server_error_return(in);
      golibmc_fail_server(h, s, src != MEMCACHED_SUCCESS ? src : (frc != MEMCACHED_SUCCESS ? frc : MEMCACHED_WRITE_FAILURE));
    }
    if (h->srv[s].rc != MEMCACHED_SUCCESS) res[i].rc = h->srv[s].rc;
  }
}

// golibmc_reply_fail fails server s's items from its reply k on with rc
// (their outcome is not known) and ends its part of the read (its socket
// shut down).
GOLIBMC_FN void golibmc_reply_fail(golibmc_handle *h, uint32_t s, golibmc_res *res, memcached_return_t rc) {
  golibmc_in *in = &h->in[s];
  for (uint32_t k = in->got; k < in->want; k++) {
    res[h->order[in->off + k]].rc = rc;
    res[h->order[in->off + k]].msg = 0;
  }
  in->got = in->want;
  golibmc_read_fail(h, s, rc, NULL, 0);
}

// golibmc_reply_server reads server s's replies as far as its bytes go,
// each giving its item its code; once all are in, libmemcached parses them
// (buffered requests) or they are dropped (requests whose replies were
// lent). It returns 1 while replies are missing.
GOLIBMC_FN int golibmc_reply_server(golibmc_handle *h, uint32_t s, int op, int binary, golibmc_res *res) {
  golibmc_in *in = &h->in[s];
  while (in->got < in->want) {
    memcached_return_t rc = MEMCACHED_SUCCESS;
    const char *msg = NULL;
    size_t mlen = 0, avail = in->end - in->parsed;
    const char *p = in->buf + in->parsed;
    uint64_t num = 0;
    long used = binary ? golibmc_binary_reply(h, s, p, avail, op, &rc, &msg, &mlen, &num)
                       : golibmc_text_reply(p, avail, op, &rc, &msg, &mlen, &num);
    if (used < 0) {
      golibmc_reply_fail(h, s, res, MEMCACHED_PROTOCOL_ERROR);
      return 0;
    }
    if (used > 0) {
      golibmc_res *r = &res[h->order[in->off + in->got++]];
      r->rc = rc;
      r->num = num;
      r->msg = msg ? golibmc_msg(h, msg, mlen) : 0;
      in->parsed += (size_t) used;
      continue;
    }
    if (in->closed) {
      golibmc_reply_fail(h, s, res, MEMCACHED_CONNECTION_FAILURE);
      return 0;
    }
    int got = golibmc_in_recv(h, s, 0, &rc);
    if (got > 0 || (got < 0 && in->closed)) continue;
    if (got < 0) {
      golibmc_reply_fail(h, s, res, rc);
      return 0;
    }
    return 1;
  }
  in->active = 0;
  if (in->end != in->parsed) { // more than the replies asked for: which was which is not known
    in->got = 0;
    golibmc_reply_fail(h, s, res, MEMCACHED_PROTOCOL_ERROR);
    return 0;
  }
  if (h->reply_lend) {
    // libmemcached reads the replies (a text reply count above one makes
    // it read all at once; binary, one a fetch).
    golibmc_show(h, s);
    const memcached_instance_st *inst = memcached_server_instance_by_position(h->mc, s);
    while (memcached_server_response_count(inst) > 0 && in->start < in->parsed) {
      memcached_return_t rc;
      size_t used;
      golibmc_lend(h, s, in->start, in->parsed, &rc, &used);
      if (used == (size_t) -1) { // libmemcached closed the connection (a reply it counts fatal)
        in->start = in->parsed;
        h->srv[s].unsync = 1;
        return 0;
      }
      if (used == 0) break;
      in->start += used;
    }
    if (in->start != in->parsed || memcached_server_response_count(inst) != 0) h->srv[s].unsync = 1;
  }
  in->start = in->parsed;
  if (in->closed) h->srv[s].unsync = 1;
  return 0;
}

// golibmc_reply_start groups the items golibmc_request_write sent by
// server, in the order they were sent, and starts reading their servers.
GOLIBMC_FN int golibmc_reply_start(golibmc_handle *h, size_t n, golibmc_res *res) {
  h->reading = 1;
  h->read_deadline_ns = h->cfg_poll > 0 ? golibmc_now_ns() + (int64_t) h->cfg_poll * 1000000 : 0;
  if (!golibmc_grow((void **) &h->order, &h->order_cap, n ? n : 1, sizeof(uint32_t))) {
    for (size_t i = 0; i < n; i++)
      if (res[i].rc == MEMCACHED_BUFFERED) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    for (uint32_t s = 0; s < h->nsrv; s++) golibmc_policy_drop(h, s, MEMCACHED_MEMORY_ALLOCATION_FAILURE);
    h->reading = 0;
    return 0;
  }
  uint32_t off = 0;
  for (uint32_t s = 0; s < h->nsrv; s++) {
    golibmc_in *in = &h->in[s];
    in->off = off;
    for (size_t i = 0; i < n; i++)
      if (res[i].server == s && res[i].rc == MEMCACHED_BUFFERED) h->order[off++] = (uint32_t) i;
    in->want = off - in->off;
    in->got = 0;
    if (in->want == 0) continue;
    in->active = 1;
    const char *at;
    if (h->srv[s].rc != MEMCACHED_SUCCESS) golibmc_reply_fail(h, s, res, (memcached_return_t) h->srv[s].rc);
    else if (h->reply_lend && golibmc_inst_unread(memcached_server_instance_by_position(h->mc, s), &at) > 0)
      golibmc_reply_fail(h, s, res, MEMCACHED_PROTOCOL_ERROR);
  }
  return 1;
}

// golibmc_reply_read reads the replies of the items golibmc_request_write
// sent, waiting in poll() with block; it returns how many servers still
// wait for bytes (srv[].wait), 0 with block.
GOLIBMC_FN uint32_t golibmc_reply_read(golibmc_handle *h, int op, size_t n, golibmc_res *res, int block) {
  if (!h->reading && !golibmc_reply_start(h, n, res)) return 0;
  int binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  golibmc_hide_all(h);
  uint32_t waiting;
  for (;;) {
    waiting = 0;
    for (uint32_t s = 0; s < h->nsrv; s++) {
      h->srv[s].wait = 0;
      if (!h->in[s].active) continue;
      if (golibmc_reply_server(h, s, op, binary, res)) {
        h->srv[s].wait = 1;
        waiting++;
      }
    }
    if (waiting == 0 || !block) break;
    if (!golibmc_wait(h)) {
      for (uint32_t s = 0; s < h->nsrv; s++)
        if (h->srv[s].wait) golibmc_reply_fail(h, s, res, MEMCACHED_TIMEOUT);
      waiting = 0;
      break;
    }
  }
  if (waiting == 0) h->reading = 0;
  golibmc_show_all(h);
  return waiting;
}

// golibmc_policy_chunk is how many requests go out before their replies
// are read: few enough that the replies fit the socket buffers, so neither
// side can block writing while the other is not reading.
#define golibmc_policy_chunk 256

// golibmc_requests runs n requests of op (keys and values packed back to
// back) in chunks, each written and then answered, waiting in poll(); arg
// is a CAS's unique or a counter's delta. Without the input layer (an
// unknown layout, noreply, or Set and Delete with replicas), each runs as
// its own libmemcached call instead (golibmc_commands).
GOLIBMC_FN void golibmc_commands(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                 const size_t *klens, const char *vals, const size_t *vlens,
                                 const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res);

GOLIBMC_FN void golibmc_requests(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                 const size_t *klens, const char *vals, const size_t *vlens,
                                 const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res) {
  if (!golibmc_can_read(h, op)) {
    golibmc_commands(h, ms, op, n, keys, klens, vals, vlens, exps, flags, arg, res);
    return;
  }
  if (!golibmc_begin(h, ms)) {
    for (size_t i = 0; i < n; i++) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  int buffered = op == GOLIBMC_SET || op == GOLIBMC_DELETE;
  h->reply_lend = buffered;
  for (size_t from = 0; from < n; from += golibmc_policy_chunk) {
    size_t m = n - from < golibmc_policy_chunk ? n - from : golibmc_policy_chunk;
    golibmc_in_reset(h);
    golibmc_request_write(h, op, buffered, m, keys, klens + from, vals, vlens ? vlens + from : NULL,
                          exps ? exps + from : NULL, flags ? flags + from : NULL, arg, res + from);
    golibmc_reply_read(h, op, m, res + from, 1);
    for (size_t i = from; i < from + m; i++) {
      keys += klens[i];
      if (vals) vals += vlens[i];
    }
  }
  golibmc_end(h);
}

// golibmc_request_send is the write half of at most golibmc_policy_chunk
// requests whose waits happen in Go (golibmc_can_read must hold);
// srv[].wait flags the servers whose replies are to be read.
GOLIBMC_FN void golibmc_request_send(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                     const size_t *klens, const char *vals, const size_t *vlens,
                                     const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) {
    for (size_t i = 0; i < n; i++) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  h->reply_lend = op == GOLIBMC_SET || op == GOLIBMC_DELETE;
  golibmc_request_write(h, op, h->reply_lend, n, keys, klens, vals, vlens, exps, flags, arg, res);
  for (size_t i = 0; i < n; i++) // the servers whose replies are to be read
    if (res[i].rc == MEMCACHED_BUFFERED && res[i].server < h->nsrv) h->srv[res[i].server].wait = 1;
  golibmc_end(h);
}

// golibmc_request_recv reads what has arrived of the replies, without
// waiting (with block: waiting in poll() for the rest); the servers listed
// in late did not answer in time: their items fail with TIMEOUT. It
// returns how many servers still wait for bytes.
GOLIBMC_FN uint32_t golibmc_request_recv(golibmc_handle *h, int32_t ms, int op, size_t n, golibmc_res *res,
                                         const uint32_t *late, size_t nlate, int block) {
  golibmc_resume(h, ms);
  if (!h->reading && !golibmc_reply_start(h, n, res)) {
    golibmc_end(h);
    return 0;
  }
  for (size_t i = 0; i < nlate; i++)
    if (late[i] < h->nsrv && h->in[late[i]].active) golibmc_reply_fail(h, late[i], res, MEMCACHED_TIMEOUT);
  uint32_t waiting = golibmc_reply_read(h, op, n, res, block);
  golibmc_end(h);
  return waiting;
}

// golibmc_refused reports whether libmemcached answers rc without having
// written the request (libmemcached does not say; these codes come from its
// checks and its connect).
GOLIBMC_FN int golibmc_refused(memcached_return_t rc) {
  switch (rc) {
  case MEMCACHED_SERVER_TEMPORARILY_DISABLED:
  case MEMCACHED_SERVER_MARKED_DEAD:
  case MEMCACHED_HOST_LOOKUP_FAILURE:
  case MEMCACHED_CONNECTION_FAILURE:
  case MEMCACHED_NO_SERVERS:
  case MEMCACHED_BAD_KEY_PROVIDED:
  case MEMCACHED_KEY_TOO_BIG:
  case MEMCACHED_NO_KEY_PROVIDED:
  case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
  case MEMCACHED_NOT_SUPPORTED:
    return 1;
  default:
    return 0;
  }
}

// golibmc_commands runs op for n keys (and values), one libmemcached call
// each, which reads its reply itself (unchecked): for a library whose
// private layout is not known, with noreply, and for Set and Delete with
// replicas. Each key's code, server and message go to res.
GOLIBMC_FN void golibmc_commands(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                                 const size_t *klens, const char *vals, const size_t *vlens,
                                 const int64_t *exps, const uint32_t *flags, uint64_t arg, golibmc_res *res) {
  golibmc_clear_res(res, n);
  if (!golibmc_begin(h, ms)) return;
  memcached_autoeject(h->mc);
  uint64_t replicas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS);
  for (size_t i = 0; i < n; i++) {
    golibmc_res *r = &res[i];
    r->server = golibmc_server_of(h, keys, klens[i]);
    memcached_return_t rc = golibmc_policy_arm(h);
    // golibmc_policy_skip (see golibmc_request_write).
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && h->srv[r->server].rc == MEMCACHED_TIMEOUT)
      rc = MEMCACHED_TIMEOUT;
    if (rc == MEMCACHED_SUCCESS) {
      rc = golibmc_command(h->mc, op, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                           exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, arg, &r->num);
      r->sent = !golibmc_refused(rc);
    }
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
  if (!golibmc_begin(h, ms)) {
    res[0].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  int64_t e = (int64_t) exp;
  if (golibmc_can_read(h, GOLIBMC_TOUCH)) {
    h->reply_lend = 0;
    golibmc_request_write(h, GOLIBMC_TOUCH, 0, 1, key, &klen, NULL, NULL, &e, NULL, 0, res);
    golibmc_reply_read(h, GOLIBMC_TOUCH, 1, res, 1);
  } else {
    memcached_autoeject(h->mc);
    res[0].server = golibmc_server_of(h, key, klen);
    res[0].rc = golibmc_policy_arm(h);
    if (res[0].rc == MEMCACHED_SUCCESS) res[0].rc = memcached_touch(h->mc, key, klen, exp);
    if (res[0].rc != MEMCACHED_SUCCESS) res[0].msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
  }
  if (res[0].rc == MEMCACHED_SUCCESS) {
    golibmc_mget_send(h, 1, key, &klen, res);
    golibmc_read(h, 1);
    golibmc_read_finish(h, 1, key, &klen, res);
  }
  golibmc_end(h);
}

// ---------------------------------------------------------------------------
// Per-server commands, run on a handle holding one server.
// ---------------------------------------------------------------------------

enum { GOLIBMC_STATS, GOLIBMC_VERSION, GOLIBMC_PING, GOLIBMC_FLUSH };

// golibmc_server_fake writes into buf (at least 40 bytes) the reply
// libmemcached is lent to parse for a server command op (see "Requests"):
// the end of the stats, OK, and a version libmemcached keeps as unknown
// (255.255.255), so that it asks again next time.
GOLIBMC_FN size_t golibmc_server_fake(int op, int binary, char *buf) {
  const char *version = "255.255.255";
  if (binary) {
    memset(buf, 0, 40);
    buf[0] = (char) 0x81;
    buf[1] = (char) (op == GOLIBMC_STATS ? 0x10 : op == GOLIBMC_FLUSH ? 0x08 : 0x0b);
    if (op == GOLIBMC_FLUSH || op == GOLIBMC_STATS) return 24;
    buf[11] = (char) strlen(version);
    memcpy(buf + 24, version, strlen(version));
    return 24 + strlen(version);
  }
  const char *s = op == GOLIBMC_STATS ? "END\r\n" : op == GOLIBMC_FLUSH ? "OK\r\n" : "VERSION 255.255.255\r\n";
  memcpy(buf, s, strlen(s));
  return strlen(s);
}

// golibmc_version_num reads a version ("1.6.18", "1.4.5-beta") into
// major<<16|minor<<8|micro; it returns 0 when it is not one.
GOLIBMC_FN int golibmc_version_num(const char *p, size_t n, uint64_t *num) {
  uint64_t part[3];
  size_t at = 0;
  for (int k = 0; k < 3; k++) {
    size_t d = golibmc_digits(p + at, n - at, 255, &part[k]);
    if (d == 0 || (k < 2 && (at + d >= n || p[at + d] != '.'))) return 0;
    at += d + (k < 2);
  }
  *num = part[0] << 16 | part[1] << 8 | part[2];
  return 1;
}

// golibmc_stat_put appends a stat record to out: u32 key length, u32 value
// length, key, value.
GOLIBMC_FN int golibmc_stat_put(golibmc_handle *h, const char *key, size_t klen, const char *value, size_t vlen) {
  uint32_t k = (uint32_t) klen, v = (uint32_t) vlen;
  if (!golibmc_out_reserve(h, 8 + klen + vlen)) return 0;
  golibmc_out_put(h, &k, 4);
  golibmc_out_put(h, &v, 4);
  golibmc_out_put(h, key, klen);
  golibmc_out_put(h, value, vlen);
  h->nrecords++;
  return 1;
}

// golibmc_server_record parses the next record of a server command's
// reply at p: MORE (not complete), END (the reply is complete: *rc, and a
// version in *num), a stat (GOLIBMC_REC_ITEM, written to out), FAIL or BAD.
GOLIBMC_FN int golibmc_server_record(golibmc_handle *h, int op, int binary, const char *p, size_t n, size_t *len,
                                     memcached_return_t *rc, const char **msg, size_t *mlen, uint64_t *num) {
  if (binary) {
    const unsigned char *u = (const unsigned char *) p;
    *len = 24;
    if (n < 24) return GOLIBMC_REC_MORE;
    uint32_t keylen = golibmc_be16(u + 2), status = golibmc_be16(u + 6), body = golibmc_be32(u + 8);
    uint32_t want = op == GOLIBMC_STATS ? 0x10 : op == GOLIBMC_FLUSH ? 0x08 : 0x0b;
    if (u[0] != 0x81 || u[1] != want || u[4] != 0 || u[5] != 0 || body > golibmc_policy_line_max || keylen > body ||
        !golibmc_opaque_ok(h, 0, u))
      return GOLIBMC_REC_BAD;
    *len = 24 + (size_t) body;
    if (n < *len) return GOLIBMC_REC_MORE;
    if (status != 0) {
      *rc = golibmc_binary_status(status);
      *msg = body ? p + 24 : NULL;
      *mlen = body;
      return GOLIBMC_REC_FAIL;
    }
    *rc = MEMCACHED_SUCCESS;
    if (op == GOLIBMC_FLUSH) return body == 0 ? GOLIBMC_REC_END : GOLIBMC_REC_BAD;
    if (op == GOLIBMC_STATS) {
      if (body == 0) return GOLIBMC_REC_END;
      if (keylen == 0) return GOLIBMC_REC_BAD;
      return golibmc_stat_put(h, p + 24, keylen, p + 24 + keylen, body - keylen) ? GOLIBMC_REC_ITEM : GOLIBMC_REC_BAD;
    }
    if (keylen != 0 || !golibmc_version_num(p + 24, body, num)) *rc = MEMCACHED_UNKNOWN_READ_FAILURE;
    return GOLIBMC_REC_END;
  }
  size_t ll;
  int l = golibmc_line(p, n, &ll);
  *len = n + 1;
  if (l < 0) return GOLIBMC_REC_BAD;
  if (l == 0) return GOLIBMC_REC_MORE;
  *len = ll + 2;
  *rc = MEMCACHED_SUCCESS;
  if (golibmc_text_error(p, ll, rc, msg, mlen)) return GOLIBMC_REC_FAIL;
  if (op == GOLIBMC_FLUSH) return ll == 2 && memcmp(p, "OK", 2) == 0 ? GOLIBMC_REC_END : GOLIBMC_REC_BAD;
  if (op == GOLIBMC_STATS) {
    if (ll == 3 && memcmp(p, "END", 3) == 0) return GOLIBMC_REC_END;
    if (ll < 6 || memcmp(p, "STAT ", 5) != 0) return GOLIBMC_REC_BAD;
    const char *sp = (const char *) memchr(p + 5, ' ', ll - 5);
    if (sp == NULL || sp == p + 5) return GOLIBMC_REC_BAD;
    return golibmc_stat_put(h, p + 5, (size_t) (sp - p - 5), sp + 1, (size_t) (p + ll - sp - 1)) ? GOLIBMC_REC_ITEM
                                                                                                    : GOLIBMC_REC_BAD;
  }
  if (ll < 8 || memcmp(p, "VERSION ", 8) != 0) return GOLIBMC_REC_BAD;
  if (!golibmc_version_num(p + 8, ll - 8, num)) *rc = MEMCACHED_UNKNOWN_READ_FAILURE;
  return GOLIBMC_REC_END;
}

// golibmc_stat_cb is memcached_stat_execute's callback (without the input
// layer): one stat record each (golibmc_stat_put).
GOLIBMC_FN memcached_return_t golibmc_stat_cb(const memcached_instance_st *s, const char *key, size_t klen,
                                              const char *value, size_t vlen, void *ctx) {
  (void) s;
  return golibmc_stat_put((golibmc_handle *) ctx, key, klen, value, vlen) ? MEMCACHED_SUCCESS
                                                                          : MEMCACHED_MEMORY_ALLOCATION_FAILURE;
}

// golibmc_stat_none is memcached_stat_execute's callback when the stats are
// read by golibmc: the lent reply carries none.
GOLIBMC_FN memcached_return_t golibmc_stat_none(const memcached_instance_st *s, const char *key, size_t klen,
                                                const char *value, size_t vlen, void *ctx) {
  (void) s, (void) key, (void) klen, (void) value, (void) vlen, (void) ctx;
  return MEMCACHED_SUCCESS;
}

// golibmc_server_command runs a command on h's only server: STATS (args
// may be NULL), VERSION (its version in res->num as major<<16|minor<<8|
// micro), PING (a new connection and a version request) or FLUSH
// (flush_all exp). libmemcached sends it with a reply lent to parse (see
// "Requests"), and the server's reply is read and checked here, waiting in
// poll() (the commands of every server run at once, each on its own
// handle). Without the input layer, libmemcached reads the reply itself.
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
  int binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  int lend = golibmc_layout != GOLIBMC_LAYOUT_NONE && memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NOREPLY) == 0;
  char fake[40], **ptr = NULL, *own = NULL;
  size_t flen = 0, *len = NULL;
  if (op == GOLIBMC_PING) memcached_quit(h->mc);
  if (rc == MEMCACHED_SUCCESS && lend && golibmc_inst_input(s, &ptr, &len) && *len == 0) {
    flen = golibmc_server_fake(op, binary, fake);
    own = *ptr;
    *ptr = fake;
    *len = flen;
  }
  // memcached_stat_execute first asks each server whose version it does not
  // know for it, which would take the lent reply: it is told one for the call.
  uint8_t *major = op == GOLIBMC_STATS && own ? golibmc_inst_version(s) : NULL, was = major ? *major : 0;
  if (major && *major == UINT8_MAX) *major = 1;
  golibmc_ids_before(h);
  if (rc == MEMCACHED_SUCCESS) {
    res->sent = 1;
    switch (op) {
    case GOLIBMC_STATS: rc = memcached_stat_execute(h->mc, args, own ? golibmc_stat_none : golibmc_stat_cb, h); break;
    case GOLIBMC_PING:
    case GOLIBMC_VERSION:
      rc = memcached_version(h->mc);
      if (!own) {
        if (rc == MEMCACHED_SUCCESS && memcached_server_major_version(s) == UINT8_MAX) rc = MEMCACHED_UNKNOWN_READ_FAILURE;
        res->num = ((uint64_t) memcached_server_major_version(s) << 16) |
                   ((uint64_t) memcached_server_minor_version(s) << 8) | memcached_server_micro_version(s);
      }
      break;
    case GOLIBMC_FLUSH: rc = memcached_flush(h->mc, exp); break;
    default: rc = MEMCACHED_INVALID_ARGUMENTS;
    }
  }
  golibmc_ids_after(h);
  if (major) *major = was;
  int taken = own && *ptr == fake + flen && *len == 0;
  if (own && *ptr >= fake && *ptr <= fake + flen) {
    *ptr = own;
    *len = 0;
  }
  // A command that failed to go out records why, whatever it answers.
  if (own && memcached_success(rc) && !taken)
    rc = memcached_last_error(h->mc) != MEMCACHED_SUCCESS ? memcached_last_error(h->mc)
         : *len > 0                                       ? MEMCACHED_PROTOCOL_ERROR
                                                          : MEMCACHED_FAILURE;
  if (own && memcached_success(rc)) { // sent: the server's reply is read here
    golibmc_in *in = &h->in[0];
    for (;;) {
      const char *msg = NULL;
      size_t mlen = 0, rlen = 0;
      int kind = golibmc_server_record(h, op, binary, in->buf + in->start, in->end - in->start, &rlen, &rc, &msg,
                                       &mlen, &res->num);
      if (kind == GOLIBMC_REC_ITEM) {
        in->start += rlen;
        continue;
      }
      if (kind == GOLIBMC_REC_END || kind == GOLIBMC_REC_FAIL) {
        in->start += rlen;
        if (kind == GOLIBMC_REC_FAIL) res->msg = msg ? golibmc_msg(h, msg, mlen) : 0;
        if (in->start != in->end) golibmc_policy_drop(h, 0, MEMCACHED_PROTOCOL_ERROR); // more than asked for
        break;
      }
      if (kind == GOLIBMC_REC_BAD || in->closed) {
        rc = kind == GOLIBMC_REC_BAD ? MEMCACHED_PROTOCOL_ERROR : MEMCACHED_CONNECTION_FAILURE;
        golibmc_policy_drop(h, 0, rc);
        break;
      }
      int got = golibmc_in_recv(h, 0, rlen > in->end - in->start ? rlen - (in->end - in->start) : 0, &rc);
      if (got > 0 || (got < 0 && in->closed)) continue;
      if (got < 0) {
        golibmc_policy_drop(h, 0, rc);
        break;
      }
      h->srv[0].wait = 1;
      if (!golibmc_wait(h)) {
        rc = MEMCACHED_TIMEOUT;
        golibmc_policy_drop(h, 0, rc);
        break;
      }
    }
    h->srv[0].wait = 0;
    if (rc != MEMCACHED_SUCCESS) h->out_len = h->nrecords = 0; // no stats from a failed reply
    res->rc = rc;
    golibmc_end(h);
    return;
  }
  // memcached_stat_execute ignores a failed read of the stats, and the
  // binary memcached_flush a failed reply: both answer SUCCESS. The error
  // recorded for this call tells (each of them starts by clearing it).
  if (rc == MEMCACHED_SUCCESS && memcached_last_error(h->mc) != MEMCACHED_SUCCESS) rc = memcached_last_error(h->mc);
  // SOME_ERRORS from a one-server handle: the server's own error says what.
  if (rc == MEMCACHED_SOME_ERRORS && s && memcached_server_error_return(s) != MEMCACHED_SUCCESS)
    rc = memcached_server_error_return(s);
  res->rc = rc;
  if (golibmc_refused(rc)) res->sent = 0;
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
