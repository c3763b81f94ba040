/* cstartup: the C reference for start-up with many servers. Times one
 * memcached_create, one memcached_server_push of N servers and one
 * behavior set (the distribution), then memcached_free, and prints the
 * median of REPS runs:
 *   <servers> <distribution> <median_ns>
 *
 *   cstartup N REPS
 * for each distribution: modula (no behavior set), ketama
 * (MEMCACHED_BEHAVIOR_KETAMA), ketama_weighted (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED).
 * Nothing connects: the servers are 10.0.x.y:11211.
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *) a, y = *(const long long *) b;
  return x < y ? -1 : x > y;
}

static long long once(memcached_server_list_st list, memcached_behavior_t b) {
  long long t0 = now_ns();
  memcached_st *mc = memcached_create(NULL);
  if (mc == NULL || memcached_server_push(mc, list) != MEMCACHED_SUCCESS) {
    fprintf(stderr, "cstartup: create or push failed\n");
    exit(1);
  }
  if ((int) b >= 0 && memcached_behavior_set(mc, b, 1) != MEMCACHED_SUCCESS) {
    fprintf(stderr, "cstartup: behavior set: %s\n", memcached_last_error_message(mc));
    exit(1);
  }
  long long t = now_ns() - t0;
  memcached_free(mc);
  return t;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cstartup N REPS\n");
    return 2;
  }
  int n = atoi(argv[1]), reps = atoi(argv[2]);
  if (n < 1 || reps < 1) return 2;
  memcached_server_list_st list = NULL;
  memcached_return_t rc;
  for (int i = 0; i < n; i++) {
    char host[32];
    snprintf(host, sizeof(host), "10.0.%d.%d", i / 250, i % 250 + 1);
    list = memcached_server_list_append_with_weight(list, host, 11211, 1, &rc);
    if (list == NULL) return 1;
  }
  struct {
    const char *name;
    int b;
  } dists[] = {{"modula", -1}, {"ketama", MEMCACHED_BEHAVIOR_KETAMA}, {"ketama_weighted", MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED}};
  long long *t = calloc((size_t) reps, sizeof(*t));
  for (size_t d = 0; d < sizeof(dists) / sizeof(dists[0]); d++) {
    for (int r = 0; r < reps; r++) t[r] = once(list, (memcached_behavior_t) dists[d].b);
    qsort(t, (size_t) reps, sizeof(*t), cmp_ll);
    printf("%d %s %lld\n", n, dists[d].name, t[reps / 2]);
  }
  free(t);
  memcached_server_list_free(list);
  return 0;
}
