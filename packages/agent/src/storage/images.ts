/**
 * Disk images with qemu-img: inspecting, importing into the image cache, and thin per-server overlays.
 *
 * The format of an imported image is probed exactly once, on the cached copy, and passed explicitly from
 * then on (`-F` for overlays, the driver type in libvirt XML): format probing of a file a guest can write
 * to is how a raw disk turns into a qcow2 header pointing at a host file.
 */
import { chmod, chown, rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { tempSibling } from '@stratus/util';
import { ExecError, run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { type WrittenData, writeSparse } from './copy.js';
import { storageError } from './errors.js';
import { assertAbsolutePath, ensureDir, exists } from './files.js';

const log = logger('images');

/** Image formats Stratus boots. */
export type ImageFormat = 'raw' | 'qcow2';

/** What `qemu-img info` says about an image. */
export interface ImageInfo {
  /** Format as detected by qemu-img (`raw`, `qcow2`, `vmdk`, ...). */
  format: string;
  /** Size of the disk the guest sees, in bytes. */
  virtualSize: number;
  /** Bytes the file occupies on the host. */
  actualSize: number;
  /** Backing file as recorded in the image (absolute when qemu-img could resolve it), or null. */
  backingFile: string | null;
  /** Format recorded for the backing file, or null. */
  backingFormat: string | null;
  /** External data file of a qcow2 image, or null. */
  dataFile: string | null;
}

/** The cached copy made by {@link importImage}. */
export interface ImportedImage {
  format: ImageFormat;
  virtualSize: number;
  /** Size of the cached file in bytes. */
  sizeBytes: number;
  /** SHA-256 of the cached file, lower-case hex. */
  checksum: string;
}

/** The response of {@link createOverlay}. */
export interface OverlayResult {
  /** False when a matching overlay already existed (it was kept, guest data intact). */
  created: boolean;
  virtualSize: number;
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string } };
}

/**
 * Runs `qemu-img info` on an image. `-U` (force share) lets it read an image a running guest holds open;
 * the backing chain is not opened, so a missing backing file still yields an answer.
 */
export async function inspectImage(path: string): Promise<ImageInfo> {
  let stdout: string;
  try {
    ({ stdout } = await run('qemu-img', ['info', '-U', '--output=json', '--', path], {
      timeoutMs: 60_000,
      dieWithAgent: true,
    }));
  } catch (e) {
    if (e instanceof ExecError && /No such file|Could not open/i.test(e.stderr) && !(await exists(path))) {
      throw storageError('image_source_not_found', `image ${path} does not exist`, { cause: e });
    }
    if (e instanceof ExecError) {
      throw storageError('image_format_unsupported', `qemu-img cannot read ${path}: ${e.stderr.trim()}`, {
        cause: e,
      });
    }
    throw e;
  }
  const info = JSON.parse(stdout) as QemuImgInfo;
  if (typeof info.format !== 'string' || typeof info['virtual-size'] !== 'number') {
    throw storageError('image_format_unsupported', `qemu-img info gave no format/size for ${path}`);
  }
  return {
    format: info.format,
    virtualSize: info['virtual-size'],
    actualSize: info['actual-size'] ?? 0,
    backingFile: info['full-backing-filename'] ?? info['backing-filename'] ?? null,
    backingFormat: info['backing-filename-format'] ?? null,
    dataFile: info['format-specific']?.data?.['data-file'] ?? null,
  };
}

/** Who may read cached images besides root: the hypervisor's group (files 0640 root:`gid`). */
export interface CacheOwner {
  /** Numeric group id of the hypervisor's user (libvirt's qemu user, `libvirt-qemu` on Debian). */
  gid: number;
}

/**
 * Checks image data written to `staged` (a file of the cache directory the caller wrote, `checksum` and
 * `sizeBytes` computed while writing) and moves it to `destPath`, readable by root and the hypervisor's
 * group only (0640). The staged copy, not any source, is inspected, so a source changing meanwhile cannot
 * smuggle in a backing file. Refuses images that carry a backing file (`image_has_backing_file`) or an
 * external data file (`image_has_external_data_file`), and formats other than raw and qcow2
 * (`image_format_unsupported`); `label` names the source in those messages. An existing `destPath` is
 * replaced. On failure `staged` is removed.
 */
