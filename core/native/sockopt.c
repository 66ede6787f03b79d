/*
 * Socket options Node's net module cannot set: TCP-MD5 signatures (RFC 2385)
 * and GTSM (RFC 5082: send with TTL 255, drop what arrives with less than
 * IP_MINTTL). Also a connect done here, because an MD5 key must be on the
 * socket before its SYN leaves: Node's net.connect sends the SYN before user
 * code can touch the socket. The connected descriptor is handed to
 * net.Socket({fd}).
 */
#include "native.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdlib.h>
#include <linux/filter.h>

#ifndef IP_MINTTL
#define IP_MINTTL 21
#endif
#ifndef IPV6_MINHOPCOUNT
#define IPV6_MINHOPCOUNT 73
#endif


static napi_value throw_errno(napi_env env, const char *what, int err) {
  napi_throw(env, errno_error(env, "ESOCKOPT", what, err));
  return NULL;
}

/* Parses a textual IPv4/IPv6 address into a sockaddr_storage; returns the family or -1. */
static int parse_addr(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    *len = sizeof *in4;
    return AF_INET;
  }
  if (inet_pton(AF_INET6, text, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    *len = sizeof *in6;
    return AF_INET6;
  }
  return -1;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *out_len) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return -1;
  if (out_len) *out_len = len;
  return 0;
}

static int do_md5(int fd, const char *peer, const char *key, size_t keylen) {
  struct tcp_md5sig sig;
  memset(&sig, 0, sizeof sig);
  socklen_t alen;
  if (parse_addr(peer, 0, &sig.tcpm_addr, &alen) < 0) return EINVAL;
  if (keylen > TCP_MD5SIG_MAXKEYLEN) return EMSGSIZE;
  sig.tcpm_keylen = (uint16_t)keylen;
  memcpy(sig.tcpm_key, key, keylen);
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) < 0) return errno;
  return 0;
}

static int do_ttl(int fd, int family, int ttl, int minttl) {
  int lvl = family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
  if (ttl > 0) {
    int opt = family == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL;
    if (setsockopt(fd, lvl, opt, &ttl, sizeof ttl) < 0) return errno;
  }
  if (minttl > 0) {
    int opt = family == AF_INET6 ? IPV6_MINHOPCOUNT : IP_MINTTL;
    if (setsockopt(fd, lvl, opt, &minttl, sizeof minttl) < 0) return errno;
  }
  return 0;
}

static int socket_family(int fd) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0) return -1;
  return ss.ss_family;
}

/* setMd5(fd, peerAddress, key): an empty key removes the peer's signature. */
static napi_value SetMd5(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  char peer[64], key[TCP_MD5SIG_MAXKEYLEN + 2];
  size_t keylen = 0;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      get_string(env, argv[1], peer, sizeof peer, NULL) < 0 ||
      get_string(env, argv[2], key, sizeof key, &keylen) < 0) {
    napi_throw_type_error(env, NULL, "setMd5(fd: number, peer: string, key: string)");
    return NULL;
  }
  int err = do_md5(fd, peer, key, keylen);
  if (err) return throw_errno(env, "TCP_MD5SIG", err);
  return NULL;
}

/* setTtl(fd, ttl, minTtl): 0 leaves a value unchanged. */
static napi_value SetTtl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, ttl, minttl;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &ttl) != napi_ok ||
      napi_get_value_int32(env, argv[2], &minttl) != napi_ok) {
    napi_throw_type_error(env, NULL, "setTtl(fd: number, ttl: number, minTtl: number)");
    return NULL;
  }
  int family = socket_family(fd);
  if (family < 0) return throw_errno(env, "getsockname", errno);
  int err = do_ttl(fd, family, ttl, minttl);
  if (err) return throw_errno(env, "IP_TTL/IP_MINTTL", err);
  return NULL;
}

typedef struct {
  char peer[64], local[64], key[TCP_MD5SIG_MAXKEYLEN + 2];
  size_t keylen;
  int32_t port, local_port, ttl, minttl, timeout_ms;
  int fd, err;
  const char *stage;
  napi_deferred deferred;
  napi_async_work work;
} connect_job;

