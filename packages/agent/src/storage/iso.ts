/**
 * Small ISO 9660 images the agent writes for guests to read (the config drive, the answer medium of an
 * unattended install), built with genisoimage.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempSibling } from '@stratus/util';
import { run } from '../host/exec.js';
import { assertAbsolutePath, ensureDir } from './files.js';

/** What goes into one image: its volume label, its files (path relative to the root, contents). */
export interface IsoContent {
  /** The ISO 9660 volume label guests look for (e.g. `config-2`), at most 32 characters. */
  label: string;
  /** Each file as [relative path with `/` separators, contents]; parent directories are created. */
  files: Iterable<[string, string | Uint8Array]>;
  /** genisoimage options beyond `-J -r` (Joliet and Rock Ridge names), e.g. name relaxations. */
  extraArgs?: readonly string[];
}

/**
 * Writes the image at `isoPath` atomically: files are staged in a private directory next to it, packed
 * into a temporary image, and renamed over `isoPath`; the staging files are removed whatever happens, and
 * both temporaries have {@link tempSibling} names, so the agent's start-up sweep removes them if a kill
 * interrupted the write. The image is mode 0600 from its creation (its files may hold secrets: user data,
 * passwords; genisoimage alone would create it world-readable); libvirt chowns it to QEMU's user when the
 * domain starts. Joliet (`-J`) keeps names as written for Windows; Rock Ridge with root
 * ownership and world-readable modes (`-r`, not `-R`) lets any user of a Linux guest read it.
 *
 * @throws when `isoPath` is not absolute, or genisoimage fails (its stderr in the message).
 */
export async function writeIso(isoPath: string, content: IsoContent): Promise<void> {
  assertAbsolutePath('isoPath', isoPath);
  await ensureDir(dirname(isoPath));
  const staging = tempSibling(`${isoPath}.files`);
  const tmpIso = tempSibling(isoPath);
  try {
    await mkdir(staging, { mode: 0o700 });
    await writeFile(tmpIso, '', { mode: 0o600, flag: 'wx' });
    for (const [rel, data] of content.files) {
      const file = join(staging, rel);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, data, { mode: 0o600 });
    }
    await run('genisoimage', [
      '-o',
      tmpIso,
      '-V',
      content.label,
      '-J',
      '-r',
      ...(content.extraArgs ?? []),
      '-input-charset',
      'utf-8',
      '-quiet',
      staging,
    ]);
    await rename(tmpIso, isoPath);
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(tmpIso, { force: true });
  }
}