export async function finishImport(
  staged: string,
  destPath: string,
  data: { sizeBytes: number; checksum: string },
  owner: CacheOwner,
  label: string,
): Promise<ImportedImage> {
  assertAbsolutePath('destPath', destPath);
  try {
    const info = await inspectImage(staged);
    if (info.backingFile !== null) {
      throw storageError(
        'image_has_backing_file',
        `image ${label} has backing file ${info.backingFile}; import a flattened image (qemu-img convert)`,
      );
    }
    if (info.dataFile !== null) {
      throw storageError('image_has_external_data_file', `image ${label} keeps its data in ${info.dataFile}`);
    }
    if (info.format !== 'raw' && info.format !== 'qcow2') {
      throw storageError('image_format_unsupported', `image ${label} is ${info.format}; use raw or qcow2`);
    }
    // A user's image may hold secrets: root and the hypervisor's group only (libvirt may also chown it
    // to QEMU's user while a guest uses it; the mode keeps everyone else out either way).
    await chown(staged, 0, owner.gid);
    await chmod(staged, 0o640);
    await rename(staged, destPath);
    log.info('image imported', {
      source: label,
      destPath,
      format: info.format,
      virtualSize: info.virtualSize,
      checksum: data.checksum,
    });
    return { format: info.format, virtualSize: info.virtualSize, ...data };
  } catch (e) {
    await rm(staged, { force: true });
    throw e;
  }
}

/**
 * Copies image data from `input` into the cache at `destPath` (in-process, sparse, hashed while copying,
 * through a temporary sibling and a rename) and checks it with {@link finishImport}.
 */
export async function importImage(
  input: AsyncIterable<Uint8Array>,
  destPath: string,
  owner: CacheOwner,
  label: string,
): Promise<ImportedImage> {
  assertAbsolutePath('destPath', destPath);
  await ensureDir(dirname(destPath));
  const tmp = tempSibling(destPath);
  let data: WrittenData;
  try {
    data = await writeSparse(input, tmp);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return finishImport(tmp, destPath, data, owner, label);
}

/**
 * Creates a qcow2 overlay at `overlayPath` backing onto `basePath` (no copy), `sizeBytes` large (default:
 * the base's virtual size). Idempotent: an existing overlay backing onto the same base is kept as it is
 * (it holds the guest's data); one backing onto anything else is refused with `overlay_conflict`.
 * `baseFormat` is the format recorded at import; it is checked at run time because records store strings.
 */
export async function createOverlay(
  basePath: string,
  baseFormat: ImageFormat | string,
  overlayPath: string,
  sizeBytes?: number,
): Promise<OverlayResult> {
  assertAbsolutePath('basePath', basePath);
  assertAbsolutePath('overlayPath', overlayPath);
  if (baseFormat !== 'raw' && baseFormat !== 'qcow2') {
    throw storageError('image_format_unsupported', `base format ${baseFormat} is not raw or qcow2`);
  }
  if (sizeBytes !== undefined && (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)) {
    throw new Error(`sizeBytes must be a positive integer, got ${sizeBytes}`);
  }
  const base = resolve(basePath);
  if (await exists(overlayPath)) {
    const info = await inspectImage(overlayPath);
    if (info.format === 'qcow2' && info.backingFile === base && info.backingFormat === baseFormat) {
      return { created: false, virtualSize: info.virtualSize };
    }
    throw storageError(
      'overlay_conflict',
      `${overlayPath} exists and backs onto ${info.backingFile ?? 'nothing'} (${info.backingFormat ?? '-'}), ` +
        `not ${base} (${baseFormat}); remove it first`,
    );
  }
  const baseInfo = await inspectImage(base);
  if (baseInfo.format !== baseFormat) {
    throw storageError('image_format_unsupported', `${base} is ${baseInfo.format}, not ${baseFormat}`);
  }
  const size = sizeBytes ?? baseInfo.virtualSize;
  if (size < baseInfo.virtualSize) {
    throw storageError(
      'overlay_too_small',
      `a root disk of ${size} bytes cannot hold image ${base} of ${baseInfo.virtualSize} bytes`,
    );
  }
  await ensureDir(dirname(overlayPath));
  const tmp = tempSibling(overlayPath);
  try {
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', baseFormat, '-b', base, tmp, String(size)], {
      dieWithAgent: true,
    });
    // The guest's data: private to root, libvirt chowns it to QEMU's user while the domain runs.
    await chmod(tmp, 0o600);
    await rename(tmp, overlayPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  log.info('overlay created', { base, overlayPath, size });
  return { created: true, virtualSize: size };
}
