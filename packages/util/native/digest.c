/*
 * Hashing of image data in the thread pool, so that the JavaScript thread taking an upload in is free to
 * parse and copy the next bytes meanwhile (on this host SHA-256 was a quarter of the agent's CPU time
 * during an upload, all of it on that thread):
 *
 *   sumBlocks(run, offset, block, crc, present, digests): a Promise. `run` (a Uint8Array) holds the
 *     file's bytes at `offset` (an integer from 0 to 2^53), cut into blocks of `block` bytes (the last
 *     one may be shorter). For block i, present[i] becomes 1 when it holds a byte other than zero and 0
 *     when it is all zeros; digests[32i .. 32i+32) becomes its SHA-256 (left as it was for an all-zero
 *     block). With `crc` from 0 to 2^32-1, the upload check is carried on: for each block with data, in
 *     order, zlib's CRC-32 takes the block's 8-byte big-endian offset and then its bytes; the Promise
 *     resolves to the CRC then (to -1 with `crc` -1). The caller must leave the three arrays alone until
 *     it settles. Throws an Error whose `code` is ERR_INVALID_ARG_TYPE for bad arguments (an array too
 *     short for the blocks included).
 *
 * SHA-256 and CRC-32 are OpenSSL's and zlib's, the very ones Node's crypto.hash and zlib.crc32 call: the
 * Node binary exports both (built with -z now, so that a Node without them fails the load, not a call).
 */
#include <node_api.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define DIGEST 32

typedef struct {
  napi_ref refs[3];
  napi_deferred deferred;
  napi_async_work work;
  const uint8_t *run;
  size_t length;
  uint64_t offset;
  size_t block;
  int64_t crc;
  uint8_t *present;
  uint8_t *digests;
  int failed;
} Job;

static napi_value fail(napi_env env, const char *msg) {
  napi_throw_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* Whether the `n` bytes at `p` are all zeros: the first is, and each equals the next. */
static int all_zeros(const uint8_t *p, size_t n) {
  return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

static void Execute(napi_env env, void *data) {
  (void)env;
  Job *job = data;
  uLong crc = job->crc >= 0 ? (uLong)job->crc : 0;
  for (size_t i = 0, at = 0; at < job->length; i++, at += job->block) {
    size_t n = job->length - at < job->block ? job->length - at : job->block;
    const uint8_t *p = job->run + at;
    job->present[i] = !all_zeros(p, n);
    if (!job->present[i]) continue;
    if (!EVP_Digest(p, n, job->digests + i * DIGEST, NULL, EVP_sha256(), NULL)) {
      job->failed = 1;
      return;
    }
    if (job->crc >= 0) {
      uint64_t offset = job->offset + at;
      uint8_t head[8];
      for (int b = 7; b >= 0; b--, offset >>= 8) head[b] = (uint8_t)offset;
      crc = crc32(crc, head, sizeof head);
      crc = crc32(crc, p, (uInt)n);
    }
  }
  if (job->crc >= 0) job->crc = (int64_t)crc;
}

static void Complete(napi_env env, napi_status status, void *data) {
  Job *job = data;
  napi_value out;
  if (status != napi_ok || job->failed) {
    napi_value msg;
    napi_create_string_utf8(env, job->failed ? "SHA-256 failed" : "the hashing was cancelled",
                            NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &out);
    napi_reject_deferred(env, job->deferred, out);
  } else {
    napi_create_double(env, (double)job->crc, &out);
    napi_resolve_deferred(env, job->deferred, out);
  }
  for (int i = 0; i < 3; i++) napi_delete_reference(env, job->refs[i]);
  napi_delete_async_work(env, job->work);
  free(job);
}

/* The bytes of the Uint8Array `v`, or NULL when it is not one. */
static uint8_t *bytes_of(napi_env env, napi_value v, size_t *length) {
  bool is;
  napi_typedarray_type type;
  void *p;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array)
    return NULL;
  return p;
}

static napi_value SumBlocks(napi_env env, napi_callback_info info) {
  const char *usage = "sumBlocks(run: Uint8Array, offset: integer, block: integer, crc: integer or -1, "
                      "present: Uint8Array, digests: Uint8Array)";
  size_t argc = 6;
  napi_value args[6];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != 6) return fail(env, usage);
  Job job = {0};
  int64_t offset, block, crc;
  size_t nPresent, nDigests;
  job.run = bytes_of(env, args[0], &job.length);
  job.present = bytes_of(env, args[4], &nPresent);
  job.digests = bytes_of(env, args[5], &nDigests);
  if (!job.run || !job.present || !job.digests || napi_get_value_int64(env, args[1], &offset) != napi_ok ||
      napi_get_value_int64(env, args[2], &block) != napi_ok || napi_get_value_int64(env, args[3], &crc) != napi_ok ||
      offset < 0 || offset > ((int64_t)1 << 53) || block < 1 || block > ((int64_t)1 << 30) || crc < -1 ||
      crc > (int64_t)UINT32_MAX)
    return fail(env, usage);
  size_t blocks = (job.length + (size_t)block - 1) / (size_t)block;
  if (nPresent < blocks || nDigests / DIGEST < blocks) return fail(env, "sumBlocks: present or digests too short");
  job.offset = (uint64_t)offset;
  job.block = (size_t)block;
  job.crc = crc;
  Job *heap = malloc(sizeof *heap);
  if (!heap) return fail(env, "sumBlocks: out of memory");
  *heap = job;
  napi_value promise, name;
  napi_create_string_utf8(env, "stratus.sumBlocks", NAPI_AUTO_LENGTH, &name);
  if (napi_create_promise(env, &heap->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, Execute, Complete, heap, &heap->work) != napi_ok) {
    free(heap);
    return fail(env, "sumBlocks: cannot start the work");
  }
  napi_value held[3] = {args[0], args[4], args[5]};
  for (int i = 0; i < 3; i++) napi_create_reference(env, held[i], 1, &heap->refs[i]);
  napi_queue_async_work(env, heap->work);
  return promise;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "sumBlocks", NAPI_AUTO_LENGTH, SumBlocks, NULL, &fn);
  napi_set_named_property(env, exports, "sumBlocks", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
