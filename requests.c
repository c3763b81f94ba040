//go:build cgo

// requests.c is the requests: every storage command, Delete, Increment,
// Decrement and Touch.
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

#include "golibmc_internal.h"

#include <netinet/tcp.h>

// ---------------------------------------------------------------------------
// What a request's reply may be.
// ---------------------------------------------------------------------------

// golibmc_command is op's libmemcached call for one key.
static memcached_return_t golibmc_command(memcached_st *mc, int op, const char *key, size_t klen,
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
static uint32_t golibmc_binary_opcode(int op) {
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
static size_t golibmc_fake_reply(int op, int binary, char *buf) {
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
static long golibmc_text_reply(const char *p, size_t n, int op, memcached_return_t *rc, const char **msg,
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
static long golibmc_binary_reply(const golibmc_handle *h, uint32_t s, const char *p, size_t n, int op,
                                 memcached_return_t *rc, const char **msg, size_t *mlen, uint64_t *num) {
  if (n < 24) return 0;
  const unsigned char *u = (const unsigned char *) p;
  uint32_t body = golibmc_be32(u + 8), status = golibmc_be16(u + 6);
  int counter = op == GOLIBMC_INCR || op == GOLIBMC_DECR;
  if (u[0] != 0x81 || u[1] != golibmc_binary_opcode(op) || u[5] != 0 || body > GOLIBMC_POLICY_LINE_MAX ||
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

// ---------------------------------------------------------------------------
// Writing the requests.
// ---------------------------------------------------------------------------

// golibmc_can_buffer reports whether Set and Delete can be buffered on h:
// the private layout is known, replies are on and there are no replicas
// over the binary protocol (their quiet requests answer only on failure;
// libmemcached sends replicas only over the binary protocol, so over the
// text protocol the setting changes nothing). UDP is refused in Go.
static int golibmc_can_buffer(golibmc_handle *h) {
  golibmc_conf(h);
  return golibmc_layout != GOLIBMC_LAYOUT_NONE && !h->conf_noreply && (h->conf_replicas == 0 || !h->conf_binary);
}

// golibmc_can_read reports whether golibmc reads the replies of op on h
// (buffered, or with a reply lent): the private layout is known and
// replies are on; Set and Delete also need buffering (binary replicas:
// their copies go out as quiet requests that answer only on failure).
int golibmc_can_read(golibmc_handle *h, int op) {
  if (op == GOLIBMC_SET || op == GOLIBMC_DELETE) return golibmc_can_buffer(h);
  golibmc_conf(h);
  return golibmc_layout != GOLIBMC_LAYOUT_NONE && !h->conf_noreply;
}

// golibmc_refused reports whether libmemcached answers rc without having
// written the request (libmemcached does not say; these codes come from its
// checks and its connect).
int golibmc_refused(memcached_return_t rc) {
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

// golibmc_request_lent sends one request of op through libmemcached with a
// success reply lent to it (see above). It returns libmemcached's code:
// BUFFERED when the request was sent and its real reply is to be read (the
// lent reply was taken), or the code of a failure before anything was sent.
static memcached_return_t golibmc_request_lent(golibmc_handle *h, uint32_t s, int op, int binary,
                                               const char *key, size_t klen, const char *val, size_t vlen,
                                               time_t exp, uint32_t flags, uint64_t arg) {
  const memcached_instance_st *inst = golibmc_inst(h, s);
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
static memcached_return_t golibmc_connect_by_read(golibmc_handle *h, uint32_t s, const char *key, size_t klen) {
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

// golibmc_cork holds back what is written to server s's socket (TCP_CORK)
// until golibmc_uncork: a batch of requests that libmemcached sends one
// call (and one send) each then leaves as one segment, and the server
// reads it at once, as it does a buffered batch. A socket that cannot be
// corked (not TCP, not connected yet) sends as it always does.
static void golibmc_cork(golibmc_handle *h, uint32_t s) {
  golibmc_in *in = &h->in[s];
  int on = 1, fd = golibmc_inst_fd(golibmc_inst(h, s));
  if (in->cork == 0 && fd >= 0 && setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on)) == 0) in->cork = fd + 1;
}

// golibmc_uncork sends what golibmc_cork held back, on every server whose
// connection is still the one corked (a connection closed since sent or
// lost its bytes already).
static void golibmc_uncork(golibmc_handle *h) {
  int off = 0;
  for (uint32_t s = 0; s < h->nsrv && s < h->in_n; s++) {
    golibmc_in *in = &h->in[s];
    if (in->cork == 0) continue;
    if (golibmc_inst_fd(golibmc_inst(h, s)) == in->cork - 1)
      (void) setsockopt(in->cork - 1, IPPROTO_TCP, TCP_CORK, &off, sizeof(off));
    in->cork = 0;
  }
}

// golibmc_request_write writes n requests of op (keys and values packed
// back to back): Set and Delete buffered and flushed once (buffered), the
// others one libmemcached call each with a reply lent. Each item gets its
// server and BUFFERED, or at once the code of its failure. args (NULL: 0
// each) are each item's CAS unique or counter delta.
void golibmc_request_write(golibmc_handle *h, int op, int buffered, size_t n, const char *keys,
                           const size_t *klens, const char *vals, const size_t *vlens,
                           const int64_t *exps, const uint32_t *flags, const uint64_t *args, golibmc_res *res) {
  uint32_t saved_msg = 0, saved_bytes = 0;
  int was_buffering = 0, binary = (golibmc_conf(h), h->conf_binary);
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
      if (rc == MEMCACHED_SUCCESS && n > 1) golibmc_cork(h, r->server);
      if (rc == MEMCACHED_SUCCESS)
        rc = golibmc_request_lent(h, r->server, op, binary, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                                  exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, args ? args[i] : 0);
      if (rc == MEMCACHED_PROTOCOL_ERROR) h->srv[r->server].unsync = 1;
    } else if (rc == MEMCACHED_SUCCESS) {
      rc = golibmc_command(h->mc, op, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                           exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, args ? args[i] : 0, NULL);
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
  golibmc_uncork(h);
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
    const memcached_instance_st *in = golibmc_inst(h, s);
    if (h->srv[s].rc == MEMCACHED_SUCCESS && memcached_server_response_count(in) == 0 && buffered) {
      memcached_return_t src = memcached_server_error_return(in);
      golibmc_fail_server(h, s, src != MEMCACHED_SUCCESS ? src : (frc != MEMCACHED_SUCCESS ? frc : MEMCACHED_WRITE_FAILURE));
    }
    if (h->srv[s].rc != MEMCACHED_SUCCESS) res[i].rc = h->srv[s].rc;
  }
}

// ---------------------------------------------------------------------------
// Reading the replies.
// ---------------------------------------------------------------------------

// golibmc_reply_fail fails server s's items from its reply k on with rc
// (their outcome is not known) and ends its part of the read (its socket
// shut down).
static void golibmc_reply_fail(golibmc_handle *h, uint32_t s, golibmc_res *res, memcached_return_t rc) {
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
static int golibmc_reply_server(golibmc_handle *h, uint32_t s, int op, int binary, golibmc_res *res) {
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
    const memcached_instance_st *inst = golibmc_inst(h, s);
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
static int golibmc_reply_start(golibmc_handle *h, size_t n, golibmc_res *res) {
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
    else if (h->reply_lend && golibmc_inst_unread(golibmc_inst(h, s), &at) > 0)
      golibmc_reply_fail(h, s, res, MEMCACHED_PROTOCOL_ERROR);
  }
  return 1;
}

// golibmc_reply_read reads the replies of the items golibmc_request_write
// sent, waiting in poll() with block; it returns how many servers still
// wait for bytes (srv[].wait), 0 with block.
uint32_t golibmc_reply_read(golibmc_handle *h, int op, size_t n, golibmc_res *res, int block) {
  if (!h->reading && !golibmc_reply_start(h, n, res)) return 0;
  int binary = (golibmc_conf(h), h->conf_binary);
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

// ---------------------------------------------------------------------------
// The requests Go calls.
// ---------------------------------------------------------------------------

// golibmc_commands runs op for n keys (and values), one libmemcached call
// each, which reads its reply itself (unchecked): for a library whose
// private layout is not known, with noreply, and for Set and Delete with
// binary replicas. Each key's code, server and message go to res.
static void golibmc_commands(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                             const size_t *klens, const char *vals, const size_t *vlens,
                             const int64_t *exps, const uint32_t *flags, const uint64_t *args, golibmc_res *res) {
  golibmc_clear_res(res, n);
  if (!golibmc_begin(h, ms)) return;
  memcached_autoeject(h->mc);
  uint64_t replicas = h->conf_replicas;
  for (size_t i = 0; i < n; i++) {
    golibmc_res *r = &res[i];
    r->server = golibmc_server_of(h, keys, klens[i]);
    memcached_return_t rc = golibmc_policy_arm(h);
    // golibmc_policy_skip (see golibmc_request_write).
    if (rc == MEMCACHED_SUCCESS && r->server < h->nsrv && h->srv[r->server].rc == MEMCACHED_TIMEOUT)
      rc = MEMCACHED_TIMEOUT;
    if (rc == MEMCACHED_SUCCESS) {
      rc = golibmc_command(h->mc, op, keys, klens[i], vals ? vals : "", vlens ? vlens[i] : 0,
                           exps ? (time_t) exps[i] : 0, flags ? flags[i] : 0, args ? args[i] : 0, &r->num);
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

// golibmc_requests runs n requests of op (keys and values packed back to
// back) in chunks, each written and then answered, waiting in poll();
// args (NULL: 0 each) are each item's CAS unique or counter delta.
// Without the input layer (an unknown layout, noreply, or Set and Delete
// with binary replicas), each runs as its own libmemcached call instead
// (golibmc_commands).
void golibmc_requests(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                      const size_t *klens, const char *vals, const size_t *vlens,
                      const int64_t *exps, const uint32_t *flags, const uint64_t *args, golibmc_res *res) {
  if (!golibmc_can_read(h, op)) {
    golibmc_commands(h, ms, op, n, keys, klens, vals, vlens, exps, flags, args, res);
    return;
  }
  if (!golibmc_begin(h, ms)) {
    for (size_t i = 0; i < n; i++) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  int buffered = op == GOLIBMC_SET || op == GOLIBMC_DELETE;
  h->reply_lend = buffered;
  for (size_t from = 0; from < n; from += GOLIBMC_POLICY_CHUNK) {
    size_t m = n - from < GOLIBMC_POLICY_CHUNK ? n - from : GOLIBMC_POLICY_CHUNK;
    golibmc_in_reset(h);
    golibmc_request_write(h, op, buffered, m, keys, klens + from, vals, vlens ? vlens + from : NULL,
                          exps ? exps + from : NULL, flags ? flags + from : NULL, args ? args + from : NULL,
                          res + from);
    golibmc_reply_read(h, op, m, res + from, 1);
    for (size_t i = from; i < from + m; i++) {
      keys += klens[i];
      if (vals) vals += vlens[i];
    }
  }
  golibmc_end(h);
}

// golibmc_request_send is the write half of at most GOLIBMC_POLICY_CHUNK
// requests whose waits happen in Go (golibmc_can_read must hold);
// srv[].wait flags the servers whose replies are to be read.
void golibmc_request_send(golibmc_handle *h, int32_t ms, int op, size_t n, const char *keys,
                          const size_t *klens, const char *vals, const size_t *vlens,
                          const int64_t *exps, const uint32_t *flags, const uint64_t *args, golibmc_res *res) {
  if (!golibmc_begin(h, ms)) {
    for (size_t i = 0; i < n; i++) res[i].rc = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    return;
  }
  h->reply_lend = op == GOLIBMC_SET || op == GOLIBMC_DELETE;
  golibmc_request_write(h, op, h->reply_lend, n, keys, klens, vals, vlens, exps, flags, args, res);
  for (size_t i = 0; i < n; i++) // the servers whose replies are to be read
    if (res[i].rc == MEMCACHED_BUFFERED && res[i].server < h->nsrv) h->srv[res[i].server].wait = 1;
  golibmc_end(h);
}

// golibmc_request_recv reads what has arrived of the replies, without
// waiting (with block: waiting in poll() for the rest); the servers listed
// in late did not answer in time: their items fail with TIMEOUT. It
// returns how many servers still wait for bytes.
uint32_t golibmc_request_recv(golibmc_handle *h, int32_t ms, int op, size_t n, golibmc_res *res,
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
