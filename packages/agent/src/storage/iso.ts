/**
 * Small ISO 9660 images the agent writes for guests to read (the config drive, the answer medium of an
 * unattended install), packed by {@link buildIso9660} (Rock Ridge and Joliet names).
 */
import { dirname } from 'node:path';
import { writeFileAtomic } from '@stratus/util';
import { assertAbsolutePath, ensureDir } from './files.js';
import { buildIso9660, type IsoFileEntry } from './iso9660.js';

/** What goes into one image: its volume label, its files (path relative to the root, contents). */
export interface IsoContent {
  /** The ISO 9660 volume label guests look for (e.g. `config-2`), 1-16 printable ASCII characters. */
  label: string;
  /** Each file as [relative path with `/` separators, contents]; parent directories are implied. */
  files: Iterable<IsoFileEntry>;
}

/**
 * Writes the image at `isoPath` atomically: packed in memory, then {@link writeFileAtomic} (a temporary
 * next to it, with a name the agent's start-up sweep removes if a kill interrupted the write, fsynced
 * and renamed over `isoPath`). The image is mode 0600 from its creation (its files may hold secrets: user
 * data, passwords); libvirt chowns it to QEMU's user when the domain starts. Rock Ridge names with root
 * ownership and world-readable modes let any user of a Linux guest read it; Joliet keeps names as
 * written for Windows.
 *
 * @throws when `isoPath` is not absolute, the content cannot be packed (see {@link buildIso9660}), or
 *   the file cannot be written.
 */
export async function writeIso(isoPath: string, content: IsoContent): Promise<void> {
  assertAbsolutePath('isoPath', isoPath);
  const image = buildIso9660(content);
  await ensureDir(dirname(isoPath));
  await writeFileAtomic(isoPath, image);
}
