// Real libvirt domains under TCG (`qemu:///system`, run as root). Every domain, file and bridge made
// here is removed in `after`, also when a test fails.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConfigDrive } from '../configdrive/iso.js';
import { metaDataJson } from '../configdrive/metadata.js';
import { NotFound, Unavailable } from '../errors.js';
import { run } from '../host/exec.js';
import { domainName, serverTap } from '../host/names.js';
import { groupId } from '../storage/files.js';
import { createOverlay, importImage } from '../storage/images.js';
import { LibvirtCompute } from './libvirt.js';
import type { DomainSpec } from './types.js';

const GUEST_IMAGE = new URL('../../../../build/images/stratus-guest.qcow2', import.meta.url).pathname;

const compute = new LibvirtCompute();
const servers: string[] = [];
let dir: string;
let bridge: string;

before(async () => {
  dir = await mkdtemp('/var/tmp/stratus-libvirt-test-');
  await chmod(dir, 0o755); // QEMU (libvirt-qemu) must traverse it
  bridge = `brq${randomBytes(6).toString('hex').slice(0, 11)}`;
  await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
  await run('ip', ['link', 'set', bridge, 'up']);
});

after(async () => {
  for (const id of servers) {
    await compute.deleteDomain(id).catch(async (e: unknown) => {
      console.error(`cleanup of ${id} through the driver failed, using virsh: ${String(e)}`);
      await run('virsh', ['destroy', domainName(id)]).catch(() => undefined);
      await run('virsh', ['undefine', '--nvram', domainName(id)]).catch(() => undefined);
    });
  }
  await compute.close();
  await run('ip', ['link', 'del', bridge]).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** A server directory with an empty (unbootable) qcow2 root disk: SeaBIOS/OVMF still run happily. */
async function emptyServer(over: Partial<DomainSpec> = {}): Promise<DomainSpec> {
  const serverId = randomUUID();
  servers.push(serverId);
  const d = join(dir, serverId);
  const base = join(dir, `${serverId}-base.qcow2`);
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
  const rootDisk = join(d, 'disk.qcow2');
  await createOverlay(base, 'qcow2', rootDisk);
  return {
    serverId,
    name: `test <${serverId.slice(0, 8)}> & co`,
    vcpus: 1,
    memoryMiB: 128,
    virtType: 'qemu',
    machine: 'pc',
    firmware: 'bios',
    rootDisk,
    configDrive: null,
    nics: [],
    consoleLog: join(d, 'console.log'),
    ...over,
  };
}

async function virshNames(): Promise<string[]> {
  return (await run('virsh', ['list', '--all', '--name'])).stdout.split('\n').filter(Boolean);
}

async function waitFor<T>(
  what: string,
  ms: number,
  fn: () => Promise<T | null | undefined | false>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

test('BIOS domain with config drive and NIC: define, start, list, restart, delete', async () => {
  const spec = await emptyServer();
  spec.configDrive = join(dir, spec.serverId, 'config.iso');
  await buildConfigDrive(spec.configDrive, {
    metaData: metaDataJson({ uuid: spec.serverId, name: 'x', hostname: 'x', publicKeys: {} }),
    userData: 'secret',
    networkData: { links: [], networks: [], services: [] },
  });
  spec.nics = [{ mac: '52:54:00:ab:cd:01', bridge, tap: serverTap(spec.serverId, 0), model: 'virtio' }];

  assert.equal(await compute.domainState(spec.serverId), 'absent');
  assert.deepEqual(await compute.ensureDomain(spec), { action: 'created', state: 'running' });
  assert.deepEqual(await compute.ensureDomain(spec), { action: 'unchanged', state: 'running' });
  assert.equal(await compute.domainState(spec.serverId), 'running');

  const listed = await compute.listStratusDomains();
  assert.ok(
    listed.some((d) => d.serverId === spec.serverId && d.state === 'running'),
    JSON.stringify(listed),
  );

  const xml = await compute.domainXml(spec.serverId);
  assert.match(xml, new RegExp(`<stratus:id>${spec.serverId}</stratus:id>`));
  assert.match(xml, /<title>test &lt;[0-9a-f]{8}&gt; &amp; co<\/title>/);
  assert.match(xml, new RegExp(`<target dev=["']${spec.nics[0]!.tap}["']`));
  // The tap exists on the bridge while the domain runs.
  const { stdout: link } = await run('ip', ['-o', 'link', 'show', spec.nics[0]!.tap]);
  assert.match(link, new RegExp(`master ${bridge}`));

  await waitFor('console log file', 120_000, () =>
    stat(spec.consoleLog).then(
      () => true,
      () => false,
    ),
  );

  // A stopped domain is redefined from the spec and started again.
  await run('virsh', ['destroy', domainName(spec.serverId)]);
  assert.equal(await compute.domainState(spec.serverId), 'shutoff');
  spec.memoryMiB = 160;
  assert.deepEqual(await compute.ensureDomain(spec), { action: 'started', state: 'running' });
  assert.match(await compute.domainXml(spec.serverId), /<memory unit=["']KiB["']>163840<\/memory>/);

  // A paused domain is resumed.
  await run('virsh', ['suspend', domainName(spec.serverId)]);
  assert.equal(await compute.domainState(spec.serverId), 'paused');
  assert.deepEqual(await compute.ensureDomain(spec), { action: 'resumed', state: 'running' });

  assert.equal(await compute.deleteDomain(spec.serverId), true);
  assert.equal(await compute.domainState(spec.serverId), 'absent');
  assert.ok(!(await virshNames()).includes(domainName(spec.serverId)));
  assert.ok(!(await compute.listStratusDomains()).some((d) => d.serverId === spec.serverId));
  assert.equal(await compute.deleteDomain(spec.serverId), false);
  await assert.rejects(
    compute.domainXml(spec.serverId),
    (e: unknown) => NotFound.isInstance(e) && e.code === 'domain_not_found',
  );
  // libvirt handed the writable disk back to root; read-only disks (config drive) stay QEMU's.
  assert.equal((await stat(spec.rootDisk)).uid, 0);
});

test('attachDevice/detachDevice: live and persistent while running, persistent only when shut off', async () => {
  const spec = await emptyServer();
  await compute.ensureDomain(spec);
  const nic = {
    kind: 'interface' as const,
    mac: '52:54:00:ab:cd:02',
    bridge,
    tap: serverTap(spec.serverId, 1),
    model: 'virtio' as const,
  };
  const disk = {
    kind: 'disk' as const,
    path: join(dir, `${spec.serverId}-extra.qcow2`),
    format: 'qcow2' as const,
    target: 'vdc',
    bus: 'virtio' as const,
  };
  await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk.path, '8M']);
  const inactiveXml = () => run('virsh', ['dumpxml', '--inactive', spec.serverId]).then((r) => r.stdout);
  await compute.attachDevice(spec.serverId, nic);
  await compute.attachDevice(spec.serverId, disk);
  // Live: the running guest has the NIC (its tap is on the bridge) and the disk.
  const live = await compute.domainXml(spec.serverId);
  assert.match(live, /<mac address=["']52:54:00:ab:cd:02["']/);
  assert.match(live, /<target dev=["']vdc["']/);
  const { stdout: link } = await run('ip', ['-o', 'link', 'show', nic.tap]);
  assert.match(link, new RegExp(`master ${bridge}`));
  // Persistent: the definition has them too.
  assert.match(await inactiveXml(), /<mac address=["']52:54:00:ab:cd:02["']/);
  assert.match(await inactiveXml(), /<target dev=["']vdc["']/);
  // Shut off, a detach changes only the definition (a live detach would need the guest's cooperation).
  await run('virsh', ['destroy', domainName(spec.serverId)]);
  await compute.detachDevice(spec.serverId, nic);
  await compute.detachDevice(spec.serverId, disk);
  assert.doesNotMatch(await inactiveXml(), /52:54:00:ab:cd:02/);
  assert.doesNotMatch(await inactiveXml(), /<target dev=["']vdc["']/);
  await assert.rejects(
    compute.attachDevice(randomUUID(), nic),
    (e: unknown) => NotFound.isInstance(e) && e.code === 'domain_not_found',
  );
  assert.equal(await compute.deleteDomain(spec.serverId), true);
});

test('UEFI q35 domain: variable store is created from the template and removed with the domain', async () => {
  const spec = await emptyServer({ firmware: 'uefi', machine: 'q35' });
  spec.nvram = join(dir, spec.serverId, 'OVMF_VARS.fd');
  assert.deepEqual(await compute.ensureDomain(spec), { action: 'created', state: 'running' });
  assert.equal((await stat(spec.nvram)).size, (await stat('/usr/share/OVMF/OVMF_VARS_4M.fd')).size);
  assert.equal(await compute.domainState(spec.serverId), 'running');
  assert.ok((await compute.listStratusDomains()).some((d) => d.serverId === spec.serverId));

  // Stopped first, so the shutoff path (no destroy) is covered too.
  await run('virsh', ['destroy', domainName(spec.serverId)]);
  assert.equal(await compute.deleteDomain(spec.serverId), true);
  assert.equal(await compute.domainState(spec.serverId), 'absent');
  assert.ok(!(await virshNames()).includes(domainName(spec.serverId)));
  await assert.rejects(stat(spec.nvram), { code: 'ENOENT' });
});

test('invalid ids are refused before libvirt is asked', async () => {
  await assert.rejects(compute.domainState('../etc'), /invalid resource id/);
  await assert.rejects(compute.deleteDomain('ABC'), /invalid resource id/);
});

test('a broken URI is reported as libvirt_unavailable, and the next call tries again', async () => {
  const broken = new LibvirtCompute({ uri: 'qemu+unix:///system?socket=/nonexistent/libvirt-sock' });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(
      broken.domainState(randomUUID()),
      (e: unknown) => Unavailable.isInstance(e) && e.code === 'libvirt_unavailable',
    );
  }
  await broken.close();
});

for (const firmware of ['bios', 'uefi'] as const) {
  test(`the Stratus guest image boots to its ready line (${firmware})`, {
    skip: (await stat(GUEST_IMAGE).catch(() => null)) ? false : `${GUEST_IMAGE} not built`,
  }, async (t) => {
    const serverId = randomUUID();
    servers.push(serverId);
    const d = join(dir, serverId);
    // The agent's flow: import into the cache, thin overlay per server, config drive, domain.
    const cached = join(dir, 'cache', `guest-${firmware}.qcow2`);
    const image = await importImage(
      createReadStream(GUEST_IMAGE),
      cached,
      { gid: await groupId('libvirt-qemu') },
      GUEST_IMAGE,
    );
    const rootDisk = join(d, 'disk.qcow2');
    await createOverlay(cached, image.format, rootDisk, 256 << 20);
    const hostname = `guest-${serverId.slice(0, 8)}`;
    const configDrive = join(d, 'config.iso');
    await buildConfigDrive(configDrive, {
      metaData: metaDataJson({ uuid: serverId, name: hostname, hostname, publicKeys: {} }),
      networkData: { links: [], networks: [], services: [] },
    });
    const spec: DomainSpec = {
      serverId,
      name: hostname,
      vcpus: 1,
      memoryMiB: 256,
      virtType: 'qemu',
      machine: firmware === 'uefi' ? 'q35' : 'pc',
      firmware,
      rootDisk,
      configDrive,
      nics: [],
      consoleLog: join(d, 'console.log'),
      nvram: firmware === 'uefi' ? join(d, 'OVMF_VARS.fd') : undefined,
    };
    const started = Date.now();
    await compute.ensureDomain(spec);
    // Booting takes 15-20 s on an idle 2-core TCG host and several times that under load; the limit
    // only ends a boot that hangs.
    const line = await waitFor('STRATUS-GUEST-READY on the console', 900_000, async () => {
      const log = await readFile(spec.consoleLog, 'utf8').catch(() => '');
      return log.split(/\r?\n/).find((l) => l.startsWith('STRATUS-GUEST-READY'));
    });
    t.diagnostic(`${firmware} guest ready after ${Date.now() - started} ms: ${line}`);
    assert.match(line, new RegExp(`hostname=${hostname}\\b`));
    assert.match(line, /disks=vda\b/);
    assert.equal(await compute.deleteDomain(serverId), true);
  });
}
