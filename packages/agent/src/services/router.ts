/**
 * Routers, router interfaces and floating IPs (Neutron's L3): records here, host work in
 * network/router/. The host state of a router is always rebuilt whole from the records
 * ({@link reconcileRouter}) under the router's `l3:` lock, reading them when it runs, so a later call
 * never undoes a newer change. A router's gateway and each floating IP hold a port (an address) on the
 * external network's subnets; an interface holds its subnet's gateway address, which IPAM never hands out.
 */
import {
  type AttributesOf,
  type floating_ip,
  type InputsOf,
  isInNet,
  parseCidr,
  type router,
  type router_interface,
} from '@stratus/model';
import { Conflict, InUse, InvalidRequest } from '../errors.js';
import { logger } from '../host/log.js';
import {
  routerGatewayDevice,
  routerGatewayHostVeth,
  routerInterfaceDevice,
  routerInterfaceHostVeth,
  routerNamespace,
} from '../host/names.js';
import { listLinks, namespaceExists } from '../network/iplink.js';
import {
  deleteLink,
  deleteRouter,
  ensureRouter,
  inspectRouter,
  type RouterHostSpec,
  type RouterPort,
} from '../network/router/l3.js';
import { assertReference, ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import { driverOf, segmentOf, subnetsOf } from './network.js';
import { netLock, type PortRequest, type PortService, portId } from './port.js';
import type { NetworkRecord, PortRecord, SubnetRecord } from './records.js';
import type { AgentRecordFile } from './store.js';

const log = logger('router');

type Empty = Record<string, never>;
type RouterSpec = InputsOf<typeof router>;
type InterfaceSpec = InputsOf<typeof router_interface>;
type FloatingSpec = InputsOf<typeof floating_ip>;

/** A router as the agent records it. */
export type RouterRecord = AgentRecordFile<RouterSpec, Partial<AttributesOf<typeof router>>, Empty>;
/** A router interface as the agent records it. */
export type RouterInterfaceRecord = AgentRecordFile<
  InterfaceSpec,
  Partial<AttributesOf<typeof router_interface>>,
  Empty
>;
/** A floating IP as the agent records it (its address is a `floatingip` port). */
export type FloatingIpRecord = AgentRecordFile<
  FloatingSpec,
  Partial<AttributesOf<typeof floating_ip>>,
  Empty
>;

/** Lock key of a router's host state; taken innermost (never while taking another lock). */
const l3Lock = (routerId: string) => `l3:${routerId}`;
/** Lock key of a router's record and its interfaces' records. */
const routerLock = (routerId: string) => `router:${routerId}`;

const prefixOf = (cidr: string) => parseCidr(cidr).prefix;

/**
 * Gives a device a port (address) on one of network `networkId`'s subnets: the one holding `req.fixedIp`,
 * else the first with a free address. Call under {@link netLock}.
 */
async function allocateOn(
  ctx: AgentContext,
  ports: PortService,
  networkId: string,
  req: Omit<PortRequest, 'subnet'>,
  field: (string | number)[],
): Promise<PortRecord> {
  const subs = await subnetsOf(ctx, networkId);
  if (subs.length === 0)
    throw new Conflict(`network ${networkId} has no subnet to take an address from`, { field });
  const fixed = req.fixedIp;
  const candidates = fixed ? subs.filter((s) => isInNet(fixed, parseCidr(s.spec.cidr))) : subs;
  if (candidates.length === 0)
    throw new InvalidRequest(`${fixed} is in no subnet of network ${networkId}`, { field });
  let last: unknown;
  for (const s of candidates) {
    try {
      return await ports.allocate({ ...req, subnet: s } as PortRequest, field);
    } catch (e) {
      last = e;
    }
  }
  throw last;
}

/** The network record of an external network, or an error at `field`. */
async function externalNetwork(ctx: AgentContext, id: string, field: (string | number)[]) {
  // A missing network is a missing reference (invalid_reference), as for every other type; the id is
  // checked before the store is asked, since an id is a file name there.
  const net = (await assertReference(ctx, 'networks', id, field)) as NetworkRecord;
  if (net.spec.external !== true)
    throw new InvalidRequest(
      `network ${id} is not external (external: true): routers' gateways and floating IPs need an external network`,
      { code: 'network_not_external', field },
    );
  return net;
}

/** The host state router `routerId` should have, from the records; null when it has no record. */
export async function routerHostSpec(
  ctx: AgentContext,
  routerId: string,
  announce: string[] = [],
): Promise<RouterHostSpec | null> {
  const rec = await ctx.store.get<RouterRecord>('routers', routerId);
  if (!rec) return null;
  const owner = `router:${routerId}`;
  const nets = new Map<string, NetworkRecord | null>();
  const netOf = async (id: string) => {
    if (!nets.has(id)) nets.set(id, await ctx.store.get<NetworkRecord>('networks', id));
    return nets.get(id) ?? null;
  };
  const interfaces: RouterPort[] = [];
  const cidrs: string[] = [];
  const ifaces = (await ctx.store.list<RouterInterfaceRecord>('router_interfaces')).filter(
    (i) => i.spec.router === routerId,
  );
  for (const i of ifaces) {
    const sub = await ctx.store.get<SubnetRecord>('subnets', i.spec.subnet);
    const net = sub && (await netOf(sub.spec.network));
    if (!sub || !net || !sub.status.gatewayIp) continue;
    cidrs.push(sub.spec.cidr);
    interfaces.push({
      device: routerInterfaceDevice(i.id),
      hostVeth: routerInterfaceHostVeth(i.id),
      uplink: driverOf(ctx, net).portUplink(segmentOf(net), owner),
      mtu: net.spec.mtu,
      addresses: [`${sub.status.gatewayIp}/${prefixOf(sub.spec.cidr)}`],
    });
  }
  let gateway: RouterHostSpec['gateway'];
  const floating = (await ctx.store.list<FloatingIpRecord>('floating_ips'))
    .filter((f) => f.status.router === routerId && f.status.fixedIpAddress && f.status.floatingIpAddress)
    .map((f) => ({ address: f.status.floatingIpAddress!, fixedIp: f.status.fixedIpAddress! }));
  const gw = rec.spec.externalGateway;
  const gwPort = gw && (await ctx.store.get<PortRecord>('ports', portId('router_gateway', routerId, 0)));
  const gwNet = gwPort && (await netOf(gwPort.spec.network));
  const gwSub = gwPort && (await ctx.store.get<SubnetRecord>('subnets', gwPort.spec.subnet));
  if (gwPort && gwNet && gwSub) {
    gateway = {
      device: routerGatewayDevice(routerId),
      hostVeth: routerGatewayHostVeth(routerId),
      uplink: driverOf(ctx, gwNet).portUplink(segmentOf(gwNet), owner),
      mtu: gwNet.spec.mtu,
      addresses: [
        `${gwPort.status.ip}/${prefixOf(gwSub.spec.cidr)}`,
        ...floating.map((f) => `${f.address}/32`),
      ],
      nexthop: gwSub.status.gatewayIp ?? null,
    };
  }
  return {
    routerId,
    interfaces,
    ...(gateway ? { gateway } : {}),
    routes: rec.spec.routes ?? [],
    nat: {
      routerId,
      ...(gateway ? { gatewayDevice: gateway.device, gatewayIp: gwPort!.status.ip } : {}),
      enableSnat: gw?.enableSnat !== false,
      subnets: cidrs,
      floating: gateway ? floating : [],
    },
    announce: gateway ? announce : [],
  };
}

/**
 * Makes router `routerId`'s host state match the records (read under its `l3:` lock), announcing the
 * floating addresses in `announce` by gratuitous ARP.
 */
export async function reconcileRouter(
  ctx: AgentContext,
  routerId: string,
  announce: string[] = [],
): Promise<void> {
  await ctx.locks.run(l3Lock(routerId), async () => {
    const spec = await routerHostSpec(ctx, routerId, announce);
    if (spec) await ensureRouter(spec);
  });
}

/** Routers: a qrouter namespace, its gateway port on an external network, static routes and NAT. */
export class RouterService extends ServiceBase<RouterSpec, RouterRecord['status'], Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
  ) {
    super(ctx, 'router');
  }

  protected override lockKey(id: string): string {
    return routerLock(id);
  }

  protected async realize(id: string, spec: RouterSpec, prior: RouterRecord | null): Promise<RouterRecord> {
    const gw = spec.externalGateway;
    const gwNet = gw && (await externalNetwork(this.ctx, gw.network, ['externalGateway', 'network']));
    const rec = prior ?? this.newRecord(id, spec, { namespace: routerNamespace(id), status: 'BUILD' }, {});
    rec.spec = spec;
    // Recorded first: a crash after the namespace appears still leaves a record to clean it up by.
    await this.save(rec);
    const held = await this.ctx.store.get<PortRecord>('ports', portId('router_gateway', id, 0));
    if (held && (!gwNet || held.spec.network !== gwNet.id))
      await this.locked(netLock(held.spec.network), () => this.ports.release(held.id));
    let gatewayIp: string | undefined;
    if (gwNet) {
      const port = await this.locked(netLock(gwNet.id), () =>
        allocateOn(
          this.ctx,
          this.ports,
          gwNet.id,
          {
            deviceOwner: 'router_gateway',
            deviceId: id,
            index: 0,
            ...(gw.fixedIp ? { fixedIp: gw.fixedIp } : {}),
          },
          ['externalGateway', 'fixedIp'],
        ),
      );
      gatewayIp = port.status.ip;
    }
    await this.checkRoutes(id, spec);
    rec.status = {
      namespace: routerNamespace(id),
      ...(gatewayIp ? { externalGatewayIp: gatewayIp } : {}),
      status: 'ACTIVE',
    };
    await this.save(rec);
    await reconcileRouter(this.ctx, id);
    return rec;
  }

  /** Each static route's next hop must be on one of the router's subnets (Neutron's rule). */
  private async checkRoutes(id: string, spec: RouterSpec): Promise<void> {
    if (!spec.routes?.length) return;
    const cidrs: string[] = [];
    for (const i of await this.ctx.store.list<RouterInterfaceRecord>('router_interfaces'))
      if (i.spec.router === id) {
        const s = await this.ctx.store.get<SubnetRecord>('subnets', i.spec.subnet);
        if (s) cidrs.push(s.spec.cidr);
      }
    const gwPort = await this.ctx.store.get<PortRecord>('ports', portId('router_gateway', id, 0));
    const gwSub = gwPort && (await this.ctx.store.get<SubnetRecord>('subnets', gwPort.spec.subnet));
    if (gwSub) cidrs.push(gwSub.spec.cidr);
    spec.routes.forEach((r, i) => {
      if (!cidrs.some((c) => isInNet(r.nexthop, parseCidr(c))))
        throw new InvalidRequest(
          `next hop ${r.nexthop} is on none of the router's subnets${cidrs.length ? ` (${cidrs.join(', ')})` : ''}`,
          { field: ['routes', i, 'nexthop'] },
        );
    });
  }

  protected async remove(id: string, rec: RouterRecord | null): Promise<void> {
    const ifaces = (await this.ctx.store.list<RouterInterfaceRecord>('router_interfaces')).filter(
      (i) => i.spec.router === id,
    );
    if (ifaces.length)
      throw new InUse(`router ${id} still has interface(s) ${ifaces.map((i) => i.id).join(', ')}`);
    await this.ctx.locks.run(l3Lock(id), () => deleteRouter(id, [routerGatewayHostVeth(id)]));
    const held = await this.ctx.store.get<PortRecord>('ports', portId('router_gateway', id, 0));
    if (held) await this.locked(netLock(held.spec.network), () => this.ports.release(held.id));
    if (rec) log.info('router deleted', { id });
  }

  protected override async live(rec: RouterRecord): Promise<RouterRecord['status']> {
    const spec = await routerHostSpec(this.ctx, rec.id);
    const reason = spec ? await inspectRouter(spec) : undefined;
    const { statusReason: _r, ...rest } = rec.status;
    return reason ? { ...rest, status: 'DOWN', statusReason: reason } : { ...rest, status: 'ACTIVE' };
  }
}

