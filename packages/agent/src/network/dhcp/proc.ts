/** Finding, checking and stopping host daemons by pid, through /proc. */
import { readdir, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readIfExists } from '@stratus/util';
import { logger } from '../../host/log.js';

const log = logger('network');

/**
 * The argument vector of a live process, or null when it is gone. Zombies count as gone: their pid
 * still exists until the (possibly negligent) reaper collects them, but they serve nothing.
 */
export async function processArgv(pid: number): Promise<string[] | null> {
  try {
    return await readArgv(pid);
  } catch (e) {
    // A process exiting while we read its /proc entries answers ESRCH: it is gone.
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return null;
    throw e;
  }
}

async function readArgv(pid: number): Promise<string[] | null> {
  const stat = await readIfExists(`/proc/${pid}/stat`);
  if (stat === null) return null;
  // Field 3 follows the parenthesised command name, which may itself contain spaces or parentheses.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  if (state === 'Z' || state === 'X') return null;
  const cmdline = await readIfExists(`/proc/${pid}/cmdline`);
  if (cmdline === null || cmdline === '') return null;
  return cmdline.replace(/\0$/, '').split('\0');
}

/**
 * True when process `pid` lives in the named network namespace `ns`. A namespace deleted with `ip netns
 * del` lives on while a process holds it, so a dnsmasq can outlive its namespace and serve nobody.
 */
export async function inNamespace(pid: number, ns: string): Promise<boolean> {
  try {
    // iproute2 pins named namespaces as nsfs bind mounts here; equal inodes mean the same namespace.
    const [mine, named] = await Promise.all([stat(`/proc/${pid}/ns/net`), stat(`/var/run/netns/${ns}`)]);
    return mine.ino === named.ino && mine.dev === named.dev;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

/** Reads a pid file, returning null when it is missing or does not hold a pid. */
export async function readPidFile(path: string): Promise<number | null> {
  const text = await readIfExists(path);
  const pid = text === null ? Number.NaN : Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** True when `argv` is a dnsmasq command line containing `marker` as one of its arguments. */
export function isDnsmasqWith(argv: readonly string[] | null, marker: string): boolean {
  return argv !== null && basename(argv[0] ?? '') === 'dnsmasq' && argv.includes(marker);
}

/** Pids of every live dnsmasq whose command line contains the argument `marker`. */
export async function findDnsmasq(marker: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((d) => /^[0-9]+$/.test(d)).map(Number);
  const found: number[] = [];
  for (const pid of pids) {
    if (isDnsmasqWith(await processArgv(pid), marker)) found.push(pid);
  }
  return found;
}

/** Sends `sig` to `pid`, ignoring a process that has just exited. */
export function sendSignal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

async function waitGone(pids: readonly number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let alive = [...pids];
  for (;;) {
    const next: number[] = [];
    for (const p of alive) if ((await processArgv(p)) !== null) next.push(p);
    alive = next;
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await sleep(50);
  }
}

/** Stops processes politely (SIGTERM), then forcibly (SIGKILL) after `graceMs`; resolves once all are gone. */
export async function terminate(pids: readonly number[], graceMs = 5000): Promise<void> {
  if (pids.length === 0) return;
  for (const p of pids) sendSignal(p, 'SIGTERM');
  const stubborn = await waitGone(pids, graceMs);
  if (stubborn.length === 0) return;
  log.warn('processes ignored SIGTERM, killing', { pids: stubborn });
  for (const p of stubborn) sendSignal(p, 'SIGKILL');
  const left = await waitGone(stubborn, 2000);
  if (left.length > 0) throw new Error(`processes ${left.join(', ')} survived SIGKILL`);
}
