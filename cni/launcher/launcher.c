/*
 * The executable the container runtime runs for `tortie` and `tortie-ipam` (written by
 * `tortie cni install`). The runtime starts one process per pod and command, and Node alone needs
 * ~45 ms to start before loading anything, so this launcher is C: it reads the network
 * configuration from stdin and the CNI_* environment, hands them to the resident server
 * (cni/agent.ts, `tortie cni serve` / `tortie node run --cni-socket`) over its unix socket and
 * copies the answer to stdout and the exit status. No server (no socket, nobody listening) or a
 * refusal (another network namespace, another protocol): it execs the Node plugin
 * (cni/main.js) with the same stdin, so a node without the agent still works.
 *
 * Wire protocol 2 (cni/agent-protocol.ts): one JSON line {"v":2,"kind","netns","env","stdin"};
 * the answer is one JSON header line, {"v":2,"code":N} followed by the plugin's raw stdout up to
 * EOF, or {"v":2,"refused":"why"}. Once the request is sent, a lost or late answer is a CNI error
 * (code 5), never a fallback: the server may have done part of the work.
 *
 * What install bakes in: the region after FALLBACK_MARKER holds
 *   \nexec "NODE" "ENTRY" KIND\nversion=<VERSION answer JSON>\n\0
 * (the first line is the shape the former shell launcher had, which the chart's install script
 * reads back to know which host copy is in use).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define REGION_SIZE 8192
#define DEFAULT_SOCKET "/run/tortie/cni.sock"
#define DEFAULT_TIMEOUT_MS 60000L
#define MAX_STDIN (16L << 20)

/* volatile keeps the compiler from folding the (install-patched) contents at build time. */
static volatile const char baked[REGION_SIZE] = "TORTIE-CNI-LAUNCHER-FALLBACK:";
#define FALLBACK_MARKER "TORTIE-CNI-LAUNCHER-FALLBACK:"

extern char **environ;

struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      fputs("tortie launcher: out of memory\n", stderr);
      exit(1);
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}
static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* A JSON string literal of n bytes (UTF-8 passes through as is). */
static void put_json_string(struct buf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  puts_(b, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(b, e, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(b, e, 6);
    } else {
      put(b, (const char *)&s[i], 1);
    }
  }
  puts_(b, "\"");
}

/* The baked fallback: node, entry, kind, VERSION answer. */
struct baked_conf {
  char node[2048], entry[2048], kind[8], version[2048];
};

static int field(const char **p, char quote_end, char *out, size_t size) {
  size_t n = 0;
  while (**p && **p != quote_end) {
    if (n + 1 >= size) return -1;
    out[n++] = *(*p)++;
  }
  if (**p != quote_end) return -1;
  (*p)++;
  out[n] = 0;
  return 0;
}

static int read_baked(struct baked_conf *c) {
  char region[REGION_SIZE];
  for (size_t i = 0; i < REGION_SIZE; i++) region[i] = baked[i];
  region[REGION_SIZE - 1] = 0;
  const char *p = region + strlen(FALLBACK_MARKER);
  if (strncmp(p, "\nexec \"", 7) != 0) return -1;
  p += 7;
  if (field(&p, '"', c->node, sizeof c->node) || strncmp(p, " \"", 2) != 0) return -1;
  p += 2;
  if (field(&p, '"', c->entry, sizeof c->entry) || *p++ != ' ') return -1;
  if (field(&p, '\n', c->kind, sizeof c->kind) || strncmp(p, "version=", 8) != 0) return -1;
  p += 8;
  return field(&p, '\n', c->version, sizeof c->version);
}

/* ---- the few top-level keys of the network configuration this launcher needs ---- */

static const char *ws(const char *p, const char *e) {
  while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
  return p;
}
static const char *skip_string(const char *p, const char *e) {
  for (p++; p < e; p++) {
    if (*p == '\\') p++;
    else if (*p == '"') return p + 1;
  }
  return NULL;
}
static const char *skip_value(const char *p, const char *e) {
  if (p >= e) return NULL;
  if (*p == '"') return skip_string(p, e);
  if (*p == '{' || *p == '[') {
    int depth = 0;
    while (p < e) {
      if (*p == '"') {
        p = skip_string(p, e);
        if (!p) return NULL;
        continue;
      }
      if (*p == '{' || *p == '[') depth++;
      else if (*p == '}' || *p == ']') {
        if (--depth == 0) return p + 1;
      }
      p++;
    }
    return NULL;
  }
  while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' &&
         *p != '\r')
    p++;
  return p;
}

