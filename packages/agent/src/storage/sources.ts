/**
 * Which host files a client may name as an image source. The agent runs as root; a path in a request is
 * opened only when it lies, after every symlink is resolved, inside a directory the operator allowed
 * (`--allow-image-dir`). Everything else is refused before the file is opened, so a client cannot make the
 * agent read `/etc/shadow` into the image cache. Clients that run where the file is (the stratus CLI) send
 * its data instead (`PUT /v1/images/{id}/file`), read with their user's own permissions.
 */
import { constants } from 'node:fs';
import { type FileHandle, open, readlink, realpath, stat } from 'node:fs/promises';
import { isAbsolute, normalize, sep } from 'node:path';
import { storageError } from './errors.js';

/** Whether `path` is `dir` or below it (both absolute and normalized). */
function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir.endsWith(sep) ? dir : dir + sep);
}

/** The operator's allowed image directories, as configured and with symlinks resolved. */
export class ImageSources {
  private constructor(
    /** The directories as configured (absolute, normalized). */
    readonly dirs: readonly string[],
    private readonly real: readonly string[],
  ) {}

  /**
   * Checks the configured directories: each must be an absolute path of an existing directory. Throws an
   * Error naming the bad one (the agent refuses to start).
   */
  static async create(dirs: readonly string[]): Promise<ImageSources> {
    const real: string[] = [];
    for (const d of dirs) {
      if (!isAbsolute(d)) throw new Error(`--allow-image-dir ${d} must be an absolute path`);
      const r = await realpath(d).catch((e: Error) => {
        throw new Error(`--allow-image-dir ${d}: ${e.message}`);
      });
      if (!(await stat(r)).isDirectory()) throw new Error(`--allow-image-dir ${d} is not a directory`);
      real.push(r);
    }
    return new ImageSources(
      dirs.map((d) => normalize(d)),
      real,
    );
  }

  /** No directory allowed: the agent reads no client-named file. */
  static none(): ImageSources {
    return new ImageSources([], []);
  }

  private allowed(path: string): boolean {
    return this.real.some((d) => within(path, d));
  }

  /**
   * Opens the client-named image file `path` for reading, or refuses it: a relative path, a `..` segment
   * or a NUL (`image_source_invalid`); a path outside the allowed directories, checked on the path as
   * given and again on its real path with symlinks resolved, and a third time on the file actually opened
   * (`image_source_not_allowed`); a missing file or one that is not a regular file
   * (`image_source_not_found`). No byte of a refused file is read.
   */
  async open(path: string): Promise<FileHandle> {
    if (!isAbsolute(path) || path.includes('\0') || path.split('/').includes('..'))
      throw storageError(
        'image_source_invalid',
        `image source ${JSON.stringify(path)} must be an absolute path without '..' segments ` +
          `(the agent never resolves paths against its own working directory)`,
      );
    const notAllowed = (shown: string) =>
      storageError(
        'image_source_not_allowed',
        this.dirs.length === 0
          ? `image source ${shown}: this agent reads no image files itself (it has no --allow-image-dir); ` +
              `send the file's data instead (PUT /v1/images/{id}/file, as the stratus CLI does)`
          : `image source ${shown} is outside the directories this agent may read (${this.dirs.join(', ')}); ` +
              `send the file's data instead (PUT /v1/images/{id}/file, as the stratus CLI does)`,
      );
    const lexical = normalize(path);
    // Refused before the file system is asked anything about the path.
    if (!this.dirs.some((d) => within(lexical, d)) && !this.allowed(lexical)) throw notAllowed(path);
    let real: string;
    try {
      real = await realpath(lexical);
    } catch (e) {
      throw storageError('image_source_not_found', `image source ${path} does not exist`, { cause: e });
    }
    if (!this.allowed(real)) throw notAllowed(`${path} (which resolves to ${real})`);
    let fh: FileHandle;
    try {
      // O_NOFOLLOW: a symlink swapped in after realpath is refused; O_NONBLOCK: a FIFO cannot hang the agent.
      fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (e) {
      throw storageError('image_source_not_found', `image source ${path} cannot be opened`, { cause: e });
    }
    try {
      // What was opened, whatever happened to the directories in between.
      const opened = await readlink(`/proc/self/fd/${fh.fd}`);
      if (!this.allowed(opened)) throw notAllowed(`${path} (opened as ${opened})`);
      if (!(await fh.stat()).isFile())
        throw storageError('image_source_not_found', `image source ${path} is not a regular file`);
      return fh;
    } catch (e) {
      await fh.close();
      throw e;
    }
  }
}