/** Router interfaces: a subnet's gateway address on a qr- device of the router. */
export class RouterInterfaceService extends ServiceBase<
  InterfaceSpec,
  RouterInterfaceRecord['status'],
  Empty
> {
  constructor(ctx: AgentContext) {
    super(ctx, 'router_interface');
  }

  protected override lockKey(id: string, spec?: InterfaceSpec): string {
    return spec ? routerLock(spec.router) : `router_interface:${id}`;
  }

  protected override async check(_id: string, spec: InterfaceSpec): Promise<void> {
    await assertReference(this.ctx, 'routers', spec.router, ['router']);
    await assertReference(this.ctx, 'subnets', spec.subnet, ['subnet']);
  }

  protected async realize(
    id: string,
    spec: InterfaceSpec,
    prior: RouterInterfaceRecord | null,
  ): Promise<RouterInterfaceRecord> {
    const sub = (await this.ctx.store.get<SubnetRecord>('subnets', spec.subnet))!;
    if (!sub.status.gatewayIp)
      throw new InvalidRequest(`subnet ${sub.id} has no gateway IP for the router to take`, {
        field: ['subnet'],
      });
    const all = await this.ctx.store.list<RouterInterfaceRecord>('router_interfaces');
    const taken = all.find((i) => i.id !== id && i.spec.subnet === spec.subnet);
    if (taken)
      throw new Conflict(
        `subnet ${spec.subnet} is already on router ${taken.spec.router} (interface ${taken.id}); a subnet is on one router at most`,
        { code: 'subnet_in_use', field: ['subnet'] },
      );
    const mine = parseCidr(sub.spec.cidr);
    for (const i of all) {
      if (i.id === id || i.spec.router !== spec.router) continue;
      const o = await this.ctx.store.get<SubnetRecord>('subnets', i.spec.subnet);
      const oc = o && parseCidr(o.spec.cidr);
      if (oc && mine.network <= oc.broadcast && oc.network <= mine.broadcast)
        throw new Conflict(
          `subnet ${sub.id} (${sub.spec.cidr}) overlaps subnet ${o.id} (${o.spec.cidr}), already on router ${spec.router}`,
          { code: 'overlapping_cidr', field: ['subnet'] },
        );
    }
    const rec =
      prior ??
      this.newRecord(
        id,
        spec,
        { ipAddress: sub.status.gatewayIp, device: routerInterfaceDevice(id), status: 'ACTIVE' },
        {},
      );
    rec.spec = spec;
    rec.status = { ...rec.status, ipAddress: sub.status.gatewayIp, status: 'ACTIVE' };
    await this.save(rec);
    await reconcileRouter(this.ctx, spec.router);
    return rec;
  }

  protected async remove(id: string, rec: RouterInterfaceRecord | null): Promise<void> {
    if (rec) {
      const sub = await this.ctx.store.get<SubnetRecord>('subnets', rec.spec.subnet);
      const users = (await this.ctx.store.list<FloatingIpRecord>('floating_ips')).filter(
        (f) =>
          f.status.router === rec.spec.router &&
          sub &&
          f.status.fixedIpAddress &&
          isInNet(f.status.fixedIpAddress, parseCidr(sub.spec.cidr)),
      );
      if (users.length)
        throw new InUse(
          `the interface of router ${rec.spec.router} on subnet ${rec.spec.subnet} is required by floating IP(s) ${users.map((u) => u.id).join(', ')}`,
        );
      // Gone before the router converges, so it drops the device.
      await this.ctx.store.delete(this.collection, id);
      await reconcileRouter(this.ctx, rec.spec.router);
    }
    // Whatever is left (no record, or no router record any more).
    await deleteLink(routerInterfaceHostVeth(id));
  }

  protected override async live(rec: RouterInterfaceRecord): Promise<RouterInterfaceRecord['status']> {
    const ns = routerNamespace(rec.spec.router);
    const present =
      (await namespaceExists(ns)) && (await listLinks(ns)).some((l) => l.ifname === rec.status.device);
    return { ...rec.status, status: present ? 'ACTIVE' : 'DOWN' };
  }
}