struct conf_keys {
  int ok;              /* stdin is a JSON object */
  int socket_escaped;  /* agentSocket has escapes this launcher does not decode */
  char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
  int socket_too_long;
  long timeout_ms;
  char cni_version[32];
};

/* Copies a JSON string value without escapes; -1 when it has any (or does not fit). */
static int plain_string(const char *v, const char *end, char *out, size_t size) {
  size_t n = (size_t)(end - v) - 2;
  if (n + 1 > size || memchr(v + 1, '\\', n)) return -1;
  memcpy(out, v + 1, n);
  out[n] = 0;
  return 0;
}

static void scan_conf(const char *s, size_t len, struct conf_keys *k) {
  const char *p = s, *e = s + len;
  memset(k, 0, sizeof *k);
  k->timeout_ms = DEFAULT_TIMEOUT_MS;
  strcpy(k->socket, DEFAULT_SOCKET);
  strcpy(k->cni_version, "1.0.0");
  p = ws(p, e);
  if (p >= e || *p != '{') return;
  p = ws(p + 1, e);
  if (p < e && *p == '}') {
    k->ok = 1;
    return;
  }
  while (p < e) {
    if (*p != '"') return;
    const char *key = p + 1, *kend = skip_string(p, e);
    if (!kend) return;
    size_t klen = (size_t)(kend - key) - 1;
    p = ws(kend, e);
    if (p >= e || *p != ':') return;
    p = ws(p + 1, e);
    const char *v = p, *vend = skip_value(p, e);
    if (!vend || vend == v) return;
#define KEY(name) (klen == sizeof(name) - 1 && memcmp(key, name, klen) == 0)
    if (KEY("agentSocket") && *v == '"' && vend - v > 2) {
      if ((size_t)(vend - v) - 2 + 1 > sizeof k->socket) k->socket_too_long = 1;
      else if (plain_string(v, vend, k->socket, sizeof k->socket)) k->socket_escaped = 1;
    } else if (KEY("agentTimeoutMs") && *v >= '0' && *v <= '9') {
      long ms = strtol(v, NULL, 10);
      if (ms > 0) k->timeout_ms = ms;
    } else if (KEY("cniVersion") && *v == '"') {
      plain_string(v, vend, k->cni_version, sizeof k->cni_version);
    }
#undef KEY
    p = ws(vend, e);
    if (p < e && *p == ',') {
      p = ws(p + 1, e);
      continue;
    }
    if (p < e && *p == '}') k->ok = 1;
    return;
  }
}

/* ---- I/O ---- */

static struct buf read_all(int fd) {
  struct buf b = {0};
  char chunk[65536];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    put(&b, chunk, (size_t)n);
    if ((long)b.len > MAX_STDIN) break;
  }
  if (!b.p) put(&b, "", 0);
  return b;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for fd to be ready; 0 ready, -1 deadline passed. */
