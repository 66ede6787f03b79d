/*
 * A netlink socket for Node, opened inside a chosen network namespace. Only
 * the transport lives here: messages are encoded and decoded in TypeScript
 * (core/netlink/). Batches are sent many messages per sendmsg without waiting
 * for each acknowledgement, which is what makes route and nftables
 * programming fast compared with one request per `ip`/`nft` command. The
 * blocking send/receive loops run on libuv's thread pool.
 */
#define _GNU_SOURCE
#include "native.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/netlink.h>


#define RECV_CHUNK (1 << 20)

static napi_value make_error(napi_env env, const char *what, int err) {
  return errno_error(env, err == ENOBUFS ? "ENOBUFS" : "ENETLINK", what, err);
}

/* open(protocol, netnsPath | "", rcvbufBytes) -> fd. setns is per thread, and this runs on the JS thread, which switches back at once. */
static napi_value Open(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t protocol, rcvbuf;
  char path[512];
  size_t plen = 0;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &protocol) != napi_ok ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen) != napi_ok ||
      napi_get_value_int32(env, argv[2], &rcvbuf) != napi_ok) {
    napi_throw_type_error(env, NULL, "open(protocol: number, netnsPath: string, rcvbuf: number)");
    return NULL;
  }
  int self = -1, target = -1, err = 0;
  if (plen > 0) {
    self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    target = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || target < 0) { err = errno; goto out; }
    if (setns(target, CLONE_NEWNET) < 0) { err = errno; goto out; }
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) err = errno;
  if (plen > 0 && setns(self, CLONE_NEWNET) < 0) {
    /* Cannot happen short of a kernel bug; staying in the wrong namespace would be worse than dying. */
    abort();
  }
  if (fd >= 0) {
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    int one = 1;
    if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int sndbuf = 4 << 20;
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    /* A lost acknowledgement must not park a thread-pool thread forever. */
    struct timeval tv = { .tv_sec = 10, .tv_usec = 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { err = errno; close(fd); }
    else {
      if (self >= 0) close(self);
      if (target >= 0) close(target);
      napi_value out;
      napi_create_int32(env, fd, &out);
      return out;
    }
  }
out:
  if (self >= 0) close(self);
  if (target >= 0) close(target);
  napi_throw(env, make_error(env, plen > 0 ? "netlink socket in namespace" : "netlink socket", err));
  return NULL;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return NULL;
  close(fd);
  return NULL;
}

typedef struct {
  int fd, err;
  const char *stage;
  uint8_t *req;
  size_t req_len;
  /* Where each send chunk ends, and the sequence number of its last message (which asks for an ack). */
  size_t *chunk_end;
  uint32_t *chunk_seq;
  size_t chunks;
  int dump;
  uint8_t *resp;
  size_t resp_len, resp_cap;
  napi_ref req_ref;
  napi_deferred deferred;
  napi_async_work work;
} job;

static int append(job *j, const uint8_t *p, size_t n) {
  if (j->resp_len + n > j->resp_cap) {
    size_t cap = j->resp_cap ? j->resp_cap * 2 : 65536;
    while (cap < j->resp_len + n) cap *= 2;
    uint8_t *r = realloc(j->resp, cap);
    if (!r) return ENOMEM;
    j->resp = r;
    j->resp_cap = cap;
  }
  memcpy(j->resp + j->resp_len, p, n);
  j->resp_len += n;
  return 0;
}

/*
 * Receives until `until_seq` is acknowledged (batch) or NLMSG_DONE (dump).
 * Keeps what the caller needs: every error (non-zero NLMSG_ERROR) for a batch,
 * every message for a dump.
 */
static int receive(job *j, uint32_t until_seq, uint8_t *buf) {
  for (;;) {
    ssize_t n = recv(j->fd, buf, RECV_CHUNK, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      j->stage = "recv";
      return errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (j->dump) {
        if (h->nlmsg_type == NLMSG_DONE) {
          int r = append(j, (uint8_t *)h, h->nlmsg_len);
          return r ? r : -1;
        }
        if (append(j, (uint8_t *)h, h->nlmsg_len)) return ENOMEM;
        if (h->nlmsg_type == NLMSG_ERROR) return -1;
        continue;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        if (e->error != 0 && append(j, (uint8_t *)h, h->nlmsg_len)) return ENOMEM;
        if (h->nlmsg_seq == until_seq) return -1;
      } else if (append(j, (uint8_t *)h, h->nlmsg_len)) {
        return ENOMEM;
      }
    }
  }
}

