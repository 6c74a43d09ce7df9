import { hostname } from 'node:os';
import type { LockInfo } from './types.js';

/** The process a lock's `who` (`user@host pid N`) names, when it names one. */
function holderProcess(who: string | undefined): { host: string; pid: number } | undefined {
  const m = /^[^@\s]*@(\S+) pid (\d+)$/.exec(who ?? '');
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

/** Whether process `pid` exists on this host (EPERM means it exists but is another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The message of a state lock held by someone else: who, doing what, since when, with the lock id and
 * the command that removes it. When the holder is a process on this very host that is no longer running
 * (a run that was killed or crashed), it says so: the lock is stale and safe to remove.
 */
export function lockedMessage(where: string, holder: Partial<LockInfo>, unlockCommand: string): string {
  const base = `state ${where} is locked by ${holder.who ?? 'unknown'} (${holder.operation ?? '?'}) since ${holder.created ?? '?'}; lock id ${holder.id ?? '?'}`;
  const p = holderProcess(holder.who);
  if (p && p.host === hostname() && !alive(p.pid))
    return `${base}. Its holder, pid ${p.pid} on this host, is no longer running (it was killed or crashed), so the lock is stale; remove it with: ${unlockCommand}`;
  return `${base}. If no run holds it any more, remove it with: ${unlockCommand}`;
}
