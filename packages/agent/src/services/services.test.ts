/**
 * The services on fake drivers (no host objects): the typed service map covers every registered type, ports
 * own addresses and MACs, and a failed server create gives back everything it took (issue 7, finding 1:
 * one bad server never blocks another). The fake DHCP driver checks each spec with the real dnsmasq
 * validation, so a host name dnsmasq refuses fails the create exactly where it does on a host.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { resourceTypes, schemas } from '@stratus/model';
import type { ComputeDriver } from '../compute/driver.js';
import type { DomainDevice, DomainFacts, DomainSpec, DomainState } from '../compute/types.js';
import { type AgentError, HostFailure, InUse, NotFound, PoolExhausted, RequiresReplace } from '../errors.js';
import { run } from '../host/exec.js';
import { KeyedMutex } from '../host/mutex.js';
import {
  type DhcpDriver,
  type DhcpSpec,
  type DhcpStatus,
  LEASE_SECONDS,
  type LeaseQuery,
  validateDhcpSpec,
} from '../network/dhcp/index.js';
import { findLease, waitForLease } from '../network/dhcp/leases.js';
import type { NetworkDriver, NetworkSegment, NicBinding, SegmentFacts } from '../network/driver.js';
import type { WrittenData } from '../storage/copy.js';
import type { ImageData, OverlayRequest, StorageDriver } from '../storage/driver.js';
import type { ImageInfo, ImportedImage, OverlayResult } from '../storage/images.js';
import type { AgentContext } from './context.js';
import { createServices, RecordStore, serviceFactories } from './index.js';
import { withOwner } from './owner.js';

class FakeCompute implements ComputeDriver {
  domains = new Map<string, DomainSpec>();
  deleted: string[] = [];
  async ensureDomain(spec: DomainSpec) {
    if (spec.name === 'explode')
      throw new HostFailure('libvirt refused the domain', { code: 'libvirt_error' });
    const existed = this.domains.has(spec.serverId);
    this.domains.set(spec.serverId, spec);
    return { action: existed ? ('unchanged' as const) : ('created' as const), state: 'running' as const };
  }
  async deleteDomain(id: string) {
    this.deleted.push(id);
    return this.domains.delete(id);
  }
  async domainState(id: string): Promise<DomainState> {
    return this.domains.has(id) ? 'running' : 'absent';
  }
  async inspectDomain(ref: string): Promise<DomainFacts> {
    const d = this.domains.get(ref);
    if (!d) throw new NotFound(`no domain ${ref}`, { code: 'domain_not_found' });
    return {
      uuid: d.serverId,
      name: d.name,
      title: d.name,
      vcpus: d.vcpus,
      memoryMiB: d.memoryMiB,
      machine: d.machine,
      firmware: d.firmware,
      disks: [],
      nics: d.nics.map((n) => ({ mac: n.mac, bridge: n.bridge, tap: n.tap, model: n.model ?? 'virtio' })),
      stratusId: d.serverId,
    };
  }
  async attachDevice(_id: string, _d: DomainDevice) {}
  async detachDevice(_id: string, _d: DomainDevice) {}
  async close() {}
}

class FakeStorage implements StorageDriver {
  disks = new Set<string>();
  async importImage(_id: string, _data: ImageData): Promise<ImportedImage> {
    return { format: 'qcow2', virtualSize: 1 << 20, sizeBytes: 1 << 16, checksum: 'ab'.repeat(32) };
  }
  async stageUpload(): Promise<WrittenData> {
    throw new Error('not used');
  }
  async recover() {
    return [];
  }
  async deleteImage() {}
  overlays: OverlayRequest[] = [];
  async createOverlay(req: OverlayRequest): Promise<OverlayResult> {
    this.overlays.push(req);
    this.disks.add(req.path);
    return { created: true, virtualSize: req.virtualSize ?? 1 << 20 };
  }
  async inspect(): Promise<ImageInfo> {
    throw new Error('not used');
  }
  imageIdOf() {
    return null;
  }
  async delete(path: string) {
    return this.disks.delete(path);
  }
}

class FakeNetwork implements NetworkDriver {
  readonly kind = 'linuxbridge' as const;
  segments = new Set<string>();
  segmentName(seg: NetworkSegment) {
    return seg.name ?? `br-${seg.networkId.slice(0, 8)}`;
  }
  async ensureSegment(seg: NetworkSegment) {
    this.segments.add(seg.networkId);
  }
  async deleteSegment(seg: NetworkSegment) {
    this.segments.delete(seg.networkId);
  }
  async inspectSegment(seg: NetworkSegment): Promise<SegmentFacts> {
    return { name: this.segmentName(seg), exists: this.segments.has(seg.networkId) };
  }
  async inspectExternal() {
    return null;
  }
  bindNic(seg: NetworkSegment): NicBinding {
    return { bridge: this.segmentName(seg), virtualport: 'openvswitch' };
  }
  async plugNic() {
    return false;
  }
  dhcpUplink(seg: NetworkSegment) {
    return {
      description: `fake segment of ${seg.networkId}`,
      ready: async () => this.segments.has(seg.networkId),
      isPlugged: async () => true,
      plug: async () => {},
    };
  }
  portUplink(seg: NetworkSegment) {
    return this.dhcpUplink(seg);
  }
}

/** DHCP without dnsmasq: the lease files are real files a test writes, observed by the real lease watcher. */
class FakeDhcp implements DhcpDriver {
  specs = new Map<string, DhcpSpec>();
  /** `ip:port` pairs that accept connections. */
  open = new Set<string>();
  leaseDir = '';
  leaseFile(networkId: string) {
    return join(this.leaseDir, `leases-${networkId}`);
  }
  async lease(networkId: string, q: LeaseQuery) {
    const text = existsSync(this.leaseFile(networkId))
      ? await readFile(this.leaseFile(networkId), 'utf8')
      : '';
    return findLease(text, q, LEASE_SECONDS);
  }
  waitForLease(networkId: string, q: LeaseQuery, signal: AbortSignal) {
    return waitForLease(this.leaseFile(networkId), q, LEASE_SECONDS, signal);
  }
  async waitForTcp(_networkId: string, ip: string, port: number, signal: AbortSignal) {
    while (!this.open.has(`${ip}:${port}`)) {
      signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  /** While set, DHCP updates wait for it (a slow dnsmasq or `ip`, as a test needs it). */
  gate: Promise<void> | null = null;
  async ensure(spec: DhcpSpec) {
    if (this.gate) await this.gate;
    validateDhcpSpec(spec);
    this.specs.set(spec.networkId, spec);
  }
  async reloadHosts(spec: DhcpSpec) {
    await this.ensure(spec);
  }
  async delete(networkId: string) {
    this.specs.delete(networkId);
  }
  async status(): Promise<DhcpStatus> {
    return { namespace: true, dnsmasqPid: 1 };
  }
}

let dir: string;
let ctx: AgentContext;
let compute: FakeCompute;
let storage: FakeStorage;
let dhcp: FakeDhcp;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stratus-services-test-'));
  // The config drive is built for real, below a directory QEMU's user must traverse.
  await chmod(dir, 0o755);
  compute = new FakeCompute();
  storage = new FakeStorage();
  dhcp = new FakeDhcp();
  dhcp.leaseDir = join(dir, 'leases');
  await mkdir(dhcp.leaseDir);
  const fakeNetwork = new FakeNetwork();
  ctx = {
    stateDir: dir,
    host: 'local',
    store: new RecordStore(join(dir, 'records')),
    locks: new KeyedMutex(),
    compute,
    storage,
    // One fake serves as either driver: the services' choice of driver is what the e2e tests check.
    networkDrivers: { linuxbridge: fakeNetwork, ovs: fakeNetwork },
    defaultNetworkDriver: 'linuxbridge',
    dhcp,
    virtType: 'qemu',
  };
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('every registered resource type has an agent service of that type', () => {
  const { services } = createServices(ctx);
  for (const type of resourceTypes) {
    assert.equal(typeof serviceFactories[type], 'function', `no agent service for ${type}`);
    assert.equal(services[type].type, type);
  }
  assert.deepEqual(Object.keys(serviceFactories).sort(), [...resourceTypes].sort());
  assert.ok(Object.keys(schemas).length > 0);
});

/** A network with one /29 subnet: gateway .1, DHCP port .2, servers .3 to .6. */
async function smallNetwork() {
  const { services, ports } = createServices(ctx);
  const net = randomUUID();
  const sub = randomUUID();
  const img = randomUUID();
  await services.image.ensure(img, { source: '/images/guest.qcow2' });
  await services.network.ensure(net, { mtu: 1500 });
  const s = await services.subnet.ensure(sub, { network: net, cidr: '10.9.0.0/29', dnsNameservers: [] });
  assert.equal(s.status.dhcpIp, '10.9.0.2');
  const server = (name: string, hostname?: string) => ({
    name,
    ...(hostname ? { hostname } : {}),
    image: img,
    vcpus: 1,
    memoryMb: 256,
    firmware: 'bios',
    machine: 'pc',
    networks: [{ network: net }],
    publicKeys: {},
  });
  return { services, ports, net, sub, img, server };
}

test('a server the DHCP server refuses is rolled back and does not block the next one', async () => {
  const { services, ports, net, server } = await smallNetwork();
  const bad = randomUUID();
  await assert.rejects(
    services.server.ensure(bad, server('bad', '12h')),
    /not a valid single-label host name/,
  );
  assert.deepEqual(await ports.ofDevice(bad), [], 'the failed server holds no port');
  assert.equal(await services.server.get(bad), null, 'the failed server left no record');
  assert.deepEqual(dhcp.specs.get(net)?.hosts ?? [], [], 'its lease is not served');

  const good = randomUUID();
  const rec = await services.server.ensure(good, server('good'));
  assert.equal(rec.status.accessIpV4, '10.9.0.3', 'the address the bad server had is free again');
  assert.equal(rec.host, 'local');
  assert.deepEqual(
    dhcp.specs.get(net)?.hosts.map((h) => [h.ip, h.hostname]),
    [['10.9.0.3', 'good']],
  );
  const domain = compute.domains.get(good)!;
  assert.deepEqual(
    domain.nics.map((n) => [n.mac, n.virtualport]),
    [[(await ports.ofDevice(good))[0]!.status.mac, 'openvswitch']],
    'the NIC is bound as the network driver says',
  );
  await services.server.delete(good);
  assert.deepEqual(await ports.ofDevice(good), []);
});

test('a server whose domain cannot be defined gives back its ports, disk and record', async () => {
  const { services, ports, server } = await smallNetwork();
  const boom = randomUUID();
  await assert.rejects(services.server.ensure(boom, server('explode')), (e: unknown) =>
    HostFailure.isInstance(e),
  );
  assert.deepEqual(await ports.ofDevice(boom), []);
  assert.equal(await services.server.get(boom), null);
  assert.ok(compute.deleted.includes(boom), 'the domain was removed');
  assert.ok(
    [...storage.disks].some((d) => d.includes(boom)),
    'the overlay had been made',
  );
  assert.equal(
    existsSync(join(dir, 'instances', boom)),
    false,
    'its disk, config drive and directory are gone',
  );
  const next = randomUUID();
  assert.equal((await services.server.ensure(next, server('next'))).status.accessIpV4, '10.9.0.3');
  await services.server.delete(next);
});

test('ports: a full subnet says so, a retry keeps its address and MAC, MACs are unique per network', async () => {
  const { services, ports, sub, server } = await smallNetwork();
  const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  for (const id of ids) await services.server.ensure(id, server(`s-${id.slice(0, 4)}`));
  const before = (await ports.ofDevice(ids[0]!))[0]!;
  await services.server.ensure(ids[0]!, server(`s-${ids[0]!.slice(0, 4)}`));
  assert.deepEqual((await ports.ofDevice(ids[0]!))[0]!.status, before.status, 'a retry re-finds its port');
  const macs = (await ports.onSubnet(sub)).map((p) => p.status.mac);
  assert.equal(new Set(macs).size, macs.length);
  const extra = randomUUID();
  await assert.rejects(services.server.ensure(extra, server('extra')), (e: unknown) => {
    assert.ok(PoolExhausted.isInstance(e), String(e));
    assert.deepEqual((e as AgentError).field, ['networks', 0]);
    return true;
  });
  assert.deepEqual(await ports.ofDevice(extra), []);
  await assert.rejects(services.subnet.delete(sub), (e: unknown) => InUse.isInstance(e));
  for (const id of ids) await services.server.delete(id);
  await services.subnet.delete(sub);
  assert.deepEqual(await ports.onSubnet(sub), [], 'the DHCP port went with the subnet');
});

test('records carry the owner of the request that made them; an older record takes the first one that converges it', async () => {
  const { services } = createServices(ctx);
  const a = { tool: 'stratus', stack: 'a', backend: 'local', state: '/s/a.json' };
  const made = randomUUID();
  const older = randomUUID();
  await withOwner(a, () => services.network.ensure(made, { mtu: 1500 }));
  assert.deepEqual((await services.network.get(made))!.owner, a);
  // Another state converging it does not take it over.
  await withOwner({ tool: 'stratus', stack: 'b' }, () =>
    services.network.ensure(made, { mtu: 1500, name: 'x' }),
  );
  assert.deepEqual((await services.network.get(made))!.owner, a);
  // A record made with no owner (before owners were recorded) adopts the first request's.
  await services.network.ensure(older, { mtu: 1500 });
  assert.equal((await services.network.get(older))!.owner, undefined);
  await withOwner(a, () => services.network.ensure(older, { mtu: 1500 }));
  assert.deepEqual((await services.network.list()).find((r) => r.id === older)!.owner, a);
});

test('concurrent creates on one network get distinct addresses while DHCP work is still pending, and all succeed', async () => {
  const { services, ports, net, server } = await smallNetwork();
  const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  let open!: () => void;
  dhcp.gate = new Promise((r) => {
    open = r;
  });
  try {
    const creates = ids.map((id) => services.server.ensure(id, server(`c-${id.slice(0, 4)}`)));
    // Every address is allocated while the first DHCP reload is still held up: allocation does not
    // wait for DHCP work on the network.
    for (
      let i = 0;
      i < 500 && (await ports.onNetwork(net)).filter((p) => p.spec.deviceOwner === 'compute').length < 4;
      i++
    )
      await new Promise((r) => setTimeout(r, 20));
    const held = (await ports.onNetwork(net)).filter((p) => p.spec.deviceOwner === 'compute');
    assert.equal(held.length, 4, 'all four allocated before any DHCP reload finished');
    open();
    const made = await Promise.all(creates);
    const ips = made.map((r) => r.status.accessIpV4);
    assert.deepEqual([...ips].sort(), ['10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
    // The last reload ran after every port was saved, so DHCP serves all four.
    assert.deepEqual(
      dhcp.specs
        .get(net)!
        .hosts.map((h) => h.ip)
        .sort(),
      ['10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'],
    );
  } finally {
    open();
    dhcp.gate = null;
    for (const id of ids) await services.server.delete(id).catch(() => {});
  }
  assert.deepEqual(dhcp.specs.get(net)!.hosts, [], 'deletes take the leases off again');
});

test('the base refuses a change to a requiresReplace attribute and names it', async () => {
  const { services, net } = await smallNetwork();
  await services.network.ensure(net, { mtu: 1500, name: 'renamed' });
  await assert.rejects(services.network.ensure(net, { mtu: 1400 }), (e: unknown) => {
    assert.ok(RequiresReplace.isInstance(e));
    assert.deepEqual((e as AgentError).field, ['mtu']);
    return true;
  });
});

test('a server with a key pair gets its public key on the config drive under the key pair name', async () => {
  const { services, server } = await smallNetwork();
  const kp = randomUUID();
  const made = await services.keypair.ensure(kp, { name: 'deploy' });
  const publicKey = made.status.publicKey as string;
  assert.match(publicKey, /^ssh-rsa AAAA[A-Za-z0-9+/]+=* deploy$/);
  assert.match(made.status.privateKey as string, /^-----BEGIN RSA PRIVATE KEY-----\n/);
  // A retried create answers the same key; nothing is generated twice.
  assert.equal((await services.keypair.ensure(kp, { name: 'deploy' })).status.publicKey, publicKey);
  const id = randomUUID();
  await services.server.ensure(id, {
    ...server('keyed'),
    keyPair: kp,
    publicKeys: { extra: 'ssh-ed25519 AAAAC3 extra' },
  });
  const out = join(dir, `meta-${id}.json`);
  await run('xorriso', [
    '-osirrox',
    'on',
    '-indev',
    join(dir, 'instances', id, 'config.iso'),
    '-extract',
    '/openstack/latest/meta_data.json',
    out,
  ]);
  const meta = JSON.parse(await readFile(out, 'utf8'));
  assert.deepEqual(meta.public_keys, { extra: 'ssh-ed25519 AAAAC3 extra', deploy: publicKey });
  assert.deepEqual(
    meta.keys.map((k: { name: string }) => k.name),
    ['extra', 'deploy'],
  );
  await services.server.delete(id);
  // The key pair outlives the server (Nova lets it go independently).
  assert.ok(await services.keypair.get(kp));
  await assert.rejects(
    services.server.ensure(randomUUID(), { ...server('nokey'), keyPair: randomUUID() }),
    (e: AgentError) => e.code === 'invalid_reference' && e.field?.join('.') === 'keyPair',
  );
});

test('a server with a flavor gets its vCPUs and memory, and its root disk grown to the flavor disk', async () => {
  const { services, server } = await smallNetwork();
  const small = randomUUID();
  await services.flavor.ensure(small, { name: 'm1.small', vcpus: 2, ramMb: 512, diskGb: 3, extraSpecs: {} });
  const id = randomUUID();
  const { vcpus: _v, memoryMb: _m, ...sizeless } = server('sized');
  const made = await services.server.ensure(id, { ...sizeless, flavor: small });
  assert.equal(compute.domains.get(id)?.vcpus, 2);
  assert.equal(compute.domains.get(id)?.memoryMiB, 512);
  assert.equal(storage.overlays.at(-1)?.virtualSize, 3 * 1024 ** 3);
  // The size is reported back: computed inputs the plan showed as known after apply.
  assert.equal(made.status.vcpus, 2);
  assert.equal(made.status.memoryMb, 512);
  await assert.rejects(services.flavor.delete(small), (e: AgentError) => InUse.isInstance(e));
  await services.server.delete(id);
  await services.flavor.delete(small);

  // A flavor disk smaller than the image (1 MiB here) cannot hold it: refused at `flavor`, nothing kept.
  const tiny = randomUUID();
  await services.flavor.ensure(tiny, { vcpus: 1, ramMb: 64, diskGb: 0, extraSpecs: {} });
  const withDisk = randomUUID();
  await services.flavor.ensure(withDisk, { vcpus: 1, ramMb: 64, diskGb: 1, extraSpecs: {} });
  const ok = randomUUID();
  await services.server.ensure(ok, { ...sizeless, flavor: tiny });
  assert.equal(storage.overlays.at(-1)?.virtualSize, undefined, 'diskGb 0 keeps the image size');
  await services.server.delete(ok);
});

/** A dnsmasq lease line for `mac`/`ip` granted at `grantedMs` (epoch ms). */
const leaseLine = (grantedMs: number, mac: string, ip: string) =>
  `${Math.floor(grantedMs / 1000) + LEASE_SECONDS} ${mac} ${ip} guest 01:${mac}\n`;

test('a server reports its guest BOOTING until its DHCP lease appears, then LEASED with the lease time', async () => {
  const { services, net, server } = await smallNetwork();
  const id = randomUUID();
  const made = await services.server.ensure(id, server('observed'));
  assert.equal(made.status.status, 'ACTIVE');
  assert.equal(made.status.guestStatus, 'BOOTING');
  assert.equal(made.status.leaseAt, undefined);
  const [addr] = made.status.addresses as { ip: string; mac: string }[];
  // A lease of an earlier boot (before the domain started) does not count.
  await writeFile(dhcp.leaseFile(net), leaseLine(Date.now() - 60_000, addr!.mac, addr!.ip));
  assert.equal((await services.server.get(id))?.status.guestStatus, 'BOOTING');
  const granted = Date.now();
  await writeFile(dhcp.leaseFile(net), leaseLine(granted, addr!.mac, addr!.ip));
  const seen = await services.server.get(id);
  assert.equal(seen?.status.guestStatus, 'LEASED');
  assert.equal(seen?.status.leaseAt, new Date(Math.floor(granted / 1000) * 1000).toISOString());
  compute.domains.delete(id);
  assert.equal((await services.server.get(id))?.status.guestStatus, 'DOWN');
  await services.server.delete(id);
});

test('wait for dhcp returns once the lease is written; tcp:PORT then waits for the port', async () => {
  const { services, net, server } = await smallNetwork();
  const id = randomUUID();
  const body = { ...server('waiting'), wait: { for: 'dhcp', timeout: '10m' } };
  let returned = false;
  const pending = services.server.ensure(id, body).then((r) => {
    returned = true;
    return r;
  });
  // The server is made (ACTIVE) while apply still waits for its guest.
  let rec = await services.server.get(id);
  for (let i = 0; rec?.status.status !== 'ACTIVE'; i++) {
    assert.ok(i < 10_000, 'server never became ACTIVE');
    await new Promise((r) => setTimeout(r, 10));
    rec = await services.server.get(id);
  }
  assert.equal(returned, false);
  const [addr] = rec!.status.addresses as { ip: string; mac: string }[];
  await writeFile(dhcp.leaseFile(net), leaseLine(Date.now(), addr!.mac, addr!.ip));
  const done = await pending;
  assert.equal(done.status.guestStatus, 'LEASED');

  // tcp:22: the lease is there, the port is not open yet; the wait ends when it opens.
  let tcpDone = false;
  const tcp = services.server
    .ensure(id, { ...body, wait: { for: 'tcp:22', timeout: '10m' } })
    .then(() => (tcpDone = true));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(tcpDone, false);
  dhcp.open.add(`${addr!.ip}:22`);
  await tcp;
  await services.server.delete(id);
});

test('a wait that times out fails naming the server and what did not happen; the server stays ACTIVE', async () => {
  const { services, server } = await smallNetwork();
  const id = randomUUID();
  const body = { ...server('slowguest'), wait: { for: 'dhcp', timeout: '200ms' } };
  await assert.rejects(services.server.ensure(id, body), (e: AgentError) => {
    assert.equal(e.code, 'wait_timeout');
    assert.match(
      e.message,
      /server slowguest \([0-9a-f-]+\) is ACTIVE, but its guest took no DHCP lease for 10\.9\.0\.\d+/,
    );
    assert.match(e.message, /within 200ms/);
    return true;
  });
  const rec = await services.server.get(id);
  assert.equal(rec?.status.status, 'ACTIVE', 'the server is complete, not rolled back');
  // The record keeps the wait that was achieved (none here): a refresh shows the difference.
  assert.equal(rec?.spec.wait, undefined);
  assert.ok(compute.domains.has(id));
  // A caller that goes away ends the wait with its reason, not a timeout.
  const gone = new AbortController();
  const waiting = services.server.ensure(
    id,
    { ...body, wait: { for: 'dhcp', timeout: '1h' } },
    { signal: gone.signal },
  );
  gone.abort(new Error('client went away'));
  await assert.rejects(waiting, /client went away/);
  await services.server.delete(id);
});
