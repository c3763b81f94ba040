//go:build cgo

// records.c writes the records Go decodes: items read, stats, server
// identities into a handle's out buffer, messages into its msgs buffer.
// Each starts with a head laid out in golibmc.h (golibmc_item_head,
// golibmc_stat_head, golibmc_server_id_head, golibmc_msg_head), whose
// offsets Go reads by name; the records are packed back to back.

#include "golibmc_internal.h"

// GOLIBMC_OUT_FIRST is the least room out is given (bytes).
#define GOLIBMC_OUT_FIRST 4096

// golibmc_out_reserve makes room for n more bytes in out.
static int golibmc_out_reserve(golibmc_handle *h, size_t n) {
  if (h->out_len + n <= h->out_cap) return 1;
  size_t cap = h->out_cap ? h->out_cap : GOLIBMC_OUT_FIRST;
  while (cap < h->out_len + n) cap *= 2;
  char *p = (char *) realloc(h->out, cap);
  if (p == NULL) return 0;
  h->out = p;
  h->out_cap = cap;
  return 1;
}

// golibmc_out_put appends n bytes at p to out (golibmc_out_reserve first).
static void golibmc_out_put(golibmc_handle *h, const void *p, size_t n) {
  if (n) memcpy(h->out + h->out_len, p, n);
  h->out_len += n;
}

// golibmc_put_item appends an item record to out: a golibmc_item_head, the
// key, the value. A value longer than any a reply may carry (which the
// record checks rule out) fails.
int golibmc_put_item(golibmc_handle *h, memcached_result_st *r, uint32_t server) {
  size_t klen = memcached_result_key_length(r), vlen = memcached_result_length(r);
  if (klen >= MEMCACHED_MAX_KEY || vlen > GOLIBMC_POLICY_VALUE_MAX) return 0;
  if (!golibmc_out_reserve(h, sizeof(golibmc_item_head) + klen + vlen)) return 0;
  golibmc_item_head head = {memcached_result_cas(r), (uint64_t) vlen, memcached_result_flags(r), (uint32_t) klen,
                            server, 0};
  golibmc_out_put(h, &head, sizeof(head));
  golibmc_out_put(h, memcached_result_key_value(r), klen);
  golibmc_out_put(h, memcached_result_value(r), vlen);
  h->nrecords++;
  return 1;
}

// golibmc_stat_put appends a stat record to out: a golibmc_stat_head, the
// stat's name, its value.
int golibmc_stat_put(golibmc_handle *h, const char *key, size_t klen, const char *value, size_t vlen) {
  golibmc_stat_head head = {(uint32_t) klen, (uint32_t) vlen};
  if (!golibmc_out_reserve(h, sizeof(head) + klen + vlen)) return 0;
  golibmc_out_put(h, &head, sizeof(head));
  golibmc_out_put(h, key, klen);
  golibmc_out_put(h, value, vlen);
  h->nrecords++;
  return 1;
}

// golibmc_put_server appends a server's identity record to out: a
// golibmc_server_id_head, the server's name.
static int golibmc_put_server(golibmc_handle *h, const memcached_instance_st *s, uint32_t weight) {
  const char *name = memcached_server_name(s), *t = memcached_server_type(s);
  golibmc_server_id_head head = {memcached_server_port(s), weight, 0, (uint32_t) strlen(name)};
  head.type = strcmp(t, "SOCKET") == 0 ? MEMCACHED_CONNECTION_UNIX_SOCKET
            : strcmp(t, "UDP") == 0    ? MEMCACHED_CONNECTION_UDP
                                       : MEMCACHED_CONNECTION_TCP;
  if (!golibmc_out_reserve(h, sizeof(head) + head.namelen)) return 0;
  golibmc_out_put(h, &head, sizeof(head));
  golibmc_out_put(h, name, head.namelen);
  return 1;
}

// golibmc_servers writes the identity of every server of mc, in index
// order, into h->out.
int golibmc_servers(golibmc_handle *h, memcached_st *mc) {
  h->out_len = 0;
  uint32_t n = memcached_server_count(mc);
  for (uint32_t i = 0; i < n; i++)
    if (!golibmc_put_server(h, memcached_server_instance_by_position(mc, i), 0)) return 0;
  return 1;
}

// golibmc_server_by_key writes the identity of the server libmemcached
// picks for key on mc (after rebuilding it for ejected servers) into h->out.
memcached_return_t golibmc_server_by_key(golibmc_handle *h, memcached_st *mc, const char *key, size_t klen) {
  memcached_return_t rc;
  h->out_len = 0;
  memcached_autoeject(mc);
  const memcached_instance_st *s = memcached_server_by_key(mc, key, klen, &rc);
  if (s == NULL) return memcached_success(rc) ? MEMCACHED_NO_SERVERS : rc;
  if (!golibmc_put_server(h, s, 0)) return MEMCACHED_MEMORY_ALLOCATION_FAILURE;
  return MEMCACHED_SUCCESS;
}

// golibmc_msg stores a message as a record in msgs (a golibmc_msg_head and
// at most GOLIBMC_POLICY_MSG_MAX bytes of the message) and returns 1 + its
// offset, or 0 when there is none or no memory (or the record's end would
// not fit the 32 bits a result has for it).
uint32_t golibmc_msg(golibmc_handle *h, const char *s, size_t n) {
  if (s == NULL || n == 0 || h->msgs_len > UINT32_MAX - (sizeof(golibmc_msg_head) + GOLIBMC_POLICY_MSG_MAX))
    return 0;
  if (n > GOLIBMC_POLICY_MSG_MAX) n = GOLIBMC_POLICY_MSG_MAX;
  golibmc_msg_head head = {(uint32_t) n};
  if (!golibmc_grow((void **) &h->msgs, &h->msgs_cap, h->msgs_len + sizeof(head) + n, 1)) return 0;
  uint32_t off = (uint32_t) h->msgs_len;
  memcpy(h->msgs + off, &head, sizeof(head));
  memcpy(h->msgs + off + sizeof(head), s, n);
  h->msgs_len += sizeof(head) + n;
  return off + 1;
}

// golibmc_msg_str is golibmc_msg for a C string (NULL: none).
uint32_t golibmc_msg_str(golibmc_handle *h, const char *s) {
  return s ? golibmc_msg(h, s, strlen(s)) : 0;
}
