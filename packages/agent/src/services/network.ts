import { randomUUID } from 'node:crypto';
import {
  checkSubnetRanges,
  defaultPools,
  firstHost,
  type InputsOf,
  type network,
  parseCidr,
  type subnet,
} from '@stratus/model';
import { Conflict, InUse, InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { dhcpNamespace } from '../host/names.js';
import { METADATA_ADDRESS, type MetadataScope } from '../metadata/service.js';
import type { DhcpHost, DhcpSpec } from '../network/dhcp/index.js';
import type { NetworkDriver, NetworkDriverKind, NetworkSegment } from '../network/driver.js';
import { assertReference, ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import { netLock, type PortService, portId } from './port.js';
import type { NetworkRecord, SubnetRecord } from './records.js';

const log = logger('network');

type NetworkSpec = InputsOf<typeof network>;
type SubnetSpec = InputsOf<typeof subnet>;
type Empty = Record<string, never>;

/** The segment of a network as its driver knows it (an adopted bridge keeps its name). */
export const segmentOf = (net: NetworkRecord): NetworkSegment => ({
  networkId: net.id,
  mtu: net.spec.mtu,
  ...(net.status.bridge ? { name: net.status.bridge } : {}),
});

/** The driver that realizes network `net` (records from before drivers were selectable: Linux bridge). */
export const driverOf = (ctx: AgentContext, net: NetworkRecord): NetworkDriver =>
  ctx.networkDrivers[net.spec.driver ?? 'linuxbridge'];

/** Subnets of a network, oldest first. */
export async function subnetsOf(ctx: AgentContext, networkId: string): Promise<SubnetRecord[]> {
  return (await ctx.store.list<SubnetRecord>('subnets')).filter((s) => s.spec.network === networkId);
}

/**
 * Where network `networkId`'s instances reach the metadata service: its DHCP namespace, on an isolated
 * network as Neutron's DHCP agent serves it. (A network behind a router would be served through the
 * router's namespace instead: a scope owned by the router.)
 */
export const metadataScope = (networkId: string): MetadataScope => ({
  key: `network:${networkId}`,
  namespace: dhcpNamespace(networkId),
  owner: { network: networkId },
});

/**
 * The routes DHCP hands to guests of subnet `s` (options 121 and 249): its `hostRoutes`, and the
 * metadata address via the DHCP port `dhcpIp` unless the user routes that address themselves (Neutron's
 * isolated metadata route, which a user's host route of the same destination replaces).
 */
export function hostRoutesOf(s: SubnetRecord, dhcpIp: string): { destination: string; nexthop: string }[] {
  const routes = s.spec.hostRoutes ?? [];
  const metadata = `${METADATA_ADDRESS}/32`;
  return routes.some((r) => r.destination === metadata)
    ? routes
    : [...routes, { destination: metadata, nexthop: dhcpIp }];
}

/**
 * Lock key of a network's DHCP service (its dnsmasq and files). Taken inside {@link netLock} where both
 * are held, never the other way round; it is never held across address allocation, so allocations on a
 * network never wait for DHCP work.
 */
export const dhcpLock = (networkId: string) => `dhcp:${networkId}`;

/**
 * Makes the network's DHCP server serve exactly its subnets and its server ports' static leases, on the
 * port its driver provides, reading the records when it runs (under {@link dhcpLock}), so a later call
 * never overwrites a newer port list with an older one. `hosts`: only ports came or went (a server's
 * create or delete): concurrent calls share one run, and a running dnsmasq is only signalled
 * ({@link DhcpDriver.reloadHosts}). `full`: converge everything (network, subnet changes, supervision).
 */
export async function reconcileDhcp(
  ctx: AgentContext,
  ports: PortService,
  networkId: string,
  mode: 'full' | 'hosts' = 'full',
): Promise<void> {
  const work = async () => {
    const net = await ctx.store.get<NetworkRecord>('networks', networkId);
    if (!net) return;
    const subnets = await subnetsOf(ctx, net.id);
    if (subnets.length === 0) {
      // The metadata socket first: it would keep the namespace (and its veth) alive past its deletion.
      await ctx.metadata.delete(metadataScope(net.id).key);
      await ctx.dhcp.delete(net.id);
      return;
    }
    const onNet = await ports.onNetwork(net.id);
    const dhcpIp = (s: SubnetRecord) =>
      onNet.find((p) => p.id === portId('dhcp', s.id, 0))?.status.ip ?? s.status.dhcpIp!;
    const seg = segmentOf(net);
    // Guests on subnets without DHCP configure themselves statically (network_data.json).
    const served = subnets.filter((s) => s.spec.enableDhcp !== false);
    const hosts: DhcpHost[] = onNet
      .filter((p) => p.spec.deviceOwner === 'compute' && served.some((s) => s.id === p.spec.subnet))
      .map((p) => ({ mac: p.status.mac, ip: p.status.ip, hostname: p.spec.hostname ?? 'guest' }));
    if (served.length === 0) {
      // Neutron runs no DHCP server (nor isolated metadata) for a network none of whose subnets has
      // DHCP: the namespace, dnsmasq and the metadata socket go.
      await ctx.metadata.delete(metadataScope(net.id).key);
      await ctx.dhcp.delete(net.id);
      return;
    }
    const spec: DhcpSpec = {
      networkId: net.id,
      uplink: driverOf(ctx, net).dhcpUplink(seg),
      mtu: net.spec.mtu,
      subnets: served.map((s) => ({
        subnetId: s.id,
        cidr: s.spec.cidr,
        gatewayIp: s.status.gatewayIp ?? null,
        dhcpServerIp: dhcpIp(s),
        dnsNameservers: s.spec.dnsNameservers,
        hostRoutes: hostRoutesOf(s, dhcpIp(s)),
      })),
      hosts,
      metadataAddress: METADATA_ADDRESS,
    };
    if (mode === 'hosts') await ctx.dhcp.reloadHosts(spec);
    else await ctx.dhcp.ensure(spec);
    // One stat when it already serves; made anew when the namespace was (re)created.
    await ctx.metadata.ensure(metadataScope(net.id));
  };
  if (mode === 'hosts') await ctx.locks.runShared(dhcpLock(networkId), work);
  else await ctx.locks.run(dhcpLock(networkId), work);
}

/** Networks: an L2 segment from the network driver, plus a DHCP server once it has subnets. */
export class NetworkService extends ServiceBase<NetworkSpec, NetworkRecord['status'], Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
  ) {
    super(ctx, 'network');
  }

  protected override lockKey(id: string): string {
    return netLock(id);
  }

  protected async realize(
    id: string,
    spec: NetworkSpec,
    prior: NetworkRecord | null,
  ): Promise<NetworkRecord> {
    // The driver is chosen once, at create: the agent's default when the spec names none.
    const driver = prior?.spec.driver ?? spec.driver ?? this.ctx.defaultNetworkDriver;
    const full: NetworkSpec = { ...spec, driver };
    const rec =
      prior ??
      this.newRecord(
        id,
        full,
        {
          bridge: this.ctx.networkDrivers[driver].segmentName({ networkId: id, mtu: spec.mtu }),
          status: 'BUILD',
        },
        {},
      );
    rec.spec = full;
    // An operator's bridge is the segment as it is: checked, never created, changed or deleted.
    if (full.providerBridge) await this.checkProviderBridge(full.providerBridge, driver);
    if (full.providerBridge) rec.status.bridge = full.providerBridge;
    // Recorded first: a crash after creating the segment still leaves a record to clean it up by.
    await this.save(rec);
    const seg = segmentOf(rec);
    if (!full.providerBridge) await driverOf(this.ctx, rec).ensureSegment(seg);
    await this.reattachTaps(rec);
    await reconcileDhcp(this.ctx, this.ports, rec.id);
    rec.status = { bridge: driverOf(this.ctx, rec).segmentName(seg), status: 'ACTIVE' };
    await this.save(rec);
    return rec;
  }

  protected async remove(id: string, rec: NetworkRecord | null): Promise<void> {
    const subnets = await subnetsOf(this.ctx, id);
    if (subnets.length)
      throw new InUse(`network ${id} still has subnet(s) ${subnets.map((s) => s.id).join(', ')}`);
    await this.locked(dhcpLock(id), async () => {
      // The metadata socket first: it would keep the namespace (and its veth) alive past its deletion.
      await this.ctx.metadata.delete(metadataScope(id).key);
      await this.ctx.dhcp.delete(id);
    });
    if (rec?.spec.providerBridge) return;
    if (rec) await driverOf(this.ctx, rec).deleteSegment(segmentOf(rec));
    // No record: whatever a crash left, under either driver's name for this id.
    else
      for (const d of Object.values(this.ctx.networkDrivers))
        await d.deleteSegment({ networkId: id, mtu: 1500 });
  }

  protected override async live(rec: NetworkRecord): Promise<NetworkRecord['status']> {
    const facts = await driverOf(this.ctx, rec).inspectSegment(segmentOf(rec));
    return { ...rec.status, status: facts.exists ? 'ACTIVE' : 'DOWN' };
  }

  /** Throws at `providerBridge` unless the host has a bridge of that name for `driver`. */
  private async checkProviderBridge(name: string, driver: NetworkDriverKind): Promise<void> {
    if (!(await this.ctx.networkDrivers[driver].inspectExternal(name)))
      throw new InvalidRequest(
        `the host has no ${driver === 'ovs' ? 'Open vSwitch' : 'Linux'} bridge named ${name} (driver ${driver})`,
        { code: 'provider_bridge_missing', field: ['providerBridge'] },
      );
  }

  /** Adopts an existing segment (a Linux bridge or an OVS bridge named `name`) as a new network. */
  async import(name: string) {
    let found: { driver: NetworkDriver; mtu: number } | undefined;
    for (const driver of Object.values(this.ctx.networkDrivers)) {
      const link = await driver.inspectExternal(name);
      if (link) {
        found = { driver, mtu: link.mtu };
        break;
      }
    }
    if (!found) throw new NotFound(`no Linux bridge or Open vSwitch bridge named ${name}`);
    const owner = (await this.records()).find(
      (n) => driverOf(this.ctx, n).segmentName(segmentOf(n)) === name,
    );
    if (owner)
      throw new Conflict(`${name} already belongs to network ${owner.id}`, { code: 'already_managed' });
    const id = randomUUID();
    const { driver, mtu } = found;
    return this.locked(netLock(id), async () => {
      const rec = this.newRecord(
        id,
        { name, mtu, driver: driver.kind },
        { bridge: name, status: 'ACTIVE' },
        {},
      );
      await this.save(rec);
      // Tags it as Stratus' (alias or external_ids); nothing else about the segment changes.
      await driver.ensureSegment(segmentOf(rec));
      log.info('network imported', { id, segment: name });
      return this.view(rec);
    });
  }

  /**
   * Keeps a network's DHCP server running (at agent start and every few seconds). A segment that vanished
   * is not recreated here: that is drift, for the user's next plan to show and apply to repair. Only the
   * DHCP lock is held (its `ip` checks take a while): allocations on the network go on meanwhile.
   */
  async supervise(id: string): Promise<void> {
    const net = await this.record(id);
    if (!net) return;
    const facts = await driverOf(this.ctx, net).inspectSegment(segmentOf(net));
    if (!facts.exists) {
      log.warn('segment missing; the next apply repairs it', { network: id, segment: facts.name });
      return;
    }
    await reconcileDhcp(this.ctx, this.ports, id);
  }

  /** Plugs existing server taps back into a network's segment (after it was recreated), from the port records. */
  private async reattachTaps(net: NetworkRecord): Promise<void> {
    for (const p of await this.ports.onNetwork(net.id))
      if (p.spec.deviceOwner === 'compute' && p.spec.tap)
        await driverOf(this.ctx, net).plugNic(segmentOf(net), p.spec.tap);
  }
}

