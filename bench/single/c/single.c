/* single: libmemcached called from C the way its users call it, one phase
 * after another in one process, each phase timed with the wall clock and
 * with this process's CPU (getrusage RUSAGE_SELF: user + system, all
 * threads). One of the programs bench/single/driver runs as separate
 * processes, alternating with the Go clients' programs; see
 * bench/single/README.md for the phases and the output format.
 *
 *   single HOST:PORT PHASE:COUNT[,PHASE:COUNT...]
 *
 * The client is memcached_create + memcached_server_add with
 * MEMCACHED_BEHAVIOR_TCP_NODELAY on (as --TCP-NODELAY in libmemcached's own
 * tools); single operations are memcached_get (the value it mallocs is
 * freed) and memcached_set; a multi-key read is memcached_mget, then
 * memcached_fetch_result into one reused memcached_result_st, values
 * discarded after their length is checked.
 */
#include <libmemcached/memcached.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define NKEYS 1000

static char keys[NKEYS][32];
static const char *kp[NKEYS];
static size_t kl[NKEYS];
static char value100[100], value10k[10240];
static const char *addr_host;
static in_port_t addr_port;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long tv_ns(struct timeval tv) { return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL; }

static void die(const char *what, memcached_st *mc, memcached_return_t rc) {
  fprintf(stderr, "single (C): %s: %s", what, memcached_strerror(mc, rc));
  if (mc != NULL && memcached_last_error(mc) != MEMCACHED_SUCCESS)
    fprintf(stderr, " (%s)", memcached_last_error_message(mc));
  fprintf(stderr, "\n");
  exit(1);
}

static memcached_st *client(void) {
  memcached_st *mc = memcached_create(NULL);
  if (mc == NULL) die("memcached_create", NULL, MEMCACHED_MEMORY_ALLOCATION_FAILURE);
  memcached_return_t rc = memcached_server_add(mc, addr_host, addr_port);
  if (!memcached_success(rc)) die("memcached_server_add", mc, rc);
  rc = memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  if (!memcached_success(rc)) die("tcp_nodelay", mc, rc);
  return mc;
}

static void set1(memcached_st *mc, const char *k, size_t klen, const char *v, size_t vlen) {
  memcached_return_t rc = memcached_set(mc, k, klen, v, vlen, 0, 0);
  if (!memcached_success(rc)) die("memcached_set", mc, rc);
}

static void get1(memcached_st *mc, const char *k, size_t klen, size_t want) {
  size_t len;
  uint32_t flags;
  memcached_return_t rc;
  char *v = memcached_get(mc, k, klen, &len, &flags, &rc);
  if (v == NULL) die("memcached_get", mc, rc);
  if (len != want) {
    fprintf(stderr, "single (C): get %.*s: %zu bytes, want %zu\n", (int) klen, k, len, want);
    exit(1);
  }
  free(v);
}

/* mget reads n keys from keys[from...] (wrapping) into one reused result. */
static void mget(memcached_st *mc, memcached_result_st *res, int from, int n) {
  const char *ks[NKEYS];
  size_t ls[NKEYS];
  for (int j = 0; j < n; j++) {
    ks[j] = kp[(from + j) % NKEYS];
    ls[j] = kl[(from + j) % NKEYS];
  }
  memcached_return_t rc = memcached_mget(mc, ks, ls, (size_t) n);
  if (!memcached_success(rc)) die("memcached_mget", mc, rc);
  int got = 0;
  while (memcached_fetch_result(mc, res, &rc) != NULL) {
    if (memcached_result_length(res) != sizeof(value100)) {
      fprintf(stderr, "single (C): mget: %zu bytes\n", memcached_result_length(res));
      exit(1);
    }
    got++;
  }
  if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS) die("memcached_fetch_result", mc, rc);
  if (got != n) {
    fprintf(stderr, "single (C): mget: %d of %d keys\n", got, n);
    exit(1);
  }
}

typedef struct {
  long n;
  int set;
} thread_arg;

/* worker is one of the threads of the p8 phases: its own memcached_st, as a
 * threaded C program has (libmemcached handles are not shared). */
static void *worker(void *p) {
  thread_arg *a = (thread_arg *) p;
  memcached_st *mc = client(); /* connects on its first call, inside the phase */
  for (long i = 0; i < a->n; i++) {
    if (a->set) set1(mc, kp[i % NKEYS], kl[i % NKEYS], value100, sizeof(value100));
    else get1(mc, kp[i % NKEYS], kl[i % NKEYS], sizeof(value100));
  }
  memcached_free(mc);
  return NULL;
}

static void parallel(long n, int set) {
  pthread_t th[8];
  thread_arg args[8];
  for (int i = 0; i < 8; i++) {
    args[i].n = n / 8;
    args[i].set = set;
    if (pthread_create(&th[i], NULL, worker, &args[i]) != 0) {
      fprintf(stderr, "single (C): pthread_create failed\n");
      exit(1);
    }
  }
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
}

/* prepare stores what phase name reads, before its clock starts. */
static void prepare(memcached_st *mc, const char *name) {
  if (!strcmp(name, "get1")) set1(mc, "bench:one", 9, value100, sizeof(value100));
  if (!strcmp(name, "get10k")) set1(mc, "bench:big", 9, value10k, sizeof(value10k));
  if (!strcmp(name, "incr")) set1(mc, "bench:ctr", 9, "0", 1);
}

/* run runs phase name count times; it returns the units (ops or keys) or
 * -1 for a phase this client does not have. */