static void connect_execute(napi_env env, void *data) {
  (void)env;
  connect_job *j = data;
  struct sockaddr_storage remote, local;
  socklen_t rlen, llen;
  int family = parse_addr(j->peer, j->port, &remote, &rlen);
  j->fd = -1;
  if (family < 0) { j->err = EINVAL; j->stage = "peer address"; return; }
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) { j->err = errno; j->stage = "socket"; return; }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (j->keylen > 0 && (j->err = do_md5(fd, j->peer, j->key, j->keylen))) { j->stage = "TCP_MD5SIG"; goto fail; }
  if ((j->err = do_ttl(fd, family, j->ttl, j->minttl))) { j->stage = "IP_TTL/IP_MINTTL"; goto fail; }
  if (j->local[0] || j->local_port) {
    if (j->local[0]) {
      if (parse_addr(j->local, j->local_port, &local, &llen) != family) { j->err = EINVAL; j->stage = "local address"; goto fail; }
    } else {
      memset(&local, 0, sizeof local);
      local.ss_family = family;
      if (family == AF_INET) { ((struct sockaddr_in *)&local)->sin_port = htons((uint16_t)j->local_port); llen = sizeof(struct sockaddr_in); }
      else { ((struct sockaddr_in6 *)&local)->sin6_port = htons((uint16_t)j->local_port); llen = sizeof(struct sockaddr_in6); }
    }
    if (bind(fd, (struct sockaddr *)&local, llen) < 0) { j->err = errno; j->stage = "bind"; goto fail; }
  }
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  if (connect(fd, (struct sockaddr *)&remote, rlen) < 0 && errno != EINPROGRESS) { j->err = errno; j->stage = "connect"; goto fail; }
  struct pollfd p = { .fd = fd, .events = POLLOUT };
  int n = poll(&p, 1, j->timeout_ms);
  if (n == 0) { j->err = ETIMEDOUT; j->stage = "connect"; goto fail; }
  if (n < 0) { j->err = errno; j->stage = "poll"; goto fail; }
  int soerr = 0;
  socklen_t slen = sizeof soerr;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &slen);
  if (soerr) { j->err = soerr; j->stage = "connect"; goto fail; }
  j->fd = fd;
  j->err = 0;
  return;
fail:
  close(fd);
}

static void connect_complete(napi_env env, napi_status status, void *data) {
  connect_job *j = data;
  if (status == napi_ok && j->err == 0) {
    napi_value fd;
    napi_create_int32(env, j->fd, &fd);
    napi_resolve_deferred(env, j->deferred, fd);
  } else {
    char msg[256];
    snprintf(msg, sizeof msg, "%s %s: %s", j->stage ? j->stage : "connect", j->peer, strerror(j->err));
    napi_value code, message, error, errnum, syscall;
    napi_create_string_utf8(env, j->err == ETIMEDOUT ? "ETIMEDOUT" : "ECONNECT", NAPI_AUTO_LENGTH, &code);
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, code, message, &error);
    napi_create_int32(env, j->err, &errnum);
    napi_set_named_property(env, error, "errno", errnum);
    napi_create_string_utf8(env, j->stage ? j->stage : "connect", NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, error, "syscall", syscall);
    napi_reject_deferred(env, j->deferred, error);
  }
  napi_delete_async_work(env, j->work);
  free(j);
}

/*
 * connect({peer, port, localAddress?, localPort?, md5Key?, ttl?, minTtl?, timeoutMs?}) -> Promise<fd>
 * The blocking part runs on libuv's thread pool.
 */
