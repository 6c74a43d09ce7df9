/**
 * Observing the leases a network's dnsmasq hands out, through its lease file (`--dhcp-leasefile`, as
 * Neutron's DHCP agent reads it): dnsmasq rewrites the file whenever a lease is granted, renewed or
 * released, so the agent learns that a guest took its address without a lease script (no process per DHCP
 * transaction) and without asking the guest anything. Waiting watches the directory (the agent replaces
 * the file when it prunes leases, and dnsmasq rewrites it in place), re-reading on each change, with a
 * slow re-read as a safety net against a missed notification.
 */
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { readIfExists } from '@stratus/util';

/** One IPv4 lease, as dnsmasq writes it: `<expiry epoch s> <mac> <ip> <hostname|*> <client-id|*>`. */
export interface DhcpLease {
  /** When the lease expires, in epoch seconds; 0 for an infinite lease. */
  expiresAt: number;
  /** Lower-case MAC. */
  mac: string;
  ip: string;
  /** The host name the client sent or was given; null for `*`. */
  hostname: string | null;
}

const LEASE_RE = /^(\d+) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}) (\d{1,3}(?:\.\d{1,3}){3}) (\S+)(?: (\S+))?$/;

/**
 * Parses dnsmasq's lease file. Lines of another form (the `duid` line and DHCPv6 leases, or a line cut
 * short while dnsmasq rewrites the file) are skipped.
 */
export function parseLeaseFile(text: string): DhcpLease[] {
  const out: DhcpLease[] = [];
  for (const line of text.split('\n')) {
    const m = LEASE_RE.exec(line.trim());
    if (!m) continue;
    out.push({
      expiresAt: Number(m[1]),
      mac: m[2]!.toLowerCase(),
      ip: m[3]!,
      hostname: m[4] === '*' ? null : m[4]!,
    });
  }
  return out;
}

/**
 * When a lease was granted or last renewed, in epoch ms: dnsmasq sets expiry = now + lease time on
 * every ACK, and every lease we serve has the same lease time (`leaseSeconds`). Null for an infinite lease.
 */
export function leaseGrantedAt(lease: DhcpLease, leaseSeconds: number): number | null {
  return lease.expiresAt === 0 ? null : (lease.expiresAt - leaseSeconds) * 1000;
}

/** What a lease must be to count: the NIC's MAC and address, granted at or after `sinceMs` (epoch ms). */
export interface LeaseQuery {
  mac: string;
  ip: string;
  /** The domain's start; a lease from before it belongs to an earlier boot. Undefined: any lease counts. */
  sinceMs?: number;
}

/**
 * The lease in `text` matching `q`, with its grant time, or null. The lease file has a resolution of one
 * second, so a lease granted in the second the domain started counts.
 */
export function findLease(
  text: string,
  q: LeaseQuery,
  leaseSeconds: number,
): { lease: DhcpLease; grantedAt: number | null } | null {
  const mac = q.mac.toLowerCase();
  const floor = q.sinceMs === undefined ? undefined : Math.floor(q.sinceMs / 1000) * 1000;
  for (const lease of parseLeaseFile(text)) {
    if (lease.mac !== mac || lease.ip !== q.ip) continue;
    const grantedAt = leaseGrantedAt(lease, leaseSeconds);
    if (floor !== undefined && grantedAt !== null && grantedAt < floor) continue;
    return { lease, grantedAt };
  }
  return null;
}

/** How often the lease file is re-read while waiting, besides on every change notification. */
const REREAD_MS = 2000;

/**
 * Resolves with the lease matching `q` in the lease file `file` as soon as dnsmasq writes it; rejects
 * with `signal`'s reason when it aborts. The file or its directory may not exist yet.
 */
export function waitForLease(
  file: string,
  q: LeaseQuery,
  leaseSeconds: number,
  signal: AbortSignal,
): Promise<{ lease: DhcpLease; grantedAt: number | null }> {
  return new Promise((resolve, reject) => {
    let watcher: FSWatcher | undefined;
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    let reading = false;
    let again = false;
    const finish = (err: unknown, value?: { lease: DhcpLease; grantedAt: number | null }) => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(timer);
      signal.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve(value!);
    };
    const onAbort = () => finish(signal.reason ?? new Error('aborted'));
    const check = async (): Promise<void> => {
      // One read at a time; a change during a read is looked at right after it.
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const found = findLease((await readIfExists(file)) ?? '', q, leaseSeconds);
          if (found) return finish(undefined, found);
        } while (again && !done);
      } catch (e) {
        finish(e);
      } finally {
        reading = false;
      }
    };
    const startWatch = () => {
      if (watcher || done) return;
      try {
        watcher = watch(dirname(file), { persistent: false }, (_event, name) => {
          if (name === null || name === basename(file)) void check();
        });
        // The directory going away (network deleted) ends notifications; the re-read goes on.
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined;
        });
      } catch {
        // No directory yet: the periodic re-read retries.
      }
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    startWatch();
    timer = setInterval(() => {
      startWatch();
      void check();
    }, REREAD_MS);
    void check();
  });
}
