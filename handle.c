//go:build cgo

// handle.c is a handle's life (a checked clone of the client's master, a
// handle for one server, the client's scratch handle) and the frame every
// call on a handle runs in: golibmc_begin clears the results and notes the
// deadline, golibmc_policy_arm applies it before each libmemcached call,
// golibmc_end records what Go needs to judge each connection; between the
// two, a server that fails is recorded (golibmc_fail_server) or dropped
// (golibmc_policy_drop), and when it may be tried again is noted
// (golibmc_policy_retry, golibmc_policy_note_failures).

#include "golibmc_internal.h"

// golibmc_header_version is the version of the headers this is compiled with.
const char *golibmc_header_version(void) { return LIBMEMCACHED_VERSION_STRING; }

// ---------------------------------------------------------------------------
// Handles.
// ---------------------------------------------------------------------------

// golibmc_handle_new clones master into a new handle, ejects the servers
// the master has ejected (ej_idx until ej_until), and checks the clone
// against master: every behavior (repaired where memcached_clone lost one),
// the namespace and the placement of probe keys. On failure it returns NULL
// and writes why into err.
golibmc_handle *golibmc_handle_new(memcached_st *master, size_t nej, const uint32_t *ej_idx, const int64_t *ej_until,
                                   char *err, size_t errlen) {
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

// golibmc_handle_free frees h, closing its connections.
void golibmc_handle_free(golibmc_handle *h) {
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

// golibmc_handle_new_single clones master into a handle for its server i
// only (memcached_servers_reset, then the server added again with its
// weight and kind), for the commands every server answers separately.
golibmc_handle *golibmc_handle_new_single(memcached_st *master, uint32_t i, char *err, size_t errlen) {
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

// golibmc_handle_new_empty is a handle on a memcached_st with no server:
// the client's scratch handle, whose buffers placement queries on the
// master write into (a clone of the master would build its distribution
// for nothing).
golibmc_handle *golibmc_handle_new_empty(void) {
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

// GOLIBMC_GROW_FIRST is the least number of elements golibmc_grow makes
// room for.
#define GOLIBMC_GROW_FIRST 16

// golibmc_grow makes room in *p (of *cap elements of size bytes) for need
// elements, at least doubling it; it returns 0 when out of memory.
int golibmc_grow(void **p, size_t *cap, size_t need, size_t size) {
  if (need <= *cap) return 1;
  size_t n = *cap ? *cap : GOLIBMC_GROW_FIRST;
  while (n < need) n *= 2;
  void *q = realloc(*p, n * size);
  if (q == NULL) return 0;
  *p = q;
  *cap = n;
  return 1;
}

// golibmc_leftover reports whether one of h's connections holds bytes
// that no request expects: a server that answered a request twice, or sent
// more than its reply, after the call that read the reply had ended. Over
// the text protocol nothing tells such bytes from the answer to the next
// request, which would read them as its own (another value for its key),
// so Go calls this before each call on a handle and closes the handle's
// connections when it answers a server: its index + 1, 0 for none. One
// poll() over the sockets with no reply pending, without waiting; a
// readable one is peeked at, and only bytes count (a peer that closed or
// reset the connection is met by the call, as before).
int32_t golibmc_leftover(golibmc_handle *h) {
  if (golibmc_layout == GOLIBMC_LAYOUT_NONE || h->mc == NULL) return 0;
  uint32_t ns = memcached_server_count(h->mc), n = 0;
  struct pollfd stack[16], *fds = stack;
  uint32_t idx_stack[16], *idx = idx_stack;
  for (uint32_t i = 0; i < ns; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    n += golibmc_inst_fd(s) >= 0 && memcached_server_response_count(s) == 0;
  }
  if (n == 0) return 0;
  if (n > sizeof(stack) / sizeof(stack[0])) {
    fds = (struct pollfd *) calloc(n, sizeof(*fds));
    idx = (uint32_t *) calloc(n, sizeof(*idx));
    if (fds == NULL || idx == NULL) {
      free(fds);
      free(idx);
      return 0;
    }
  }
  n = 0;
  for (uint32_t i = 0; i < ns; i++) {
    const memcached_instance_st *s = memcached_server_instance_by_position(h->mc, i);
    int fd = golibmc_inst_fd(s);
    if (fd < 0 || memcached_server_response_count(s) != 0) continue;
    fds[n].fd = fd;
    fds[n].events = POLLIN;
    fds[n].revents = 0;
    idx[n] = i;
    n++;
  }
  int pr;
  do {
    pr = poll(fds, n, 0);
  } while (pr < 0 && errno == EINTR);
  int32_t found = 0;
  for (uint32_t j = 0; pr > 0 && j < n && found == 0; j++) {
    char c;
    if ((fds[j].revents & POLLIN) && recv(fds[j].fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) > 0) found = (int32_t) idx[j] + 1;
  }
  if (fds != stack) {
    free(fds);
    free(idx);
  }
  return found;
}

// ---------------------------------------------------------------------------
// The call frame.
// ---------------------------------------------------------------------------

// golibmc_now_ns is CLOCK_MONOTONIC in nanoseconds.
int64_t golibmc_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// golibmc_policy_retry (at the start of every call, which began at now) makes a server that
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
static void golibmc_policy_retry(golibmc_handle *h, int64_t now) {
  h->begin_ns = now;
  h->query0 = memcached_query_id(h->mc);
  if (h->conf_autoeject) return;
  if (h->retry_n < h->nsrv) {
    if (!golibmc_grow((void **) &h->retry_at, &h->retry_cap, h->nsrv, sizeof(int64_t))) return;
    memset(h->retry_at + h->retry_n, 0, (h->nsrv - h->retry_n) * sizeof(int64_t));
    h->retry_n = h->nsrv;
  }
  for (uint32_t i = 0; i < h->nsrv; i++)
    if (h->retry_at[i] <= h->begin_ns && golibmc_connected(h, i) != 1)
      memcached_instance_next_retry(golibmc_inst(h, i), 0);
}

// golibmc_policy_note_failures (at the end of every call) notes when each
// server that failed in this call may be tried again: retry_timeout after
// the call's start, for a server left without a connection and with an
// error recorded by this call (its query id after the call's start) that
// is a failed connect, not a refusal while its time had not come; a
// connected server may be tried at any time.
static void golibmc_policy_note_failures(golibmc_handle *h) {
  if (h->retry_n < h->nsrv) return;
  int64_t wait = (int64_t) h->conf_retry * 1000000000;
  for (uint32_t i = 0; i < h->nsrv; i++) {
    if (golibmc_connected(h, i) == 1) {
      h->retry_at[i] = 0;
      continue;
    }
    const memcached_instance_st *s = golibmc_inst(h, i);
    uint64_t q = golibmc_inst_error_query(h->mc, s);
    if (q == 0 || (q != GOLIBMC_QUERY_UNKNOWN && q <= h->query0)) continue;
    if (h->retry_at[i] <= h->begin_ns || memcached_server_error_return(s) != MEMCACHED_SERVER_TEMPORARILY_DISABLED)
      h->retry_at[i] = h->begin_ns + wait > 0 ? h->begin_ns + wait : 1;
  }
}

// golibmc_conf reads, once per handle, the behaviors its calls consult on
// every call. A pooled handle is a clone whose behaviors never change (a
// change of the client's configuration makes new handles), and the ones a
// call changes for its duration (the poll and connect timeouts, the
// watermarks) are restored before it returns: reading them once gives the
// configured values, without a memcached_behavior_get each per call.
void golibmc_conf(golibmc_handle *h) {
  if (h->conf_ok) return;
  h->cfg_poll = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT);
  h->cfg_connect = (int32_t) memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT);
  h->conf_binary = golibmc_behavior_get(h->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL) != 0;
  h->conf_cas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_SUPPORT_CAS) != 0;
  h->conf_noreply = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NOREPLY) != 0;
  h->conf_autoeject = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_AUTO_EJECT_HOSTS) != 0;
  h->conf_replicas = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_NUMBER_OF_REPLICAS);
  h->conf_retry = memcached_behavior_get(h->mc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT);
  h->conf_ns = golibmc_namespace(h->mc);
  h->conf_nslen = h->conf_ns ? strlen(h->conf_ns) : 0;
  h->conf_ok = 1;
}

