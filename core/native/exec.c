/*
 * execve(2) for a process that must restart itself with other Node options (the agent sizes V8's
 * worker pool to the machine, which only a command-line option can do): same PID, same open
 * descriptors, so a supervisor or container runtime sees one process throughout.
 */
#include "native.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A JS array of strings as a NULL-terminated C array; NULL after throwing. */
static char **string_array(napi_env env, napi_value arr, const char *what) {
  uint32_t n = 0;
  bool is_array = false;
  if (napi_is_array(env, arr, &is_array) != napi_ok || !is_array || napi_get_array_length(env, arr, &n) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return NULL;
  }
  char **out = calloc(n + 1, sizeof *out);
  if (!out) { napi_throw_error(env, "ENOMEM", "out of memory"); return NULL; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    size_t len = 0;
    if (napi_get_element(env, arr, i, &v) != napi_ok || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok ||
        !(out[i] = malloc(len + 1)) || napi_get_value_string_utf8(env, v, out[i], len + 1, &len) != napi_ok) {
      for (uint32_t j = 0; j <= i; j++) free(out[j]);
      free(out);
      napi_throw_type_error(env, NULL, what);
      return NULL;
    }
  }
  return out;
}

static void free_array(char **a) {
  if (!a) return;
  for (char **p = a; *p; p++) free(*p);
  free(a);
}

/* execve(path, argv: string[], env: string[]): returns only by throwing. */
static napi_value Execve(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char path[4096];
  size_t len = 0;
  if (argc < 3 || napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "execve(path: string, argv: string[], env: string[])");
    return NULL;
  }
  char **args = string_array(env, argv[1], "execve: argv must be an array of strings");
  if (!args) return NULL;
  char **envp = string_array(env, argv[2], "execve: env must be an array of strings");
  if (!envp) { free_array(args); return NULL; }
  /* Node marks the standard descriptors close-on-exec; the new image must keep them (logs, pipes). */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC);
  }
  execve(path, args, envp);
  int err = errno;
  free_array(args);
  free_array(envp);
  napi_throw(env, errno_error(env, "EEXEC", "execve", err));
  return NULL;
}

void register_exec(napi_env env, napi_value exports) {
  static const char *const names[] = {"execve"};
  static const napi_callback fns[] = {Execve};
  define_functions(env, exports, names, fns, 1);
}
