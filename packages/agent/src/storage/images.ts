/**
 * Disk images with qemu-img: inspecting, importing into the image cache, and thin per-server overlays.
 *
 * The format of an imported image is probed exactly once, on the cached copy, and passed explicitly from
 * then on (`-F` for overlays, the driver type in libvirt XML): format probing of a file a guest can write
 * to is how a raw disk turns into a qcow2 header pointing at a host file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, chown, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseChecksum } from '@stratus/model';
import { tempSibling } from '@stratus/util';
import { run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { type WriteOptions, type WrittenData, writeSparse } from './copy.js';
import { checkContent, type DetectedFormat, detectImage } from './detect.js';
import { type ImageInfo, inspectImage } from './inspect.js';
import { type BackingFormat, writeNewQcow2 } from './qcow2.js';

export { type ImageInfo, inspectImage };

import { storageError } from './errors.js';
import { assertAbsolutePath, createPrivateFile, ensureDir, exists } from './files.js';

const log = logger('images');

/** Formats of cached images: disks (raw, qcow2) and CD-ROM images (iso, attached read-only). */
export type ImageFormat = 'raw' | 'qcow2' | 'iso';

/** The cached copy made by {@link finishImport}. */
export interface ImportedImage {
  /** Format of the cached copy. */
  format: ImageFormat;
  /** Format of the data as imported (vmdk and vhdx are cached as qcow2). */
  sourceFormat: DetectedFormat;
  virtualSize: number;
  /** Size of the cached file in bytes. */
  sizeBytes: number;
  /**
   * Content checksum of the imported data (before any conversion; see `@stratus/util` sparse.ts: it
   * skips holes and zero blocks, so it is not `sha256sum` of the file), lower-case hex.
   */
  checksum: string;
}

/** The response of {@link createOverlay}. */
export interface OverlayResult {
  /** False when a matching overlay already existed (it was kept, guest data intact). */
  created: boolean;
  virtualSize: number;
}

/** Who may read cached images besides root: the hypervisor's group (files 0640 root:`gid`). */
export interface CacheOwner {
  /** Numeric group id of the hypervisor's user (libvirt's qemu user, `libvirt-qemu` on Debian). */
  gid: number;
}

/** What the request says the image must be: its checksum (the model's `checksum` syntax) and disk format. */
export interface ImportExpectations {
  checksum?: string;
  diskFormat?: string;
}

/**
 * The digest of staged image data, as the request's checksum names it (`sha256` or `sha512`), lower-case
 * hex: a plain digest of the file's bytes, holes read as zeros. The SHA-256 comes from the write pass when
 * it was computed there (`data.sha256`, asked for when a checksum was declared); otherwise the staged file
 * is read once more (a declared checksum only: an import without one checks the content checksum, which
 * costs the data alone).
 */
