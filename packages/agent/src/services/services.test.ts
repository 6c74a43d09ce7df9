/**
 * The services on fake drivers (no host objects): the typed service map covers every registered type, ports
 * own addresses and MACs, and a failed server create gives back everything it took (issue 7, finding 1:
 * one bad server never blocks another). The fake DHCP driver checks each spec with the real dnsmasq
 * validation, so a host name dnsmasq refuses fails the create exactly where it does on a host.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { renderAnswerFile, resourceTypes, schemas } from '@stratus/model';
import type { ComputeDriver } from '../compute/driver.js';
import type { DomainDevice, DomainFacts, DomainSpec, DomainState } from '../compute/types.js';
import { type AgentError, HostFailure, InUse, NotFound, PoolExhausted, RequiresReplace } from '../errors.js';
import { run } from '../host/exec.js';
import { KeyedMutex } from '../host/mutex.js';
import { InstanceDirPasswords } from '../metadata/password.js';
import type { MetadataScope } from '../metadata/service.js';
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
import type { FirewallBackend } from '../network/firewall/nft.js';
import { type PortFirewall, renderPortFirewall } from '../network/firewall/ruleset.js';
import type { WrittenData } from '../storage/copy.js';
import type { ImageData, OverlayRequest, StorageDriver, VolumeRequest } from '../storage/driver.js';
import type { ImageInfo, ImportedImage, OverlayResult } from '../storage/images.js';
import { type AgentContext, paths } from './context.js';
import { createServices, RecordStore, serviceFactories } from './index.js';
import { resolveInstance } from './instance-metadata.js';
import { withOwner } from './owner.js';

class FakeCompute implements ComputeDriver {
  domains = new Map<string, DomainSpec>();
  deleted: string[] = [];
  /** Devices attached live, by server. */
  devices = new Map<string, DomainDevice[]>();
  stops: string[] = [];
  resized: [string, string, number][] = [];
  off = new Set<string>();
  async ensureDomain(spec: DomainSpec) {
    if (spec.name === 'explode')
      throw new HostFailure('libvirt refused the domain', { code: 'libvirt_error' });
    const existed = this.domains.has(spec.serverId);
    this.domains.set(spec.serverId, spec);
    if (spec.powerState === 'shutoff') {
      const was = this.off.has(spec.serverId);
      this.off.add(spec.serverId);
      return { action: was ? ('unchanged' as const) : ('stopped' as const), state: 'shutoff' as const };
    }
    this.off.delete(spec.serverId);
    return { action: existed ? ('unchanged' as const) : ('created' as const), state: 'running' as const };
  }
  async stopDomain(id: string) {
    this.stops.push(id);
    const was = this.off.has(id);
    this.off.add(id);
    return was ? ('already' as const) : ('clean' as const);
  }
  async resizeDisk(id: string, target: string, bytes: number) {
    this.resized.push([id, target, bytes]);
  }
  /** Keys pressed, by server. */
  keys = new Map<string, string[]>();
  async sendKey(id: string, keys: readonly string[]) {
    if (!this.domains.has(id)) throw new NotFound(`no domain ${id}`, { code: 'domain_not_found' });
    this.keys.set(id, [...(this.keys.get(id) ?? []), ...keys]);
  }
  async deleteDomain(id: string) {
    this.deleted.push(id);
    return this.domains.delete(id);
  }
  async domainState(id: string): Promise<DomainState> {
    return this.domains.has(id) ? (this.off.has(id) ? 'shutoff' : 'running') : 'absent';
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
      disks: [{ path: d.rootDisk, target: 'vda', device: 'disk', readonly: false }],
      nics: d.nics.map((n) => ({ mac: n.mac, bridge: n.bridge, tap: n.tap, model: n.model ?? 'virtio' })),
      stratusId: d.serverId,
    };
  }
  async attachDevice(id: string, d: DomainDevice) {
    this.devices.set(id, [...(this.devices.get(id) ?? []), d]);
  }
  async detachDevice(id: string, d: DomainDevice) {
    if (!this.domains.has(id)) throw new NotFound(`no domain ${id}`, { code: 'domain_not_found' });
    this.devices.set(
      id,
      (this.devices.get(id) ?? []).filter(
        (x) => !(x.kind === 'disk' && d.kind === 'disk' && x.target === d.target),
      ),
    );
  }
  async close() {}
}

