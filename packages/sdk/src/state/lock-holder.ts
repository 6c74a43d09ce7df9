import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { LockInfo } from './types.js';

/** The process a lock's `who` (`user@host pid N`) names, when it names one. */
function holderProcess(who: string | undefined): { host: string; pid: number } | undefined {
  const m = /^[^@\s]*@(\S+) pid (\d+)$/.exec(who ?? '');
  return m ? { host: m[1]!, pid: Number(m[2]) } : undefined;
}

/** Whether process `pid` exists on this host (EPERM means it exists but is another user's). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Start time of process `pid` in clock ticks after boot: field 22 of /proc/PID/stat (proc(5)). The
 * fields after the command name are split after its closing parenthesis, since the name may hold spaces
 * and parentheses. Undefined when the process does not exist (or there is no /proc).
 */
function startTicks(pid: number | 'self'): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // After ") " come field 3 (state) onwards: field 22 is index 19.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** This boot and pid namespace (`BOOT_ID/pid:[INODE]`): where a pid means one process. */
function pidSpace(): string | undefined {
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    return `${boot}/${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return undefined;
  }
}

/**
 * This process as a lock records it (LockInfo `process`): `BOOT_ID/pid:[INODE]/PID/START`, the kernel's
 * boot id, the pid namespace, the pid and its start time in clock ticks (/proc/PID/stat field 22). A pid
 * names the same process only within one boot and one pid namespace, and only while its start time is
 * the same: a recycled pid has a later one. Undefined where /proc does not tell (then locks are never
 * taken over: see {@link holderIsDead}).
 */
export function processToken(): string | undefined {
  const space = pidSpace();
  const start = startTicks('self');
  return space && start ? `${space}/${process.pid}/${start}` : undefined;
}

/**
 * Whether the lock's holder is known to be dead: its `process` token names this boot and pid namespace,
 * and that pid is gone or is now a different process (another start time). False whenever it cannot be
 * known (a lock without the token, from another host, container or boot): such a lock only ever blocks.
 */
export function holderIsDead(holder: Partial<LockInfo>): boolean {
  const m = /^(.+)\/(\d+)\/(\d+)$/.exec(holder.process ?? '');
  if (!m) return false;
  const [, space, pid, start] = m;
  if (space !== pidSpace()) return false;
  return startTicks(Number(pid)) !== start;
}

/** The one-line note a run prints when it took over the lock of a dead holder. */
export function staleClearedMessage(where: string, holder: Partial<LockInfo>): string {
  return `Removed the stale lock of state ${where} (lock id ${holder.id ?? '?'}, ${holder.operation ?? '?'} by ${holder.who ?? 'unknown'} since ${holder.created ?? '?'}): its holder is no longer running on this host.`;
}

/**
 * The message of a state lock held by someone else: who, doing what, since when, with the lock id and
 * the command that removes it. When the holder is a process on this very host that is no longer running
 * (a run that was killed or crashed), it says so: the lock is stale and safe to remove.
 */
export function lockedMessage(where: string, holder: Partial<LockInfo>, unlockCommand: string): string {
  const base = `state ${where} is locked by ${holder.who ?? 'unknown'} (${holder.operation ?? '?'}) since ${holder.created ?? '?'}; lock id ${holder.id ?? '?'}`;
  const p = holderProcess(holder.who);
  if (p && p.host === hostname() && !processExists(p.pid))
    return `${base}. Its holder, pid ${p.pid} on this host, is no longer running (it was killed or crashed), so the lock is stale; remove it with: ${unlockCommand}`;
  return `${base}. If no run holds it any more, remove it with: ${unlockCommand}`;
}