// golibmc_inst_find reads where h's ns instances are for golibmc_inst: the
// first's address and the distance to the second, checked against the
// last; left unknown (step 0) when they are not one array.
static void golibmc_inst_find(golibmc_handle *h, uint32_t ns) {
  h->inst0 = NULL;
  h->inst_step = 0;
  if (ns == 0) return;
  const char *a = (const char *) memcached_server_instance_by_position(h->mc, 0);
  if (ns == 1) {
    h->inst0 = a;
    h->inst_step = 1; // only server 0 exists
    return;
  }
  const char *b = (const char *) memcached_server_instance_by_position(h->mc, 1);
  const char *z = (const char *) memcached_server_instance_by_position(h->mc, ns - 1);
  if (a == NULL || b <= a || z != a + (size_t) (b - a) * (ns - 1)) return;
  h->inst0 = a;
  h->inst_step = (size_t) (b - a);
}

// golibmc_begin starts a call on h: results cleared, the deadline (ms >=
// 0) noted. It returns 0 when out of memory.
int golibmc_begin(golibmc_handle *h, int32_t ms) {
  h->out_len = 0;
  h->msgs_len = 0;
  h->nrecords = 0;
  int64_t now = golibmc_now_ns();
  h->deadline_ns = ms >= 0 ? now + (int64_t) ms * 1000000 : 0;
  golibmc_conf(h);
  h->dirty = 0;
  uint32_t ns = memcached_server_count(h->mc);
  size_t cap = h->srv_cap;
  if (!golibmc_grow((void **) &h->srv, &cap, ns ? ns : 1, sizeof(golibmc_srv))) return 0;
  h->srv_cap = (uint32_t) cap;
  h->nsrv = ns;
  golibmc_inst_find(h, ns);
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
  golibmc_policy_retry(h, now);
  return 1;
}

