import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { readIfExists, writeFileAtomic } from '@stratus/util';
import { checkStateDoc } from './check.js';
import { lockedMessage } from './lock-holder.js';
import { type LockInfo, type StateBackend, type StateDoc, StateError } from './types.js';

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

  async lock(operation: string): Promise<() => Promise<void>> {
    const lockPath = `${this.path}.lock`;
    const info: LockInfo = {
      id: randomUUID(),
      operation,
      who: `${userInfo().username}@${hostname()} pid ${process.pid}`,
      created: new Date().toISOString(),
    };
    try {
      await writeFile(lockPath, JSON.stringify(info), { flag: 'wx', mode: 0o600 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: Partial<LockInfo> = {};
      try {
        holder = JSON.parse(await readFile(lockPath, 'utf8')) as LockInfo;
      } catch {
        // An unreadable lock file is still a lock.
      }
      throw new StateError(
        'locked',
        lockedMessage(
          this.path,
          holder,
          `stratus force-unlock ${holder.id ?? 'LOCK_ID'} --state ${this.path}`,
        ),
      );
    }
    return async () => {
      if (existsSync(lockPath)) await rm(lockPath, { force: true });
    };
  }

  async forceUnlock(lockId: string): Promise<void> {
    const lockPath = `${this.path}.lock`;
    let held: LockInfo;
    try {
      held = JSON.parse(await readFile(lockPath, 'utf8')) as LockInfo;
    } catch {
      throw new StateError('not_locked', `state ${this.path} is not locked`);
    }
    if (held.id !== lockId)
      throw new StateError('not_locked', `state ${this.path} is locked with id ${held.id}, not ${lockId}`);
    await rm(lockPath, { force: true });
  }
}
