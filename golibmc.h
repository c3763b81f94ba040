// golibmc.h is the boundary between Go and C: what libmemcached.go (the thin
// layer) and the .c files of this package share, and nothing else. It holds
// the structs both sides read (a handle, a key's result, a server's part of
// a call), the layouts of the records C writes and Go decodes, the enums
// Go's constants mirror, the named limits C's policies use, and the
// prototypes of the functions Go calls. The bodies are in the .c files, one
// concern each; what they share and Go must not see is golibmc_internal.h.
//
//   layout.c      the one place that reads libmemcached's private structs:
//                 the mirrors of a server instance, validated at first use
//                 (golibmc_layout_check), sockets checked against the
//                 public view of a connection, a server error's query id
//   behaviors.c   the master's configuration: behaviors read and set (with
//                 libmemcached 1.0.18's bugs worked around), the
//                 distribution built once (hold, settle, rebuild,
//                 ejections), clones checked and repaired, continuum copies
//   handle.c      a handle's life (new, single-server, scratch, free) and
//                 the frame of every call on it: begin and end, the
//                 deadline armed before each libmemcached call, retries,
//                 a failed server recorded or dropped
//   records.c     the records C writes for Go (items, stats, server
//                 identities, messages), laid out as below
//   input.c       the input layer: each server's replies received into a
//                 buffer of its own, waited for in poll(), lent to
//                 libmemcached record by record; the grammar every reply
//                 check shares
//   read.c        reads (Get, GetMulti, GetAndTouch): memcached_mget, each
//                 reply record checked then parsed by libmemcached
//   requests.c    storage commands, Delete, Increment, Decrement, Touch:
//                 requests sent by libmemcached, replies read and checked
//   servercmds.c  Stats, Version, Ping, FlushAll on a one-server handle
//   hash.c        gomemcache's placement: the whole CRC-32 as a key hash
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
// and when a server that failed may be tried again (h->retry_at).
//
// What C owns (policy that has to run between two libmemcached calls, or on
// bytes libmemcached is about to parse, inside one crossing; the functions
// are named golibmc_policy_*, the limits GOLIBMC_POLICY_* below):
//   - the call's deadline, re-applied before every libmemcached call (arm);
//   - the checks of every reply before libmemcached parses it (the input
//     layer, input.c), which turn what would trip one of its assertions or
//     desynchronize the connection into an error code;
//   - dropping a connection that is not provably in step (drop);
//   - how a batch of requests is written and its replies read (CHUNK), in
//     a multi-key loop not asking again a server that already failed
//     (skip, skipped), and when a failed server is tried again (retry,
//     note_failures).
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
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#if !defined(LIBMEMCACHED_VERSION_HEX) || LIBMEMCACHED_VERSION_HEX < 0x001000000
#error "golibmc needs libmemcached 1.0 or later (libmemcached-awesome 1.1 recommended)"
#endif

// ---------------------------------------------------------------------------
// Policy: the limits the C side works with, each defined here once. Go reads
// the ones it needs as C.GOLIBMC_POLICY_* (requestChunk is
// GOLIBMC_POLICY_CHUNK).
// ---------------------------------------------------------------------------

// GOLIBMC_POLICY_CHUNK is how many requests go out before their replies are
// read (golibmc_requests; requestSend carries at most this many, and Go's
// store batches are this big): few enough that the replies fit the socket
// buffers, so neither side can block writing while the other is not reading.
#define GOLIBMC_POLICY_CHUNK 256

// GOLIBMC_POLICY_LINE_MAX is the longest reply line accepted, and the
// longest body a binary reply to a request or a server command may carry
// (memcached's lines are under 300 bytes; an error message may be longer).
#define GOLIBMC_POLICY_LINE_MAX 2048

// GOLIBMC_POLICY_VALUE_MAX is the largest value a reply may carry: 1 GiB,
// memcached's largest item size (-I 1024m).
#define GOLIBMC_POLICY_VALUE_MAX (1u << 30)

// GOLIBMC_POLICY_RECV_ROOM is the least room a receive is given (bytes).
#define GOLIBMC_POLICY_RECV_ROOM 16384