// golibmc_resume starts the second crossing of a split call (the read
// half): a new deadline, and everything the first half recorded (each
// server's code and message, each key's result) kept, so the call's
// results are complete when it ends.
void golibmc_resume(golibmc_handle *h, int32_t ms) {
  h->deadline_ns = ms >= 0 ? golibmc_now_ns() + (int64_t) ms * 1000000 : 0;
}

// golibmc_clear_res resets n per-key results.
void golibmc_clear_res(golibmc_res *res, size_t n) {
  memset(res, 0, n * sizeof(golibmc_res));
  for (size_t i = 0; i < n; i++) res[i].server = GOLIBMC_NONE;
}

// golibmc_policy_arm applies the call's deadline to libmemcached's poll and
// connect timeouts before one libmemcached call: each wait inside it then
// ends by the deadline. It returns TIMEOUT when the deadline has passed.
memcached_return_t golibmc_policy_arm(golibmc_handle *h) {
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

// golibmc_ms_until is ms (-1: no limit) cut to the whole milliseconds left
// until deadline_ns (CLOCK_MONOTONIC; 0: none), rounded up, 0 once passed.
int golibmc_ms_until(int ms, int64_t deadline_ns) {
  if (deadline_ns) {
    int64_t left = (deadline_ns - golibmc_now_ns() + 999999) / 1000000;
    if (left < 0) left = 0;
    if (ms < 0 || left < ms) ms = (int) left;
  }
  return ms;
}

// golibmc_poll_ms is how long one wait of this call may take, in ms (-1: no limit).
int golibmc_poll_ms(golibmc_handle *h) { return golibmc_ms_until(h->cfg_poll > 0 ? h->cfg_poll : -1, h->deadline_ns); }

// golibmc_end restores the configured timeouts and records, per server,
// what Go needs to judge the connection: replies still expected, bytes
// read but not parsed, and its socket.
void golibmc_end(golibmc_handle *h) {
  golibmc_policy_note_failures(h);
  h->dirty = 0;
  if (h->deadline_ns) {
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t) (int64_t) h->cfg_poll);
    memcached_behavior_set(h->mc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t) (int64_t) h->cfg_connect);
  }
  for (uint32_t i = 0; i < h->nsrv; i++) {
    const memcached_instance_st *s = golibmc_inst(h, i);
    golibmc_srv *v = &h->srv[i];
    const char *at;
    v->pending = memcached_server_response_count(s);
    v->unread = (uint32_t) golibmc_inst_unread(s, &at);
    v->fd = golibmc_inst_fd(s);
    h->dirty += v->rc != MEMCACHED_SUCCESS || v->pending || v->unread || v->unsync || v->stale;
  }
}

// golibmc_fail_server records that server i failed with rc in this call
// (the first failure counts); the message is libmemcached's for that
// server when it holds one for this code.
void golibmc_fail_server(golibmc_handle *h, uint32_t i, memcached_return_t rc) {
  if (i >= h->nsrv || h->srv[i].rc != MEMCACHED_SUCCESS) return;
  const memcached_instance_st *s = golibmc_inst(h, i);
  h->srv[i].rc = rc;
  if (memcached_server_error_return(s) == rc) h->srv[i].msg = golibmc_msg_str(h, memcached_server_error(s));
}

// golibmc_policy_drop marks server i failed with rc and shuts its socket
// down, so that libmemcached, at its next read of it, sees the end of the
// stream and closes the connection itself: a reply arriving later can then
// never be read as the answer to another request.
void golibmc_policy_drop(golibmc_handle *h, uint32_t i, memcached_return_t rc) {
  golibmc_fail_server(h, i, rc);
  h->srv[i].unsync = 1;
  int fd = golibmc_inst_fd(golibmc_inst(h, i));
  if (fd >= 0) shutdown(fd, SHUT_RDWR);
}

// golibmc_server_of is the index of the server key goes to now.
uint32_t golibmc_server_of(golibmc_handle *h, const char *key, size_t klen) {
  return h->nsrv <= 1 ? 0 : memcached_generate_hash(h->mc, key, klen);
}

// golibmc_connected tells whether server i has a connection: its socket
// when the layout is known, else its local port (TCP), else unknown (-1).
int golibmc_connected(golibmc_handle *h, uint32_t i) {
  const memcached_instance_st *s = golibmc_inst(h, i);
  if (golibmc_layout != GOLIBMC_LAYOUT_NONE) return golibmc_inst_fd(s) >= 0;
  if (strcmp(memcached_server_type(s), "TCP") == 0) return memcached_server_srcport(s) != 0;
  return -1;
}