static void execute(napi_env env, void *data) {
  (void)env;
  job *j = data;
  uint8_t *buf = malloc(RECV_CHUNK);
  if (!buf) { j->err = ENOMEM; j->stage = "malloc"; return; }
  struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
  size_t start = 0;
  for (size_t c = 0; c < j->chunks; c++) {
    size_t end = j->chunk_end[c];
    struct iovec iov = { .iov_base = j->req + start, .iov_len = end - start };
    struct msghdr msg = { .msg_name = &kernel, .msg_namelen = sizeof kernel, .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t s;
    do s = sendmsg(j->fd, &msg, 0); while (s < 0 && errno == EINTR);
    if (s < 0) { j->err = errno; j->stage = "sendmsg"; break; }
    int r = receive(j, j->chunk_seq[c], buf);
    if (r > 0) { j->err = r; if (!j->stage) j->stage = "recv"; break; }
    start = end;
  }
  free(buf);
}

static void complete(napi_env env, napi_status status, void *data) {
  job *j = data;
  if (status == napi_ok && j->err == 0) {
    napi_value out;
    void *copy;
    napi_create_buffer_copy(env, j->resp_len, j->resp ? j->resp : (uint8_t *)"", &copy, &out);
    napi_resolve_deferred(env, j->deferred, out);
  } else {
    napi_reject_deferred(env, j->deferred, make_error(env, j->stage ? j->stage : "netlink", j->err ? j->err : EIO));
  }
  if (j->req_ref) napi_delete_reference(env, j->req_ref);
  if (j->work) napi_delete_async_work(env, j->work);
  free(j->resp);
  free(j->chunk_end);
  free(j->chunk_seq);
  free(j);
}

/*
 * exchange(fd, request: Buffer, chunkEnds: Uint32Array, chunkSeqs: Uint32Array, dump: boolean,
 *          inline?: boolean) -> Promise<Buffer>
 * The request buffer holds whole netlink messages; chunkEnds splits it into
 * sendmsg calls, and each chunk's last message carries NLM_F_ACK with the
 * sequence number in chunkSeqs. `inline` runs the exchange on the calling
 * thread: for a small transaction the kernel answers within sendmsg, and the
 * two thread wake-ups of the pool (to a worker and back to the loop) cost
 * more than the kernel does, and far more in their tail on a busy machine.
 */
static napi_value Exchange(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  job *j = calloc(1, sizeof *j);
  if (!j) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  void *req = NULL, *ends = NULL, *seqs = NULL;
  size_t ends_len = 0, seqs_len = 0;
  napi_typedarray_type t;
  napi_value ab;
  size_t off;
  bool dump = false;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &j->fd) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &req, &j->req_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[2], &t, &ends_len, &ends, &ab, &off) != napi_ok || t != napi_uint32_array ||
      napi_get_typedarray_info(env, argv[3], &t, &seqs_len, &seqs, &ab, &off) != napi_ok || t != napi_uint32_array ||
      ends_len != seqs_len || napi_get_value_bool(env, argv[4], &dump) != napi_ok) {
    free(j);
    napi_throw_type_error(env, NULL, "exchange(fd, request: Buffer, chunkEnds: Uint32Array, chunkSeqs: Uint32Array, dump: boolean)");
    return NULL;
  }
  j->req = req;
  j->dump = dump;
  j->chunks = ends_len;
  j->chunk_end = malloc(sizeof(size_t) * (ends_len ? ends_len : 1));
  j->chunk_seq = malloc(sizeof(uint32_t) * (ends_len ? ends_len : 1));
  for (size_t i = 0; i < ends_len; i++) {
    j->chunk_end[i] = ((uint32_t *)ends)[i];
    j->chunk_seq[i] = ((uint32_t *)seqs)[i];
    if (j->chunk_end[i] > j->req_len || (i > 0 && j->chunk_end[i] < j->chunk_end[i - 1])) {
      free(j->chunk_end); free(j->chunk_seq); free(j);
      napi_throw_range_error(env, NULL, "chunkEnds must rise and stay within the request");
      return NULL;
    }
  }
  bool run_inline = false;
  if (argc >= 6) {
    napi_valuetype vt;
    if (napi_typeof(env, argv[5], &vt) == napi_ok && vt == napi_boolean) napi_get_value_bool(env, argv[5], &run_inline);
  }
  if (run_inline) {
    napi_value promise;
    CHECK(napi_create_promise(env, &j->deferred, &promise));
    execute(env, j);
    complete(env, napi_ok, j);
    return promise;
  }
  /* Keep the request buffer alive while the thread pool reads it. */
  CHECK(napi_create_reference(env, argv[1], 1, &j->req_ref));
  return queue_work(env, "tortie.netlink", execute, complete, j, &j->deferred, &j->work);
}

void register_netlink(napi_env env, napi_value exports) {
  static const char *const names[] = {"netlinkOpen", "netlinkClose", "netlinkExchange"};
  static const napi_callback fns[] = {Open, Close, Exchange};
  define_functions(env, exports, names, fns, 3);
}
