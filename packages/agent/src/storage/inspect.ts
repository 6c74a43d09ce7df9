/** `qemu-img info`, read as JSON. */
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
    extentFiles: (info['format-specific']?.data?.extents ?? []).flatMap((x) =>
      typeof x.filename === 'string' ? [x.filename] : [],
    ),
  };
}
