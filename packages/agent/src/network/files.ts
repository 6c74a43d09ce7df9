/** Small file helpers for state the agent shares with host daemons. */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Reads a file as UTF-8, or returns null when it does not exist. */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Replaces `path` with `data` atomically (temp file in the same directory, fsync, rename), so a daemon
 * re-reading the file never sees half of it and a crash leaves either the old or the new content.
 */
export async function writeFileAtomic(path: string, data: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
    // open() applies the umask; the reader may be an unprivileged daemon, so set the mode explicitly.
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes `data` atomically unless the file already holds exactly that; returns whether it wrote. */
export async function writeIfChanged(path: string, data: string, mode = 0o644): Promise<boolean> {
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
