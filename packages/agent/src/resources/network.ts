import { randomUUID } from 'node:crypto';
import type { ApiRecord } from '@stratus/model';
import {
  type AttributesOf,
  checkSubnetRanges,
  defaultPools,
  firstHost,
  type InputsOf,
  type network,
  parseCidr,
  parsePath,
  type subnet,
} from '@stratus/model';
import { AgentError, Conflict, InUse, InvalidReference, InvalidRequest, NotFound } from '../errors.js';
import { logger } from '../host/log.js';
import { bridgeName } from '../host/names.js';
import { deleteDhcp, ensureDhcp } from '../network/dhcp/dhcp.js';
import type { DhcpHost } from '../network/dhcp/types.js';
import { allocateIp } from '../network/ipam.js';
import {
  bridgeExists,
  deleteBridge,
  ensureBridge,
  inspectBridge,
  plugIntoBridge,
} from '../network/linuxbridge/bridge.js';
import { linuxBridgeUplink } from '../network/linuxbridge/driver.js';
import type { AgentRecordFile } from '../store/records.js';
import { specChanges } from './changes.js';
import { type AgentContext, newRecord, publicRecord, type ResourceService } from './context.js';
import type { ServerRecord } from './server.js';

const log = logger('network');

type NetworkSpec = InputsOf<typeof network>;
type SubnetSpec = InputsOf<typeof subnet>;
/** Who holds each allocated address: `dhcp`, or `server:<id>:<nic>` with its MAC and hostname. */
export type Allocation = { owner: string; mac?: string; hostname?: string };
export type SubnetRecord = AgentRecordFile<
  SubnetSpec,
  Partial<AttributesOf<typeof subnet>>,
  { allocations: Record<string, Allocation> }
>;
export type NetworkRecord = AgentRecordFile<NetworkSpec, Partial<AttributesOf<typeof network>>>;

/** A network's bridge: named after its id, or the name it had when it was adopted by import. */
export const bridgeOf = (net: NetworkRecord): string => net.status.bridge ?? bridgeName(net.id);

/** Lock key of everything that changes a network's DHCP service or its subnets' allocations. */
export const netLock = (networkId: string) => `network:${networkId}`;

/** Subnets of a network, oldest first. */
export async function subnetsOf(ctx: AgentContext, networkId: string): Promise<SubnetRecord[]> {
  return (await ctx.store.list<SubnetRecord>('subnets')).filter((s) => s.spec.network === networkId);
}

/** Makes the network's DHCP server serve exactly its subnets and static leases. Call under netLock. */
export async function reconcileDhcp(ctx: AgentContext, net: NetworkRecord): Promise<void> {
  const subnets = await subnetsOf(ctx, net.id);
  if (subnets.length === 0) {
    await deleteDhcp(net.id, ctx.stateDir);
    return;
  }
  const hosts: DhcpHost[] = [];
  for (const s of subnets)
    for (const [ip, a] of Object.entries(s.internal.allocations))
      if (a.mac) hosts.push({ mac: a.mac, ip, hostname: a.hostname ?? 'guest' });
  await ensureDhcp(
    {
      networkId: net.id,
      uplink: linuxBridgeUplink(bridgeOf(net), net.id),
      mtu: net.spec.mtu,
      subnets: subnets.map((s) => ({
        subnetId: s.id,
        cidr: s.spec.cidr,
        gatewayIp: s.status.gatewayIp ?? null,
        dhcpServerIp: s.status.dhcpIp!,
        dnsNameservers: s.spec.dnsNameservers,
      })),
      hosts,
    },
    ctx.stateDir,
  );
}

/**
 * Keeps a network's DHCP server running (started at agent startup and every few seconds). A bridge that
 * vanished is not recreated here: that is drift, for the user's next plan to show and apply to repair.
 */
export async function superviseNetwork(ctx: AgentContext, id: string): Promise<void> {
  await ctx.locks.run(netLock(id), async () => {
    const net = await ctx.store.get<NetworkRecord>('networks', id);
    if (!net) return;
    if (!(await bridgeExists(id, bridgeOf(net)))) {
      log.warn('bridge missing; the next apply repairs it', { network: id, bridge: bridgeOf(net) });
      return;
    }
    await reconcileDhcp(ctx, net);
  });
}

/** Plugs existing server taps back into a network's bridge (after the bridge was recreated). */
async function reattachTaps(ctx: AgentContext, net: NetworkRecord): Promise<void> {
  const networkId = net.id;
  for (const srv of await ctx.store.list<ServerRecord>('servers')) {
    for (const p of srv.internal.ports ?? []) {
      if (p.network !== networkId) continue;
      await plugIntoBridge(p.tap, bridgeOf(net));
    }
  }
}