// GOLIBMC_POLICY_IN_KEEP: a server's input buffer larger than this is freed
// when the call ends, so a large reply does not pin its memory to the
// handle (bytes).
#define GOLIBMC_POLICY_IN_KEEP 65536

// GOLIBMC_POLICY_MSG_MAX is the most of a server's or libmemcached's
// message a message record keeps (bytes); the rest is cut off.
#define GOLIBMC_POLICY_MSG_MAX 1024

// GOLIBMC_POLICY_PROBE_KEYS is how many probe keys a new handle must place
// on the same servers as the client's master (golibmc_same_placement).
#define GOLIBMC_POLICY_PROBE_KEYS 128

// GOLIBMC_POLICY_REPAIR_PASSES is how many times golibmc_clone_repair sets
// again the behaviors memcached_clone lost before it gives up (setting one
// can reset another: KETAMA_WEIGHTED resets both hashes).
#define GOLIBMC_POLICY_REPAIR_PASSES 3

// GOLIBMC_POLICY_PLAIN_SERVERS: without the input layer, a read notes for
// this many servers at most (the first ones) whether it lost their
// connection (golibmc_fetch_plain).
#define GOLIBMC_POLICY_PLAIN_SERVERS 256

// ---------------------------------------------------------------------------
// Records: what C writes into a handle's buffers and Go decodes. Each is a
// fixed head followed by bytes, packed back to back (a head need not be
// aligned: both sides copy it byte for byte); Go reads every field at the
// offset named below, never at a number of its own.
// ---------------------------------------------------------------------------

// golibmc_item_head starts each item record a read writes to out, followed
// by the key and the value (golibmc_put_item).
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

// golibmc_stat_head starts each stat record a stats command writes to out,
// followed by the stat's name and its value (golibmc_stat_put).
typedef struct golibmc_stat_head {
  uint32_t klen; // name length
  uint32_t vlen; // value length
} golibmc_stat_head;

enum {
  GOLIBMC_STAT_KLEN = offsetof(golibmc_stat_head, klen),
  GOLIBMC_STAT_VLEN = offsetof(golibmc_stat_head, vlen),
  GOLIBMC_STAT_HEAD = sizeof(golibmc_stat_head),
};

// golibmc_server_id_head starts each server identity record written to
// out, followed by the server's name (golibmc_put_server).
typedef struct golibmc_server_id_head {
  uint32_t port;
  uint32_t weight;
  uint32_t type;    // memcached_connection_t
  uint32_t namelen; // name length
} golibmc_server_id_head;

enum {
  GOLIBMC_SERVER_ID_PORT = offsetof(golibmc_server_id_head, port),
  GOLIBMC_SERVER_ID_WEIGHT = offsetof(golibmc_server_id_head, weight),
  GOLIBMC_SERVER_ID_TYPE = offsetof(golibmc_server_id_head, type),
  GOLIBMC_SERVER_ID_NAMELEN = offsetof(golibmc_server_id_head, namelen),
  GOLIBMC_SERVER_ID_HEAD = sizeof(golibmc_server_id_head),
};

// golibmc_msg_head starts each message record written to msgs, followed by
// the message (golibmc_msg); a key's or a server's msg is 1 + the record's
// offset in msgs, 0 for none.
typedef struct golibmc_msg_head {
  uint32_t len; // message length
} golibmc_msg_head;

enum {
  GOLIBMC_MSG_LEN = offsetof(golibmc_msg_head, len),
  GOLIBMC_MSG_HEAD = sizeof(golibmc_msg_head),
};

// ---------------------------------------------------------------------------
// A handle and the results of a call on it.
// ---------------------------------------------------------------------------

// GOLIBMC_NONE is the server index of a key that reached no server.
#define GOLIBMC_NONE UINT32_MAX

// golibmc_res is one key's outcome.
typedef struct golibmc_res {
  int32_t rc;      // libmemcached's return code for the key
  uint32_t server; // index of the key's server, GOLIBMC_NONE if unknown
  uint32_t msg;    // 1 + offset in msgs of the message record, 0 for none
  uint32_t flags;  // item flags (reads)
  uint64_t cas;    // CAS id (reads)
  uint64_t num;    // the new value (increment, decrement)
  uint32_t sent;   // 1 when the request went out (its outcome is then the server's)
} golibmc_res;

