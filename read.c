//go:build cgo

// read.c is the reads: Get and GetMulti (golibmc_get_multi, or split in two
// crossings around Go's netpoller: golibmc_get_send, golibmc_get_recv) and
// GetAndTouch (golibmc_gat). One memcached_mget asks every server for its
// keys; each server's reply is then read through the input layer (input.c),
// every record checked against the grammar of a read's reply
// (golibmc_text_record, golibmc_binary_record) before libmemcached parses
// it, and each item written to the handle's out buffer as a record
// (golibmc_put_item). Without the private layout, libmemcached reads the
// replies itself (golibmc_fetch_plain).

#include "golibmc_internal.h"

// ---------------------------------------------------------------------------
// What a read's reply may hold.
// ---------------------------------------------------------------------------

// golibmc_read_mode is how a read's replies are checked, set by
// golibmc_read_start.
typedef struct golibmc_read_mode {
  int binary, cas, getk;
  const char *ns;
  size_t nslen;
} golibmc_read_mode;

// golibmc_read_mode_of reads how h's replies are checked.
static void golibmc_read_mode_of(golibmc_handle *h, golibmc_read_mode *m) {
  golibmc_conf(h);
  m->binary = h->conf_binary;
  m->cas = h->conf_cas;
  m->getk = m->binary && h->conf_replicas != 0;
  m->ns = h->conf_ns;
  m->nslen = h->conf_nslen;
}

