/** File helpers shared by the CLI, the state backends and the agent. */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Reads a file as UTF-8, or returns null when it does not exist. */
export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/** A hidden, unique temporary sibling of `path` (same directory, so a rename onto `path` is atomic). */
export function tempSibling(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** The shape of {@link tempSibling} names: `.NAME.tmp-PID-HEX`; group 1 is the writer's pid. */
const TEMP_SIBLING = /^\..+\.tmp-(\d+)-[0-9a-f]{8}$/;

/**
 * Removes the temporaries named by {@link tempSibling} (files, and staging directories with everything in
 * them) that writers killed mid-write left under `dir` (recursively unless `opts.recursive` is false; only
 * those of file `opts.of` when given), and returns their paths. Only those whose writer `isDead(pid)` says
 * is gone: the caller knows who may be writing there (an agent that claimed its state dir knows every
 * writer is dead).
 */
export async function sweepTempSiblings(
  dir: string,
  isDead: (pid: number) => boolean,
  opts: { recursive?: boolean; of?: string } = {},
): Promise<string[]> {
  const removed: string[] = [];
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return removed;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    const m = TEMP_SIBLING.exec(e.name);
    if (m && (opts.of === undefined || e.name.startsWith(`.${opts.of}.tmp-`)) && isDead(Number(m[1]))) {
      await rm(p, { recursive: true, force: true });
      removed.push(p);
    } else if (e.isDirectory() && opts.recursive !== false) {
      removed.push(...(await sweepTempSiblings(p, isDead, opts)));
    }
  }
  return removed;
}

/**
 * Replaces `path` with `data` (text as UTF-8, or bytes) atomically: a temp file in the same directory,
 * fsync, rename. A reader never sees half of it, and a crash leaves either the old or the new content.
 * The file gets exactly `mode` whatever the umask (0600 by default: state, records and saved plans may
 * hold secrets; files a daemon reads as another user need 0644).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = tempSibling(path);
  const fh = await open(tmp, 'wx', mode);
  try {
    try {
      await fh.writeFile(data); // a string as UTF-8
      await fh.chmod(mode); // open() applies the umask
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** The SHA-256 of a file as lower-case hex, streamed (images are large). */
export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