// golibmc_srv is one server's part of a call.
typedef struct golibmc_srv {
  int32_t rc;       // its failure in this call, SUCCESS if none
  uint32_t msg;     // 1 + offset in msgs of its message record, 0 for none
  int32_t fd;       // its socket after the call, -1 if not connected or unknown
  uint32_t pending; // replies libmemcached still expects from it
  uint32_t unread;  // bytes libmemcached read from it and did not parse
  uint32_t unsync;  // 1 when a reply from it was not one expected
  uint32_t wait;    // 1 when a split call waits for its socket to be readable
  uint32_t stale;   // 1 when its reply was followed by more: which bytes were this call's is not known
} golibmc_srv;

// golibmc_handle is one libmemcached connection set (a clone of the
// client's configured master) plus the buffers its results are read from.
// Go reads mc, out, out_len, msgs, msgs_len, srv, nsrv and nrecords; the
// rest is the C side's.
typedef struct golibmc_handle {
  memcached_st *mc;
  memcached_result_st result;
  char *out; // records: items read, stats, server identities
  size_t out_len, out_cap;
  char *msgs; // message records
  size_t msgs_len, msgs_cap;
  golibmc_srv *srv; // per server of the handle
  uint32_t nsrv, srv_cap;
  uint32_t nrecords; // records written to out by a read or a stats command
  uint32_t dirty;    // servers whose part of the last call was not clean (golibmc_end): 0 when every one answered in step
  const char **keyp; // key pointers for memcached_mget; cleared before return
  size_t keyp_cap;
  size_t *keyl;
  size_t keyl_cap;
  uint32_t *order; // stores: item indices grouped by server
  size_t order_cap;
  struct golibmc_in *in; // per server: its input during a call (the input layer, golibmc_internal.h)
  uint32_t in_n, in_cap;
  int reading; // a read's or a request's replies are being read
  int reply_lend; // the requests' replies go to libmemcached once read (buffered Set, Delete)
  int64_t read_deadline_ns; // when the replies must all be in (CLOCK_MONOTONIC; 0: none)
  int64_t deadline_ns; // CLOCK_MONOTONIC; 0 for none
  int32_t cfg_poll, cfg_connect;
  // The handle's behaviors that its calls read, read once by golibmc_conf
  // (a pooled handle's behaviors never change: a change makes new handles).
  int conf_ok;
  int conf_binary, conf_cas, conf_noreply, conf_autoeject;
  uint64_t conf_replicas, conf_retry;
  const char *conf_ns; // the namespace (MEMCACHED_CALLBACK_PREFIX_KEY), NULL for none
  size_t conf_nslen;
  int64_t begin_ns;  // CLOCK_MONOTONIC at the call's start
  uint64_t query0;   // memcached_query_id at the call's start
  int64_t *retry_at; // per server: when it may be tried again (CLOCK_MONOTONIC; 0: any time), golibmc_policy_retry
  size_t retry_cap, retry_n;
  // The servers' instances during a call (golibmc_inst): the first one's
  // address and the distance between two, read by golibmc_begin; step 0:
  // not known, ask libmemcached each time.
  const char *inst0;
  size_t inst_step;
} golibmc_handle;

// ---------------------------------------------------------------------------
// Enums Go mirrors (libmemcached.go checks each at build time).
// ---------------------------------------------------------------------------

// The private layout golibmc_layout_check found (the libmemcached line whose
// mirror matched), or none.
enum { GOLIBMC_LAYOUT_NONE = 0, GOLIBMC_LAYOUT_11 = 11, GOLIBMC_LAYOUT_10 = 10 };

// What golibmc_verify_fd tells of a socket.
enum {
  GOLIBMC_SOCKET_OTHER = 0,    // the kernel answered: not this connection (a layout mismatch)
  GOLIBMC_SOCKET_SAME = 1,     // this connection
  GOLIBMC_SOCKET_UNKNOWN = -1, // cannot be told now: not connected, or the connection failed
};

