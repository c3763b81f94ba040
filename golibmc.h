// golibmc.h is the one header every cgo file of this module includes. It pulls
// in libmemcached and defines the small static shims the thin layer calls, so
// that each Go operation crosses into C once: the shim applies the call's
// deadline, runs the libmemcached call(s), and restores the handle.
//
// The shims only marshal: they hold no policy. Memory rules:
//   - key and value pointers passed in are borrowed for the call only;
//   - results are written into buffers owned by the golibmc_handle (reused
//     across calls, freed by golibmc_handle_free), which Go copies out of
//     before the handle is used again.
#ifndef GOLIBMC_H
#define GOLIBMC_H

#include <libmemcached/memcached.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>

#if !defined(LIBMEMCACHED_VERSION_HEX) || LIBMEMCACHED_VERSION_HEX < 0x001000000
#error "golibmc needs libmemcached 1.0 or later (libmemcached-awesome 1.1 recommended)"
#endif

// GOLIBMC_FN marks the shims: static (one copy per cgo file that includes
// this header) and unused-tolerant, since not every file calls every shim.
#define GOLIBMC_FN static inline __attribute__((unused))

// golibmc_handle is one libmemcached connection set (a clone of the client's
// configured master) plus the buffers its results are read from.
typedef struct golibmc_handle {
  memcached_st *mc;
  memcached_result_st result; // last single-key result (Get)
  memcached_result_st drain;  // scratch result for reading a Get's end marker
  char *out;                  // multi-result records (GetMulti, Stats, Version)
  size_t out_len, out_cap;
  const char **keys;          // key pointer array for memcached_mget
  size_t *key_lens;
  size_t keys_cap;
  int32_t saved_poll, saved_connect; // configured timeouts while a deadline applies
  int deadline_set;
  int64_t deadline_ms;  // CLOCK_MONOTONIC ms at which the call's deadline passes
  uint8_t *timed_out;   // per server index: timed out during this multi-key call
  uint32_t timed_out_cap;
  int timeouts;         // whether timed_out holds anything for this call
  // Single-key results, read by Go from C memory so no Go pointer is passed.
  const char *val; // value of the last Get (in result, valid until the next call)
  size_t val_len;
  uint32_t flags;
  uint64_t cas;
  uint64_t num; // counter value of the last Increment/Decrement
} golibmc_handle;

GOLIBMC_FN golibmc_handle *golibmc_handle_new(memcached_st *master) {
  golibmc_handle *h = (golibmc_handle *) calloc(1, sizeof(*h));
  if (h == NULL) return NULL;
  h->mc = memcached_clone(NULL, master);
  if (h->mc == NULL) {
    free(h);
    return NULL;
  }
  if (memcached_result_create(h->mc, &h->result) == NULL) {
    memcached_free(h->mc);
    free(h);
    return NULL;
  }
  if (memcached_result_create(h->mc, &h->drain) == NULL) {
    memcached_result_free(&h->result);
    memcached_free(h->mc);
    free(h);
    return NULL;
  }
  return h;
}

GOLIBMC_FN void golibmc_handle_free(golibmc_handle *h) {
  if (h == NULL) return;
  memcached_result_free(&h->result);
  memcached_result_free(&h->drain);
  memcached_free(h->mc);
  free(h->out);
  free(h->keys);
  free(h->key_lens);
  free(h->timed_out);
  free(h);
}

GOLIBMC_FN int64_t golibmc_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// golibmc_begin lowers the poll and connect timeouts to ms for one call when
// ms >= 0 (a context deadline shorter than the configured timeouts).
GOLIBMC_FN void golibmc_begin(golibmc_handle *h, int32_t ms) {
  h->out_len = 0;
  if (ms < 0) return;
  h->deadline_ms = golibmc_now_ms() + ms;
  h->saved_poll = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT);
  h->saved_connect = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT);
  h->deadline_set = 1;
  if (ms < h->saved_poll || h->saved_poll < 0)
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t) ms);
  if (ms < h->saved_connect || h->saved_connect < 0)
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t) ms);
}

