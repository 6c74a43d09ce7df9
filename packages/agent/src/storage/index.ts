/**
 * The image storage driver of stratus-agent: image cache imports, qcow2 overlays, and path helpers that
 * keep images reachable for QEMU's unprivileged user.
 */
export { type StorageErrorCode, storageError } from './errors.js';
export {
  assertTraversable,
  DIR_MODE,
  ensureDir,
  removeFile,
} from './files.js';
export {
  createOverlay,
  type ImageFormat,
  type ImageInfo,
  type ImportedImage,
  importImage,
  inspectImage,
  type OverlayResult,
} from './images.js';
