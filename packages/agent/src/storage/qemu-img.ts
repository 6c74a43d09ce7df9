import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { tempSibling } from '@stratus/util';
import { Conflict } from '../errors.js';
import { logger } from '../host/log.js';
import { isResourceId } from '../host/names.js';
import { type WrittenData, writeSparse } from './copy.js';
import type { ImageData, OverlayRequest, StorageDriver, VolumeRequest } from './driver.js';
import { ensureDir, removeFile } from './files.js';
import {
  type CacheOwner,
  createOverlay,
  finishImport,
  type ImageInfo,
  type ImportedImage,
  importImage,
  inspectImage,
  type OverlayResult,
} from './images.js';
import { ImageSources } from './sources.js';
import { createVolume, growVolume } from './volumes.js';

const log = logger('images');
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The qemu-img {@link StorageDriver}: cached images as files `<imageDir>/<image id>` (0640, root and the
 * hypervisor's group), qcow2 overlays. Every other name in the cache directory is a temporary or an
 * uploaded file waiting for its image (`.upload-<id>-<sha256>`); {@link recover} removes them at start.
 */
export class QemuImgStorage implements StorageDriver {
  constructor(
    /** The image cache directory (created on first import, traversable by QEMU's user). */
    readonly imageDir: string,
    /** Group of cached files, and which client-named files may be read. */
    readonly opts: { owner: CacheOwner; sources?: ImageSources },
  ) {}

  /** The cache file of image `imageId`. */
  imagePath(imageId: string): string {
    return join(this.imageDir, imageId);
  }

  private uploadPath(imageId: string, checksum: string): string {
    return join(this.imageDir, `.upload-${imageId}-${checksum}`);
  }

  async stageUpload(imageId: string, body: AsyncIterable<Uint8Array>): Promise<WrittenData> {
    if (!isResourceId(imageId)) throw new Error(`image id ${imageId} is not a resource id`);
    await ensureDir(this.imageDir);
    const tmp = tempSibling(this.uploadPath(imageId, 'x'));
    try {
      const data = await writeSparse(body, tmp);
      await rename(tmp, this.uploadPath(imageId, data.checksum));
      return data;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }

  async importImage(imageId: string, data: ImageData): Promise<ImportedImage> {
    const dest = this.imagePath(imageId);
    if ('uploaded' in data) {
      const staged = SHA256.test(data.uploaded) ? this.uploadPath(imageId, data.uploaded) : null;
      const st = staged ? await stat(staged).catch(() => null) : null;
      if (!staged || !st)
        throw new Conflict(
          `no uploaded data with sha256 ${data.uploaded} for image ${imageId} (the agent may have restarted ` +
            'since the upload, which removes uploads); upload it again',
          { code: 'upload_missing' },
        );
      return finishImport(
        staged,
        dest,
        { sizeBytes: st.size, checksum: data.uploaded },
        this.opts.owner,
        data.label,
      );
    }
    const fh = await (this.opts.sources ?? ImageSources.none()).open(data.path);
    try {
      return await importImage(fh.createReadStream({ autoClose: false }), dest, this.opts.owner, data.path);
    } finally {
      await fh.close();
    }
  }

  /**
   * Rolls back what an agent killed mid-import left in the cache: removes every temporary and upload, and
   * every cached file of an image for which `owned(id)` is false (an import that renamed its copy but
   * died before saving the image's record). Returns the names removed.
   */
  async recover(owned: (imageId: string) => boolean): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.imageDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const removed: string[] = [];
    for (const n of names) {
      if (isResourceId(n) && owned(n)) continue;
      await rm(join(this.imageDir, n), { force: true, recursive: true });
      removed.push(n);
    }
    if (removed.length)
      log.warn('removed leftovers of interrupted imports', { imageDir: this.imageDir, removed });
    return removed;
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

  createVolume(req: VolumeRequest): Promise<{ created: boolean }> {
    const { source } = req;
    return createVolume({
      ...req,
      source:
        source.kind === 'image'
          ? { kind: 'image', path: this.imagePath(source.imageId), format: source.format }
          : source,
    });
  }

  growDisk(path: string, sizeBytes: number): Promise<void> {
    return growVolume(path, sizeBytes);
  }

  delete(path: string): Promise<boolean> {
    return removeFile(path);
  }
}