GOLIBMC_FN void golibmc_end(golibmc_handle *h) {
  if (!h->deadline_set) return;
  h->deadline_set = 0;
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t) h->saved_poll);
  memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t) h->saved_connect);
}

// golibmc_skip tells a multi-key loop not to try a key: the call's deadline
// has passed, or the key's server already timed out in this call. Without
// it a hung server would cost one poll timeout per key instead of one.
GOLIBMC_FN memcached_return_t golibmc_skip(golibmc_handle *h, const char *key, size_t klen) {
  if (h->deadline_set && golibmc_now_ms() >= h->deadline_ms) return MEMCACHED_TIMEOUT;
  if (h->timeouts && h->timed_out[memcached_generate_hash(h->mc, key, klen)]) return MEMCACHED_TIMEOUT;
  return MEMCACHED_SUCCESS;
}

// golibmc_mark_timed_out records that server idx timed out in this call.
GOLIBMC_FN void golibmc_mark_timed_out(golibmc_handle *h, uint32_t idx) {
  uint32_t n = memcached_server_count(h->mc);
  if (n > h->timed_out_cap) {
    uint8_t *p = (uint8_t *) realloc(h->timed_out, n);
    if (p == NULL) return;
    h->timed_out = p;
    h->timed_out_cap = n;
  }
  if (!h->timeouts) memset(h->timed_out, 0, h->timed_out_cap);
  if (idx < h->timed_out_cap) {
    h->timed_out[idx] = 1;
    h->timeouts = 1;
  }
}

// golibmc_note records a timeout of key's server for golibmc_skip.
GOLIBMC_FN void golibmc_note(golibmc_handle *h, const char *key, size_t klen, memcached_return_t rc) {
  if (rc == MEMCACHED_TIMEOUT) golibmc_mark_timed_out(h, memcached_generate_hash(h->mc, key, klen));
}

// golibmc_note_instance records a timeout of server s for golibmc_skip.
GOLIBMC_FN void golibmc_note_instance(golibmc_handle *h, const memcached_instance_st *s) {
  uint32_t n = memcached_server_count(h->mc);
  for (uint32_t i = 0; s != NULL && i < n; i++) {
    if (memcached_server_instance_by_position(h->mc, i) == s) golibmc_mark_timed_out(h, i);
  }
}

// golibmc_out_reserve makes room for n more bytes in h->out.
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

GOLIBMC_FN int golibmc_out_put(golibmc_handle *h, const void *p, size_t n) {
  if (!golibmc_out_reserve(h, n)) return 0;
  if (n) memcpy(h->out + h->out_len, p, n);
  h->out_len += n;
  return 1;
}

// golibmc_put_result appends one fetched item as a record:
// u64 cas, u32 flags, u32 key length, u64 value length, key, value.
GOLIBMC_FN int golibmc_put_result(golibmc_handle *h, memcached_result_st *r) {
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
  return 1;
}

// golibmc_reserve_keys makes room for n keys in the handle's mget arrays.
GOLIBMC_FN int golibmc_reserve_keys(golibmc_handle *h, size_t n) {
  if (n <= h->keys_cap) return 1;
  const char **kp = (const char **) realloc((void *) h->keys, n * sizeof(char *));
  if (kp == NULL) return 0;
  h->keys = kp;
  size_t *kl = (size_t *) realloc(h->key_lens, n * sizeof(size_t));
  if (kl == NULL) return 0;
  h->key_lens = kl;
  h->keys_cap = n;
  return 1;
}