// The commands of golibmc_requests (Go's command).
enum { GOLIBMC_SET, GOLIBMC_ADD, GOLIBMC_REPLACE, GOLIBMC_APPEND, GOLIBMC_PREPEND, GOLIBMC_CAS,
       GOLIBMC_DELETE, GOLIBMC_INCR, GOLIBMC_DECR, GOLIBMC_TOUCH };

// The commands of golibmc_server_command (Go's serverOp).
enum { GOLIBMC_STATS, GOLIBMC_VERSION, GOLIBMC_PING, GOLIBMC_FLUSH };

// ---------------------------------------------------------------------------
// The functions Go calls, by file; each is documented where it is defined.
// ---------------------------------------------------------------------------

// layout.c
int golibmc_layout_check(int enabled);
int golibmc_verify_fd(const memcached_st *mc, uint32_t i, int fd);
int golibmc_verify_socket(const memcached_st *mc, uint32_t i);

// behaviors.c
uint64_t golibmc_behavior_get(memcached_st *mc, memcached_behavior_t b);
memcached_return_t golibmc_behavior_set(memcached_st *mc, memcached_behavior_t b, uint64_t v);
const char *golibmc_namespace(memcached_st *mc);
void golibmc_apply_ejections(memcached_st *mc, size_t n, const uint32_t *idx, const int64_t *until);
int golibmc_hold_distribution(memcached_st *mc);
memcached_return_t golibmc_settle(memcached_st *mc, int d, int weighted);
memcached_st *golibmc_master_clone(memcached_st *master, char *err, size_t errlen);

// handle.c
const char *golibmc_header_version(void);
golibmc_handle *golibmc_handle_new(memcached_st *master, size_t nej, const uint32_t *ej_idx, const int64_t *ej_until,
                                   char *err, size_t errlen);
golibmc_handle *golibmc_handle_new_single(memcached_st *master, uint32_t i, char *err, size_t errlen);
golibmc_handle *golibmc_handle_new_empty(void);
void golibmc_handle_free(golibmc_handle *h);
int32_t golibmc_leftover(golibmc_handle *h);

// records.c
int golibmc_servers(golibmc_handle *h, memcached_st *mc);
memcached_return_t golibmc_server_by_key(golibmc_handle *h, memcached_st *mc, const char *key, size_t klen);

// read.c
memcached_return_t golibmc_get_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys, const size_t *klens,
                                     golibmc_res *res);
memcached_return_t golibmc_get_send(golibmc_handle *h, int32_t ms, size_t n, const char *keys, const size_t *klens,
                                    golibmc_res *res);
uint32_t golibmc_get_recv(golibmc_handle *h, int32_t ms, size_t n, const char *keys, const size_t *klens,
                          golibmc_res *res, const uint32_t *late, size_t nlate, int block);
void golibmc_key_servers(golibmc_handle *h, size_t n, const char *keys, const size_t *klens, golibmc_res *res);
void golibmc_gat(golibmc_handle *h, int32_t ms, const char *key, size_t klen, time_t exp, golibmc_res *res);
int golibmc_check_text_record(const char *p, size_t n, const char *ns, size_t nslen, int cas, size_t *len);

// requests.c
int golibmc_can_read(golibmc_handle *h, int op);
void golibmc_requests(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys, const size_t *klens,
                      const char *vals, const size_t *vlens, const int64_t *exps, const uint32_t *flags,
                      const uint64_t *args, golibmc_res *res);
void golibmc_request_send(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys, const size_t *klens,
                          const char *vals, const size_t *vlens, const int64_t *exps, const uint32_t *flags,
                          const uint64_t *args, golibmc_res *res);
uint32_t golibmc_request_recv(golibmc_handle *h, int32_t ms, int op, size_t n, golibmc_res *res, const uint32_t *late,
                              size_t nlate, int block);

// servercmds.c
void golibmc_server_command(golibmc_handle *h, int32_t ms, int op, const char *args, time_t exp, golibmc_res *res);

// hash.c
uint32_t golibmc_gomemcache_hash(const char *key, size_t key_length, void *context);
memcached_return_t golibmc_set_gomemcache_placement(memcached_st *mc);
int golibmc_has_gomemcache_hash(memcached_st *mc);
void golibmc_set_crc32_hash(memcached_st *mc);

#endif
