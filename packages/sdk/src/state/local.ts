import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, readFile, rename, rm, writeFile } from 'node:fs/promises';
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
   * Removes the lock file if it is still the dead holder's (`id`): it is first renamed to a name of our
   * own, an atomic step, so of two runs clearing the same stale lock only one gets it. Had a live run's
   * new lock taken its place in between, that lock is linked back (link fails rather than overwrite) and
   * nothing is removed. Returns whether the dead holder's lock was removed.
   */
  private async removeStale(lockPath: string, id: string): Promise<boolean> {
    const moved = `${lockPath}.stale-${randomUUID()}`;
    try {
      await rename(lockPath, moved);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
    const got = await readLock(moved);
    if (got?.id !== id) await link(moved, lockPath).catch(() => {});
    await rm(moved, { force: true });
    return got?.id === id;
  }

  async forceUnlock(lockId: string): Promise<void> {
    const lockPath = `${this.path}.lock`;
    const held = await readLock(lockPath);
    if (!held) throw new StateError('not_locked', `state ${this.path} is not locked`);
    if (held.id !== lockId)
      throw new StateError('not_locked', `state ${this.path} is locked with id ${held.id}, not ${lockId}`);
    await rm(lockPath, { force: true });
  }
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