class FakeStorage implements StorageDriver {
  disks = new Set<string>();
  /** Images imported as ISOs (all others are qcow2). */
  isoIds = new Set<string>();
  async importImage(id: string, _data: ImageData): Promise<ImportedImage> {
    const format = this.isoIds.has(id) ? 'iso' : 'qcow2';
    return {
      format,
      sourceFormat: format,
      virtualSize: 1 << 20,
      sizeBytes: 1 << 16,
      checksum: 'ab'.repeat(32),
    };
  }
  async stageUpload(): Promise<WrittenData> {
    throw new Error('not used');
  }
  async recover() {
    return [];
  }
  async sweepUploads() {
    return [];
  }
  async deleteImage() {}
  overlays: OverlayRequest[] = [];
  async createOverlay(req: OverlayRequest): Promise<OverlayResult> {
    this.overlays.push(req);
    this.disks.add(req.path);
    if (!this.sizes.has(req.path)) this.sizes.set(req.path, req.virtualSize ?? 1 << 20);
    return { created: true, virtualSize: req.virtualSize ?? 1 << 20 };
  }
  sizes = new Map<string, number>();
  volumes: VolumeRequest[] = [];
  async createVolume(req: VolumeRequest) {
    this.volumes.push(req);
    this.disks.add(req.path);
    this.sizes.set(req.path, req.sizeBytes);
    return { created: true };
  }
  async growDisk(path: string, bytes: number) {
    this.sizes.set(path, bytes);
  }
  /** Disks a guest has written. */
  written = new Set<string>();
  async hasData(path: string) {
    return this.written.has(path);
  }
  async inspect(path: string): Promise<ImageInfo> {
    return {
      format: 'qcow2',
      virtualSize: this.sizes.get(path) ?? 1 << 20,
      actualSize: 1 << 16,
      backingFile: null,
      backingFormat: null,
      dataFile: null,
      extentFiles: [],
    };
  }
  imageIdOf() {
    return null;
  }
  imagePath(id: string) {
    return `/var/lib/images/${id}`;
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
  /** The fake has no taps. */
  async nicPlugged() {
    return null;
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
    if (this.specs.delete(networkId)) events.push(`dhcp delete ${networkId}`);
  }
  async status(): Promise<DhcpStatus> {
    return { namespace: true, dnsmasqPid: 1 };
  }
}

/** Every DHCP and metadata service change, in order. */
const events: string[] = [];

class FakeMetadata {
  scopes = new Map<string, MetadataScope>();
  async ensure(scope: MetadataScope) {
    if (!this.scopes.has(scope.key)) events.push(`metadata ensure ${scope.key}`);
    this.scopes.set(scope.key, scope);
  }
  async delete(key: string) {
    if (this.scopes.delete(key)) events.push(`metadata delete ${key}`);
  }
}

/** Port firewalls in memory; every one loaded is rendered for real, so only valid ones load. */
class FakeFirewall implements FirewallBackend {
  loaded = new Map<string, PortFirewall>();
  calls: string[] = [];
  async prepare() {}
  async ensure(p: PortFirewall) {
    renderPortFirewall(p);
    this.calls.push(`ensure ${p.portId}`);
    this.loaded.set(p.portId, structuredClone(p));
  }
  async updateMembers(portId: string, groupId: string, members: readonly string[]) {
    const p = this.loaded.get(portId);
    if (!p || !(groupId in p.remoteGroups)) throw new Error(`no set for ${groupId} in ${portId}`);
    this.calls.push(`members ${portId} ${groupId}`);
    p.remoteGroups[groupId] = [...members];
  }
  async delete(portId: string) {
    this.calls.push(`delete ${portId}`);
    this.loaded.delete(portId);
  }
  async inspect() {
    const loaded = new Set(this.loaded.keys());
    return { problem: (id: string) => (loaded.has(id) ? null : 'its tables are gone') };
  }
  async usedMarks() {
    return new Map([...this.loaded.values()].map((p) => [p.mark, p.portId]));
  }
}

let dir: string;
let ctx: AgentContext;
let firewall: FakeFirewall;
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
  firewall = new FakeFirewall();
  ctx = {
    firewall,
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
    metadata: new FakeMetadata(),
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

test('an update that carries the values the agent chose for optional+computed inputs changes nothing', async () => {
  const { services, server } = await smallNetwork();
  const id = randomUUID();
  const made = await services.server.ensure(id, server('chosen'));
  // What a client holds in its state: the spec it sent and the status, the chosen osType and firmware too.
  const chosen = ['osType', 'firmware', 'machine', 'secureBoot', 'tpm'].filter(
    (k) => made.status[k] !== undefined && made.spec[k] === undefined,
  );
  assert.ok(chosen.includes('osType'), JSON.stringify(made.status));
  const again = {
    ...made.spec,
    ...Object.fromEntries(chosen.map((k) => [k, made.status[k]])),
    name: 'renamed',
  };
  const updated = await services.server.ensure(id, again);
  assert.equal(updated.spec.name, 'renamed');
  // A different value of one of them is still a replace.
  await assert.rejects(services.server.ensure(id, { ...again, osType: 'windows' }), (e: unknown) =>
    RequiresReplace.isInstance(e),
  );
  await services.server.delete(id);
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

test('metadata: a network with DHCP serves it from its DHCP namespace, with the route via the DHCP port; a server without a config drive is found by network and address only; the socket goes before the namespace', async () => {
  const { services, net, sub, server } = await smallNetwork();
  const md = ctx.metadata as FakeMetadata;
  const scope = md.scopes.get(`network:${net}`);
  assert.deepEqual(scope, { key: `network:${net}`, namespace: `qdhcp-${net}`, owner: { network: net } });
  const spec = dhcp.specs.get(net)!;
  assert.equal(spec.metadataAddress, '169.254.169.254');
  assert.deepEqual(spec.subnets[0]!.hostRoutes, [{ destination: '169.254.169.254/32', nexthop: '10.9.0.2' }]);

  const id = randomUUID();
  const made = await services.server.ensure(id, {
    ...server('nodrive', 'nodrive-host'),
    configDrive: false,
    userData: '#!/bin/sh\necho hi\n',
  });
  assert.equal(compute.domains.get(id)?.configDrive, null, 'the domain has no drive');
  assert.ok(!existsSync(join(dir, 'instances', id, 'config.iso')), 'no drive was written');
  assert.equal(made.spec.configDrive, false);
  const ip = (made.status.addresses as { ip: string }[])[0]!.ip;
  const docs = await resolveInstance(ctx, { network: net }, ip);
  assert.ok(docs, 'the server is found by its network and address');
  assert.equal((docs.metaData as { hostname?: string }).hostname, 'nodrive-host');
  assert.equal((docs.metaData as { uuid?: string }).uuid, id);
  assert.equal(docs.userData, '#!/bin/sh\necho hi\n');
  // Another network, the DHCP port's address, an address nobody has: nobody.
  assert.equal(await resolveInstance(ctx, { network: randomUUID() }, ip), null);
  assert.equal(await resolveInstance(ctx, { network: net }, '10.9.0.2'), null);
  assert.equal(await resolveInstance(ctx, { network: net }, '10.9.0.6'), null);
  assert.equal(await resolveInstance(ctx, { router: randomUUID() }, ip), null);

  await services.server.delete(id);
  assert.equal(await resolveInstance(ctx, { network: net }, ip), null, 'a deleted server is nobody');
  events.length = 0;
  await services.subnet.delete(sub);
  assert.deepEqual(events, [`metadata delete network:${net}`, `dhcp delete ${net}`]);
  await services.network.delete(net);
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

test('server groups: anti-affinity admits its members per host and refuses the next with no_valid_host, also when they boot at once; the soft policies never refuse', async () => {
  const { services, server } = await smallNetwork();
  const solo = randomUUID();
  await services.server_group.ensure(solo, { policy: 'anti-affinity' });
  const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
  // Three members booting at once: the group's lock lets exactly one through.
  const results = await Promise.allSettled(
    [a, b, c].map((id) =>
      services.server.ensure(id, { ...server(`m-${id.slice(0, 4)}`), serverGroup: solo }),
    ),
  );
  const made = results.filter((r) => r.status === 'fulfilled');
  assert.equal(made.length, 1, JSON.stringify(results.map((r) => r.status)));
  for (const r of results)
    if (r.status === 'rejected') {
      const e = r.reason as AgentError;
      assert.equal(e.code, 'no_valid_host');
      assert.match(
        e.message,
        /^No valid host was found: server group .* \(anti-affinity, at most 1 member per host\) already has /,
      );
    }
  const member = [a, b, c].find((id) => compute.domains.has(id))!;
  // The refused ones left nothing: no domain, no record.
  for (const id of [a, b, c].filter((x) => x !== member)) {
    assert.equal(compute.domains.has(id), false);
    assert.equal(await services.server.get(id), null);
  }
  assert.deepEqual((await services.server_group.get(solo))!.status.members, [member]);
  await assert.rejects(services.server_group.delete(solo), (e: AgentError) => InUse.isInstance(e));

  await services.server.delete(member);
  await services.server_group.delete(solo);

  // maxServerPerHost 2 admits two; soft-anti-affinity admits any number on one host (the /29 holds four).
  const two = randomUUID();
  await services.server_group.ensure(two, { policy: 'anti-affinity', rules: { maxServerPerHost: 2 } });
  const soft = randomUUID();
  await services.server_group.ensure(soft, { policy: 'soft-anti-affinity' });
  const made2: string[] = [];
  for (let i = 0; i < 2; i++) {
    const id = randomUUID();
    made2.push(id);
    await services.server.ensure(id, { ...server(`t-${id.slice(0, 4)}`), serverGroup: two });
  }
  await assert.rejects(
    services.server.ensure(randomUUID(), { ...server('third'), serverGroup: two }),
    (e: AgentError) => e.code === 'no_valid_host',
  );
  for (const id of made2) await services.server.delete(id);
  const madeSoft: string[] = [];
  for (let i = 0; i < 3; i++) {
    const id = randomUUID();
    madeSoft.push(id);
    await services.server.ensure(id, { ...server(`s-${id.slice(0, 4)}`), serverGroup: soft });
  }
  assert.deepEqual((await services.server_group.get(soft))!.status.members, [...madeSoft].sort());
  for (const id of madeSoft) await services.server.delete(id);
  for (const g of [two, soft]) await services.server_group.delete(g);
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

const GIB = 1024 ** 3;

test('volumes: blank and from an image, extend online when attached, never shrink, multiattach off by default', async () => {
  const { services, img, server } = await smallNetwork();
  const a = randomUUID();
  const b = randomUUID();
  await services.server.ensure(a, server('vol-a'));
  await services.server.ensure(b, server('vol-b'));
  const vol = randomUUID();
  const made = await services.volume.ensure(vol, { sizeGb: 1, multiattach: false });
  assert.equal(made.status.status, 'available');
  const req = storage.volumes.find((v) => v.path === made.status.path)!;
  assert.deepEqual([req.sizeBytes, req.source.kind], [GIB, 'blank']);
  const fromImage = randomUUID();
  await services.volume.ensure(fromImage, { sizeGb: 10, image: img, multiattach: false });
  assert.deepEqual(storage.volumes.at(-1)!.source, { kind: 'image', imageId: img, format: 'qcow2' });

  const att = randomUUID();
  const attached = await services.volume_attachment.ensure(att, { server: a, volume: vol });
  assert.equal(attached.status.device, 'vdc', 'the first free device after the root disk and config drive');
  const disk = compute.devices.get(a)!.at(-1)!;
  assert.equal(disk.kind === 'disk' && disk.serial, vol.slice(0, 20));
  assert.equal((await services.volume.get(vol))!.status.status, 'in-use');

  // A second server without multiattach: refused at the volume.
  await assert.rejects(
    services.volume_attachment.ensure(randomUUID(), { server: b, volume: vol }),
    (e: AgentError) => e.code === 'volume_attached' && e.field?.[0] === 'volume',
  );
  // Extend while attached to a running server: through the hypervisor, so the guest sees it.
  await services.volume.ensure(vol, { sizeGb: 2, multiattach: false });
  assert.deepEqual(compute.resized.at(-1), [a, 'vdc', 2 * GIB]);
  await assert.rejects(
    services.volume.ensure(vol, { sizeGb: 1, multiattach: false }),
    (e: AgentError) => e.code === 'volume_shrink' && e.field?.[0] === 'sizeGb',
  );
  // Deleting an attached volume is refused; its attachment goes first.
  await assert.rejects(services.volume.delete(vol), (e: unknown) => InUse.isInstance(e));
  // A server's redefinition keeps its volumes.
  await services.server.ensure(a, { ...server('vol-a'), powerState: 'shutoff' });
  assert.deepEqual(
    compute.domains.get(a)!.volumes?.map((v) => v.target),
    ['vdc'],
  );
  await services.volume_attachment.delete(att);
  assert.equal((await services.volume.get(vol))!.status.status, 'available');
  // Attached to the other server; the server's delete leaves the volume.
  await services.volume_attachment.ensure(randomUUID(), { server: b, volume: vol, device: '/dev/vdd' });
  assert.equal(
    compute.devices.get(b)!.at(-1)!.kind === 'disk' &&
      (compute.devices.get(b)!.at(-1) as { target: string }).target,
    'vdd',
  );
  await services.server.delete(b);
  await services.server.delete(a);
  const left = (await services.volume.get(vol))!;
  assert.equal(left.status.status, 'available', 'the volume outlives its servers');
  await services.volume.delete(vol);
  await services.volume.delete(fromImage);
  assert.equal(await services.volume.get(vol), null);
});

test('boot from volume: the volume is the root disk (no overlay), its image gives the hardware, it is in-use and attached nowhere else, and it outlives the server', async () => {
  const { services, net, server } = await smallNetwork();
  const uefi = randomUUID();
  await services.image.ensure(uefi, {
    source: '/images/uefi.qcow2',
    properties: { hw_firmware_type: 'uefi' },
  });
  const base = randomUUID();
  await services.volume.ensure(base, { sizeGb: 2, image: uefi, multiattach: false });
  // A copy of the volume: the image's properties follow it (Cinder's volume_image_metadata).
  const vol = randomUUID();
  const made = await services.volume.ensure(vol, { sizeGb: 3, volume: base, multiattach: false });
  const flavor = randomUUID();
  await services.flavor.ensure(flavor, { vcpus: 1, ramMb: 256, diskGb: 10 });
  const { image: _i, firmware: _f, machine: _m, vcpus: _v, memoryMb: _mm, ...rest } = server('bfv');
  const spec = { ...rest, bootVolume: vol, flavor };
  const overlays = storage.overlays.length;
  const id = randomUUID();
  const rec = await services.server.ensure(id, spec);
  assert.equal(rec.status.status, 'ACTIVE');
  const dom = compute.domains.get(id)!;
  assert.equal(dom.rootDisk, made.status.path, 'the root disk is the volume file');
  assert.equal(storage.overlays.length, overlays, 'no overlay is made');
  assert.deepEqual([dom.firmware, dom.machine], ['uefi', 'q35'], "the source image's hw_firmware_type");
  assert.equal(
    storage.sizes.get(made.status.path as string),
    3 * GIB,
    "the flavor's 10 GiB disk does not grow a boot volume",
  );
  const inUse = (await services.volume.get(vol))!;
  assert.equal(inUse.status.status, 'in-use');
  assert.deepEqual(inUse.status.attachments, [{ server: id, device: 'vda', attachment: '' }]);

  // Attached elsewhere, or booted by a second server, without multiattach: refused at the field.
  const other = randomUUID();
  await services.server.ensure(other, server('bfv-other'));
  await assert.rejects(
    services.volume_attachment.ensure(randomUUID(), { server: other, volume: vol }),
    (e: AgentError) => e.code === 'volume_attached' && e.field?.[0] === 'volume',
  );
  await assert.rejects(
    services.volume_attachment.ensure(randomUUID(), { server: id, volume: vol }),
    (e: AgentError) => e.code === 'volume_attached' && /boot volume/.test(e.message),
  );
  await assert.rejects(
    services.server.ensure(randomUUID(), { ...spec, name: 'bfv-twin' }),
    (e: AgentError) => e.code === 'volume_attached' && e.field?.[0] === 'bootVolume',
  );
  // Growing it while the server runs resizes the root disk online.
  await services.volume.ensure(vol, { sizeGb: 4, volume: base, multiattach: false });
  assert.deepEqual(compute.resized.at(-1), [id, 'vda', 4 * GIB]);
  // A power-state change and a repeat keep the volume as the root disk.
  await services.server.ensure(id, { ...spec, powerState: 'shutoff' });
  await services.server.ensure(id, { ...spec, powerState: 'running' });
  await services.server.ensure(id, { ...spec, powerState: 'running' });
  assert.equal(compute.domains.get(id)!.rootDisk, made.status.path);
  // The volume cannot go while the server boots from it; the server's delete leaves it.
  await assert.rejects(services.volume.delete(vol), (e: unknown) => InUse.isInstance(e));
  await services.server.delete(id);
  assert.ok(storage.disks.has(made.status.path as string), 'the volume file stays');
  assert.equal((await services.volume.get(vol))!.status.status, 'available');
  await services.server.delete(other);
  await services.volume.delete(vol);
  await services.volume.delete(base);
  assert.ok(!storage.disks.has(made.status.path as string));
  void net;
});

test('servers: powerState shutoff stops cleanly and the status says SHUTOFF; a flavor change is a cold resize in place', async () => {
  const { services, server } = await smallNetwork();
  const small = randomUUID();
  const big = randomUUID();
  await services.flavor.ensure(small, { vcpus: 1, ramMb: 256, diskGb: 1, extraSpecs: {} });
  await services.flavor.ensure(big, { vcpus: 2, ramMb: 512, diskGb: 3, extraSpecs: {} });
  const id = randomUUID();
  const base = {
    ...server('resize-me'),
    vcpus: undefined,
    memoryMb: undefined,
    flavor: small,
    metadata: { role: 'db' },
  };
  await services.server.ensure(id, base);
  const drive = await readFile(join(dir, 'instances', id, 'config.iso'));
  assert.ok(drive.includes('"meta":{"role":"db"}'), 'metadata goes into meta_data.json meta');
  const off = await services.server.ensure(id, { ...base, powerState: 'shutoff' });
  assert.equal(off.status.status, 'SHUTOFF');
  assert.equal(compute.domains.get(id)!.powerState, 'shutoff');
  const on = await services.server.ensure(id, { ...base, powerState: 'running' });
  assert.equal(on.status.status, 'ACTIVE');
  const stops = compute.stops.length;
  const resized = await services.server.ensure(id, { ...base, flavor: big });
  assert.equal(compute.stops.length, stops + 1, 'the guest was shut down for the resize');
  assert.deepEqual([resized.status.vcpus, resized.status.memoryMb], [2, 512]);
  assert.equal(compute.domains.get(id)!.vcpus, 2);
  assert.equal(storage.sizes.get(join(dir, 'instances', id, 'disk.qcow2')), 3 * GIB, 'root disk grown');
  // Back to the small flavor: the disk is never shrunk.
  await services.server.ensure(id, { ...base, flavor: small });
  assert.equal(storage.sizes.get(join(dir, 'instances', id, 'disk.qcow2')), 3 * GIB);
  await services.server.delete(id);
});

test('security groups: the default group, rules and remote groups become port firewalls, kept as records change', async () => {
  const { services, ports, server } = await smallNetwork();
  const { DEFAULT_SECURITY_GROUP } = await import('./firewall.js');
  const web = randomUUID();
  await services.security_group.ensure(web, {
    rules: [
      {
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 'tcp',
        portRangeMin: 80,
        remoteIpPrefix: '10.9.0.0/29',
      },
      { direction: 'egress', ethertype: 'IPv4', protocol: 'any' },
    ],
  });
  const a = randomUUID();
  const b = randomUUID();
  await services.server.ensure(a, server('a'));
  await services.server.ensure(b, { ...server('b'), securityGroups: [web] });
  const portOf = async (id: string) => (await ports.ofDevice(id))[0]!;
  const pa = await portOf(a);
  const pb = await portOf(b);
  const fa = firewall.loaded.get(pa.id)!;
  assert.deepEqual(fa.rules, [
    { direction: 'ingress', protocol: 'any', remoteGroupId: DEFAULT_SECURITY_GROUP },
    { direction: 'egress', protocol: 'any' },
  ]);
  assert.deepEqual(fa.remoteGroups[DEFAULT_SECURITY_GROUP], [pa.status.ip]);
  assert.equal(fa.device, pa.spec.tap);
  const fb = firewall.loaded.get(pb.id)!;
  assert.deepEqual(
    fb.rules.map((r) => [r.direction, r.protocol, r.portRangeMin, r.remoteIpPrefix]),
    [
      ['ingress', 'tcp', 80, '10.9.0.0/29'],
      ['egress', 'any', undefined, undefined],
    ],
  );
  assert.notEqual(fa.mark, fb.mark, 'each port has its own mark');

  // A new member of the default group is a set update in a's firewall, not a reload.
  firewall.calls = [];
  const c = randomUUID();
  await services.server.ensure(c, server('c'));
  const pc = await portOf(c);
  assert.ok(firewall.calls.includes(`members ${pa.id} ${DEFAULT_SECURITY_GROUP}`), firewall.calls.join(', '));
  assert.ok(!firewall.calls.includes(`ensure ${pa.id}`));
  assert.deepEqual(
    firewall.loaded.get(pa.id)!.remoteGroups[DEFAULT_SECURITY_GROUP],
    [pa.status.ip, pc.status.ip].sort(),
  );

  // A standalone rule naming a remote group: b admits the default group's members; deleting it stops that.
  const rule = randomUUID();
  await services.security_group_rule.ensure(rule, {
    securityGroup: web,
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: 'tcp',
    portRangeMin: 22,
    remoteGroup: DEFAULT_SECURITY_GROUP,
  });
  assert.deepEqual(
    firewall.loaded.get(pb.id)!.remoteGroups[DEFAULT_SECURITY_GROUP],
    [pa.status.ip, pc.status.ip].sort(),
  );
  await services.server.delete(c);
  assert.equal(firewall.loaded.has(pc.id), false, "a deleted server's firewall is gone");
  assert.deepEqual(firewall.loaded.get(pb.id)!.remoteGroups[DEFAULT_SECURITY_GROUP], [pa.status.ip]);
  await services.security_group_rule.delete(rule);
  assert.equal(firewall.loaded.get(pb.id)!.rules.length, 2);
  // A server's groups change in place: its NIC joins the default group, whose members' sets follow.
  await services.server.ensure(b, server('b'));
  assert.equal(compute.domains.get(b)!.redefine, false, 'the domain is not redefined for it');
  assert.deepEqual(firewall.loaded.get(pb.id)!.rules.length, 2);
  assert.deepEqual(
    firewall.loaded.get(pa.id)!.remoteGroups[DEFAULT_SECURITY_GROUP],
    [pa.status.ip, pb.status.ip].sort(),
  );
  await services.server.ensure(b, { ...server('b'), securityGroups: [web] });
  assert.deepEqual(firewall.loaded.get(pa.id)!.remoteGroups[DEFAULT_SECURITY_GROUP], [pa.status.ip]);
  await assert.rejects(services.security_group.delete(web), (e: unknown) => InUse.isInstance(e));

  // A deleted table is drift on the server; an ensure reloads it without touching the domain.
  firewall.loaded.delete(pa.id);
  const drifted = await services.server.get(a);
  assert.match(String(drifted?.status.drift), /firewall of NIC .* is missing/);
  await services.server.ensure(a, server('a'));
  assert.ok(firewall.loaded.has(pa.id));
  assert.equal((await services.server.get(a))?.status.drift, undefined);
  // An agent start (after a host reboot lost every table) reloads them all, with their marks.
  const before = structuredClone([...firewall.loaded]);
  firewall.loaded.clear();
  await createServices(ctx).firewalls.syncAll();
  assert.deepEqual([...firewall.loaded].sort(), before.sort());

  // A port resource: its own groups, kept across the server that uses it; the server's delete unbinds it.
  const p = randomUUID();
  const made = await services.port.ensure(p, {
    network: pa.spec.network,
    securityGroups: [web],
    portSecurityEnabled: true,
    allowedAddressPairs: [{ ipAddress: '10.9.0.6' }],
  });
  assert.equal(made.status.firewall, 'idle');
  const d = randomUUID();
  const { networks: _n, ...rest } = server('d');
  await services.server.ensure(d, { ...rest, networks: [{ port: p }] });
  assert.equal((await services.port.get(p))?.status.firewall, 'enforced');
  assert.equal((await services.port.get(p))?.status.deviceId, d);
  assert.deepEqual(firewall.loaded.get(p)!.allowedAddressPairs, [{ ipAddress: '10.9.0.6' }]);
  await assert.rejects(services.port.delete(p), (e: unknown) => InUse.isInstance(e));
  await services.server.delete(d);
  assert.equal(firewall.loaded.has(p), false);
  assert.equal((await services.port.get(p))?.status.status, 'DOWN');
  await services.port.delete(p);
  for (const id of [a, b]) await services.server.delete(id);
  await services.security_group.delete(web);
  assert.deepEqual([...firewall.loaded.keys()], []);
});

test('security groups: servers created at once (their firewall syncs run as batches) all end with every member', async () => {
  const { services, ports, server } = await smallNetwork();
  const { DEFAULT_SECURITY_GROUP } = await import('./firewall.js');
  // Three: the small network's pool also holds the servers earlier tests left.
  const ids = Array.from({ length: 3 }, () => randomUUID());
  await Promise.all(ids.map((id, i) => services.server.ensure(id, server(`burst${i}`))));
  const mine = await Promise.all(ids.map(async (id) => (await ports.ofDevice(id))[0]!));
  const ips = mine.map((p) => p.status.ip).sort();
  const marks = new Set<number>();
  for (const p of mine) {
    const fw = firewall.loaded.get(p.id);
    assert.ok(fw, `port ${p.id} has its firewall`);
    marks.add(fw.mark);
    // Members of the default group on this host: these three, and any the earlier tests left.
    for (const ip of ips)
      assert.ok(fw.remoteGroups[DEFAULT_SECURITY_GROUP]!.includes(ip), `${ip} in ${p.id}`);
  }
  assert.equal(marks.size, ids.length, 'each port has its own mark');
  await Promise.all(ids.map((id) => services.server.delete(id)));
  for (const p of mine) assert.equal(firewall.loaded.has(p.id), false);
});

test('a server installing from an ISO has the installer, driver and answer media until the guest signals the end of setup; then none, INSTALLED', async () => {
  const { services, net } = await smallNetwork();
  const iso = randomUUID();
  const drv = randomUUID();
  const qcow = randomUUID();
  storage.isoIds.add(iso);
  storage.isoIds.add(drv);
  await services.image.ensure(iso, { source: '/images/win.iso' });
  await services.image.ensure(drv, { source: '/images/virtio-win.iso' });
  await services.image.ensure(qcow, { source: '/images/disk.qcow2' });
  const answerFile = renderAnswerFile({
    computerName: 'WIN',
    locale: 'en-US',
    timeZone: 'UTC',
    firmware: 'bios',
  });
  const body = {
    name: 'win',
    installMedia: iso,
    driverMedia: drv,
    adminPass: 'Passw0rd!x',
    answerFile,
    vcpus: 1,
    memoryMb: 256,
    firmware: 'bios',
    machine: 'pc',
    networks: [{ network: net }],
    publicKeys: {},
  };
  const id = randomUUID();
  const made = await services.server.ensure(id, body);
  assert.equal(made.status.installStatus, 'INSTALLING');
  const answer = join(dir, 'instances', id, 'answer.iso');
  assert.equal(compute.domains.get(id)?.cdrom, storage.imagePath(iso));
  assert.deepEqual(compute.domains.get(id)?.extraCdroms, [storage.imagePath(drv), answer]);
  assert.ok((await stat(answer)).size > 0);
  // An apply while setup runs keeps the media.
  assert.equal((await services.server.ensure(id, body)).status.installStatus, 'INSTALLING');
  assert.equal(compute.domains.get(id)?.cdrom, storage.imagePath(iso));

  // The guest's end-of-setup line on its serial console, then its power-off; the next apply (or the
  // agent's watch, whichever comes first) detaches the media and starts the server from its disk.
  await appendFile(String(made.status.consoleLog), 'STRATUS-INSTALL-COMPLETE\r\n');
  compute.off.add(id);
  const done = await services.server.ensure(id, body);
  assert.equal(done.status.installStatus, 'INSTALLED');
  assert.equal(compute.domains.get(id)?.cdrom, undefined);
  assert.equal(compute.domains.get(id)?.extraCdroms, undefined);
  assert.ok(!compute.off.has(id), 'started again');
  await assert.rejects(stat(answer), /ENOENT/);
  // For good: a later apply does not attach them again.
  await services.server.ensure(id, body);
  assert.equal(compute.domains.get(id)?.cdrom, undefined);
  await services.server.delete(id);

  // Install media that are not ISO images are refused at their field.
  await assert.rejects(
    services.server.ensure(randomUUID(), { ...body, installMedia: qcow }),
    (e: AgentError) => /is not an iso image/.test(e.message) && e.field?.[0] === 'installMedia',
  );
  await assert.rejects(
    services.server.ensure(randomUUID(), { ...body, driverMedia: qcow }),
    (e: AgentError) => /is not an iso image/.test(e.message) && e.field?.[0] === 'driverMedia',
  );
});

test('subnets: DNS servers, host routes and MTU reach DHCP and network_data.json; enableDhcp false serves nothing and configures guests statically; noGateway has no router', async () => {
  const { services } = createServices(ctx);
  const img = randomUUID();
  await services.image.ensure(img, { source: '/images/guest.qcow2' });
  const net = randomUUID();
  await services.network.ensure(net, { mtu: 1400 });
  const dsub = randomUUID();
  const routes = [{ destination: '10.50.0.0/16', nexthop: '10.11.0.9' }];
  await services.subnet.ensure(dsub, {
    network: net,
    cidr: '10.11.0.0/24',
    dnsNameservers: ['192.0.2.53'],
    hostRoutes: routes,
    enableDhcp: true,
  });
  const served = dhcp.specs.get(net)!;
  assert.equal(served.mtu, 1400);
  assert.deepEqual(served.subnets[0]!.dnsNameservers, ['192.0.2.53']);
  assert.deepEqual(served.subnets[0]!.hostRoutes, [
    ...routes,
    { destination: '169.254.169.254/32', nexthop: '10.11.0.2' },
  ]);
  assert.equal(served.subnets[0]!.gatewayIp, '10.11.0.1');

  // A second network whose only subnet has neither DHCP nor a gateway.
  const snet = randomUUID();
  await services.network.ensure(snet, { mtu: 1450 });
  const ssub = randomUUID();
  const s = await services.subnet.ensure(ssub, {
    network: snet,
    cidr: '10.12.0.0/29',
    noGateway: true,
    enableDhcp: false,
    dnsNameservers: ['192.0.2.55'],
    hostRoutes: [{ destination: '10.60.0.0/16', nexthop: '10.12.0.6' }],
  });
  assert.equal(s.status.gatewayIp, undefined, 'no gateway');
  // The first host address is an ordinary one: the DHCP port's reservation takes it.
  assert.deepEqual(s.status.allocationPools, [{ start: '10.12.0.1', end: '10.12.0.6' }]);
  assert.equal(s.status.dhcpIp, '10.12.0.1');
  assert.ok(!dhcp.specs.has(snet), 'no DHCP server for a network without DHCP');
  assert.ok(!(ctx.metadata as FakeMetadata).scopes.has(`network:${snet}`), 'nor isolated metadata');
  const id = randomUUID();
  const made = await services.server.ensure(id, {
    name: 'static',
    image: img,
    vcpus: 1,
    memoryMb: 256,
    firmware: 'bios',
    machine: 'pc',
    networks: [{ subnet: ssub }],
    publicKeys: {},
  });
  const ip = (made.status.addresses as { ip: string }[])[0]!.ip;
  const out = join(dir, `network-data-${id}.json`);
  await run('xorriso', [
    '-osirrox',
    'on',
    '-indev',
    join(dir, 'instances', id, 'config.iso'),
    '-extract',
    '/openstack/latest/network_data.json',
    out,
  ]);
  const nd = JSON.parse(await readFile(out, 'utf8'));
  assert.equal(nd.links[0].mtu, 1450);
  assert.deepEqual(nd.networks[0], {
    id: 'network0',
    link: 'interface0',
    type: 'ipv4',
    network_id: snet,
    ip_address: ip,
    netmask: '255.255.255.248',
    // The host route, and no default route: the subnet has no gateway.
    routes: [{ network: '10.60.0.0', netmask: '255.255.0.0', gateway: '10.12.0.6' }],
    services: [{ type: 'dns', address: '192.0.2.55' }],
  });

  // DHCP turned on in place: the network gets a DHCP server with the guest's lease and an empty router.
  await services.subnet.ensure(ssub, {
    network: snet,
    cidr: '10.12.0.0/29',
    noGateway: true,
    enableDhcp: true,
    dnsNameservers: [],
    hostRoutes: [],
  });
  const on = dhcp.specs.get(snet)!;
  assert.equal(on.subnets[0]!.gatewayIp, null);
  assert.deepEqual(
    on.hosts.map((h) => h.ip),
    [ip],
  );
  await services.server.delete(id);
  await services.subnet.delete(ssub);
  await services.subnet.delete(dsub);
  await services.network.delete(snet);
  await services.network.delete(net);
});

test('a UEFI install boot gets Enter pressed through the media prompt: on the first start only, not once Setup wrote the disk, never after the install or with BIOS', async () => {
  const { services, net } = await smallNetwork();
  const iso = randomUUID();
  storage.isoIds.add(iso);
  await services.image.ensure(iso, { source: '/images/win-uefi.iso' });
  const body = (firmware: 'bios' | 'uefi') => ({
    name: `prompt-${firmware}`,
    installMedia: iso,
    adminPass: 'Passw0rd!x',
    answerFile: renderAnswerFile({ computerName: 'P', locale: 'en-US', timeZone: 'UTC', firmware }),
    vcpus: 1,
    memoryMb: 256,
    firmware,
    machine: firmware === 'uefi' ? 'q35' : 'pc',
    networks: [{ network: net }],
    publicKeys: {},
  });
  const presses = async (id: string, atLeast: number) => {
    // An event with a generous limit: the presses run in the background, every 2 s.
    for (let i = 0; i < 600 && (compute.keys.get(id) ?? []).length < atLeast; i++)
      await new Promise((r) => setTimeout(r, 100));
    return compute.keys.get(id) ?? [];
  };
  const id = randomUUID();
  const made = await services.server.ensure(id, body('uefi'));
  assert.equal(made.status.installStatus, 'INSTALLING');
  assert.deepEqual((await presses(id, 1)).slice(0, 1), ['KEY_ENTER']);
  // The guest stops (pressing ends with it); Setup has written the disk; the next start falls through.
  compute.off.add(id);
  storage.written.add(join(dir, 'instances', id, 'disk.qcow2'));
  await new Promise((r) => setTimeout(r, 2500)); // one press interval: the loop sees the stop
  const before = (compute.keys.get(id) ?? []).length;
  assert.equal((await services.server.ensure(id, body('uefi'))).status.installStatus, 'INSTALLING');
  assert.ok(!compute.off.has(id), 'started again');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal((compute.keys.get(id) ?? []).length, before, 'no keys once Setup wrote the disk');
  // After the end of setup, the boot from disk gets none either.
  await appendFile(String(made.status.consoleLog), 'STRATUS-INSTALL-COMPLETE\r\n');
  compute.off.add(id);
  assert.equal((await services.server.ensure(id, body('uefi'))).status.installStatus, 'INSTALLED');
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal((compute.keys.get(id) ?? []).length, before);
  await services.server.delete(id);

  const bios = randomUUID();
  await services.server.ensure(bios, body('bios'));
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(compute.keys.get(bios), undefined, 'BIOS install media do not prompt on a blank disk');
  await services.server.delete(bios);
});

test('the password a guest posted goes with its server: a replacement (a new id) has none, and a late post cannot bring it back', async () => {
  const { services, net } = await smallNetwork();
  const img = randomUUID();
  await services.image.ensure(img, { source: '/images/win.qcow2', properties: { os_type: 'windows' } });
  // The store the agent gives the metadata service and the API (agent.ts).
  const passwords = new InstanceDirPasswords((id) => paths.instance(ctx, id));
  const body = {
    name: 'pw',
    image: img,
    vcpus: 1,
    memoryMb: 256,
    networks: [{ network: net }],
    publicKeys: {},
  };
  const old = randomUUID();
  await services.server.ensure(old, body);
  assert.equal(await passwords.create(old, 'c2VjcmV0'), 'created');
  assert.equal(await passwords.get(old), 'c2VjcmV0');
  // A replace (any requiresReplace change, e.g. a new image) deletes the server and creates a new id.
  await services.server.delete(old);
  const fresh = randomUUID();
  await services.server.ensure(fresh, body);
  assert.equal(await passwords.get(fresh), null, 'the new instance starts without a password');
  assert.equal(await passwords.get(old), null, 'the old record is gone');
  assert.ok(!existsSync(join(paths.instance(ctx, old), 'password')));
  // A post racing the delete finds no place and recreates nothing.
  assert.equal(await passwords.create(old, 'bGF0ZQ=='), 'gone');
  assert.ok(!existsSync(paths.instance(ctx, old)));
  // The new instance posts its own, once.
  assert.equal(await passwords.create(fresh, 'bmV3'), 'created');
  assert.equal(await passwords.create(fresh, 'YWdhaW4='), 'exists');
  await services.server.delete(fresh);
  assert.equal(await passwords.get(fresh), null);
});
