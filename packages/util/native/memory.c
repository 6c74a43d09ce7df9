/*
 * Memory control Node lacks, for image data:
 *   alignedBuffer(size): an ArrayBuffer of `size` bytes (1 to 2^30) whose memory starts on a 4096-byte
 *     boundary, as O_DIRECT file I/O needs (Node's own buffers start wherever malloc puts them, 16-byte
 *     aligned at best); not zeroed; freed when the ArrayBuffer is collected. Throws an Error whose `code`
 *     is ERR_INVALID_ARG_TYPE for a bad size, ENOMEM when there is no memory.
 *   keepFreedHeap(keep): with `keep` true, glibc's free() keeps up to KEPT_HEAP bytes freed at the top
 *     of the heap (M_TRIM_THRESHOLD) rather than giving them back to the kernel at once; with false, the
 *     default threshold again, and the heap trimmed now (malloc_trim). Answers whether glibc took it.
 */
#include <malloc.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>

#define ALIGNMENT 4096
/* 32 MiB; glibc's default trim threshold is 128 KiB. */
#define KEPT_HEAP (32 * 1024 * 1024)
#define DEFAULT_TRIM (128 * 1024)

static napi_value fail(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static void release(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value AlignedBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int64_t size;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_int64(env, args[0], &size) != napi_ok || size < 1 || size > ((int64_t)1 << 30))
    return fail(env, "ERR_INVALID_ARG_TYPE", "alignedBuffer(size: integer from 1 to 2^30)");
  void *mem = NULL;
  if (posix_memalign(&mem, ALIGNMENT, (size_t)size) != 0) return fail(env, "ENOMEM", "out of memory");
  napi_value out;
  if (napi_create_external_arraybuffer(env, mem, (size_t)size, release, NULL, &out) != napi_ok) {
    free(mem);
    return fail(env, "ENOMEM", "cannot make an ArrayBuffer of that memory");
  }
  return out;
}

static napi_value KeepFreedHeap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  bool keep;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_bool(env, args[0], &keep) != napi_ok)
    return fail(env, "ERR_INVALID_ARG_TYPE", "keepFreedHeap(keep: boolean)");
  int ok = mallopt(M_TRIM_THRESHOLD, keep ? KEPT_HEAP : DEFAULT_TRIM);
  if (!keep) malloc_trim(0);
  napi_value out;
  napi_get_boolean(env, ok == 1, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "alignedBuffer", NAPI_AUTO_LENGTH, AlignedBuffer, NULL, &fn);
  napi_set_named_property(env, exports, "alignedBuffer", fn);
  napi_create_function(env, "keepFreedHeap", NAPI_AUTO_LENGTH, KeepFreedHeap, NULL, &fn);
  napi_set_named_property(env, exports, "keepFreedHeap", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
