import { basename, dirname, join, resolve } from 'node:path';
import type { OverlayRequest, StorageDriver } from './driver.js';
import { removeFile } from './files.js';
import {
  createOverlay,
  type ImageInfo,
  type ImportedImage,
  importImage,
  inspectImage,
  type OverlayResult,
} from './images.js';

/** The qemu-img {@link StorageDriver}: cached images as files `<imageDir>/<image id>`, qcow2 overlays. */
export class QemuImgStorage implements StorageDriver {
  constructor(
    /** The image cache directory (created on first import, traversable by QEMU's user). */
    readonly imageDir: string,
  ) {}

  /** The cache file of image `imageId`. */
  imagePath(imageId: string): string {
    return join(this.imageDir, imageId);
  }

  importImage(imageId: string, source: string): Promise<ImportedImage> {
    return importImage(source, this.imagePath(imageId));
  }

  async deleteImage(imageId: string): Promise<void> {
    await removeFile(this.imagePath(imageId));
  }

  createOverlay(req: OverlayRequest): Promise<OverlayResult> {
    return createOverlay(this.imagePath(req.imageId), req.format, req.path, req.virtualSize);
  }

  inspect(path: string): Promise<ImageInfo> {
    return inspectImage(path);
  }

  imageIdOf(path: string): string | null {
    const p = resolve(path);
    return dirname(p) === resolve(this.imageDir) ? basename(p) : null;
  }

  delete(path: string): Promise<boolean> {
    return removeFile(path);
  }
}
