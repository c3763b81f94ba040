/* cloop: the floor any libmemcached binding can reach. Runs one workload
 * against one server with plain libmemcached calls and prints
 *   <workload> <ops> <units> <wall_ns> <cpu_ns>
 * (units: keys for getmulti, else ops; cpu = user+sys of this process).
 *
 *   cloop HOST PORT WORKLOAD N
 * WORKLOAD: get100 get10k set100 set10k getmulti10 getmulti100 getmulti1000
 *           setmulti1000 set1000seq incr pget8 pset8
 */
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static void die(const char *what, memcached_st *mc, memcached_return_t rc) {
  fprintf(stderr, "cloop: %s: %s\n", what, mc ? memcached_last_error_message(mc) : memcached_strerror(NULL, rc));
  exit(1);
}

static char value100[100], value10k[10240];

static void set_or_die(memcached_st *mc, const char *key, const char *v, size_t n) {
  memcached_return_t rc = memcached_set(mc, key, strlen(key), v, n, 0, 0);
  if (!memcached_success(rc)) die("set", mc, rc);
}

static void get_loop(memcached_st *mc, long n) {
  for (long i = 0; i < n; i++) {
    size_t len;
    uint32_t flags;
    memcached_return_t rc;
    char *v = memcached_get(mc, "bench:get", 9, &len, &flags, &rc);
    if (v == NULL) die("get", mc, rc);
    free(v);
  }
}

static void set_loop(memcached_st *mc, const char *v, size_t vlen, long n) {
  for (long i = 0; i < n; i++) {
    memcached_return_t rc = memcached_set(mc, "bench:set", 9, v, vlen, 0, 0);
    if (!memcached_success(rc)) die("set", mc, rc);
  }
}

typedef struct {
  memcached_st *mc;
  long n;
  int set;
} thread_arg;

static void *thread_main(void *p) {
  thread_arg *a = (thread_arg *) p;
  if (a->set) set_loop(a->mc, value100, sizeof(value100), a->n);
  else get_loop(a->mc, a->n);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: cloop HOST PORT WORKLOAD N\n");
    return 2;
  }
  const char *w = argv[3];
  long n = atol(argv[4]);
  memset(value100, 'v', sizeof(value100));
  memset(value10k, 'w', sizeof(value10k));
  memcached_st *mc = memcached_create(NULL);
  memcached_server_add(mc, argv[1], (in_port_t) atoi(argv[2]));
  memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);

  int multi = 0;
  if (strncmp(w, "getmulti", 8) == 0) multi = atoi(w + 8);
  char (*keys)[32] = calloc(1000, 32);
  const char *kp[1000];
  size_t kl[1000];
  for (int i = 0; i < 1000; i++) {
    kl[i] = (size_t) snprintf(keys[i], 32, "bench:m%d", i);
    kp[i] = keys[i];
  }
  /* setup */
  if (!strcmp(w, "get100") || !strcmp(w, "pget8")) set_or_die(mc, "bench:get", value100, 100);
  if (!strcmp(w, "get10k")) set_or_die(mc, "bench:get", value10k, sizeof(value10k));
  if (multi)
    for (int i = 0; i < multi; i++) set_or_die(mc, keys[i], value100, 100);
  if (!strcmp(w, "incr")) set_or_die(mc, "bench:ctr", "0", 1);

  long long units = n, t0 = now_ns(), c0 = cpu_ns();
  if (!strcmp(w, "get100") || !strcmp(w, "get10k")) {
    get_loop(mc, n);
  } else if (!strcmp(w, "set100")) {
    set_loop(mc, value100, sizeof(value100), n);
  } else if (!strcmp(w, "set10k")) {
    set_loop(mc, value10k, sizeof(value10k), n);
  } else if (multi) {
    memcached_result_st res;
    memcached_result_create(mc, &res);
    for (long i = 0; i < n; i++) {
      memcached_return_t rc = memcached_mget(mc, kp, kl, (size_t) multi);
      if (!memcached_success(rc)) die("mget", mc, rc);
      int got = 0;
      while (memcached_fetch_result(mc, &res, &rc)) got++;
      if (got != multi) die("mget count", mc, rc);
    }
    memcached_result_free(&res);
    units = n * multi;
  } else if (!strcmp(w, "set1000seq")) {
    for (long i = 0; i < n; i++)
      for (int k = 0; k < 1000; k++) {
        memcached_return_t rc = memcached_set(mc, kp[k], kl[k], value100, 100, 0, 0);
        if (!memcached_success(rc)) die("set", mc, rc);
      }
  } else if (!strcmp(w, "setmulti1000")) {
    /* buffered sets, flush, then one mget reading them back: the same work
       as the Go client's SetMulti */
    memcached_result_st res;
    memcached_result_create(mc, &res);
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    for (long i = 0; i < n; i++) {
      for (int k = 0; k < 1000; k++) memcached_set(mc, kp[k], kl[k], value100, 100, 0, 0);
      memcached_return_t rc = memcached_flush_buffers(mc);
      if (!memcached_success(rc)) die("flush", mc, rc);
      rc = memcached_mget(mc, kp, kl, 1000);
      if (!memcached_success(rc)) die("mget", mc, rc);
      int got = 0;
      while (memcached_fetch_result(mc, &res, &rc)) got++;
      if (got != 1000) die("setmulti count", mc, rc);
    }
    memcached_result_free(&res);
  } else if (!strcmp(w, "incr")) {
    for (long i = 0; i < n; i++) {
      uint64_t v;
      memcached_return_t rc = memcached_increment(mc, "bench:ctr", 9, 1, &v);
      if (!memcached_success(rc)) die("incr", mc, rc);
    }
  } else if (!strcmp(w, "pget8") || !strcmp(w, "pset8")) {
    pthread_t th[8];
    thread_arg args[8];
    for (int i = 0; i < 8; i++) {
      args[i].mc = memcached_clone(NULL, mc);
      args[i].n = n / 8;
      args[i].set = w[1] == 's';
      pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    for (int i = 0; i < 8; i++) {
      pthread_join(th[i], NULL);
      memcached_free(args[i].mc);
    }
    units = (n / 8) * 8;
  } else {
    fprintf(stderr, "cloop: unknown workload %s\n", w);
    return 2;
  }
  long long wall = now_ns() - t0, cpu = cpu_ns() - c0;
  printf("%s %ld %lld %lld %lld\n", w, n, units, wall, cpu);
  free(keys);
  memcached_free(mc);
  return 0;
}
