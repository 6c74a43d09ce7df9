/**
 * Writing a config drive: the OpenStack `config-2` directory layout packed into an ISO 9660 image with
 * Rock Ridge and Joliet names, which guests find by its volume label `config-2`.
 */
import { chmod, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempSibling } from '@stratus/util';
import { run } from '../host/exec.js';
import { logger } from '../host/log.js';
import { assertAbsolutePath, ensureDir } from '../storage/files.js';
import { type ConfigDriveContent, configDriveFiles } from './layout.js';

const log = logger('configdrive');

/** Volume label guests look for. */
export const CONFIG_DRIVE_LABEL = 'config-2';

/**
 * Builds the config drive ISO at `isoPath`, atomically (staging directory and temp ISO next to it, then
 * rename), replacing an existing one. The ISO is mode 0600 (user data may hold secrets); libvirt chowns it
 * to QEMU's user when the domain starts (and, as with every read-only disk, leaves it so afterwards).
 */
export async function buildConfigDrive(isoPath: string, content: ConfigDriveContent): Promise<void> {
  assertAbsolutePath('isoPath', isoPath);
  await ensureDir(dirname(isoPath));
  const staging = tempSibling(isoPath);
  const tmpIso = `${staging}.iso`;
  try {
    await mkdir(staging, { mode: 0o700 });
    for (const [rel, data] of configDriveFiles(content)) {
      const file = join(staging, rel);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, data, { mode: 0o600 });
    }
    // -r (not -R): Rock Ridge with ownership root and world-readable modes inside the image, so any guest
    // user can read it. -l/-ldots/-allow-lowercase/-allow-multidot keep plain ISO 9660 names readable too.
    await run('genisoimage', [
      '-o',
      tmpIso,
      '-V',
      CONFIG_DRIVE_LABEL,
      '-J',
      '-r',
      '-l',
      '-ldots',
      '-allow-lowercase',
      '-allow-multidot',
      '-input-charset',
      'utf-8',
      '-quiet',
      staging,
    ]);
    await chmod(tmpIso, 0o600);
    await rename(tmpIso, isoPath);
    log.info('config drive written', { isoPath });
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(tmpIso, { force: true });
  }
}
