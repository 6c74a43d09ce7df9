/**
 * What an image file really is, decided once on the agent's own staged copy: qemu-img's probe, refined by
 * the few signatures qemu-img does not name (an ISO 9660 filesystem is "raw" to it), and refusals of files
 * with no usable disk content (empty, text, a truncated or corrupt qcow2), each with the reason.
 */
import { open } from 'node:fs/promises';
import { ExecError, run } from '../host/exec.js';
import { storageError } from './errors.js';
import { type ImageInfo, inspectImage } from './inspect.js';

/** Disk formats an imported image may have (the model's `IMAGE_DISK_FORMATS`). */
export type DetectedFormat = 'qcow2' | 'raw' | 'vmdk' | 'vhdx' | 'iso';

/** The result of {@link detectImage}. */
export interface DetectedImage {
  format: DetectedFormat;
  info: ImageInfo;
}

const SNIFF_BYTES = 64 * 1024;
/** ISO 9660: the primary volume descriptor at sector 16 (2048-byte sectors) starts `\x01CD001`. */
const ISO_MAGIC_OFFSET = 32769;
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Whether `head` (the start of a file) reads as text: valid UTF-8 without control characters but whitespace. */
function looksLikeText(head: Buffer): boolean {
  if (head.length === 0) return false;
  for (const b of head) if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) return false;
  if (head.includes(0x7f)) return false;
  try {
    // A multi-byte character cut at the end of the sample is not evidence of binary data.
    new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(0, head.length - 4)));
    return true;
  } catch {
    return false;
  }
}

/** The first line of a text file, shortened and with control characters escaped, for a message. */
function firstLine(head: Buffer): string {
  const line = head.toString('utf8').split('\n', 1)[0] ?? '';
  return JSON.stringify(line.length > 60 ? `${line.slice(0, 60)}…` : line);
}

/**
 * Probes the staged image at `path` (`sizeBytes` long) and refuses what is not a usable disk:
 * `image_content_invalid` for an empty file, a text file (an HTML error page, a checksum list), a file
 * too short to be a disk, a qcow2 header qemu-img cannot read; `image_format_unsupported` for formats
 * Stratus neither boots nor converts. Metadata consistency (a truncated download) is
 * {@link checkContent}'s. `label` names the source in messages.
 */
export async function detectImage(path: string, sizeBytes: number, label: string): Promise<DetectedImage> {
  const invalid = (why: string) =>
    storageError('image_content_invalid', `image ${label} has no usable disk content: ${why}`);
  if (sizeBytes === 0) throw invalid('the file is empty (0 bytes)');
  const head = await readAt(path, 0, SNIFF_BYTES);
  if (head.subarray(0, 4).equals(QCOW2_MAGIC) && sizeBytes < 512)
    throw invalid(`it starts like a qcow2 image but is only ${sizeBytes} bytes long (truncated)`);
  // A bare vmdk descriptor names the files holding its data (any host path): refused before qemu-img
  // opens them.
  if (head.subarray(0, 64).toString('latin1').includes('# Disk DescriptorFile'))
    throw storageError(
      'image_has_external_data_file',
      `image ${label} is a vmdk descriptor whose data lives in other files; import a monolithic vmdk`,
    );
  let info: ImageInfo;
  try {
    info = await inspectImage(path);
  } catch (e) {
    if (head.subarray(0, 4).equals(QCOW2_MAGIC))
      throw invalid(
        `it starts like a qcow2 image but qemu-img cannot read its header (truncated or corrupt)`,
      );
    throw e;
  }
  let format: DetectedFormat;
  switch (info.format) {
    case 'qcow2':
    case 'vmdk':
    case 'vhdx':
      format = info.format;
      break;
    case 'raw': {
      const iso = await readAt(path, ISO_MAGIC_OFFSET, 5);
      if (iso.toString('latin1') === 'CD001') {
        format = 'iso';
        break;
      }
      if (looksLikeText(head))
        throw invalid(`it is a text file, not a disk image (it begins ${firstLine(head)})`);
      if (sizeBytes < 512) throw invalid(`it is ${sizeBytes} bytes long, less than one 512-byte sector`);
      format = 'raw';
      break;
    }
    default:
      throw storageError(
        'image_format_unsupported',
        `image ${label} is ${info.format}; Stratus takes qcow2, raw, vmdk, vhdx and iso`,
      );
  }
  return { format, info };
}

/**
 * Refuses an image of a format with metadata (qcow2, vmdk, vhdx) whose metadata is inconsistent: a
 * truncated or corrupt file (`image_content_invalid`). Run only once backing and external data files
 * were refused, so that the check opens no file but the image.
 */
export async function checkContent(path: string, detected: DetectedImage, label: string): Promise<void> {
  if (detected.format !== 'raw' && detected.format !== 'iso')
    await checkConsistent(path, detected.format, label);
}

/**
 * Runs `qemu-img check` on an image of a format with metadata: exit 0 is clean, 3 means leaked clusters
 * only (harmless: space that is never read), anything else is corruption or an unreadable image.
 */
async function checkConsistent(path: string, format: DetectedFormat, label: string): Promise<void> {
  try {
    await run('qemu-img', ['check', '-U', '-q', '-f', format, '--', path], {
      timeoutMs: 300_000,
      dieWithAgent: true,
    });
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
    if (e.exitCode === 3) return;
    const detail =
      e.stderr
        .split('\n')
        .map((l) => l.trim())
        .find((l) => l !== '') ?? `qemu-img check exited with ${e.exitCode}`;
    throw storageError(
      'image_content_invalid',
      `image ${label} has no usable disk content: its ${format} metadata is inconsistent, as a truncated or ` +
        `corrupt file's is (qemu-img check: ${detail})`,
      { cause: e },
    );
  }
}
