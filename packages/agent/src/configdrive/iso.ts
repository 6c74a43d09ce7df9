/**
 * Writing a config drive: the OpenStack `config-2` directory layout packed into an ISO 9660 image with
 * Rock Ridge and Joliet names, which guests find by its volume label `config-2`.
 */
import { logger } from '../host/log.js';
import { writeIso } from '../storage/iso.js';
import { type ConfigDriveContent, configDriveFiles } from './layout.js';

const log = logger('configdrive');

/** Volume label guests look for. */
export const CONFIG_DRIVE_LABEL = 'config-2';

/**
 * Builds the config drive ISO at `isoPath`, atomically, replacing an existing one (see {@link writeIso}:
 * mode 0600, as user data may hold secrets).
 */
export async function buildConfigDrive(isoPath: string, content: ConfigDriveContent): Promise<void> {
  await writeIso(isoPath, { label: CONFIG_DRIVE_LABEL, files: configDriveFiles(content) });
  log.info('config drive written', { isoPath });
}
