import { createHash, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { basename, dirname } from 'node:path';
import { readIfExists, sweepTempSiblings, writeFileAtomic } from '@stratus/util';
import { checkStateDoc } from './check.js';
import {
  holderIsDead,
  lockedMessage,
  processExists,
  processToken,
  staleClearedMessage,
} from './lock-holder.js';
import { type LockHooks, type LockInfo, type StateBackend, type StateDoc, StateError } from './types.js';

// Kept exported here too: it has been part of the package's root API since the state backends.
export { writeFileAtomic } from '@stratus/util';

/**
 * State in a local JSON file (mode 0600). The previous version is kept as `<file>.backup` before every
 * write; `<file>.lock`, created exclusively, holds the lock and says who holds it.
 */
export class LocalBackend implements StateBackend {
  constructor(readonly path: string) {}

  get where(): string {
    return this.path;
  }

  async read(): Promise<StateDoc | null> {
    const text = await readIfExists(this.path);
    if (text === null) return null;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new StateError(
        'corrupt',
        `state file ${this.path} is not valid JSON (${(e as Error).message}); nothing was changed.\n${this.restoreHint()}`,
      );
    }
    return checkStateDoc(json, `file ${this.path}`, this.restoreHint());
  }

  /** How to put the backup back, for messages about a damaged state file. */
  private restoreHint(): string {
    const backup = `${this.path}.backup`;
    return existsSync(backup)
      ? `The previous version is in ${backup}; check it, then restore it with: cp '${backup}' '${this.path}'`
      : `There is no backup (${backup}); restore the file from your own copy or version control.`;
  }

  async write(doc: StateDoc): Promise<void> {
    const cur = await this.read();
    if (cur) {
      if (cur.lineage !== doc.lineage)
        throw new StateError(
          'lineage_mismatch',
          `refusing to overwrite ${this.path}: it belongs to lineage ${cur.lineage}, not ${doc.lineage}`,
        );
      if (doc.serial <= cur.serial)
        throw new StateError(
          'stale_serial',
          `refusing to overwrite ${this.path}: its serial ${cur.serial} is not older than ${doc.serial}`,
        );
      await copyFile(this.path, `${this.path}.backup`);
    }
    await writeFileAtomic(this.path, `${JSON.stringify(doc, null, 2)}\n`);
  }

  async lock(operation: string, hooks?: LockHooks): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const info: LockInfo = {
      id: randomUUID(),
      operation,
      who: `${userInfo().username}@${hostname()} pid ${process.pid}`,
      created: new Date().toISOString(),
      process: processToken(),
    };
    // Each round either creates the lock, or removes a dead holder's lock and tries again (another run
    // may win the next round), or throws. Three rounds bound a run that keeps meeting dead holders.
    for (let round = 0; ; round++) {
      try {
        await writeFile(lockPath, JSON.stringify(info), { flag: 'wx', mode: 0o600 });
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const holder = await readLock(lockPath);
      if (round < 3 && holder?.id && holderIsDead(holder)) {
        if (await this.removeStale(lockPath, holder.id))
          hooks?.onStaleCleared?.(staleClearedMessage(this.path, holder));
        continue;
      }
      // A lock removed since our create is tried again; an unreadable lock file is still a lock.
      if (holder === undefined && round < 3) continue;
      const h = holder ?? {};
      throw new StateError(
        'locked',
        lockedMessage(this.path, h, `stratus force-unlock ${h.id ?? 'LOCK_ID'} --state ${this.path}`),
      );
    }
    // Ours now: a state write a killed run left half-done is removed (its temporary; the state file
    // itself is whole, written by rename). Only temporaries of dead writers: `-lock=false` runs write too.
    await sweepTempSiblings(dirname(this.path), (pid) => !processExists(pid), {
      recursive: false,
      of: basename(this.path),
    });
    return async () => {
      // Only our own lock: never one a later run took after ours was (wrongly) judged stale.
      if ((await readLock(lockPath))?.id === info.id) await rm(lockPath, { force: true });
    };
  }

  /**
   * Removes the lock file if it is still the dead holder's (`id`), and returns whether it did. Runs that
   * meet the same dead lock at once first create its takeover file ({@link takeoverPath}) exclusively:
   * only the one that made it reads the lock again and removes it, and the others take the next round.
   * So a lock a live run took meanwhile is never touched: lock ids are unique, so a lock that still has
   * `id` is the dead holder's, and no one else removes it between that read and the removal. (Renaming
   * the lock away to check it, as before, let a third run create a lock in the moment the path was
   * empty: two runs then both held it.) A takeover file whose maker died before removing it leaves the
   * lock held (reported as locked); `force-unlock` removes both.
   */
  private async removeStale(lockPath: string, id: string): Promise<boolean> {
    const takeover = takeoverPath(lockPath, id);
    try {
      await writeFile(takeover, processToken() ?? '', { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    try {
      if ((await readLock(lockPath))?.id !== id) return false;
      await rm(lockPath, { force: true });
      return true;
    } finally {
      await rm(takeover, { force: true });
    }
  }

  async forceUnlock(lockId: string): Promise<void> {
    const lockPath = `${this.path}.lock`;
    const held = await readLock(lockPath);
    if (!held) throw new StateError('not_locked', `state ${this.path} is not locked`);
    if (held.id !== lockId)
      throw new StateError('not_locked', `state ${this.path} is locked with id ${held.id}, not ${lockId}`);
    await rm(lockPath, { force: true });
    await rm(takeoverPath(lockPath, lockId), { force: true });
  }
}

/**
 * The file a run creates while it removes the lock of dead holder `id` (see removeStale): the lock's
 * path, `.takeover-` and a SHA-256 prefix of the id (a lock file's id is not trusted to be a file name).
 */
function takeoverPath(lockPath: string, id: string): string {
  return `${lockPath}.takeover-${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

/** The lock file's content; undefined when it is missing, and `{}` when it cannot be read as a lock. */
async function readLock(path: string): Promise<Partial<LockInfo> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return {};
  }
  try {
    const v = JSON.parse(text) as unknown;
    return v !== null && typeof v === 'object' ? (v as Partial<LockInfo>) : {};
  } catch {
    return {};
  }
}
