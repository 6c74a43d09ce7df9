/**
 * Lease observation (issue 7 finding 9, issue 8 readiness): dnsmasq's lease file parsed as dnsmasq writes
 * it, a lease of an earlier boot told apart from this one's, and a waiter that sees a lease as soon as
 * the file changes, whether dnsmasq rewrites it in place or the agent replaces it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { writeFileAtomic } from '@stratus/sdk/util';
import { findLease, leaseGrantedAt, parseLeaseFile, waitForLease } from './leases.js';

const LEASE = 3600;
// As dnsmasq 2.x writes it: IPv4 leases, then (with DHCPv6) a duid line and v6 leases.
const FILE = [
  '1764547200 fa:16:3e:0a:0b:0c 10.20.0.3 web 01:fa:16:3e:0a:0b:0c',
  '1764547300 FA:16:3E:01:02:03 10.20.0.4 * *',
  '0 fa:16:3e:aa:bb:cc 10.20.0.5 forever *',
  'duid 00:01:00:01:2c:4a:6b:8e:52:54:00:12:34:56',
  '1764547400 1234 fd00::5 v6host 00:01:00:01',
  '17645474', // cut short while dnsmasq rewrites the file
  '',
].join('\n');

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-leases-test-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('the lease file is parsed as dnsmasq writes it; other lines are skipped', () => {
  assert.deepEqual(parseLeaseFile(FILE), [
    { expiresAt: 1764547200, mac: 'fa:16:3e:0a:0b:0c', ip: '10.20.0.3', hostname: 'web' },
    { expiresAt: 1764547300, mac: 'fa:16:3e:01:02:03', ip: '10.20.0.4', hostname: null },
    { expiresAt: 0, mac: 'fa:16:3e:aa:bb:cc', ip: '10.20.0.5', hostname: 'forever' },
  ]);
  assert.deepEqual(parseLeaseFile(''), []);
});

test('a lease is granted at its expiry minus the lease time; an infinite one has no time', () => {
  const [web, , forever] = parseLeaseFile(FILE);
  assert.equal(leaseGrantedAt(web!, LEASE), (1764547200 - LEASE) * 1000);
  assert.equal(leaseGrantedAt(forever!, LEASE), null);
});

test('a lease counts for the NIC with its MAC and address, granted since the domain started', () => {
  const granted = (1764547200 - LEASE) * 1000;
  const q = { mac: 'FA:16:3E:0A:0B:0C', ip: '10.20.0.3' };
  assert.equal(findLease(FILE, q, LEASE)?.grantedAt, granted);
  // Same second as the start (the file has whole seconds): this boot's lease.
  assert.ok(findLease(FILE, { ...q, sinceMs: granted + 999 }, LEASE));
  // Granted before the domain (re)started: an earlier boot's lease.
  assert.equal(findLease(FILE, { ...q, sinceMs: granted + 1000 }, LEASE), null);
  // The MAC with another address (reassigned), or another MAC: not this NIC's.
  assert.equal(findLease(FILE, { ...q, ip: '10.20.0.9' }, LEASE), null);
  assert.equal(findLease(FILE, { ...q, mac: 'fa:16:3e:0a:0b:0d' }, LEASE), null);
});

test('a waiter sees the lease when the file appears, is rewritten in place, or is replaced', async () => {
  const file = join(dir, 'leases');
  const mac = 'fa:16:3e:00:00:01';
  const since = Date.now();
  const line = (ip: string, at: number) => `${Math.floor(at / 1000) + LEASE} ${mac} ${ip} g *\n`;
  const ac = new AbortController();
  // No file yet; then one with an old lease (ignored), then the new lease written in place.
  const first = waitForLease(file, { mac, ip: '10.0.0.3', sinceMs: since }, LEASE, ac.signal);
  await writeFile(file, line('10.0.0.3', since - 3_600_000));
  await writeFile(file, line('10.0.0.3', since));
  assert.equal((await first).lease.ip, '10.0.0.3');
  // Replaced by rename (as the agent prunes leases): still seen.
  const second = waitForLease(file, { mac, ip: '10.0.0.4', sinceMs: since }, LEASE, ac.signal);
  await writeFileAtomic(file, line('10.0.0.4', since), 0o644);
  assert.equal((await second).lease.ip, '10.0.0.4');
});

test('a waiter ends with the abort reason, and a directory that does not exist yet is no error', async () => {
  const ac = new AbortController();
  const waiting = waitForLease(
    join(dir, 'missing', 'leases'),
    { mac: 'fa:16:3e:00:00:02', ip: '10.0.0.5' },
    LEASE,
    ac.signal,
  );
  ac.abort(new Error('gave up'));
  await assert.rejects(waiting, /gave up/);
  const pre = new AbortController();
  pre.abort(new Error('already'));
  await assert.rejects(
    waitForLease(join(dir, 'x'), { mac: 'fa:16:3e:00:00:02', ip: '10.0.0.5' }, LEASE, pre.signal),
    /already/,
  );
});
