//go:build cgo

// servercmds.c is the commands every server answers separately (Stats,
// Version, Ping, FlushAll), each run on a handle holding that one server
// (golibmc_handle_new_single): libmemcached sends the command with a reply
// lent to it, as for a request (see requests.c), and the server's real
// reply is read through the input layer and checked here
// (golibmc_server_record).

#include "golibmc_internal.h"

// golibmc_server_fake writes into buf (at least 40 bytes) the reply
// libmemcached is lent to parse for a server command op (see requests.c):
// the end of the stats, OK, and a version libmemcached keeps as unknown
// (255.255.255), so that it asks again next time.
static size_t golibmc_server_fake(int op, int binary, char *buf) {
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
static int golibmc_version_num(const char *p, size_t n, uint64_t *num) {
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

// golibmc_server_record parses the next record of a server command's
// reply at p: MORE (not complete), END (the reply is complete: *rc, and a
// version in *num), a stat (GOLIBMC_REC_ITEM, written to out), FAIL or BAD.
static int golibmc_server_record(golibmc_handle *h, int op, int binary, const char *p, size_t n, size_t *len,
                                 memcached_return_t *rc, const char **msg, size_t *mlen, uint64_t *num) {
  if (binary) {
    const unsigned char *u = (const unsigned char *) p;
    *len = 24;
    if (n < 24) return GOLIBMC_REC_MORE;
    uint32_t keylen = golibmc_be16(u + 2), status = golibmc_be16(u + 6), body = golibmc_be32(u + 8);
    uint32_t want = op == GOLIBMC_STATS ? 0x10 : op == GOLIBMC_FLUSH ? 0x08 : 0x0b;
    if (u[0] != 0x81 || u[1] != want || u[4] != 0 || u[5] != 0 || body > GOLIBMC_POLICY_LINE_MAX || keylen > body ||
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
static memcached_return_t golibmc_stat_cb(const memcached_instance_st *s, const char *key, size_t klen,
                                          const char *value, size_t vlen, void *ctx) {
  (void) s;
  return golibmc_stat_put((golibmc_handle *) ctx, key, klen, value, vlen) ? MEMCACHED_SUCCESS
                                                                          : MEMCACHED_MEMORY_ALLOCATION_FAILURE;
}

// golibmc_stat_none is memcached_stat_execute's callback when the stats are
// read by golibmc: the lent reply carries none.
static memcached_return_t golibmc_stat_none(const memcached_instance_st *s, const char *key, size_t klen,
                                            const char *value, size_t vlen, void *ctx) {
  (void) s, (void) key, (void) klen, (void) value, (void) vlen, (void) ctx;
  return MEMCACHED_SUCCESS;
}

// golibmc_server_command runs a command on h's only server: STATS (args
// may be NULL), VERSION (its version in res->num as major<<16|minor<<8|
// micro), PING (a new connection and a version request) or FLUSH
// (flush_all exp). libmemcached sends it with a reply lent to parse (see
// requests.c), and the server's reply is read and checked here, waiting in
// poll() (the commands of every server run at once, each on its own
// handle). Without the input layer, libmemcached reads the reply itself.
void golibmc_server_command(golibmc_handle *h, int32_t ms, int op, const char *args, time_t exp,
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