static long run(memcached_st *mc, memcached_result_st *res, const char *name, long n) {
  if (!strcmp(name, "set")) {
    for (long i = 0; i < n; i++) set1(mc, kp[i % NKEYS], kl[i % NKEYS], value100, sizeof(value100));
    return n;
  }
  if (!strcmp(name, "get")) {
    for (long i = 0; i < n; i++) get1(mc, kp[i % NKEYS], kl[i % NKEYS], sizeof(value100));
    return n;
  }
  if (!strcmp(name, "getmulti") || !strcmp(name, "getmulti10") || !strcmp(name, "getmulti1000")) {
    int k = !strcmp(name, "getmulti") ? 100 : atoi(name + 8);
    for (long i = 0; i < n; i++) mget(mc, res, (int) ((i * k) % NKEYS), k);
    return n * k;
  }
  if (!strcmp(name, "set1")) { /* one key, for the syscall counts */
    for (long i = 0; i < n; i++) set1(mc, "bench:one", 9, value100, sizeof(value100));
    return n;
  }
  if (!strcmp(name, "get1")) {
    for (long i = 0; i < n; i++) get1(mc, "bench:one", 9, sizeof(value100));
    return n;
  }
  if (!strcmp(name, "set10k")) {
    for (long i = 0; i < n; i++) set1(mc, "bench:big", 9, value10k, sizeof(value10k));
    return n;
  }
  if (!strcmp(name, "get10k")) {
    for (long i = 0; i < n; i++) get1(mc, "bench:big", 9, sizeof(value10k));
    return n;
  }
  if (!strcmp(name, "setmulti1000")) {
    /* what a C program does for many stores: buffered requests, one flush,
       then the replies checked with one mget reading the keys back (the
       same round trips as golibmc's SetMulti, which reads every reply) */
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
    for (long i = 0; i < n; i++) {
      for (int k = 0; k < NKEYS; k++) memcached_set(mc, kp[k], kl[k], value100, sizeof(value100), 0, 0);
      memcached_return_t rc = memcached_flush_buffers(mc);
      if (!memcached_success(rc)) die("memcached_flush_buffers", mc, rc);
      mget(mc, res, 0, NKEYS);
    }
    memcached_behavior_set(mc, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 0);
    return n;
  }
  if (!strcmp(name, "set1000seq")) {
    for (long i = 0; i < n; i++)
      for (int k = 0; k < NKEYS; k++) set1(mc, kp[k], kl[k], value100, sizeof(value100));
    return n;
  }
  if (!strcmp(name, "incr")) {
    for (long i = 0; i < n; i++) {
      uint64_t v;
      memcached_return_t rc = memcached_increment(mc, "bench:ctr", 9, 1, &v);
      if (!memcached_success(rc)) die("memcached_increment", mc, rc);
    }
    return n;
  }
  if (!strcmp(name, "pget8") || !strcmp(name, "pget8p4")) { /* p4: GOMAXPROCS=4 for Go; C has 8 threads either way */
    parallel(n, 0);
    return n / 8 * 8;
  }
  if (!strcmp(name, "pset8")) {
    parallel(n, 1);
    return n / 8 * 8;
  }
  return -1;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: single HOST:PORT PHASE:COUNT[,PHASE:COUNT...]\n");
    return 2;
  }
  static char host[256];
  const char *colon = strrchr(argv[1], ':');
  if (colon == NULL || (size_t) (colon - argv[1]) >= sizeof(host)) {
    fprintf(stderr, "single (C): address %s is not HOST:PORT\n", argv[1]);
    return 2;
  }
  memcpy(host, argv[1], (size_t) (colon - argv[1]));
  addr_host = host;
  addr_port = (in_port_t) atoi(colon + 1);
  memset(value100, 'v', sizeof(value100));
  memset(value10k, 'w', sizeof(value10k));
  for (int i = 0; i < NKEYS; i++) {
    kl[i] = (size_t) snprintf(keys[i], sizeof(keys[i]), "bench:k%d", i);
    kp[i] = keys[i];
  }
  memcached_st *mc = client();
  memcached_result_st res;
  if (memcached_result_create(mc, &res) == NULL) die("memcached_result_create", mc, MEMCACHED_MEMORY_ALLOCATION_FAILURE);

  char *spec = strdup(argv[2]), *save = NULL;
  for (char *tok = strtok_r(spec, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
    char *c = strchr(tok, ':');
    if (c == NULL) {
      fprintf(stderr, "single (C): phase %s has no count\n", tok);
      return 2;
    }
    *c = 0;
    long n = atol(c + 1);
    const char *name = tok;
    if (!strncmp(name, "warm-", 5)) name += 5; /* a warm-up runs the same loop */
    prepare(mc, name);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    long long t0 = now_ns();
    long units = run(mc, &res, name, n);
    long long wall = now_ns() - t0;
    getrusage(RUSAGE_SELF, &r1);
    if (units < 0) {
      printf("phase=%s skipped=1\n", tok);
      continue;
    }
    long long ut = tv_ns(r1.ru_utime) - tv_ns(r0.ru_utime), st = tv_ns(r1.ru_stime) - tv_ns(r0.ru_stime);
    printf("phase=%s ops=%ld units=%ld wall_ns=%lld cpu_ns=%lld user_ns=%lld sys_ns=%lld nvcsw=%ld nivcsw=%ld "
           "minflt=%ld allocs=-1 gcs=-1\n",
           tok, n, units, wall, ut + st, ut, st, r1.ru_nvcsw - r0.ru_nvcsw, r1.ru_nivcsw - r0.ru_nivcsw,
           r1.ru_minflt - r0.ru_minflt);
    fflush(stdout);
  }
  free(spec);
  memcached_result_free(&res);
  memcached_free(mc);
  return 0;
}