// golibmc_fetch_all reads every result of the pending mget into h->out
// (adding to *count) and returns SUCCESS when all were read (END or
// NOTFOUND at the end), else the failing code.
GOLIBMC_FN memcached_return_t golibmc_fetch_all(golibmc_handle *h, size_t *count) {
  memcached_return_t frc;
  memcached_result_st *r;
  while ((r = memcached_fetch_result(h->mc, &h->result, &frc)) != NULL) {
    if (!golibmc_put_result(h, r)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    (*count)++;
  }
  return (frc == MEMCACHED_END || frc == MEMCACHED_NOTFOUND) ? MEMCACHED_SUCCESS : frc;
}

// golibmc_get fetches one key with memcached_mget + memcached_fetch_result
// (memcached_get does the same but returns no CAS and mallocs the value),
// into the handle's reusable result. It then reads the request's end marker
// (ASCII END, binary NOOP) into a scratch result: left unread, a binary
// NOOP would be taken as the answer to the handle's next request. The
// marker normally arrives with the value, so this costs no system call.
// The value stays in h->result until the next call on h.
GOLIBMC_FN memcached_return_t golibmc_get(golibmc_handle *h, int32_t ms, const char *key,
                                          size_t klen) {
  golibmc_begin(h, ms);
  h->val = NULL;
  h->val_len = 0;
  memcached_return_t rc = memcached_mget(h->mc, &key, &klen, 1);
  if (memcached_success(rc)) {
    memcached_result_st *r = memcached_fetch_result(h->mc, &h->result, &rc);
    if (r != NULL) {
      h->val = memcached_result_value(r);
      h->val_len = memcached_result_length(r);
      h->flags = memcached_result_flags(r);
      h->cas = memcached_result_cas(r);
      memcached_return_t drc;
      while (memcached_fetch_result(h->mc, &h->drain, &drc) != NULL) {
      }
    } else if (rc == MEMCACHED_END) {
      rc = MEMCACHED_NOTFOUND;
    }
  }
  golibmc_end(h);
  return rc;
}

// golibmc_gat touches then gets one key: libmemcached 1.1 has no "gat"
// command, so these are two requests in one crossing.
GOLIBMC_FN memcached_return_t golibmc_gat(golibmc_handle *h, int32_t ms, const char *key,
                                          size_t klen, time_t exp) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_touch(h->mc, key, klen, exp);
  golibmc_end(h);
  if (!memcached_success(rc)) return rc;
  return golibmc_get(h, ms, key, klen);
}

enum { GOLIBMC_SET, GOLIBMC_ADD, GOLIBMC_REPLACE, GOLIBMC_APPEND, GOLIBMC_PREPEND, GOLIBMC_CAS };