/** Networks: a Linux bridge, plus a DHCP namespace once it has subnets. */
export function networkService(ctx: AgentContext): ResourceService {
  const withLive = async (rec: NetworkRecord): Promise<ApiRecord> => {
    const up = await bridgeExists(rec.id, bridgeOf(rec));
    return publicRecord({ ...rec, status: { ...rec.status, status: up ? 'ACTIVE' : 'DOWN' } });
  };
  return {
    async ensure(id, body) {
      const spec = body as NetworkSpec;
      return ctx.locks.run(netLock(id), async () => {
        let rec = await ctx.store.get<NetworkRecord>('networks', id);
        if (rec) {
          specChanges('network', rec.spec, spec);
          rec.spec = spec;
          rec.updatedAt = new Date().toISOString();
        } else rec = newRecord(id, 'network', spec, { bridge: bridgeName(id), status: 'BUILD' }, {});
        // Recorded first: a crash after creating the bridge still leaves a record to clean it up by.
        await ctx.store.put('networks', rec);
        await ensureBridge(id, spec.mtu, bridgeOf(rec));
        await reattachTaps(ctx, rec);
        await reconcileDhcp(ctx, rec);
        rec.status = { bridge: bridgeOf(rec), status: 'ACTIVE' };
        await ctx.store.put('networks', rec);
        return withLive(rec);
      });
    },
    async get(id) {
      const rec = await ctx.store.get<NetworkRecord>('networks', id);
      return rec ? withLive(rec) : null;
    },
    async list() {
      return Promise.all((await ctx.store.list<NetworkRecord>('networks')).map(withLive));
    },
    async delete(id) {
      await ctx.locks.run(netLock(id), async () => {
        const subnets = await subnetsOf(ctx, id);
        if (subnets.length)
          throw new InUse(`network ${id} still has subnet(s) ${subnets.map((s) => s.id).join(', ')}`);
        const rec = await ctx.store.get<NetworkRecord>('networks', id);
        await deleteDhcp(id, ctx.stateDir);
        if (rec) await deleteBridge(id, bridgeOf(rec));
        else await deleteBridge(id);
        await ctx.store.delete('networks', id);
      });
    },
    async import(bridge) {
      const link = await inspectBridge(bridge);
      if (!link) throw new NotFound(`Linux bridge ${bridge} not found`);
      const owner = (await ctx.store.list<NetworkRecord>('networks')).find((n) => bridgeOf(n) === bridge);
      if (owner)
        throw new Conflict(`bridge ${bridge} already belongs to network ${owner.id}`, {
          code: 'already_managed',
        });
      const id = randomUUID();
      return ctx.locks.run(netLock(id), async () => {
        const rec = newRecord(
          id,
          'network',
          { name: bridge, mtu: link.mtu },
          { bridge, status: 'ACTIVE' },
          {},
        );
        await ctx.store.put('networks', rec);
        // Tags it as Stratus' (alias); nothing else about the bridge changes.
        await ensureBridge(id, link.mtu, bridge);
        log.info('network imported', { id, bridge });
        return withLive(rec);
      });
    },
  };
}

function blame(e: unknown, field: string): never {
  throw AgentError.isInstance(e) ? e.at(parsePath(field)) : e;
}

/** Allocates an address in a subnet for `owner` (reusing the one it already holds). Call under netLock. */
export function allocate(
  s: SubnetRecord,
  alloc: Allocation,
  requested: string | undefined,
  field: string,
): string {
  const held = Object.entries(s.internal.allocations).find(([, a]) => a.owner === alloc.owner);
  if (held && (!requested || requested === held[0])) {
    s.internal.allocations[held[0]] = alloc;
    return held[0];
  }
  if (held) delete s.internal.allocations[held[0]];
  const used = new Set(Object.keys(s.internal.allocations));
  if (s.status.gatewayIp) used.add(s.status.gatewayIp);
  let ip: string;
  try {
    ip = allocateIp(s.status.allocationPools as { start: string; end: string }[], used, requested);
  } catch (e) {
    blame(e, field);
  }
  s.internal.allocations[ip] = alloc;
  return ip;
}

/** Subnets: IPAM records; the DHCP port takes the first free address of the pools. */
export function subnetService(ctx: AgentContext): ResourceService {
  return {
    async ensure(id, body) {
      const spec = body as SubnetSpec;
      const net = await ctx.store.get<NetworkRecord>('networks', spec.network);
      if (!net) throw new InvalidReference(`network ${spec.network} does not exist`, { field: ['network'] });
      return ctx.locks.run(netLock(spec.network), async () => {
        let rec = await ctx.store.get<SubnetRecord>('subnets', id);
        const problems = checkSubnetRanges(spec.cidr, spec.gatewayIp, spec.allocationPools);
        if (problems.length) throw new InvalidRequest(problems[0]!.message, { field: problems[0]!.path });
        if (rec) {
          specChanges('subnet', rec.spec, spec);
        } else {
          const cidr = parseCidr(spec.cidr);
          for (const other of await subnetsOf(ctx, spec.network)) {
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
          const gatewayIp = spec.gatewayIp ?? firstHost(cidr);
          const pools = spec.allocationPools ?? defaultPools(cidr, gatewayIp);
          rec = newRecord(
            id,
            'subnet',
            spec,
            { gatewayIp, allocationPools: pools, dhcpIp: '' },
            { allocations: {} },
          );
          rec.status.dhcpIp = allocate(rec, { owner: 'dhcp' }, undefined, 'allocationPools');
        }
        rec.spec = spec;
        if (spec.gatewayIp) rec.status.gatewayIp = spec.gatewayIp;
        rec.updatedAt = new Date().toISOString();
        await ctx.store.put('subnets', rec);
        await reconcileDhcp(ctx, net);
        return publicRecord(rec);
      });
    },
    async get(id) {
      const rec = await ctx.store.get<SubnetRecord>('subnets', id);
      return rec ? publicRecord(rec) : null;
    },
    async list() {
      return (await ctx.store.list<SubnetRecord>('subnets')).map(publicRecord);
    },
    async delete(id) {
      const rec = await ctx.store.get<SubnetRecord>('subnets', id);
      if (!rec) return;
      await ctx.locks.run(netLock(rec.spec.network), async () => {
        const users = Object.values(rec.internal.allocations).filter((a) => a.owner !== 'dhcp');
        if (users.length)
          throw new InUse(`subnet ${id} has addresses in use by ${users.map((u) => u.owner).join(', ')}`);
        await ctx.store.delete('subnets', id);
        const net = await ctx.store.get<NetworkRecord>('networks', rec.spec.network);
        if (net) await reconcileDhcp(ctx, net);
        log.info('subnet deleted', { id });
      });
    },
  };
}
