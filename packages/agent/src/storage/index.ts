/**
 * Storage for stratus-agent: the driver seam (driver.ts), its qemu-img implementation (image cache,
 * qcow2 overlays) and path helpers that keep images reachable for QEMU's unprivileged user.
 */
export { SPARSE_BLOCK, type WrittenData, writeSparse } from './copy.js';
export type { ImageData, OverlayRequest, StorageDriver, VolumeRequest } from './driver.js';
export { type StorageErrorCode, storageError } from './errors.js';
export { assertTraversable, DIR_MODE, ensureDir, removeFile } from './files.js';
export {
  type CacheOwner,
  createOverlay,
  finishImport,
  type ImageFormat,
  type ImageInfo,
  type ImportedImage,
  importImage,
  inspectImage,
  type OverlayResult,
} from './images.js';
export { QemuImgStorage } from './qemu-img.js';
export { ImageSources } from './sources.js';
export { createVolume, growVolume, type VolumeFileRequest, type VolumeSource } from './volumes.js';
