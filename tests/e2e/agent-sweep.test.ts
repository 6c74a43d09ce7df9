/**
 * Issue 7, finding 13's kind: writes a killed agent left half-done are swept when the next agent starts.
 * Records, DHCP files and instance disks are written to a temporary sibling and renamed; the kill test
 * found a record's and an overlay's temporary left after a `kill -9`. No VM, no network: the agent only starts.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { agentEnv } from './helpers.js';

const t = agentEnv('sweep');
after(() => t.cleanup([]));

test('agent start removes temporaries (files and staging directories) of interrupted record, DHCP and instance writes, nothing else', async () => {
  const images = join(t.stateDir, 'records', 'images');
  const dhcp = join(t.stateDir, 'dhcp', randomUUID());
  const instance = join(t.stateDir, 'instances', randomUUID());
  mkdirSync(images, { recursive: true, mode: 0o700 });
  mkdirSync(dhcp, { recursive: true });
  mkdirSync(instance, { recursive: true });
  const id = randomUUID();
  // Writer pids that may be anything: the agent claimed its state dir, so every earlier writer is dead.
  const temps = [
    join(images, `.${id}.json.tmp-${process.pid}-0123abcd`),
    join(dhcp, '.hosts.tmp-1-89abcdef'),
    join(dhcp, '.applied.tmp-4242-00ff00ff'),
    // Found by the kill test: a kill -9 while the overlay was made.
    join(instance, `.disk.qcow2.tmp-${process.pid}-8a345996`),
    // Found by the kill test: a kill -9 while the config drive was written.
    join(instance, `.config.iso.tmp-${process.pid}-33a5e960`),
  ];
  // The config drive's staging directory of an agent from before the ISO was packed in memory, with files
  // in it (admin_pass among them).
  const staging = join(instance, `.config.iso.files.tmp-${process.pid}-0badc0de`);
  mkdirSync(join(staging, 'openstack', 'latest'), { recursive: true });
  writeFileSync(join(staging, 'openstack', 'latest', 'meta_data.json'), '{}');
  const kept = [join(dhcp, 'hosts'), join(dhcp, '.hosts.tmp-notapid'), join(dhcp, 'leases')];
  for (const f of [...temps, ...kept]) writeFileSync(f, '');
  temps.push(staging);
  await t.startAgent();
  assert.deepEqual(
    temps.filter((f) => existsSync(f)),
    [],
    'temporaries left',
  );
  assert.deepEqual(
    kept.filter((f) => !existsSync(f)),
    [],
    'other files removed',
  );
});