/** Floating IPs: an external address, mapped by a router to a server's first fixed address. */
export class FloatingIpService extends ServiceBase<FloatingSpec, FloatingIpRecord['status'], Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
  ) {
    super(ctx, 'floating_ip');
  }

  protected override async check(_id: string, spec: FloatingSpec): Promise<void> {
    await assertReference(this.ctx, 'networks', spec.network, ['network']);
    if (spec.server) await assertReference(this.ctx, 'servers', spec.server, ['server']);
  }

  protected async realize(
    id: string,
    spec: FloatingSpec,
    prior: FloatingIpRecord | null,
  ): Promise<FloatingIpRecord> {
    const net = await externalNetwork(this.ctx, spec.network, ['network']);
    const assoc = spec.server ? await this.association(id, net, spec.server) : undefined;
    const port = await this.locked(netLock(net.id), () =>
      allocateOn(
        this.ctx,
        this.ports,
        net.id,
        {
          deviceOwner: 'floatingip',
          deviceId: id,
          index: 0,
          ...(spec.floatingIpAddress ? { fixedIp: spec.floatingIpAddress } : {}),
        },
        ['floatingIpAddress'],
      ),
    );
    const rec = prior ?? this.newRecord(id, spec, { status: 'DOWN' }, {});
    const before = { router: rec.status.router, fixed: rec.status.fixedIpAddress };
    // The address chosen is recorded as asked for: a later request naming it is no change.
    rec.spec = { ...spec, floatingIpAddress: port.status.ip };
    rec.status = {
      floatingIpAddress: port.status.ip,
      ...(assoc ? { fixedIpAddress: assoc.fixedIp, router: assoc.router } : {}),
      status: assoc ? 'ACTIVE' : 'DOWN',
    };
    await this.save(rec);
    if (before.router && before.router !== assoc?.router) await reconcileRouter(this.ctx, before.router);
    if (assoc) {
      const moved = before.router !== assoc.router || before.fixed !== assoc.fixedIp;
      await reconcileRouter(this.ctx, assoc.router, moved ? [port.status.ip] : []);
      if (moved) log.info('floating IP associated', { id, address: port.status.ip, fixedIp: assoc.fixedIp });
    }
    return rec;
  }

  /** The router and fixed address serving server `serverId`'s first port from network `net`. */
  private async association(id: string, net: NetworkRecord, serverId: string) {
    const port = (await this.ports.ofDevice(serverId)).find((p) => p.spec.deviceOwner === 'compute');
    if (!port) throw new Conflict(`server ${serverId} has no port to map to`, { field: ['server'] });
    const ifaces = await this.ctx.store.list<RouterInterfaceRecord>('router_interfaces');
    let router: RouterRecord | null = null;
    for (const i of ifaces.filter((i) => i.spec.subnet === port.spec.subnet)) {
      const r = await this.ctx.store.get<RouterRecord>('routers', i.spec.router);
      if (r?.spec.externalGateway?.network === net.id) router = r;
    }
    if (!router)
      throw new Conflict(
        `external network ${net.id} is not reachable from subnet ${port.spec.subnet} of server ${serverId}: no router has an interface on that subnet and its gateway on that network`,
        { code: 'external_unreachable', field: ['server'] },
      );
    const other = (await this.ctx.store.list<FloatingIpRecord>('floating_ips')).find(
      (f) => f.id !== id && f.status.router === router.id && f.status.fixedIpAddress === port.status.ip,
    );
    if (other)
      throw new Conflict(
        `server ${serverId}'s address ${port.status.ip} already has floating IP ${other.id}`,
        {
          code: 'floatingip_in_use',
          field: ['server'],
        },
      );
    return { router: router.id, fixedIp: port.status.ip };
  }

  protected async remove(id: string, rec: FloatingIpRecord | null): Promise<void> {
    await this.ctx.store.delete(this.collection, id);
    if (rec?.status.router) await reconcileRouter(this.ctx, rec.status.router);
    const held = await this.ctx.store.get<PortRecord>('ports', portId('floatingip', id, 0));
    if (held) await this.locked(netLock(held.spec.network), () => this.ports.release(held.id));
  }
}