GOLIBMC_FN memcached_return_t golibmc_store_one(memcached_st *mc, int op, const char *key, size_t klen,
                                            const char *val, size_t vlen, time_t exp,
                                            uint32_t flags, uint64_t cas) {
  switch (op) {
  case GOLIBMC_SET: return memcached_set(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_ADD: return memcached_add(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_REPLACE: return memcached_replace(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_APPEND: return memcached_append(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_PREPEND: return memcached_prepend(mc, key, klen, val, vlen, exp, flags);
  case GOLIBMC_CAS: return memcached_cas(mc, key, klen, val, vlen, exp, flags, cas);
  }
  return MEMCACHED_INVALID_ARGUMENTS;
}

GOLIBMC_FN memcached_return_t golibmc_store(golibmc_handle *h, int32_t ms, int op, const char *key,
                                        size_t klen, const char *val, size_t vlen, time_t exp,
                                        uint32_t flags, uint64_t cas) {
  golibmc_begin(h, ms);
  memcached_return_t rc = golibmc_store_one(h->mc, op, key, klen, val, vlen, exp, flags, cas);
  golibmc_end(h);
  return rc;
}

// golibmc_store_multi stores n items whose keys and values are packed
// back to back in keys and vals; rcs receives each item's return code.
GOLIBMC_FN void golibmc_store_multi(golibmc_handle *h, int32_t ms, int op, size_t n,
                                const char *keys, const size_t *klens, const char *vals,
                                const size_t *vlens, const int64_t *exps, const uint32_t *flags,
                                int32_t *rcs, int keep_timeouts) {
  if (!keep_timeouts) h->timeouts = 0;
  golibmc_begin(h, ms);
  for (size_t i = 0; i < n; i++) {
    rcs[i] = golibmc_skip(h, keys, klens[i]);
    if (rcs[i] == MEMCACHED_SUCCESS)
      rcs[i] = golibmc_store_one(h->mc, op, keys, klens[i], vals, vlens[i], (time_t) exps[i],
                                 flags[i], 0);
    golibmc_note(h, keys, klens[i], rcs[i]);
    keys += klens[i];
    vals += vlens[i];
  }
  golibmc_end(h);
}

// golibmc_set_pipelined stores n items with memcached_set while requests are
// buffered, so they go out back to back instead of one round trip each, then
// flushes, then asks for the buffered keys again with one memcached_mget and
// appends what it finds to h->out (records as golibmc_put_result). Buffered
// sets have no per-key answer; the caller compares the mget records with
// what it stored and re-sends the keys not found one by one to learn their
// exact outcome. The mget also reads the sets' pending answers, so the
// handle is in step again when this returns.
//
// Items go in chunks that stay under half of the _io_msg_watermark and
// _io_bytes_watermark behaviors: past them libmemcached "purges" pending
// answers in the middle of a write with a 50 ms poll timeout, and a purge
// that times out under load can leave the connection closed while the write
// goes on (an assertion failure in libmemcached 1.1's _io_write).
//
// The buffer_requests flag is set directly: memcached_behavior_set would
// close every connection (send_quit) each time it changes.
GOLIBMC_FN memcached_return_t golibmc_set_pipelined(golibmc_handle *h, int32_t ms, size_t n,
                                                   const char *keys, const size_t *klens,
                                                   const char *vals, const size_t *vlens,
                                                   const int64_t *exps, const uint32_t *flags,
                                                   int32_t *rcs, size_t *count) {
  *count = 0;
  if (!golibmc_reserve_keys(h, n)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  for (size_t i = 0; i < n; i++) rcs[i] = MEMCACHED_FAILURE; // not sent (yet)
  size_t max_items = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_MSG_WATERMARK) / 2;
  size_t max_bytes = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_IO_BYTES_WATERMARK) / 2;
  h->timeouts = 0;
  golibmc_begin(h, ms);
  memcached_return_t rc = MEMCACHED_SUCCESS;
  size_t i = 0;
  while (i < n && memcached_success(rc)) {
    int was_buffering = h->mc->flags.buffer_requests;
    h->mc->flags.buffer_requests = 1;
    size_t m = 0, bytes = 0;
    while (i < n) {
      size_t cost = klens[i] + vlens[i] + 64;
      if (m > 0 && (m + 1 >= max_items || bytes + cost > max_bytes)) break;
      rcs[i] = memcached_set(h->mc, keys, klens[i], vals, vlens[i], (time_t) exps[i], flags[i]);
      if (rcs[i] == MEMCACHED_BUFFERED || rcs[i] == MEMCACHED_SUCCESS) {
        h->keys[m] = keys;
        h->key_lens[m] = klens[i];
        m++;
        bytes += cost;
      }
      keys += klens[i];
      vals += vlens[i];
      i++;
    }
    rc = memcached_flush_buffers(h->mc);
    h->mc->flags.buffer_requests = was_buffering;
    if (memcached_success(rc) && m > 0) {
      rc = memcached_mget(h->mc, h->keys, h->key_lens, m);
      if (memcached_success(rc)) rc = golibmc_fetch_all(h, count);
    }
  }
  // The keys not read back are re-sent by the caller (golibmc_store_multi
  // with keep_timeouts): remember a server that timed out so they skip it.
  if (rc == MEMCACHED_TIMEOUT) golibmc_note_instance(h, memcached_server_get_last_disconnect(h->mc));
  golibmc_end(h);
  return rc;
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

GOLIBMC_FN memcached_return_t golibmc_delete(golibmc_handle *h, int32_t ms, const char *key,
                                         size_t klen) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_delete(h->mc, key, klen, 0);
  golibmc_end(h);
  return rc;
}

GOLIBMC_FN void golibmc_delete_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                 const size_t *klens, int32_t *rcs) {
  h->timeouts = 0;
  golibmc_begin(h, ms);
  for (size_t i = 0; i < n; i++) {
    rcs[i] = golibmc_skip(h, keys, klens[i]);
    if (rcs[i] == MEMCACHED_SUCCESS) rcs[i] = memcached_delete(h->mc, keys, klens[i], 0);
    golibmc_note(h, keys, klens[i], rcs[i]);
    keys += klens[i];
  }
  golibmc_end(h);
}

// golibmc_incr uses the _by_key variants, whose delta is 64-bit (the plain
// memcached_increment takes a uint32_t).
GOLIBMC_FN memcached_return_t golibmc_incr(golibmc_handle *h, int32_t ms, int decr, const char *key,
                                       size_t klen, uint64_t delta) {
  golibmc_begin(h, ms);
  h->num = 0;
  memcached_return_t rc =
      decr ? memcached_decrement_by_key(h->mc, key, klen, key, klen, delta, &h->num)
           : memcached_increment_by_key(h->mc, key, klen, key, klen, delta, &h->num);
  golibmc_end(h);
  return rc;
}

GOLIBMC_FN void golibmc_incr_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                               const size_t *klens, uint64_t delta, uint64_t *values,
                               int32_t *rcs) {
  h->timeouts = 0;
  golibmc_begin(h, ms);
  for (size_t i = 0; i < n; i++) {
    rcs[i] = golibmc_skip(h, keys, klens[i]);
    if (rcs[i] == MEMCACHED_SUCCESS)
      rcs[i] = memcached_increment_by_key(h->mc, keys, klens[i], keys, klens[i], delta, &values[i]);
    golibmc_note(h, keys, klens[i], rcs[i]);
    keys += klens[i];
  }
  golibmc_end(h);
}

GOLIBMC_FN memcached_return_t golibmc_touch(golibmc_handle *h, int32_t ms, const char *key,
                                        size_t klen, time_t exp) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_touch(h->mc, key, klen, exp);
  golibmc_end(h);
  return rc;
}

