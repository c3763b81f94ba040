// golibmc_internal.h is what the .c files of this package share and Go does
// not see: the per-server input of a call, the kinds of reply records, and
// the functions one concern offers the others (see golibmc.h for which file
// holds which concern). Each function is documented where it is defined.
#ifndef GOLIBMC_INTERNAL_H
#define GOLIBMC_INTERNAL_H

#include "golibmc.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// GOLIBMC_LM10 is 1 when compiled against libmemcached 1.0.x (1.0.18),
// whose LIBMEMCACHED_VERSION_HEX is 0x01000018 (1.1.x: 0x001001004).
#define GOLIBMC_LM10 (LIBMEMCACHED_VERSION_HEX < 0x01001000)

// golibmc_in is one server's input during a call (the input layer).
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
  int cork;         // its socket + 1 while a batch's requests are held back in it (0: none)
} golibmc_in;

// GOLIBMC_REC_* say what the next record of a reply is.
enum {
  GOLIBMC_REC_MORE,  // not complete yet: need more bytes (at least *len in all)
  GOLIBMC_REC_ITEM,  // an item (VALUE, or a GETK/GETKQ hit)
  GOLIBMC_REC_MISS,  // a miss (a GETK's KEY_ENOENT)
  GOLIBMC_REC_END,   // the end of a read's reply (END, NOOP)
  GOLIBMC_REC_FAIL,  // the server reported an error (*rc, *msg)
  GOLIBMC_REC_BAD,   // not a reply to this request: out of step
};

// golibmc_be16 and golibmc_be32 read the big-endian numbers of a binary
// reply header.
static inline uint32_t golibmc_be16(const unsigned char *u) { return (uint32_t) u[0] << 8 | u[1]; }
static inline uint32_t golibmc_be32(const unsigned char *u) {
  return (uint32_t) u[0] << 24 | (uint32_t) u[1] << 16 | (uint32_t) u[2] << 8 | u[3];
}

// layout.c: the private layout.
extern int golibmc_layout;
int golibmc_inst_fd(const memcached_instance_st *s);
size_t golibmc_inst_unread(const memcached_instance_st *s, const char **at);
uint32_t *golibmc_inst_cursor(const memcached_instance_st *s);
int golibmc_inst_input(const memcached_instance_st *s, char ***ptr, size_t **len);
uint32_t golibmc_inst_request_id(const memcached_instance_st *s);
uint8_t *golibmc_inst_version(const memcached_instance_st *s);
int golibmc_set_buffering(memcached_st *mc, int on);
// GOLIBMC_QUERY_UNKNOWN: an error whose query cannot be told.
#define GOLIBMC_QUERY_UNKNOWN UINT64_MAX
uint64_t golibmc_inst_error_query(const memcached_st *mc, const memcached_instance_st *s);

// behaviors.c: the configuration.
memcached_return_t golibmc_rebuild(memcached_st *mc);
memcached_st *golibmc_clone(memcached_st *master);
int golibmc_clone_repair(memcached_st *master, memcached_st *clone);
int golibmc_same_placement(memcached_st *master, memcached_st *mc);
int golibmc_copy_continuum(memcached_st *master, memcached_st *mc);

// handle.c: buffers and the call frame.
int golibmc_grow(void **p, size_t *cap, size_t need, size_t size);
int64_t golibmc_now_ns(void);
void golibmc_conf(golibmc_handle *h);
int golibmc_begin(golibmc_handle *h, int32_t ms);
void golibmc_resume(golibmc_handle *h, int32_t ms);
void golibmc_end(golibmc_handle *h);
void golibmc_clear_res(golibmc_res *res, size_t n);
memcached_return_t golibmc_policy_arm(golibmc_handle *h);
int golibmc_ms_until(int ms, int64_t deadline_ns);
int golibmc_poll_ms(golibmc_handle *h);
void golibmc_fail_server(golibmc_handle *h, uint32_t i, memcached_return_t rc);
void golibmc_policy_drop(golibmc_handle *h, uint32_t i, memcached_return_t rc);
uint32_t golibmc_server_of(golibmc_handle *h, const char *key, size_t klen);
int golibmc_connected(golibmc_handle *h, uint32_t i);

// records.c: the records Go decodes.
uint32_t golibmc_msg(golibmc_handle *h, const char *s, size_t n);
uint32_t golibmc_msg_str(golibmc_handle *h, const char *s);
int golibmc_put_item(golibmc_handle *h, memcached_result_st *r, uint32_t server);
int golibmc_stat_put(golibmc_handle *h, const char *key, size_t klen, const char *value, size_t vlen);

// input.c: the input layer and the grammar the reply checks share.
void golibmc_in_reset(golibmc_handle *h);
void golibmc_in_trim(golibmc_handle *h);
void golibmc_hide(golibmc_handle *h, uint32_t i);
void golibmc_show(golibmc_handle *h, uint32_t i);
void golibmc_hide_all(golibmc_handle *h);
void golibmc_show_all(golibmc_handle *h);
memcached_result_st *golibmc_lend(golibmc_handle *h, uint32_t i, size_t from, size_t to, memcached_return_t *rc,
                                  size_t *used);
