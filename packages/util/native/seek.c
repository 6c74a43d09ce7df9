/*
 * lseek(2) with SEEK_DATA / SEEK_HOLE for Node (which has no lseek): lets stratus find the data extents
 * of a sparse file without reading its holes. One function, seek(fd, offset, hole):
 *   hole false: the first offset >= `offset` holding data (SEEK_DATA); hole true: the first hole (SEEK_HOLE).
 * Answers -1 when there is none (ENXIO: no data at or after `offset`); throws an Error whose `code` is the
 * errno name otherwise (EINVAL where the filesystem cannot answer). The file position of `fd` moves;
 * callers read with explicit positions (pread), so that does not matter.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <string.h>
#include <unistd.h>

static napi_value fail(napi_env env, const char *code, const char *msg) {
  napi_throw_error(env, code, msg);
  return NULL;
}

static napi_value Seek(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  int32_t fd;
  int64_t offset;
  bool hole;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 3 ||
      napi_get_value_int32(env, args[0], &fd) != napi_ok ||
      napi_get_value_int64(env, args[1], &offset) != napi_ok ||
      napi_get_value_bool(env, args[2], &hole) != napi_ok || offset < 0)
    return fail(env, "ERR_INVALID_ARG_TYPE", "seek(fd: integer, offset: integer >= 0, hole: boolean)");
  off_t r = lseek(fd, (off_t)offset, hole ? SEEK_HOLE : SEEK_DATA);
  napi_value out;
  if (r < 0) {
    if (errno != ENXIO) {
      int e = errno;
      const char *name = e == EINVAL ? "EINVAL" : e == EBADF ? "EBADF" : e == ESPIPE ? "ESPIPE" : "EIO";
      return fail(env, name, strerror(e));
    }
    napi_create_int64(env, -1, &out);
    return out;
  }
  napi_create_int64(env, (int64_t)r, &out);
  return out;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "seek", NAPI_AUTO_LENGTH, Seek, NULL, &fn);
  napi_set_named_property(env, exports, "seek", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
