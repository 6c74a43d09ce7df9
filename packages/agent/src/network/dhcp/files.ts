/** Small file helpers for state the agent shares with host daemons. */
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { readIfExists, writeFileAtomic } from '@stratus/util';

/** Mode of files under the DHCP state directory: dnsmasq re-reads them as `nobody` after dropping privileges. */
export const SHARED_FILE_MODE = 0o644;

/** Writes `data` atomically unless the file already holds exactly that; returns whether it wrote. */
export async function writeIfChanged(path: string, data: string, mode = SHARED_FILE_MODE): Promise<boolean> {
  if ((await readIfExists(path)) === data) return false;
  await writeFileAtomic(path, data, mode);
  return true;
}

/**
 * Throws unless every directory above `dir` (exclusive) up to `/` lets other users traverse it. Daemons that
 * drop privileges (dnsmasq runs as `nobody`) re-read their files later as that user and would otherwise
 * fail silently, logging only to their own log.
 */
export async function assertTraversableByOthers(dir: string): Promise<void> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) {
      throw new Error(
        `${d} is not traversable by other users (mode ${(st.mode & 0o777).toString(8)}): dnsmasq drops privileges ` +
          `and could not read its files under ${dir}; run chmod o+x ${d} or choose another state directory`,
      );
    }
    if (d === dirname(d)) return;
  }
}
