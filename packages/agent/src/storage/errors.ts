import { type AgentError, Conflict, HostFailure, InvalidRequest } from '../errors.js';

/** Stable codes of the storage driver's failures. */
export type StorageErrorCode =
  /** The image to import does not exist, is not a regular file, or cannot be read. */
  | 'image_source_not_found'
  /** The image source is relative, has `..` segments or a NUL. */
  | 'image_source_invalid'
  /** The image source lies outside the directories the operator allowed (`--allow-image-dir`). */
  | 'image_source_not_allowed'
  /** The image references a backing file: importing it would let it read arbitrary host files. */
  | 'image_has_backing_file'
  /** The image keeps its data in an external file (qcow2 `data-file`), refused for the same reason. */
  | 'image_has_external_data_file'
  /** `qemu-img` does not recognize the file, or the format is not one Stratus boots (raw, qcow2). */
  | 'image_format_unsupported'
  /** The image has no usable content: empty, text, truncated or corrupt (the message says which). */
  | 'image_content_invalid'
  /** The image's bytes do not have the checksum the request declared. */
  | 'image_checksum_mismatch'
  /** The image is not in the `diskFormat` the request declared. */
  | 'image_format_mismatch'
  /** Downloading the image from its URL failed (HTTP status, connection, size). */
  | 'image_download_failed'
  /** An upload's body in the extents wire form is malformed (order, size, truncation). */
  | 'upload_invalid'
  /** An overlay exists at the path but backs onto another image; it is left untouched. */
  | 'overlay_conflict'
  /** The requested root disk is smaller than the image it is based on. */
  | 'overlay_too_small'
  /** A directory on the path cannot be traversed by QEMU's unprivileged user. */
  | 'path_not_traversable';

const KIND: Record<
  StorageErrorCode,
  new (
    message: string,
    opts: { code: string; cause?: unknown },
  ) => AgentError
> = {
  image_source_not_found: InvalidRequest,
  image_source_invalid: InvalidRequest,
  image_source_not_allowed: InvalidRequest,
  image_has_backing_file: InvalidRequest,
  image_has_external_data_file: InvalidRequest,
  image_format_unsupported: InvalidRequest,
  image_content_invalid: InvalidRequest,
  image_checksum_mismatch: InvalidRequest,
  image_format_mismatch: InvalidRequest,
  image_download_failed: InvalidRequest,
  upload_invalid: InvalidRequest,
  overlay_conflict: Conflict,
  overlay_too_small: InvalidRequest,
  // The operator's directory layout, not the request, is at fault.
  path_not_traversable: HostFailure,
};

/** The domain error of a storage failure: its kind follows from the code (a bad image is an InvalidRequest). */
export function storageError(
  code: StorageErrorCode,
  message: string,
  opts: { cause?: unknown } = {},
): AgentError {
  return new KIND[code](message, { code, cause: opts.cause });
}