// golibmc_text_record checks the record of a text read's reply at p (n
// bytes): "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" with the cas
// iff cas (libmemcached sent gets), or "END\r\n", or an error line. *len is
// the record's length (or, for MORE, the length known so far).
// It is inlined into golibmc_read_server, the read path (its other caller
// is a test's).
static inline __attribute__((always_inline)) int
golibmc_text_record(const char *p, size_t n, const char *ns, size_t nslen, int cas, size_t *len, memcached_return_t *rc,
                    const char **msg, size_t *mlen) {
  size_t ll;
  int l = golibmc_line(p, n, &ll);
  *len = n + 1;
  if (l < 0) return GOLIBMC_REC_BAD;
  if (l == 0) return GOLIBMC_REC_MORE;
  *len = ll + 2;
  if (ll == 3 && memcmp(p, "END", 3) == 0) return GOLIBMC_REC_END;
  if (ll < 6 || memcmp(p, "VALUE ", 6) != 0) // no error line starts so
    return golibmc_text_error(p, ll, rc, msg, mlen) ? GOLIBMC_REC_FAIL : GOLIBMC_REC_BAD;
  size_t at = 6, k = golibmc_key_scan(p, at, ll); // the key, checked as it is scanned
  if (k == ll || p[k] != ' ' || !golibmc_key_fits(p + at, k - at, ns, nslen)) return GOLIBMC_REC_BAD;
  uint64_t flags, bytes, unique;
  size_t d = golibmc_digits(p + k + 1, ll - k - 1, UINT32_MAX, &flags);
  if (d == 0 || k + 1 + d >= ll || p[k + 1 + d] != ' ') return GOLIBMC_REC_BAD;
  at = k + 2 + d;
  d = golibmc_digits(p + at, ll - at, GOLIBMC_POLICY_VALUE_MAX, &bytes);
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

// golibmc_check_text_record is golibmc_text_record for the tests that
// hold its grammar to a model (Go's checkTextRecord): 1 for a complete
// item record, 2 for one not complete yet, 3 for any other record that
// parses (END, an error line), 0 for one that does not; its length in *len.
int golibmc_check_text_record(const char *p, size_t n, const char *ns, size_t nslen, int cas, size_t *len) {
  memcached_return_t rc = MEMCACHED_SUCCESS;
  const char *msg;
  size_t mlen;
  switch (golibmc_text_record(p, n, ns, nslen, cas, len, &rc, &msg, &mlen)) {
  case GOLIBMC_REC_BAD: return 0;
  case GOLIBMC_REC_ITEM: return 1;
  case GOLIBMC_REC_MORE: return 2;
  }
  return 3;
}

// golibmc_binary_record checks the record of a binary read's reply at p:
// GETKQ hits then a NOOP (an mget), or one GETK per key, hit or miss (an
// mget with replicas). A status a get cannot have fails the server.
static int golibmc_binary_record(const golibmc_handle *h, uint32_t i, const char *p, size_t n, const char *ns,
                                 size_t nslen, int getk, size_t *len, memcached_return_t *rc, const char **msg,
                                 size_t *mlen) {
  const unsigned char *u = (const unsigned char *) p;
  *len = 24;
  if (n < 24) return GOLIBMC_REC_MORE;
  uint32_t op = u[1], keylen = golibmc_be16(u + 2), extlen = u[4], status = golibmc_be16(u + 6);
  uint32_t body = golibmc_be32(u + 8);
  if (u[0] != 0x81 || u[5] != 0 || body > GOLIBMC_POLICY_VALUE_MAX + 4 + MEMCACHED_MAX_KEY || !golibmc_opaque_ok(h, i, u))
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

// ---------------------------------------------------------------------------
// Sending: the keys to memcached_mget.
// ---------------------------------------------------------------------------

// golibmc_point makes the key pointer arrays for n keys packed back to back.
static int golibmc_point(golibmc_handle *h, size_t n, const char *keys, const size_t *klens) {
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
static void golibmc_unpoint(golibmc_handle *h, size_t n) {
  if (n && h->keyp) memset((void *) h->keyp, 0, n * sizeof(char *));
}

// golibmc_key_servers records the server of every key.
void golibmc_key_servers(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
                         golibmc_res *res) {
  for (size_t i = 0; i < n; i++) {
    res[i].server = golibmc_server_of(h, keys, klens[i]);
    keys += klens[i];
  }
}

static int golibmc_ejecting(golibmc_handle *h) {
  return h->nsrv > 1 && h->conf_autoeject;
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
static int golibmc_policy_skipped(golibmc_handle *h, uint32_t s) {
  const memcached_instance_st *in = golibmc_inst(h, s);
  if (memcached_server_response_count(in) == 0) return 0;
  uint64_t q = golibmc_inst_error_query(h->mc, in);
  return q != 0 && (q == GOLIBMC_QUERY_UNKNOWN || q == memcached_query_id(h->mc));
}

// golibmc_mget_send sends the request for n keys (memcached_mget, which
// only writes unless a reply is pending from an earlier call). A server
// that could not be asked is marked failed.
memcached_return_t golibmc_mget_send(golibmc_handle *h, size_t n, const char *keys,
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
  uint64_t replicas = h->conf_replicas;
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
    const memcached_instance_st *in = golibmc_inst(h, s);
    if (memcached_server_response_count(in) == 0) {
      memcached_return_t src = memcached_server_error_return(in);
      golibmc_fail_server(h, s, src != MEMCACHED_SUCCESS ? src : (rc == MEMCACHED_SOME_ERRORS ? MEMCACHED_FAILURE : rc));
    } else if (h->srv[s].rc == MEMCACHED_SUCCESS && golibmc_policy_skipped(h, s)) {
      golibmc_fail_server(h, s, memcached_server_error_return(in));
    }
  }
  return rc;
}

// ---------------------------------------------------------------------------
// Reading the replies.
// ---------------------------------------------------------------------------

// golibmc_read_fail ends server i's part of a read with rc: its socket is
// shut down (golibmc_policy_drop) and it is no longer read.
void golibmc_read_fail(golibmc_handle *h, uint32_t i, memcached_return_t rc, const char *msg,
                       size_t mlen) {
  if (msg && mlen && i < h->nsrv && h->srv[i].rc == MEMCACHED_SUCCESS) h->srv[i].msg = golibmc_msg(h, msg, mlen);
  golibmc_policy_drop(h, i, rc);
  h->in[i].active = 0;
  h->srv[i].wait = 0;
}

// golibmc_read_server parses every complete record server i's input holds,
// each checked then lent to libmemcached, and reads the socket again while
// it gives more. It returns 1 while the server's reply needs more bytes.
static int golibmc_read_server(golibmc_handle *h, uint32_t i, const golibmc_read_mode *m) {
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

// golibmc_read_start begins reading the replies of the mget just sent:
// every server expecting replies is read (and hidden), but one whose
// instance still holds bytes of its own that no request expects, which is
// out of step.
static void golibmc_read_start(golibmc_handle *h) {
  h->reading = 1;
  h->read_deadline_ns = h->cfg_poll > 0 ? golibmc_now_ns() + (int64_t) h->cfg_poll * 1000000 : 0;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = golibmc_inst(h, i);
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
static uint32_t golibmc_read_step(golibmc_handle *h, const golibmc_read_mode *m, int block) {
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
static void golibmc_fetch_plain(golibmc_handle *h) {
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
    const memcached_instance_st *s = golibmc_inst(h, i);
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
void golibmc_read_finish(golibmc_handle *h, size_t n, const char *keys, const size_t *klens,
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
uint32_t golibmc_read(golibmc_handle *h, int block) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE) {
    golibmc_fetch_plain(h);
    return 0;
  }
  golibmc_read_mode m;
  golibmc_read_mode_of(h, &m);
  if (!h->reading) golibmc_read_start(h);
  return golibmc_read_step(h, &m, block);
}

// ---------------------------------------------------------------------------
// The reads Go calls.
// ---------------------------------------------------------------------------

// golibmc_get_multi is one whole read of n keys (Get, GetMulti), waiting in
// poll() for the replies.
memcached_return_t golibmc_get_multi(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
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
memcached_return_t golibmc_get_send(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
                                    const size_t *klens, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  memcached_return_t rc = golibmc_mget_send(h, n, keys, klens, res);
  for (uint32_t i = 0; i < h->nsrv; i++) // the servers whose replies are to be read
    h->srv[i].wait = h->srv[i].rc == MEMCACHED_SUCCESS &&
                     memcached_server_response_count(golibmc_inst(h, i)) > 0;
  golibmc_end(h);
  return rc;
}

// golibmc_get_recv reads what has arrived of the replies, without
// waiting (with block: waiting in poll() for the rest); the servers listed in late did not send more in time and fail
// with TIMEOUT. It returns how many servers still wait for bytes
// (srv[].wait): Go waits for them in its netpoller and calls again. At 0
// the read is over.
uint32_t golibmc_get_recv(golibmc_handle *h, int32_t ms, size_t n, const char *keys,
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

// golibmc_gat touches then reads one key: libmemcached 1.1 has no "gat"
// command, so these are two requests in one crossing. res[0].rc is the
// touch's code when it failed.
void golibmc_gat(golibmc_handle *h, int32_t ms, const char *key, size_t klen, time_t exp,
                 golibmc_res *res) {
  golibmc_clear_res(res, 1);
  if (!golibmc_begin(h, ms)) {
    res[0].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  int64_t e = (int64_t) exp;
  if (golibmc_can_read(h, GOLIBMC_TOUCH)) {
    h->reply_lend = 0;
    golibmc_request_write(h, GOLIBMC_TOUCH, 0, 1, key, &klen, NULL, NULL, &e, NULL, NULL, res);
    golibmc_reply_read(h, GOLIBMC_TOUCH, 1, res, 1);
  } else {
    memcached_autoeject(h->mc);
    res[0].server = golibmc_server_of(h, key, klen);
    res[0].rc = golibmc_policy_arm(h);
    if (res[0].rc == MEMCACHED_SUCCESS) res[0].rc = memcached_touch(h->mc, key, klen, exp);
    if (res[0].rc != MEMCACHED_SUCCESS) res[0].msg = golibmc_msg_str(h, memcached_last_error_message(h->mc));
  }
  if (res[0].rc == MEMCACHED_SUCCESS) {
    uint32_t server = res[0].server;  // the touch's: the read records one only when it fails
    golibmc_mget_send(h, 1, key, &klen, res);
    golibmc_read(h, 1);
    golibmc_read_finish(h, 1, key, &klen, res);
    if (res[0].server == GOLIBMC_NONE) res[0].server = server;
  }
  golibmc_end(h);
}
