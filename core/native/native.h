/* tortie's native addon: what Node cannot do from JavaScript, and nothing more. */
#ifndef TORTIE_NATIVE_H
#define TORTIE_NATIVE_H
#include <node_api.h>

#define CHECK(call)                                                \
  do {                                                             \
    if ((call) != napi_ok) {                                       \
      napi_throw_error(env, "ENAPI", "N-API call failed: " #call); \
      return NULL;                                                 \
    }                                                              \
  } while (0)

/* An Error with `code`, message "what: strerror(err)" and an `errno` property. */
napi_value errno_error(napi_env env, const char *code, const char *what, int err);

/* Queues blocking work on libuv's thread pool and returns the promise `complete` settles. */
napi_value queue_work(napi_env env, const char *name, napi_async_execute_callback execute,
                      napi_async_complete_callback complete, void *data, napi_deferred *deferred,
                      napi_async_work *work);

/* Defines functions on `exports`. */
void define_functions(napi_env env, napi_value exports, const char *const *names, const napi_callback *fns, size_t n);

void register_sockopt(napi_env env, napi_value exports);
void register_netlink(napi_env env, napi_value exports);
void register_exec(napi_env env, napi_value exports);

#endif
