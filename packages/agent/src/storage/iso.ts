/**
 * Small ISO 9660 images the agent writes for guests to read (the config drive, the answer medium of an
 * unattended install), built with genisoimage.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tempSibling } from '@stratus/util';
import { run } from '../host/exec.js';
import { assertAbsolutePath, createPrivateFile, ensureDir } from './files.js';

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
 * Writes the image at `isoPath` atomically: each distinct file content is staged once, as a flat file in a
 * private directory next to it, and genisoimage places it at every path that holds it (`-graft-points`):
 * a config drive repeats the same few documents under a dozen metadata versions, so about fifty paths
 * take six writes, done at once (staged one by one, a config drive took over 100 ms of a create under
 * load). The image is packed into a temporary and renamed over `isoPath`; the staging files are removed
 * whatever happens, and both temporaries have {@link tempSibling} names, so the agent's start-up sweep
 * removes them if a kill interrupted the write. The image is mode 0600 from its creation (its files may
 * hold secrets: user data, passwords; genisoimage alone would create it world-readable); libvirt chowns
 * it to QEMU's user when the domain starts. Joliet (`-J`) keeps names as written for Windows; Rock Ridge
 * with root ownership and world-readable modes (`-r`, not `-R`) lets any user of a Linux guest read it.
 *
 * @throws when `isoPath` is not absolute, or genisoimage fails (its stderr in the message).
 */
export async function writeIso(isoPath: string, content: IsoContent): Promise<void> {
  assertAbsolutePath('isoPath', isoPath);
  await ensureDir(dirname(isoPath));
  const staging = tempSibling(`${isoPath}.files`);
  const tmpIso = tempSibling(isoPath);
  // One staged file per distinct content; a graft point `iso/path=staged` per path.
  const staged = new Map<string, { file: string; data: string | Uint8Array }>();
  const graftPoints: string[] = [];
  for (const [rel, data] of content.files) {
    const key = typeof data === 'string' ? `s${data}` : `b${Buffer.from(data).toString('base64')}`;
    let entry = staged.get(key);
    if (!entry) {
      entry = { file: join(staging, String(staged.size)), data };
      staged.set(key, entry);
    }
    graftPoints.push(`${escapeGraft(rel)}=${escapeGraft(entry.file)}`);
  }
  try {
    await mkdir(staging, { mode: 0o700 });
    await createPrivateFile(tmpIso);
    await Promise.all([...staged.values()].map((e) => writeFile(e.file, e.data, { mode: 0o600 })));
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
      '-graft-points',
      '--',
      ...graftPoints,
    ]);
    await rename(tmpIso, isoPath);
  } finally {
    await rm(staging, { recursive: true, force: true });
    await rm(tmpIso, { force: true });
  }
}

/** A path as a genisoimage graft point spells it: `=` and `\` escaped with a backslash (genisoimage(1)). */
function escapeGraft(path: string): string {
  return path.replace(/[\\=]/g, (c) => `\\${c}`);
}
