/**
 * Block volumes (Cinder volumes) as qcow2 files in the agent's storage pool: blank (sparse: a 100 GiB
 * volume takes a few hundred KiB until written), a copy-on-write overlay of a cached image (as fast for a
 * 10 GiB image as for a small one), or a sparse copy of another volume. Volumes only grow.
 */
import { rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { tempSibling } from '@stratus/util';
import { run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { storageError } from './errors.js';
import { assertAbsolutePath, createPrivateFile, ensureDir, exists } from './files.js';
import { createOverlay, inspectImage } from './images.js';
import { writeNewQcow2 } from './qcow2.js';

const log = logger('volumes');

/** Where a new volume's data comes from. */
export type VolumeSource =
  | { kind: 'blank' }
  /** A cached image (its file and the format recorded at import): the volume is an overlay of it. */
  | { kind: 'image'; path: string; format: string }
  /** Another volume's file: copied (flattened, sparse). */
  | { kind: 'volume'; path: string };

/** A request to create a volume file (the driver's request, with the image resolved to its cache file). */
export interface VolumeFileRequest {
  /** Absolute path of the qcow2 file to create. */
  path: string;
  sizeBytes: number;
  source: VolumeSource;
}

/**
 * Creates the volume file (idempotent: an existing file at `path` is kept, it holds the volume's data).
 * Throws `overlay_too_small` when `sizeBytes` cannot hold the image or source volume.
 */
export async function createVolume(req: VolumeFileRequest): Promise<{ created: boolean }> {
  assertAbsolutePath('path', req.path);
  if (!Number.isSafeInteger(req.sizeBytes) || req.sizeBytes <= 0)
    throw new Error(`sizeBytes must be a positive integer, got ${req.sizeBytes}`);
  if (await exists(req.path)) return { created: false };
  const { source } = req;
  if (source.kind === 'image') {
    await createOverlay(source.path, source.format, req.path, req.sizeBytes);
    return { created: true };
  }
  await ensureDir(dirname(req.path));
  const tmp = tempSibling(req.path);
  try {
    // The data is the user's: private to root from the start; libvirt chowns it to QEMU's user while a
    // guest uses it.
    await createPrivateFile(tmp);
    if (source.kind === 'blank') {
      await writeNewQcow2(tmp, { size: req.sizeBytes });
    } else {
      assertAbsolutePath('source', source.path);
      // -U: the source may be attached to a running guest (the copy is then crash-consistent, as a
      // Cinder clone of an in-use volume is). The source is a file this agent made: its format is qcow2.
      const info = await inspectImage(source.path);
      if (info.virtualSize > req.sizeBytes)
        throw storageError(
          'overlay_too_small',
          `a volume of ${req.sizeBytes} bytes cannot hold the source volume of ${info.virtualSize} bytes`,
        );
      await run('qemu-img', ['convert', '-U', '-q', '-f', 'qcow2', '-O', 'qcow2', source.path, tmp], {
        dieWithAgent: true,
        timeoutMs: 3_600_000,
      });
      if (info.virtualSize < req.sizeBytes)
        await run('qemu-img', ['resize', '-q', '-f', 'qcow2', tmp, String(req.sizeBytes)]);
    }
    await rename(tmp, req.path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  log.info('volume created', { path: req.path, sizeBytes: req.sizeBytes, source: source.kind });
  return { created: true };
}

/**
 * Grows a volume file that no running guest has open (`qemu-img resize`); a guest's disk is grown through
 * the hypervisor instead (ComputeDriver.resizeDisk). Refuses to shrink.
 */
export async function growVolume(path: string, sizeBytes: number): Promise<void> {
  assertAbsolutePath('path', path);
  const info = await inspectImage(path);
  if (sizeBytes < info.virtualSize)
    throw storageError('overlay_too_small', `${path} is ${info.virtualSize} bytes; volumes never shrink`);
  if (sizeBytes === info.virtualSize) return;
  await run('qemu-img', ['resize', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  log.info('volume grown', { path, sizeBytes });
}
