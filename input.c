//go:build cgo

// input.c is the input layer. The replies to a read (memcached_mget), to
// requests and to server commands are read from each socket here, into a
// buffer per server of the handle (golibmc_in), with one recv per arrival and
// no peeking. Each reply record is checked against the protocol's grammar
// once it is complete (a read's: golibmc_text_record and
// golibmc_binary_record in read.c; a request's: golibmc_text_reply and
// golibmc_binary_reply in requests.c; a server command's:
// golibmc_server_record in servercmds.c; all built on the grammar at the end
// of this file), and only a record that passes is handed to libmemcached to
// parse: it is lent to the instance as its read buffer (golibmc_lend), so
// libmemcached parses exactly those bytes and never reads the socket itself
// during these calls. Every other server with replies pending is hidden
// meanwhile (its reply count set to 0 and restored after: golibmc_hide,
// golibmc_show), because libmemcached's fetch loop goes on to the next server
// that expects replies once a server's reply ends. Waiting for bytes happens
// in poll() here (golibmc_wait), for at most the time left to the call, or,
// for a split call, in Go's netpoller between two crossings (srv[i].wait
// tells Go which sockets).
//
// So a reply that does not parse (a number out of range, a length that does
// not match, a value not followed by \r\n, a key longer than a key, a
// binary body shorter than its key), a reply to another request, or bytes
// after the last reply, never reach libmemcached: the server's call fails
// with a protocol error and its connection is shut down.

#include "golibmc_internal.h"

// golibmc_in_reset forgets every server's input (a new call).
void golibmc_in_reset(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) {
    golibmc_in *in = &h->in[i];
    in->start = in->end = in->parsed = 0;
    in->cursor = in->want = in->got = in->off = 0;
    in->active = in->hidden = in->closed = 0;
  }
}

// golibmc_in_trim frees the large input buffers (the end of a call).
void golibmc_in_trim(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_cap; i++) {
    if (h->in[i].cap > GOLIBMC_POLICY_IN_KEEP) {
      free(h->in[i].buf);
      h->in[i].buf = NULL;
      h->in[i].cap = 0;
    }
  }
}

// golibmc_hide saves server i's reply count and sets it to 0, so that
// libmemcached's fetch loop does not turn to it.
void golibmc_hide(golibmc_handle *h, uint32_t i) {
  golibmc_in *in = &h->in[i];
  if (in->hidden) return;
  uint32_t *c = golibmc_inst_cursor(golibmc_inst(h, i));
  in->cursor = *c;
  *c = 0;
  in->hidden = 1;
}

// golibmc_show restores server i's reply count.
void golibmc_show(golibmc_handle *h, uint32_t i) {
  golibmc_in *in = &h->in[i];
  if (!in->hidden) return;
  *golibmc_inst_cursor(golibmc_inst(h, i)) = in->cursor;
  in->hidden = 0;
}

// golibmc_hide_all hides every server: while one server's replies are lent,
// libmemcached's fetch loop must turn to no other (one being read, or one
// whose replies will never be read in this call).
void golibmc_hide_all(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) golibmc_hide(h, i);
}

// golibmc_show_all restores every hidden server (before anything else runs
// on the handle: the crossing ends, or libmemcached is called otherwise).
void golibmc_show_all(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++) golibmc_show(h, i);
}