static int wait_fd(int fd, short events, long deadline) {
  for (;;) {
    long left = deadline - now_ms();
    if (left <= 0) return -1;
    struct pollfd pfd = {.fd = fd, .events = events};
    int r = poll(&pfd, 1, left > 0x7fffffffL ? 0x7fffffff : (int)left);
    if (r > 0) return 0;
    if (r < 0 && errno != EINTR) return 0; /* let the read/write report it */
  }
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

static int cni_error(const char *cni_version, const char *msg) {
  struct buf b = {0};
  puts_(&b, "{\"cniVersion\":");
  put_json_string(&b, cni_version, strlen(cni_version));
  puts_(&b, ",\"code\":5,\"msg\":");
  put_json_string(&b, msg, strlen(msg));
  puts_(&b, "}\n");
  write_all(1, b.p, b.len);
  return 1;
}

/* Runs the Node plugin with the same stdin (read already, so handed over in a memfd). */
static int fallback(const struct baked_conf *c, const struct buf *in, int agent_tried,
                    const char *cni_version) {
  int fd = memfd_create("tortie-cni-stdin", 0);
  if (fd >= 0) {
    write_all(fd, in->p, in->len);
    if (lseek(fd, 0, SEEK_SET) == 0 && fd != 0) {
      dup2(fd, 0);
      close(fd);
    }
  }
  char *argv[] = {(char *)c->node, (char *)c->entry, (char *)c->kind,
                  agent_tried ? "--no-agent" : NULL, NULL};
  execve(c->node, argv, environ);
  char msg[4200];
  snprintf(msg, sizeof msg, "tortie launcher: cannot run %s: %s", c->node, strerror(errno));
  return cni_error(cni_version, msg);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  struct baked_conf c;
  if (read_baked(&c) != 0)
    return cni_error("1.0.0", "tortie launcher: not configured (run `tortie cni install`)");
  /* Read even for VERSION: a runtime writing the config to a pipe nobody reads would get EPIPE. */
  struct buf in = read_all(0);
  const char *command = getenv("CNI_COMMAND");
  /* VERSION needs no agent: the answer was baked in by install. */
  if (command && strcmp(command, "VERSION") == 0) {
    write_all(1, c.version, strlen(c.version));
    write_all(1, "\n", 1);
    return 0;
  }
  struct conf_keys k;
  scan_conf(in.p, in.len, &k);
  /* Not an object, or a socket path this launcher cannot use: the plugin reports or handles it. */
  if (!k.ok || k.socket_escaped || k.socket_too_long) return fallback(&c, &in, 0, k.cni_version);

  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strcpy(addr.sun_path, k.socket);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
    if (fd >= 0) close(fd);
    return fallback(&c, &in, 1, k.cni_version);
  }

  struct stat ns;
  char netns[64] = "";
  if (stat("/proc/self/ns/net", &ns) == 0)
    snprintf(netns, sizeof netns, "%lu:%lu", (unsigned long)ns.st_dev, (unsigned long)ns.st_ino);
  struct buf req = {0};
  puts_(&req, "{\"v\":2,\"kind\":");
  put_json_string(&req, c.kind, strlen(c.kind));
  puts_(&req, ",\"netns\":");
  put_json_string(&req, netns, strlen(netns));
  puts_(&req, ",\"env\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    const char *eq = strchr(*e, '=');
    if (strncmp(*e, "CNI_", 4) != 0 || !eq) continue;
    if (!first) puts_(&req, ",");
    first = 0;
    put_json_string(&req, *e, (size_t)(eq - *e));
    puts_(&req, ":");
    put_json_string(&req, eq + 1, strlen(eq + 1));
  }
  puts_(&req, "},\"stdin\":");
  put_json_string(&req, in.p, in.len);
  puts_(&req, "}\n");

  long deadline = now_ms() + k.timeout_ms;
  char msg[512];
  const char *p = req.p;
  size_t left = req.len;
  while (left > 0) {
    if (wait_fd(fd, POLLOUT, deadline)) {
      snprintf(msg, sizeof msg, "tortie CNI agent at %s: no answer within %ld ms", k.socket, k.timeout_ms);
      return cni_error(k.cni_version, msg);
    }
    ssize_t w = send(fd, p, left, MSG_NOSIGNAL);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (w <= 0) {
      snprintf(msg, sizeof msg, "tortie CNI agent at %s: %s", k.socket, strerror(errno));
      return cni_error(k.cni_version, msg);
    }
    p += w;
    left -= (size_t)w;
  }

  struct buf ans = {0};
  char chunk[65536];
  for (;;) {
    if (wait_fd(fd, POLLIN, deadline)) {
      snprintf(msg, sizeof msg, "tortie CNI agent at %s: no answer within %ld ms", k.socket, k.timeout_ms);
      return cni_error(k.cni_version, msg);
    }
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(msg, sizeof msg, "tortie CNI agent at %s: %s", k.socket, strerror(errno));
      return cni_error(k.cni_version, msg);
    }
    if (n == 0) break;
    put(&ans, chunk, (size_t)n);
  }
  close(fd);
  char *nl = ans.p ? memchr(ans.p, '\n', ans.len) : NULL;
  if (!nl) {
    snprintf(msg, sizeof msg, "tortie CNI agent at %s closed the connection without an answer", k.socket);
    return cni_error(k.cni_version, msg);
  }
  *nl = 0;
  /* The header is the server's own compact JSON: {"v":2,"code":N} or {"v":2,"refused":"..."}. */
  if (strstr(ans.p, "\"refused\":")) return fallback(&c, &in, 1, k.cni_version);
  const char *code = strstr(ans.p, "\"code\":");
  if (!code) {
    snprintf(msg, sizeof msg, "tortie CNI agent at %s: unexpected answer %.200s", k.socket, ans.p);
    return cni_error(k.cni_version, msg);
  }
  write_all(1, nl + 1, ans.len - (size_t)(nl + 1 - ans.p));
  return (int)strtol(code + 7, NULL, 10);
}