/** Subnets: address ranges of a network; the DHCP server's port takes the first free address of the pools. */
export class SubnetService extends ServiceBase<SubnetSpec, SubnetRecord['status'], Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
  ) {
    super(ctx, 'subnet');
  }

  protected override lockKey(id: string, spec?: SubnetSpec): string {
    return spec ? netLock(spec.network) : `subnet:${id}`;
  }

  protected override async check(_id: string, spec: SubnetSpec): Promise<void> {
    await assertReference(this.ctx, 'networks', spec.network, ['network']);
  }

  protected async realize(id: string, spec: SubnetSpec, prior: SubnetRecord | null): Promise<SubnetRecord> {
    const problems = checkSubnetRanges(spec.cidr, spec.gatewayIp, spec.allocationPools);
    if (problems.length) throw new InvalidRequest(problems[0]!.message, { field: problems[0]!.path });
    const net = (await this.ctx.store.get<NetworkRecord>('networks', spec.network))!;
    let rec = prior;
    if (!rec) {
      const cidr = parseCidr(spec.cidr);
      for (const other of await subnetsOf(this.ctx, spec.network)) {
        const o = parseCidr(other.spec.cidr);
        if (cidr.network <= o.broadcast && o.network <= cidr.broadcast)
          throw new Conflict(
            `${spec.cidr} overlaps subnet ${other.id} (${other.spec.cidr}) on the same network`,
            {
              code: 'overlapping_cidr',
              field: ['cidr'],
            },
          );
      }
      // No gateway (Neutron's gateway_ip null): the first host address is an ordinary one.
      const gatewayIp = spec.noGateway ? null : (spec.gatewayIp ?? firstHost(cidr));
      const pools = spec.allocationPools ?? defaultPools(cidr, gatewayIp);
      rec = this.newRecord(
        id,
        spec,
        { ...(gatewayIp ? { gatewayIp } : {}), allocationPools: pools, dhcpIp: '' },
        {},
      );
    }
    rec.spec = spec;
    if (spec.gatewayIp) rec.status.gatewayIp = spec.gatewayIp;
    const dhcpPort = await this.ports.allocate({ deviceOwner: 'dhcp', deviceId: id, index: 0, subnet: rec }, [
      'allocationPools',
    ]);
    rec.status.dhcpIp = dhcpPort.status.ip;
    await this.save(rec);
    await reconcileDhcp(this.ctx, this.ports, net.id);
    return rec;
  }

  protected async remove(id: string, rec: SubnetRecord | null): Promise<void> {
    if (!rec) return;
    const users = (await this.ports.onSubnet(id)).filter((p) => p.spec.deviceOwner !== 'dhcp');
    if (users.length)
      throw new InUse(
        `subnet ${id} has addresses in use by server(s) ${users.map((u) => u.spec.deviceId).join(', ')}`,
      );
    await this.ports.release(portId('dhcp', id, 0));
    // Gone before DHCP is reconciled, so the DHCP server stops serving it.
    await this.ctx.store.delete(this.collection, id);
    await reconcileDhcp(this.ctx, this.ports, rec.spec.network);
    log.info('subnet deleted', { id });
  }
}
