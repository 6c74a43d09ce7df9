import { link, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { parseChecksum } from '@stratus/model';
import { type DataPiece, readExtents, tempSibling, writeFileAtomic } from '@stratus/util';
import { Conflict } from '../errors.js';
import { run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { KeyedMutex } from '../host/mutex.js';
import { isResourceId } from '../host/names.js';
import { type WrittenData, writeExtents, writeExtentsBody, writeSparse } from './copy.js';
import { downloadImage, redactUrl } from './download.js';
import type { ImageData, OverlayRequest, StorageDriver, UploadOptions, VolumeRequest } from './driver.js';
import { storageError } from './errors.js';
import { ensureDir, removeFile } from './files.js';
import {
  BLANK_ROOT_BYTES,
  type CacheOwner,
  createBlankDisk,
  createOverlay,
  finishImport,
  type ImageInfo,
  type ImportExpectations,
  type ImportedImage,
  inspectImage,
  type OverlayResult,
  verifyChecksum,
} from './images.js';
import { ImageSources } from './sources.js';
import { createVolume, growVolume } from './volumes.js';

const log = logger('images');
const SHA256 = /^[0-9a-f]{64}$/;

/** Whether a declared checksum is a SHA-256, which the write pass then computes too (plain, of the file). */
function wantsSha256(expect: ImportExpectations): boolean {
  return expect.checksum !== undefined && parseChecksum(expect.checksum).algorithm === 'sha256';
}
/** An upload's file, stored (`.upload-<id>-<sha256>`) or being written (its `tempSibling`); group 1: the image id. */
const UPLOAD = /^\.{1,2}upload-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/;

/**
 * How long an upload waits for the create that names it before the agent removes it: 10 minutes. A
 * client sends the create right after its upload; one killed in between (or one that never sends it)
 * would otherwise leave a full-size file until the agent restarts. A live client that is slower than
 * this gets `upload_missing` and uploads again (the SDK does so once).
 */
export const DEFAULT_UPLOAD_LEASE_MS = 10 * 60_000;
/** Subdirectory of the cache holding image data by SHA-256 (`blobs/<sha256>` and `<sha256>.json`). */
const BLOBS = 'blobs';

/**
 * The qemu-img {@link StorageDriver}: image data cached once per content, as `<imageDir>/blobs/<sha256>`
 * (0640, root and the hypervisor's group) with what import learned in `<sha256>.json`; each image is a
 * hard link `<imageDir>/<image id>` to its data; qcow2 overlays. Every other name in the cache directory is a temporary or an
 * uploaded file waiting for its image (`.upload-<id>-<sha256>`); {@link recover} removes them at start,
 * {@link sweepUploads} those whose lease ran out while the agent runs, {@link deleteImage} those of the
 * image it deletes.
 */
export class QemuImgStorage implements StorageDriver {
  /** Serializes linking images to cached data and removing unlinked data. */
  private readonly mutex = new KeyedMutex();

  constructor(
    /** The image cache directory (created on first import, traversable by QEMU's user). */
    readonly imageDir: string,
    /** Group of cached files, and which client-named files may be read. */
    readonly opts: { owner: CacheOwner; sources?: ImageSources },
  ) {}

  /** Image ids whose upload is being written or consumed by an import right now: never swept. */
  private readonly busy = new Map<string, number>();

  /** Runs `fn` with image `imageId`'s uploads marked busy, so {@link sweepUploads} leaves them alone. */
  private async holding<T>(imageId: string, fn: () => Promise<T>): Promise<T> {
    this.busy.set(imageId, (this.busy.get(imageId) ?? 0) + 1);
    try {
      return await fn();
    } finally {
      const n = (this.busy.get(imageId) ?? 1) - 1;
      if (n > 0) this.busy.set(imageId, n);
      else this.busy.delete(imageId);
    }
  }

  /** The cache file of image `imageId`. */
  imagePath(imageId: string): string {
    return join(this.imageDir, imageId);
  }

  private uploadPath(imageId: string, checksum: string): string {
    return join(this.imageDir, `.upload-${imageId}-${checksum}`);
  }

  async stageUpload(
    imageId: string,
    body: AsyncIterable<Uint8Array>,
    opts: UploadOptions = {},
  ): Promise<WrittenData> {
    if (!isResourceId(imageId)) throw new Error(`image id ${imageId} is not a resource id`);
    await ensureDir(this.imageDir);
    return this.holding(imageId, async () => {
      const tmp = tempSibling(this.uploadPath(imageId, 'x'));
      try {
        const write = { sha256: opts.sha256 === true, contentCrc32: true };
        let data: WrittenData;
        try {
          data = opts.extents
            ? await writeExtentsBody(body, tmp, write)
            : await writeSparse(body, tmp, write);
        } catch (e) {
          if (e instanceof RangeError)
            throw storageError('upload_invalid', `the uploaded data is not well formed: ${e.message}`);
          throw e;
        }
        const dest = this.uploadPath(imageId, data.checksum);
        // The plain SHA-256 a declared checksum is compared against, kept beside the upload.
        if (data.sha256 !== undefined) await writeFileAtomic(`${dest}.sha256`, `${data.sha256}\n`);
        await rename(tmp, dest);
        return data;
      } catch (e) {
        // Also when the client went away mid-upload: the request's body ends with an error.
        await rm(tmp, { force: true });
        throw e;
      }
    });
  }

  /** The content-addressed cache file of image data whose SHA-256 is `sha256`. */
  blobPath(sha256: string): string {
    return join(this.imageDir, BLOBS, sha256);
  }

  async importImage(
    imageId: string,
    data: ImageData,
    expect: ImportExpectations = {},
  ): Promise<ImportedImage> {
    return this.holding(imageId, () => this.importHeld(imageId, data, expect));
  }

  private async importHeld(
    imageId: string,
    data: ImageData,
    expect: ImportExpectations,
  ): Promise<ImportedImage> {
    if (!isResourceId(imageId)) throw new Error(`image id ${imageId} is not a resource id`);
    let staged: string;
    let written: WrittenData;
    let label: string;
    if ('uploaded' in data) {
      const path = SHA256.test(data.uploaded) ? this.uploadPath(imageId, data.uploaded) : null;
      const st = path ? await stat(path).catch(() => null) : null;
      if (!path || !st)
        throw new Conflict(
          `no uploaded data with sha256 ${data.uploaded} for image ${imageId} (the agent may have restarted ` +
            'since the upload, which removes uploads); upload it again',
          { code: 'upload_missing' },
        );
      staged = path;
      const sha256 = await readFile(`${path}.sha256`, 'utf8').then(
        (t) => t.trim(),
        () => undefined,
      );
      await rm(`${path}.sha256`, { force: true });
      written = { sizeBytes: st.size, checksum: data.uploaded, ...(sha256 ? { sha256 } : {}) };
      label = data.label;
    } else if ('url' in data) {
      label = redactUrl(data.url);
      ({ path: staged, data: written } = await downloadImage(data.url, join(this.imageDir, BLOBS), {
        signal: data.signal,
        progress: data.progress,
        sha256: wantsSha256(expect),
      }));
    } else {
      label = data.path;
      const fh = await (this.opts.sources ?? ImageSources.none()).open(data.path);
      try {
        // The source's data extents only: a sparse raw file costs its data, not its apparent size.
        const { size } = await fh.stat();
        async function* extents(): AsyncGenerator<DataPiece | { size: number }> {
          // Each piece is copied by the writer before the next is read: the two buffers can take turns.
          yield* readExtents(fh, size, { reuse: true });
          yield { size };
        }
        await ensureDir(join(this.imageDir, BLOBS));
        staged = tempSibling(join(this.imageDir, BLOBS, 'stage'));
        try {
          written = await writeExtents(extents(), staged, { sha256: wantsSha256(expect) });
        } catch (e) {
          await rm(staged, { force: true });
          throw e;
        }
      } finally {
        await fh.close();
      }
    }
    return this.mutex.run('cache', () => this.store(imageId, staged, written, label, expect));
  }

  /**
   * Puts staged data into the content-addressed cache (or finds it there) and links image `imageId` to
   * it: images with the same bytes share one file (hard links, so each image keeps its own name, which
   * server overlays record as their backing file). Runs under the cache lock, with {@link deleteImage}.
   */
  private async store(
    imageId: string,
    staged: string,
    written: WrittenData,
    label: string,
    expect: ImportExpectations,
  ): Promise<ImportedImage> {
    const blob = this.blobPath(written.checksum);
    const meta = `${blob}.json`;
    await ensureDir(dirname(blob));
    let imported: ImportedImage;
    const cached = await readFile(meta, 'utf8')
      .then((t) => JSON.parse(t) as ImportedImage)
      .catch(() => null);
    if (cached && (await stat(blob).catch(() => null))) {
      try {
        await verifyChecksum(staged, written, expect.checksum, label);
      } finally {
        await rm(staged, { force: true });
      }
      if (expect.diskFormat !== undefined && expect.diskFormat !== cached.sourceFormat)
        throw storageError(
          'image_format_mismatch',
          `image ${label} is declared diskFormat ${expect.diskFormat}, but its data is ${cached.sourceFormat}`,
        );
      imported = cached;
      log.info('image data already cached', { imageId, blob });
    } else {
      imported = await finishImport(staged, blob, written, this.opts.owner, label, expect);
      await writeFileAtomic(meta, `${JSON.stringify(imported)}\n`);
    }
    const dest = this.imagePath(imageId);
    await rm(dest, { force: true });
    await link(blob, dest);
    return imported;
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
      if (n === BLOBS) {
        // Temporaries of imports in flight when the agent died; blobs no image links to.
        for (const b of await readdir(join(this.imageDir, BLOBS))) {
          if (SHA256.test(b) || (b.endsWith('.json') && SHA256.test(b.slice(0, -5)))) continue;
          await rm(join(this.imageDir, BLOBS, b), { force: true, recursive: true });
          removed.push(`${BLOBS}/${b}`);
        }
        continue;
      }
      if (isResourceId(n) && owned(n)) continue;
      await rm(join(this.imageDir, n), { force: true, recursive: true });
      removed.push(n);
    }
    removed.push(...(await this.collect()).map((b) => `${BLOBS}/${b}`));
    if (removed.length)
      log.warn('removed leftovers of interrupted imports', { imageDir: this.imageDir, removed });
    return removed;
  }

  /**
   * Removes the uploads (stored or half-written) that no create consumed within `leaseMs` of their last
   * write, except those of an image whose upload or import runs now. Returns the names removed.
   */
  sweepUploads(leaseMs: number): Promise<string[]> {
    return this.removeUploads(
      (_id, mtimeMs) => mtimeMs + leaseMs <= Date.now(),
      'removed uploads no image was created from within their lease',
      { leaseMs },
    );
  }

  /** Removes the uploads of images `which(id, mtimeMs)` selects that are not busy; logs `why`. */
  private async removeUploads(
    which: (imageId: string, mtimeMs: number) => boolean,
    why: string,
    fields: Record<string, unknown>,
  ): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.imageDir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const removed: string[] = [];
    for (const n of names) {
      const id = UPLOAD.exec(n)?.[1];
      if (!id || this.busy.has(id)) continue;
      const st = await stat(join(this.imageDir, n)).catch(() => null);
      // Busy again after the await: an upload or import of this image began meanwhile.
      if (!st || this.busy.has(id) || !which(id, st.mtimeMs)) continue;
      await rm(join(this.imageDir, n), { force: true });
      removed.push(n);
    }
    if (removed.length) log.warn(why, { imageDir: this.imageDir, removed, ...fields });
    return removed;
  }

  /**
   * Removes image `imageId`'s link to its cached data (and the data when no other image links it), and
   * any upload of it no create consumed (a client killed before it).
   */
  async deleteImage(imageId: string): Promise<void> {
    await this.mutex.run('cache', async () => {
      await removeFile(this.imagePath(imageId));
      await this.collect();
    });
    await this.removeUploads((id) => id === imageId, 'removed uploads of a deleted image', { imageId });
  }

  /** Removes cached data no image links to any more (a blob whose only name is its own). */
  private async collect(): Promise<string[]> {
    const dir = join(this.imageDir, BLOBS);
    const names = await readdir(dir).catch(() => [] as string[]);
    const removed: string[] = [];
    for (const n of names) {
      if (!SHA256.test(n)) continue;
      const st = await stat(join(dir, n)).catch(() => null);
      if (st && st.nlink > 1) continue;
      await rm(join(dir, n), { force: true });
      await rm(join(dir, `${n}.json`), { force: true });
      removed.push(n);
    }
    return removed;
  }

  createOverlay(req: OverlayRequest): Promise<OverlayResult> {
    // An ISO is a CD-ROM beside the root disk, never its base: the root disk starts blank.
    if (req.format === 'iso') return createBlankDisk(req.path, req.virtualSize ?? BLANK_ROOT_BYTES);
    return createOverlay(this.imagePath(req.imageId), req.format, req.path, req.virtualSize);
  }

  inspect(path: string): Promise<ImageInfo> {
    return inspectImage(path);
  }

  async hasData(path: string): Promise<boolean> {
    // `qemu-img map` lists the disk as extents; `data` is true where a cluster holds data (-U: a running
    // guest may hold the image open).
    const { stdout } = await run('qemu-img', ['map', '-U', '--output=json', '-f', 'qcow2', '--', path], {
      timeoutMs: 60_000,
      dieWithAgent: true,
    });
    return (JSON.parse(stdout) as { data?: boolean }[]).some((e) => e.data === true);
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