// golibmc_lend makes bytes [from, to) of server i's input the instance's
// read buffer, calls memcached_fetch_result once, and takes the buffer
// back. It returns what the fetch returned and the bytes libmemcached
// parsed in *used; *used is (size_t) -1 when libmemcached dropped the
// connection meanwhile (a reply it counts as fatal: it then points its read
// buffer at its own again).
memcached_result_st *golibmc_lend(golibmc_handle *h, uint32_t i, size_t from, size_t to,
                                  memcached_return_t *rc, size_t *used) {
  const memcached_instance_st *s = golibmc_inst(h, i);
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
int golibmc_in_recv(golibmc_handle *h, uint32_t i, size_t need, memcached_return_t *rc) {
  golibmc_in *in = &h->in[i];
  int fd = golibmc_inst_fd(golibmc_inst(h, i));
  if (fd < 0) {
    *rc = MEMCACHED_CONNECTION_FAILURE;
    return -1;
  }
  if (need < GOLIBMC_POLICY_RECV_ROOM) need = GOLIBMC_POLICY_RECV_ROOM;
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
static int golibmc_wait_ms(golibmc_handle *h) { return golibmc_ms_until(golibmc_poll_ms(h), h->read_deadline_ns); }

// golibmc_wait waits until one of the servers flagged in srv[].wait has
// bytes to read, at most the time this call has left for one wait. It
// returns 1 when one may have, 0 when the time ran out.
int golibmc_wait(golibmc_handle *h) {
  struct pollfd stack[16], *fds = stack;
  uint32_t n = 0;
  for (uint32_t i = 0; i < h->nsrv; i++) n += h->srv[i].wait;
  if (n == 0) return 1;
  if (n > sizeof(stack) / sizeof(stack[0]) && (fds = (struct pollfd *) calloc(n, sizeof(*fds))) == NULL) return 0;
  n = 0;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    if (!h->srv[i].wait) continue;
    fds[n].fd = golibmc_inst_fd(golibmc_inst(h, i));
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

// ---------------------------------------------------------------------------
// The grammar every reply check shares: numbers, keys, lines, the text
// protocol's error lines, and a binary reply's opaque and status.
// ---------------------------------------------------------------------------

// golibmc_key_ok checks a key a reply carries (namespace included): 1 to
// 250 bytes, none a space or a control byte, longer than the namespace and
// starting with it (libmemcached strips that many bytes off).
int golibmc_key_ok(const char *k, size_t n, const char *ns, size_t nslen) {
  return golibmc_key_fits(k, n, ns, nslen) && golibmc_key_scan(k, 0, n) == n;
}

// golibmc_key_fits is golibmc_key_ok but for the bytes (checked apart,
// golibmc_key_byte): the length, and the namespace.
int golibmc_key_fits(const char *k, size_t n, const char *ns, size_t nslen) {
  return n > nslen && n <= MEMCACHED_MAX_KEY - 1 && (nslen == 0 || memcmp(k, ns, nslen) == 0);
}

// golibmc_text_error reads a text error line (SERVER_ERROR, CLIENT_ERROR,
// ERROR) of len bytes at p into the code libmemcached's response.cc gives
// it, and the message; it returns 0 for any other line.
int golibmc_text_error(const char *p, size_t len, memcached_return_t *rc, const char **msg,
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
int golibmc_line(const char *p, size_t n, size_t *len) {
  const char *eol = (const char *) memchr(p, '\n', n < GOLIBMC_POLICY_LINE_MAX ? n : GOLIBMC_POLICY_LINE_MAX);
  if (eol == NULL) return n >= GOLIBMC_POLICY_LINE_MAX ? -1 : 0;
  if (eol == p || eol[-1] != '\r') return -1;
  *len = (size_t) (eol - p) - 1;
  return 1;
}

// golibmc_ids_before and golibmc_ids_after note, around the libmemcached
// calls that send a call's binary requests, the request ids they used on
// each server (see golibmc_opaque_ok).
void golibmc_ids_before(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++)
    h->in[i].rid0 = h->in[i].rid1 = golibmc_inst_request_id(golibmc_inst(h, i));
}

void golibmc_ids_after(golibmc_handle *h) {
  for (uint32_t i = 0; i < h->in_n; i++)
    h->in[i].rid1 = golibmc_inst_request_id(golibmc_inst(h, i));
}

// golibmc_opaque_ok reports whether the binary reply header at u echoes
// the opaque of one of this call's requests to server i: a reply to an
// earlier request (a server that answered one twice, late) is out of step.
int golibmc_opaque_ok(const golibmc_handle *h, uint32_t i, const unsigned char *u) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE || i >= h->in_n) return 1;
  uint32_t got;
  memcpy(&got, u + 12, 4);
  if (got > UINT16_MAX) return 0;
  uint16_t id = ntohs((uint16_t) got), first = (uint16_t) (h->in[i].rid0 + 1);
  return (uint32_t) (uint16_t) (id - first) < h->in[i].rid1 - h->in[i].rid0;
}

// golibmc_binary_status is the code of a binary error status, as
// libmemcached's response.cc gives it (ENOMEM: the server's).
memcached_return_t golibmc_binary_status(uint32_t status) {
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
