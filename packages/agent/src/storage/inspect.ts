/** `qemu-img info`, read as JSON. */
import { stat } from 'node:fs/promises';
import { ExecError, run } from '../host/exec.js';
import { storageError } from './errors.js';
import { exists } from './files.js';

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
  /** Files a vmdk's extents live in (the image itself for a monolithic one). */
  extentFiles: string[];
}

interface QemuImgInfo {
  format?: string;
  'virtual-size'?: number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  'backing-filename-format'?: string;
  'format-specific'?: {
    type?: string;
    data?: { 'data-file'?: string; extents?: { filename?: string }[] };
  };
}

/** What `qemu-img info` said of a file, with the file's stamp when it did. */
const known = new Map<string, { stamp: string; info: ImageInfo }>();
/** How many answers {@link inspectImage} keeps (the images and disks of a busy host; each is small). */
const KNOWN_MAX = 512;
/**
 * How long a file must have been left alone before its answer is kept, in ms: far above the kernel's
 * timestamp granularity (a tick), so a later change in place always gives a new ctime (as Git treats
 * "racily clean" index entries).
 */
const SETTLED_MS = 1000;

/**
 * A file's identity, size, allocated blocks and change times (ns), when it changed last more than
 * {@link SETTLED_MS} ago; undefined for a file too fresh to tell a later change by, or no file.
 */
async function settledStamp(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path, { bigint: true });
    if (Date.now() - Number(s.ctimeNs / 1_000_000n) < SETTLED_MS) return undefined;
    return `${s.dev}:${s.ino}:${s.size}:${s.blocks}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return undefined;
  }
}

/**
 * Runs `qemu-img info` on an image. `-U` (force share) lets it read an image a running guest holds open;
 * the backing chain is not opened, so a missing backing file still yields an answer.
 *
 * The answer for a file unchanged since (same device, inode, size, blocks, mtime and ctime, which had
 * not changed for a second before the read) is given again without running qemu-img: an image is read
 * at every server create that backs onto it. Files whose answer depends on other files (an external
 * data file, vmdk extents) are always read.
 */
export async function inspectImage(path: string): Promise<ImageInfo> {
  const before = await settledStamp(path);
  const hit = before === undefined ? undefined : known.get(path);
  if (hit && hit.stamp === before) return { ...hit.info, extentFiles: [...hit.info.extentFiles] };
  const info = await readImageInfo(path);
  const standalone = info.dataFile === null && (info.format === 'qcow2' || info.format === 'raw');
  if (before !== undefined && standalone && (await settledStamp(path)) === before) {
    known.delete(path);
    if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value as string);
    known.set(path, { stamp: before, info: { ...info, extentFiles: [...info.extentFiles] } });
  }
  return info;
}

/** `qemu-img info` of `path`, run. */
async function readImageInfo(path: string): Promise<ImageInfo> {
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
    extentFiles: (info['format-specific']?.data?.extents ?? []).flatMap((x) =>
      typeof x.filename === 'string' ? [x.filename] : [],
    ),
  };
}