static napi_value Connect(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value opts;
  CHECK(napi_get_cb_info(env, info, &argc, &opts, NULL, NULL));
  connect_job *j = calloc(1, sizeof *j);
  if (!j) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  j->timeout_ms = 5000;
  napi_value v;
  bool has;
#define OPT_STR(name, field, lenp)                                                   \
  if (napi_has_named_property(env, opts, name, &has) == napi_ok && has) {              \
    napi_get_named_property(env, opts, name, &v);                                      \
    napi_valuetype t; napi_typeof(env, v, &t);                                         \
    if (t == napi_string) get_string(env, v, j->field, sizeof j->field, lenp);         \
  }
#define OPT_INT(name, field)                                                         \
  if (napi_has_named_property(env, opts, name, &has) == napi_ok && has) {              \
    napi_get_named_property(env, opts, name, &v);                                      \
    napi_valuetype t; napi_typeof(env, v, &t);                                         \
    if (t == napi_number) napi_get_value_int32(env, v, &j->field);                     \
  }
  OPT_STR("peer", peer, NULL)
  OPT_STR("localAddress", local, NULL)
  OPT_STR("md5Key", key, &j->keylen)
  OPT_INT("port", port)
  OPT_INT("localPort", local_port)
  OPT_INT("ttl", ttl)
  OPT_INT("minTtl", minttl)
  OPT_INT("timeoutMs", timeout_ms)
  return queue_work(env, "tortie.connect", connect_execute, connect_complete, j, &j->deferred, &j->work);
}

/*
 * GTSM for datagrams: IP_MINTTL only guards TCP, so a classic BPF socket filter drops every
 * datagram whose IPv4 TTL (IPv6 hop limit) is not exactly `ttl` before it is queued.
 */
static int attach_ttl_filter(int fd, int ttl) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF),     /* 0: A = version byte */
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 4),                        /* 1: A = IP version */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 6, 0, 2),                  /* 2: IPv6 -> 3, else 5 */
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF + 7), /* 3: A = hop limit */
      BPF_STMT(BPF_JMP | BPF_JA, 1),                                 /* 4: -> 6 */
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, (uint32_t)SKF_NET_OFF + 8), /* 5: A = TTL */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)ttl, 0, 1),      /* 6: == ttl -> 7, else 8 */
      BPF_STMT(BPF_RET | BPF_K, 0xffff),                             /* 7: keep */
      BPF_STMT(BPF_RET | BPF_K, 0),                                  /* 8: drop */
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) return errno;
  return 0;
}

/*
 * udpSocket(address, port, ttl): a UDP socket bound to address:port that sends with TTL (hop
 * limit) `ttl` and receives only datagrams that arrived with exactly that TTL; handed to
 * dgram's bind({fd}). Port 0 picks one.
 */
static napi_value UdpSocket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char addr[64];
  int32_t port, ttl;
  if (argc < 3 || get_string(env, argv[0], addr, sizeof addr, NULL) < 0 ||
      napi_get_value_int32(env, argv[1], &port) != napi_ok ||
      napi_get_value_int32(env, argv[2], &ttl) != napi_ok || ttl < 1 || ttl > 255) {
    napi_throw_type_error(env, NULL, "udpSocket(address: string, port: number, ttl: 1..255)");
    return NULL;
  }
  struct sockaddr_storage ss;
  socklen_t len;
  int family = parse_addr(addr, port, &ss, &len);
  if (family < 0) return throw_errno(env, "udpSocket: address", EINVAL);
  int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int one = 1, err = 0;
  const char *stage = "bind";
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
    err = errno;
    stage = "SO_REUSEADDR";
  } else if ((err = do_ttl(fd, family, ttl, 0))) {
    stage = "IP_TTL";
  } else if ((err = attach_ttl_filter(fd, ttl))) {
    stage = "SO_ATTACH_FILTER";
  } else if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
    err = errno;
  }
  if (err) {
    close(fd);
    return throw_errno(env, stage, err);
  }
  napi_value out;
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

void register_sockopt(napi_env env, napi_value exports) {
  static const char *const names[] = {"setMd5", "setTtl", "connect", "udpSocket"};
  static const napi_callback fns[] = {SetMd5, SetTtl, Connect, UdpSocket};
  define_functions(env, exports, names, fns, 4);
}
