/*
 * Connection rate with as little userspace as possible, so that what the kernel does per connection
 * (TCP, conntrack, the ruleset) is most of the cost and the figure is not lost in the noise of
 * two JavaScript processes sharing two CPUs.
 *
 *   crr server PORT                              accept, write 2 bytes, close; forever
 *   crr client ADDR PORT SECONDS CONCURRENCY     prints {"done":N,"failed":N,"seconds":S,"rate":R}
 *
 * The client keeps CONCURRENCY connections in flight: each connects, reads the reply, closes, and
 * starts over, as bench/policy/connrate.ts does.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int server(int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = INADDR_ANY};
  if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1024) < 0) { perror("listen"); return 1; }
  printf("READY\n");
  fflush(stdout);
  for (;;) {
    int c = accept4(l, NULL, NULL, 0);
    if (c < 0) { if (errno == EINTR || errno == ECONNABORTED) continue; perror("accept"); return 1; }
    if (write(c, "ok", 2) < 0) { /* the client went away: nothing to answer */ }
    close(c);
  }
}

static int open_one(int ep, struct sockaddr_in *to) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (s < 0) return -1;
  if (connect(s, (struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) { close(s); return -1; }
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = s};
  epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
  return s;
}

static int client(const char *addr, int port, double seconds, int conc) {
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (inet_pton(AF_INET, addr, &to.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", addr); return 2; }
  int ep = epoll_create1(0);
  long done = 0, failed = 0, open = 0;
  double start = now(), end = start + seconds;
  for (int i = 0; i < conc; i++) if (open_one(ep, &to) >= 0) open++;
  struct epoll_event evs[64];
  while (open > 0) {
    int n = epoll_wait(ep, evs, 64, 2000);
    if (n < 0) { if (errno == EINTR) continue; perror("epoll_wait"); return 1; }
    if (n == 0) { failed += open; break; }
    for (int i = 0; i < n; i++) {
      int s = evs[i].data.fd;
      char buf[16];
      ssize_t r = read(s, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r > 0) done++; else failed++;
      close(s);
      open--;
      if (now() < end && open_one(ep, &to) >= 0) open++;
    }
  }
  double secs = now() - start;
  printf("{\"done\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"rate\":%.1f}\n", done, failed, secs, done / secs);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server(atoi(argv[2]));
  if (argc == 6 && strcmp(argv[1], "client") == 0) return client(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
  fprintf(stderr, "usage: crr server PORT | crr client ADDR PORT SECONDS CONCURRENCY\n");
  return 2;
}
