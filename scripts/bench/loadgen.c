/* mcp-tunnel bench load generator and echo/sink server (compiled by scripts/bench.sh at run time).
 *
 *   loadgen serve PORT                 server: first byte 'E' = echo, 'S' = sink (reply 8-byte count at EOF)
 *   loadgen bulk PORT MIB              one connection, upload MIB MiB to the sink; prints "bulk <MiB/s>"
 *   loadgen rtt PORT COUNT SIZE        one connection, COUNT round trips of SIZE bytes; prints "rtt <p50_us> <p99_us>"
 *   loadgen conc PORT CONNS BYTES      CONNS parallel connections, each echoes BYTES and checks them;
 *                                      prints "conc <errors> <seconds>"
 * All on 127.0.0.1. Every read/write is bounded by a 30 s socket timeout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }

static void tune(int fd) {
  int one = 1; setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = { 30, 0 };
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv); setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int dial(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) { close(fd); return -1; }
  tune(fd);
  return fd;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) { ssize_t w = send(fd, p, n, MSG_NOSIGNAL); if (w < 0 && errno == EINTR) continue; if (w <= 0) return -1; p += w; n -= w; }
  return 0;
}
static int read_all(int fd, char *p, size_t n) {
  while (n) { ssize_t r = recv(fd, p, n, 0); if (r < 0 && errno == EINTR) continue; if (r <= 0) return -1; p += r; n -= r; }
  return 0;
}

static void *serve_one(void *arg) {
  int fd = (int)(intptr_t)arg; char mode; size_t size = 256 * 1024; char *buf = malloc(size);
  tune(fd);
  if (read_all(fd, &mode, 1) == 0) {
    if (mode == 'E') {
      for (;;) { ssize_t r = recv(fd, buf, size, 0); if (r <= 0) break; if (write_all(fd, buf, r)) break; }
    } else {
      uint64_t total = 0;
      for (;;) { ssize_t r = recv(fd, buf, size, 0); if (r <= 0) break; total += r; }
      write_all(fd, (char *)&total, sizeof total);
    }
  }
  close(fd);
  free(buf);
  return NULL;
}

static int serve(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024)) { perror("bind/listen"); return 1; }
  for (;;) {
    int c = accept(fd, NULL, NULL); if (c < 0) continue;
    pthread_t t; pthread_attr_t at; pthread_attr_init(&at); pthread_attr_setstacksize(&at, 64 * 1024);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &at, serve_one, (void *)(intptr_t)c)) close(c);
  }
}

static int bulk(int port, long mib) {
  int fd = dial(port); if (fd < 0) { printf("bulk error connect\n"); return 1; }
  static char buf[256 * 1024]; memset(buf, 0x5A, sizeof buf);
  double t0 = now(); if (write_all(fd, "S", 1)) return 1;
  uint64_t want = (uint64_t)mib << 20, sent = 0;
  while (sent < want) { size_t n = sizeof buf; if (want - sent < n) n = want - sent; if (write_all(fd, buf, n)) { printf("bulk error send\n"); return 1; } sent += n; }
  shutdown(fd, SHUT_WR);
  uint64_t got = 0; if (read_all(fd, (char *)&got, sizeof got) || got != want) { printf("bulk error count %llu\n", (unsigned long long)got); return 1; }
  printf("bulk %.1f\n", (double)want / (1 << 20) / (now() - t0));
  return 0;
}

static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

static int rtt(int port, int count, int size) {
  int fd = dial(port); if (fd < 0) { printf("rtt error connect\n"); return 1; }
  char *out = malloc(size), *in = malloc(size); double *lat = malloc(sizeof(double) * count);
  if (write_all(fd, "E", 1)) return 1;
  for (int i = 0; i < 200; i++) { memset(out, i, size); if (write_all(fd, out, size) || read_all(fd, in, size)) return 1; } /* warm-up */
  for (int i = 0; i < count; i++) {
    memset(out, i & 0xFF, size);
    double t0 = now();
    if (write_all(fd, out, size) || read_all(fd, in, size) || memcmp(out, in, size)) { printf("rtt error at %d\n", i); return 1; }
    lat[i] = (now() - t0) * 1e6;
  }
  int slow = 0; for (int i = 0; i < count; i++) if (lat[i] > 10000) { slow++; if (getenv("LOADGEN_VERBOSE")) fprintf(stderr, "slow #%d %.0f us\n", i, lat[i]); }
  qsort(lat, count, sizeof(double), cmp);
  printf("rtt %.0f %.0f %d\n", lat[count / 2], lat[(int)(count * 0.99)], slow);
  return 0;
}

static int conc_port, conc_bytes; static volatile int conc_errors;
static pthread_mutex_t conc_lock = PTHREAD_MUTEX_INITIALIZER;
static void *conc_one(void *arg) {
  int seed = (int)(intptr_t)arg, ok = 0;
  char *out = malloc(conc_bytes), *in = malloc(conc_bytes);
  for (int i = 0; i < conc_bytes; i++) out[i] = (char)(i * 31 + seed);
  int fd = dial(conc_port);
  if (fd >= 0 && !write_all(fd, "E", 1) && !write_all(fd, out, conc_bytes) && !read_all(fd, in, conc_bytes) && !memcmp(out, in, conc_bytes)) ok = 1;
  if (fd >= 0) close(fd);
  if (!ok) { pthread_mutex_lock(&conc_lock); conc_errors++; pthread_mutex_unlock(&conc_lock); }
  free(out); free(in);
  return NULL;
}
static int conc(int port, int conns, int bytes) {
  conc_port = port; conc_bytes = bytes;
  pthread_t *t = malloc(sizeof(pthread_t) * conns);
  double t0 = now();
  for (int i = 0; i < conns; i++) pthread_create(&t[i], NULL, conc_one, (void *)(intptr_t)i);
  for (int i = 0; i < conns; i++) pthread_join(t[i], NULL);
  printf("conc %d %.3f\n", conc_errors, now() - t0);
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 3 && !strcmp(argv[1], "serve")) return serve(atoi(argv[2]));
  if (argc >= 4 && !strcmp(argv[1], "bulk")) return bulk(atoi(argv[2]), atol(argv[3]));
  if (argc >= 5 && !strcmp(argv[1], "rtt")) return rtt(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc >= 5 && !strcmp(argv[1], "conc")) return conc(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: see the comment at the top of loadgen.c\n");
  return 2;
}
