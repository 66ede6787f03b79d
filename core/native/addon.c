/*
 * One addon for the things Node's standard library cannot do:
 * sockopt.c — TCP-MD5 and GTSM on BGP sockets; netlink.c — netlink sockets
 * inside a network namespace, for routes and nftables; exec.c — execve, for
 * the agent's restart with Node options sized to the machine.
 */
#include "native.h"
#include <stdio.h>
#include <string.h>

napi_value errno_error(napi_env env, const char *code, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value c, message, error, errnum;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, c, message, &error);
  napi_create_int32(env, err, &errnum);
  napi_set_named_property(env, error, "errno", errnum);
  return error;
}

napi_value queue_work(napi_env env, const char *name, napi_async_execute_callback execute,
                      napi_async_complete_callback complete, void *data, napi_deferred *deferred,
                      napi_async_work *work) {
  napi_value promise, resource;
  CHECK(napi_create_promise(env, deferred, &promise));
  CHECK(napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource));
  CHECK(napi_create_async_work(env, NULL, resource, execute, complete, data, work));
  CHECK(napi_queue_async_work(env, *work));
  return promise;
}

void define_functions(napi_env env, napi_value exports, const char *const *names, const napi_callback *fns, size_t n) {
  for (size_t i = 0; i < n; i++) {
    napi_value f;
    if (napi_create_function(env, names[i], NAPI_AUTO_LENGTH, fns[i], NULL, &f) == napi_ok)
      napi_set_named_property(env, exports, names[i], f);
  }
}

static napi_value Init(napi_env env, napi_value exports) {
  register_sockopt(env, exports);
  register_netlink(env, exports);
  register_exec(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
