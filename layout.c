//go:build cgo

// layout.c reads what libmemcached has no public accessor for: the one
// place that reads its private structs (besides golibmc_ring_point, a point
// of the continuum, in behaviors.c).
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

#include "golibmc_internal.h"

#include <sys/un.h>

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

// golibmc_layout is the validated mirror, set once by golibmc_layout_check
// (the one copy: every .c file reads it through golibmc_internal.h).
int golibmc_layout = GOLIBMC_LAYOUT_NONE;

// golibmc_inst_fd returns the socket of server instance s, or -1.
int golibmc_inst_fd(const memcached_instance_st *s) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE || s == NULL) return -1;
  return ((const golibmc_inst_head *) s)->fd;
}

// golibmc_inst_unread returns how many bytes libmemcached has read from
// server instance s and not parsed yet, and where they are.
size_t golibmc_inst_unread(const memcached_instance_st *s, const char **at) {
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
uint32_t *golibmc_inst_cursor(const memcached_instance_st *s) { return &golibmc_inst_w(s)->cursor_active; }

// golibmc_inst_input returns the addresses of instance s's read pointer and
// of the count of bytes at it that libmemcached has not parsed yet, or 0
// when the layout is unknown. Every read libmemcached makes takes its bytes
// there first, and it only reads its socket when the count is 0.
int golibmc_inst_input(const memcached_instance_st *s, char ***ptr, size_t **len) {
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
uint32_t golibmc_inst_request_id(const memcached_instance_st *s) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11: return ((const golibmc_inst_11 *) (const void *) s)->request_id;
  case GOLIBMC_LAYOUT_10: return ((const golibmc_inst_10 *) (const void *) s)->request_id;
  }
  return 0;
}

// golibmc_inst_version returns the address of instance s's known major
// version (UINT8_MAX: not known yet, and memcached_version asks), or NULL.
uint8_t *golibmc_inst_version(const memcached_instance_st *s) {
  switch (golibmc_layout) {
  case GOLIBMC_LAYOUT_11: return &((golibmc_inst_11 *) (void *) s)->major_version;
  case GOLIBMC_LAYOUT_10: return &((golibmc_inst_10 *) (void *) s)->major_version;
  }
  return NULL;
}

// golibmc_set_buffering turns buffered requests on or off on mc without
// memcached_behavior_set, which closes every connection each time; it
// returns the previous setting.
int golibmc_set_buffering(memcached_st *mc, int on) {
  int was = mc->flags.buffer_requests;
  mc->flags.buffer_requests = on ? 1 : 0;
  return was;
}

// The checks below run on throwaway handles whose one server is never
// connected to: two addresses and ports, so that a mirror that matches one
// by chance is not taken.
static const char *const golibmc_probe_hosts[2] = {"127.0.0.1", "127.0.0.2"};
static const in_port_t golibmc_probe_ports[2] = {47131, 39017};

// GOLIBMC_LAYOUT_READ_SPAN is how far past the mirrored fields the
// instance's own read buffer, which its read pointer starts at, may begin
// (a few more fields of the instance come first).
#define GOLIBMC_LAYOUT_READ_SPAN 4096

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
        m->read_ptr < base + sizeof(T) + GOLIBMC_LAYOUT_READ_SPAN &&                             \
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
static int golibmc_lend_check(int binary) {
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
  int ok = memcached_server_add(mc, golibmc_probe_hosts[0], golibmc_probe_ports[0]) == MEMCACHED_SUCCESS &&
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
// memcached_behavior_get and changes nothing else. It returns the layout,
// or none without looking when the private layout is not to be used at all
// (enabled 0: GOLIBMC_PRIVATE_LAYOUT=off).
int golibmc_layout_check(int enabled) {
  if (!enabled) return golibmc_layout = GOLIBMC_LAYOUT_NONE;
  int ok11 = 1, ok10 = 1, flips = 1;
  for (int i = 0; i < 2; i++) {
    memcached_st *mc = memcached_create(NULL);
    if (mc == NULL) return golibmc_layout = GOLIBMC_LAYOUT_NONE;
    if (memcached_server_add(mc, golibmc_probe_hosts[i], golibmc_probe_ports[i]) != MEMCACHED_SUCCESS ||
        memcached_server_count(mc) != 1) {
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

// golibmc_verify_fd checks, for a connected server i of mc, that fd is the
// connection libmemcached reports through its public accessors: for TCP
// the kernel's local port is memcached_server_srcport and its peer port
// memcached_server_port; for a unix socket the peer path is the server's
// name. Only the kernel's answers prove a mismatch: fd is not an open
// socket (EBADF, ENOTSOCK), or it is connected elsewhere. A connection the
// peer has reset has no peer any more (getpeername: ENOTCONN), and a
// server not connected has nothing to compare: those cannot be told, and
// prove nothing about the layout the fd was read through.
int golibmc_verify_fd(const memcached_st *mc, uint32_t i, int fd) {
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
int golibmc_verify_socket(const memcached_st *mc, uint32_t i) {
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



// golibmc_inst_error_query returns the query id (memcached_query_id of mc
// when it was recorded) of server instance s's last error: 0 when it has
// none, GOLIBMC_QUERY_UNKNOWN when the record does not prove itself one of
// mc's. A record proves itself by what its public accessors also say: its
// message starts with "(<mc>) " (libmemcached formats every error message
// so), and its handle and code fields are mc and memcached_server_error_
// return(s). Nothing outside the record is read: a message that does not
// start so is a static string, and is not looked behind.
uint64_t golibmc_inst_error_query(const memcached_st *mc, const memcached_instance_st *s) {
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