int golibmc_in_recv(golibmc_handle *h, uint32_t i, size_t need, memcached_return_t *rc);
int golibmc_wait(golibmc_handle *h);
int golibmc_key_ok(const char *k, size_t n, const char *ns, size_t nslen);
int golibmc_key_fits(const char *k, size_t n, const char *ns, size_t nslen);
// golibmc_inst is server i's instance, for use within a call (after
// golibmc_begin, which found the handle's instances one array apart as
// libmemcached keeps them: memcached_server_instance_by_position indexes
// mc->servers, and a handle's servers never change); else, or when they
// were not found so, it asks libmemcached.
static inline const memcached_instance_st *golibmc_inst(const golibmc_handle *h, uint32_t i) {
  if (h->inst_step) return (const memcached_instance_st *) (h->inst0 + (size_t) i * h->inst_step);
  return memcached_server_instance_by_position(h->mc, i);
}

// golibmc_key_byte reports whether c may be in a key: not a space or a control byte.
static inline int golibmc_key_byte(char c) { return (unsigned char) c > ' ' && (unsigned char) c != 0x7f; }

// golibmc_key_scan returns the first position from k on, below n, of a
// byte of p that is not a key byte (golibmc_key_byte), or n. Eight bytes
// are tested at once on a little-endian machine: x - 0x21 borrows into a
// byte's top bit when the byte is below 0x21 (a byte of 0x80 and up has
// its top bit set in x and is masked off by ~x), and x ^ 0x7f has a zero
// byte where x has 0x7f. A borrow only carries into the bytes above a byte
// it comes from, so the lowest flagged byte is the first bad one.
static inline size_t golibmc_key_scan(const char *p, size_t k, size_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  const uint64_t ones = 0x0101010101010101ull, tops = 0x8080808080808080ull;
  for (; k + 8 <= n; k += 8) {
    uint64_t x, y;
    memcpy(&x, p + k, 8);
    y = x ^ (0x7f * ones);
    uint64_t bad = (((x - 0x21 * ones) & ~x) | ((y - ones) & ~y)) & tops;
    if (bad) return k + (size_t) (__builtin_ctzll(bad) >> 3);
  }
#endif
  while (k < n && golibmc_key_byte(p[k])) k++;
  return k;
}

// golibmc_digits reads a decimal number of at most max (no sign, no
// leading space) at p, up to n bytes; it returns the digits read, 0 if none
// or if the number is above max.
static inline size_t golibmc_digits(const char *p, size_t n, uint64_t max, uint64_t *v) {
  uint64_t x = 0;
  size_t i = 0, m = n < 19 ? n : 19;
  // Up to 19 digits cannot wrap a uint64_t: add them up, then compare.
  for (; i < m; i++) {
    unsigned d = (unsigned) (unsigned char) p[i] - '0';
    if (d > 9) break;
    x = x * 10 + d;
  }
  if (i == 19 && i < n && (unsigned) (unsigned char) p[i] - '0' <= 9) { // more: one at a time, checked
    uint64_t lim = max / 10, last = max % 10;
    for (; i < n && (unsigned) (unsigned char) p[i] - '0' <= 9; i++) {
      uint64_t d = (uint64_t) (unsigned char) p[i] - '0';
      if (x > lim || (x == lim && d > last)) return 0; // x * 10 + d > max
      x = x * 10 + d;
    }
  }
  if (x > max) return 0;
  *v = x;
  return i;
}
int golibmc_text_error(const char *p, size_t len, memcached_return_t *rc, const char **msg, size_t *mlen);
int golibmc_line(const char *p, size_t n, size_t *len);
void golibmc_ids_before(golibmc_handle *h);
void golibmc_ids_after(golibmc_handle *h);
int golibmc_opaque_ok(const golibmc_handle *h, uint32_t i, const unsigned char *u);
memcached_return_t golibmc_binary_status(uint32_t status);

// read.c: reads, which the requests and the server commands also use.
memcached_return_t golibmc_mget_send(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
                                     golibmc_res *res);
uint32_t golibmc_read(golibmc_handle *h, int block);
void golibmc_read_finish(golibmc_handle *h, size_t n, const char *keys, const size_t *klens, golibmc_res *res);
void golibmc_read_fail(golibmc_handle *h, uint32_t i, memcached_return_t rc, const char *msg, size_t mlen);

// requests.c: requests, which GetAndTouch and the server commands also use.
void golibmc_request_write(golibmc_handle *h, int op, int buffered, size_t n, const char *keys, const size_t *klens,
                           const char *vals, const size_t *vlens, const int64_t *exps, const uint32_t *flags,
                           const uint64_t *args, golibmc_res *res);
uint32_t golibmc_reply_read(golibmc_handle *h, int op, size_t n, golibmc_res *res, int block);
int golibmc_refused(memcached_return_t rc);

#endif