// golibmc_mget requests n keys (packed back to back in keys) from all servers
// in one memcached_mget, then fetches every result into h->out as records
// (see golibmc_put_result). It returns the last fetch's code; *count is the
// number of records.
GOLIBMC_FN memcached_return_t golibmc_mget(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                       const size_t *klens, size_t *count) {
  *count = 0;
  if (!golibmc_reserve_keys(h, n)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  for (size_t i = 0; i < n; i++) {
    h->keys[i] = keys;
    h->key_lens[i] = klens[i];
    keys += klens[i];
  }
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_mget(h->mc, h->keys, h->key_lens, n);
  if (memcached_success(rc) || rc == MEMCACHED_SOME_ERRORS) {
    memcached_return_t frc = golibmc_fetch_all(h, count);
    if (rc != MEMCACHED_SOME_ERRORS || frc == MEMCACHED_MEMORY_ALLOCATION_FAILURE) rc = frc;
  }
  golibmc_end(h);
  return rc;
}

// golibmc_put_server appends a server's identity: u32 port, u32 name length, name.
GOLIBMC_FN int golibmc_put_server(golibmc_handle *h, const memcached_instance_st *s) {
  const char *name = memcached_server_name(s);
  uint32_t port = memcached_server_port(s);
  uint32_t nlen = (uint32_t) strlen(name);
  return golibmc_out_put(h, &port, 4) && golibmc_out_put(h, &nlen, 4) &&
         golibmc_out_put(h, name, nlen);
}

// golibmc_stat_cb is memcached_stat_execute's callback: one record per stat,
// server identity, u32 key length, u32 value length, key, value.
GOLIBMC_FN memcached_return_t golibmc_stat_cb(const memcached_instance_st *s, const char *key,
                                          size_t klen, const char *value, size_t vlen,
                                          void *ctx) {
  golibmc_handle *h = (golibmc_handle *) ctx;
  uint32_t k = (uint32_t) klen, v = (uint32_t) vlen;
  if (!golibmc_put_server(h, s) || !golibmc_out_put(h, &k, 4) || !golibmc_out_put(h, &v, 4) ||
      !golibmc_out_put(h, key, klen) || !golibmc_out_put(h, value, vlen))
    return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  return MEMCACHED_SUCCESS;
}

GOLIBMC_FN memcached_return_t golibmc_stats(golibmc_handle *h, int32_t ms, const char *args) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_stat_execute(h->mc, args, golibmc_stat_cb, h);
  golibmc_end(h);
  return rc;
}