export async function sourceDigest(
  staged: string,
  data: { sha256?: string },
  algorithm: 'sha256' | 'sha512',
): Promise<string> {
  if (algorithm === 'sha256' && data.sha256 !== undefined) return data.sha256;
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(staged, { highWaterMark: 1 << 20 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * Verifies the staged data against the declared checksum; a mismatch is `image_checksum_mismatch` naming
 * both digests (the staged copy is the caller's to remove).
 */
export async function verifyChecksum(
  staged: string,
  data: { sha256?: string },
  expected: string | undefined,
  label: string,
): Promise<void> {
  if (expected === undefined) return;
  const want = parseChecksum(expected);
  const got = await sourceDigest(staged, data, want.algorithm);
  if (got !== want.hex)
    throw storageError(
      'image_checksum_mismatch',
      `image ${label}: checksum mismatch: expected ${want.algorithm} ${want.hex}, ` +
        `got ${want.algorithm} ${got}; nothing was cached`,
    );
}

/**
 * Checks image data written to `staged` (a file of the cache directory the caller wrote, `checksum` and
 * `sizeBytes` computed while writing) and moves it to `destPath` (converted to qcow2 first when it is
 * vmdk or vhdx), readable by root and the hypervisor's group only (0640). The staged copy, not any
 * source, is inspected, so a source changing meanwhile cannot smuggle in a backing file. Refuses: a
 * checksum other than `expect.checksum` (`image_checksum_mismatch`), no usable content
 * (`image_content_invalid`, see {@link detectImage}), a format other than `expect.diskFormat`
 * (`image_format_mismatch`), a backing file (`image_has_backing_file`), an external data file or extent
 * (`image_has_external_data_file`). `label` names the source in messages. An existing `destPath` is
 * replaced. On failure `staged` is removed and nothing is left at `destPath`.
 */
export async function finishImport(
  staged: string,
  destPath: string,
  data: { sizeBytes: number; checksum: string; sha256?: string },
  owner: CacheOwner,
  label: string,
  expect: ImportExpectations = {},
): Promise<ImportedImage> {
  assertAbsolutePath('destPath', destPath);
  const converted = tempSibling(destPath);
  try {
    await verifyChecksum(staged, data, expect.checksum, label);
    const found = await detectImage(staged, data.sizeBytes, label);
    const { format: detected, info } = found;
    if (expect.diskFormat !== undefined && expect.diskFormat !== detected)
      throw storageError(
        'image_format_mismatch',
        `image ${label} is declared diskFormat ${expect.diskFormat}, but its data is ${detected}`,
      );
    if (info.backingFile !== null) {
      throw storageError(
        'image_has_backing_file',
        `image ${label} has backing file ${info.backingFile}; import a flattened image (qemu-img convert)`,
      );
    }
    if (info.dataFile !== null) {
      throw storageError('image_has_external_data_file', `image ${label} keeps its data in ${info.dataFile}`);
    }
    const foreign = info.extentFiles.filter((f) => resolve(dirname(staged), f) !== resolve(staged));
    if (foreign.length)
      throw storageError(
        'image_has_external_data_file',
        `image ${label} keeps data in other files (${foreign.join(', ')}); import a monolithic image`,
      );
    await checkContent(staged, found, label);
    let file = staged;
    let format: ImageFormat = detected === 'vmdk' || detected === 'vhdx' ? 'qcow2' : detected;
    if (detected === 'vmdk' || detected === 'vhdx') {
      // Converted once at import: servers boot from qcow2 overlays, which need a qcow2 or raw base.
      await createPrivateFile(converted);
      await run('qemu-img', ['convert', '-q', '-f', detected, '-O', 'qcow2', '--', staged, converted], {
        timeoutMs: 3_600_000,
        dieWithAgent: true,
      });
      await rm(staged, { force: true });
      file = converted;
      format = 'qcow2';
    }
    // A user's image may hold secrets: root and the hypervisor's group only (libvirt may also chown it
    // to QEMU's user while a guest uses it; the mode keeps everyone else out either way).
    await chown(file, 0, owner.gid);
    await chmod(file, 0o640);
    const sizeBytes = file === staged ? data.sizeBytes : (await stat(file)).size;
    await rename(file, destPath);
    log.info('image imported', {
      source: label,
      destPath,
      format: detected,
      virtualSize: info.virtualSize,
      contentChecksum: data.checksum,
    });
    return {
      format,
      sourceFormat: detected,
      virtualSize: info.virtualSize,
      sizeBytes,
      checksum: data.checksum,
    };
  } catch (e) {
    await rm(staged, { force: true });
    await rm(converted, { force: true });
    throw e;
  }
}

/**
 * Copies image data from `input` into a new temporary in `dir` (in-process, sparse, hashed while
 * copying); answers its path and what was written. The caller owns the temporary (the agent's start
 * sweeps what a crash left).
 */
export async function stageImage(
  input: AsyncIterable<Uint8Array>,
  dir: string,
  opts: WriteOptions = {},
): Promise<{ path: string; data: WrittenData }> {
  await ensureDir(dir);
  const tmp = tempSibling(join(dir, 'stage'));
  try {
    return { path: tmp, data: await writeSparse(input, tmp, opts) };
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Copies image data from `input` into the cache at `destPath` (staged beside it, see {@link stageImage})
 * and checks it with {@link finishImport}.
 */
export async function importImage(
  input: AsyncIterable<Uint8Array>,
  destPath: string,
  owner: CacheOwner,
  label: string,
  expect: ImportExpectations = {},
): Promise<ImportedImage> {
  assertAbsolutePath('destPath', destPath);
  const { path, data } = await stageImage(input, dirname(destPath), {
    sha256: expect.checksum !== undefined && parseChecksum(expect.checksum).algorithm === 'sha256',
  });
  return finishImport(path, destPath, data, owner, label, expect);
}

/** Size of a blank root disk when neither the flavor nor the image names one (1 GiB). */
export const BLANK_ROOT_BYTES = 1024 ** 3;

/**
 * Creates an empty qcow2 disk of `sizeBytes` at `path` (a server booting from an ISO installs onto it).
 * Idempotent: an existing qcow2 without a backing file is kept as it is (it holds the guest's data).
 */
export async function createBlankDisk(path: string, sizeBytes: number): Promise<OverlayResult> {
  assertAbsolutePath('path', path);
  if (await exists(path)) {
    const info = await inspectImage(path);
    if (info.format === 'qcow2' && info.backingFile === null)
      return { created: false, virtualSize: info.virtualSize };
    throw storageError('overlay_conflict', `${path} exists and is not a blank qcow2 disk; remove it first`);
  }
  await ensureDir(dirname(path));
  const tmp = tempSibling(path);
  try {
    await createPrivateFile(tmp); // the guest's data: root only, libvirt chowns it while a domain runs
    await writeNewQcow2(tmp, { size: sizeBytes });
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  log.info('blank disk created', { path, sizeBytes });
  return { created: true, virtualSize: sizeBytes };
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
    // The guest's data: private to root from the start, libvirt chowns it to QEMU's user while the
    // domain runs.
    await createPrivateFile(tmp);
    await writeNewQcow2(tmp, { size, backing: { file: base, format: baseFormat as BackingFormat } });
    await rename(tmp, overlayPath);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  log.info('overlay created', { base, overlayPath, size });
  return { created: true, virtualSize: size };
}
