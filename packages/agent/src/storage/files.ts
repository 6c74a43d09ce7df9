import { chmod, mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { storageError } from './errors.js';

/**
 * Mode of directories the storage helpers create: traversable by QEMU's user (who opens files in them by
 * name), listable by root only.
 */
export const DIR_MODE = 0o711;

/**
 * Creates `dir` and its missing parents with `mode` (regardless of the umask), then checks that QEMU's
 * unprivileged user can traverse every directory from `/` down to `dir`.
 */
export async function ensureDir(dir: string, mode = DIR_MODE): Promise<void> {
  const abs = resolve(dir);
  const missing: string[] = [];
  for (let d = abs; ; d = dirname(d)) {
    try {
      if (!(await stat(d)).isDirectory()) throw new Error(`${d} exists and is not a directory`);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      missing.push(d);
    }
    if (d === dirname(d)) break;
  }
  for (const d of missing.reverse()) {
    await mkdir(d, { mode }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
    await chmod(d, mode); // mkdir applies the umask
  }
  await assertTraversable(abs);
}

/**
 * Throws `path_not_traversable` unless "others" may search (`o+x`) every directory from `/` to `dir`
 * inclusive. Root-owned paths are what the agent creates; QEMU's user is only "other" to them.
 */
export async function assertTraversable(dir: string): Promise<void> {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const st = await stat(d);
    if ((st.mode & 0o001) === 0) {
      throw storageError(
        'path_not_traversable',
        `${d} (mode ${(st.mode & 0o777).toString(8)}) cannot be traversed by QEMU's user libvirt-qemu; ` +
          `images below it would fail to open: run chmod o+x ${d} or choose another directory`,
      );
    }
    if (d === dirname(d)) return;
  }
}

/**
 * Creates `path` as an empty file with `mode` (default 0600: root only) before a program writes into it,
 * so the data is never readable by others, not even for a moment. qemu-img (create, convert) opens
 * an existing target without `O_EXCL` and truncates it, keeping its mode (checked with qemu-img 7.2); a
 * file of its own making would be 0644 under the usual umask until narrowed.
 * Throws `EEXIST` if `path` exists (a temporary's name is unique; an existing file is someone else's).
 */
export async function createPrivateFile(path: string, mode = 0o600): Promise<void> {
  const fh = await open(path, 'wx', mode);
  try {
    await fh.chmod(mode); // open applies the umask
  } finally {
    await fh.close();
  }
}

/** Removes a file if it exists; returns whether it did. */
export async function removeFile(path: string): Promise<boolean> {
  try {
    await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  await rm(path, { force: true });
  return true;
}

/** Whether `path` exists (any file type). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Throws unless `path` is absolute and free of `..` segments (it ends up in qemu-img and libvirt XML). */
export function assertAbsolutePath(field: string, path: string): void {
  if (!isAbsolute(path) || path.includes('\0') || path.split('/').includes('..')) {
    throw new Error(`${field} must be an absolute path without '..', got ${JSON.stringify(path)}`);
  }
}

/**
 * The numeric id of group `name` (or `name` itself when numeric), from /etc/group. Throws naming the group
 * when it does not exist (the hypervisor's group must, or cached images would be unreadable to QEMU).
 */
export async function groupId(name: string): Promise<number> {
  if (/^\d+$/.test(name)) return Number(name);
  const line = (await readFile('/etc/group', 'utf8')).split('\n').find((l) => l.split(':')[0] === name);
  const gid = line ? Number(line.split(':')[2]) : Number.NaN;
  if (!Number.isInteger(gid))
    throw new Error(
      `group ${name} (the hypervisor's, for cached images) does not exist; see --hypervisor-group`,
    );
  return gid;
}

/**
 * The text a log file gained after byte `offset` (a serial console log, appended to across boots), at
 * most `maxBytes` of it: the first `maxBytes` after `offset` (`keep: 'first'`, for a line that comes
 * early) or the last (`keep: 'last'`, for one written at the end). Bytes are read as latin1, so any
 * byte sequence is text. Returns '' when the file does not exist or has nothing after `offset`.
 *
 * @throws on read errors other than a missing file.
 */
export async function readLogAfter(
  path: string,
  offset: number,
  maxBytes: number,
  keep: 'first' | 'last',
): Promise<string> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
  try {
    const size = (await fh.stat()).size;
    if (size <= offset) return '';
    const start = keep === 'last' ? Math.max(offset, size - maxBytes) : offset;
    const buf = Buffer.alloc(Math.min(size - start, maxBytes));
    await fh.read(buf, 0, buf.length, start);
    return buf.toString('latin1');
  } finally {
    await fh.close();
  }
}