// golibmc_version asks every server its version, then writes one record per
// server: identity, u8 major, u8 minor, u8 micro.
GOLIBMC_FN memcached_return_t golibmc_version(golibmc_handle *h, int32_t ms) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_version(h->mc);
  uint32_t n = memcached_server_count(h->mc);
  for (uint32_t i = 0; i < n; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    uint8_t v[3] = {memcached_server_major_version(s), memcached_server_minor_version(s),
                    memcached_server_micro_version(s)};
    if (!golibmc_put_server(h, s) || !golibmc_out_put(h, v, 3)) {
      rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
      break;
    }
  }
  golibmc_end(h);
  return rc;
}

GOLIBMC_FN memcached_return_t golibmc_flush(golibmc_handle *h, int32_t ms, time_t exp) {
  golibmc_begin(h, ms);
  memcached_return_t rc = memcached_flush(h->mc, exp);
  golibmc_end(h);
  return rc;
}

// golibmc_server_by_key writes the identity of the server libmemcached picks
// for key into h->out.
GOLIBMC_FN memcached_return_t golibmc_server_by_key(golibmc_handle *h, memcached_st *mc,
                                                const char *key, size_t klen) {
  memcached_return_t rc;
  h->out_len = 0;
  const memcached_instance_st *s = memcached_server_by_key(mc, key, klen, &rc);
  if (s == NULL) return memcached_success(rc) ? MEMCACHED_NO_SERVERS : rc;
  if (!golibmc_put_server(h, s)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  return MEMCACHED_SUCCESS;
}

// golibmc_last_disconnect writes the identity of the server that last failed
// on mc into h->out; it returns 0 when there is none.
GOLIBMC_FN int golibmc_last_disconnect(golibmc_handle *h) {
  h->out_len = 0;
  const memcached_instance_st *s = memcached_server_get_last_disconnect(h->mc);
  if (s == NULL) return 0;
  return golibmc_put_server(h, s);
}

// golibmc_behavior_get is memcached_behavior_get without its side effects
// and with one fix: libmemcached 1.1 answers BINARY_PROTOCOL with the
// "is consistent distribution" flag, so the flag is read directly; and the
// socket buffer sizes are read from the settings (-1, the system default,
// reads as 0) instead of by opening a connection from the master.
GOLIBMC_FN uint64_t golibmc_behavior_get(memcached_st *mc, memcached_behavior_t b) {
  switch (b) {
  case MEMCACHED_BEHAVIOR_BINARY_PROTOCOL: return mc->flags.binary_protocol;
  case MEMCACHED_BEHAVIOR_SOCKET_SEND_SIZE: return mc->send_size < 0 ? 0 : (uint64_t) mc->send_size;
  case MEMCACHED_BEHAVIOR_SOCKET_RECV_SIZE: return mc->recv_size < 0 ? 0 : (uint64_t) mc->recv_size;
  case MEMCACHED_BEHAVIOR_USER_DATA:
  case MEMCACHED_BEHAVIOR_LOAD_FROM_FILE:
  case MEMCACHED_BEHAVIOR_MAX: return 0;
  default: return memcached_behavior_get(mc, b);
  }
}

#endif
