/**
 * The `port` resource (Neutron's port made by the user): an address and MAC allocated by the port
 * service under the resource's own id, with its security settings, that a server later binds to one of
 * its NICs. The resource's record (collection `port-resources`) keeps the spec; the agent's port record
 * of the same id holds the address and the binding, so DHCP, IPAM and the firewall see it like any port.
 */
import { type InputsOf, isInNet, parseCidr, type port } from '@stratus/model';
import { Conflict, InUse, InvalidReference, InvalidRequest } from '../errors.js';
import { assertReference, ServiceBase } from './base.js';
import type { AgentContext } from './context.js';
import { type Firewalls, groupsOf } from './firewall.js';
import { reconcileDhcp, subnetsOf } from './network.js';
import { netLock, type PortService } from './port.js';
import type { PortRecord, SubnetRecord } from './records.js';
import { assertGroup } from './security-group.js';
import type { AgentRecordFile } from './store.js';

type PortSpec = InputsOf<typeof port>;
type Empty = Record<string, never>;
type PortStatus = {
  allFixedIps: string[];
  subnet: string;
  status: string;
  deviceId?: string;
  firewall: string;
};
type PortResourceRecord = AgentRecordFile<PortSpec, PortStatus, Empty>;

/** Where `port` resources keep their records (the agent's own port records are `ports`). */
export const PORT_RESOURCES = 'port-resources';

/** The `port` resource type. */
export class PortResourceService extends ServiceBase<PortSpec, PortStatus, Empty> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
    private readonly firewalls: Firewalls,
  ) {
    super(ctx, 'port', PORT_RESOURCES);
  }

  protected override lockKey(_id: string, spec?: PortSpec): string {
    // Binding and allocation change the network's addresses: the network's lock orders them.
    return spec ? netLock(spec.network) : `port:${_id}`;
  }

  protected override async check(_id: string, spec: PortSpec): Promise<void> {
    await assertReference(this.ctx, 'networks', spec.network, ['network']);
    for (const [i, g] of (spec.securityGroups ?? []).entries())
      await assertGroup(this.ctx, g, ['securityGroups', i]);
  }

  /** The subnet the port's address comes from. */
  private async subnetFor(spec: PortSpec): Promise<SubnetRecord> {
    const f = spec.fixedIps?.[0];
    if (f?.subnet) {
      const s = (await assertReference(this.ctx, 'subnets', f.subnet, [
        'fixedIps',
        0,
        'subnet',
      ])) as SubnetRecord;
      if (s.spec.network !== spec.network)
        throw new InvalidRequest(`subnet ${f.subnet} is not on network ${spec.network}`, {
          field: ['fixedIps', 0, 'subnet'],
        });
      if (f.ipAddress && !isInNet(f.ipAddress, parseCidr(s.spec.cidr)))
        throw new InvalidRequest(`${f.ipAddress} is not in subnet ${s.spec.cidr}`, {
          field: ['fixedIps', 0, 'ipAddress'],
        });
      return s;
    }
    const subnets = await subnetsOf(this.ctx, spec.network);
    const s = f?.ipAddress ? subnets.find((x) => isInNet(f.ipAddress!, parseCidr(x.spec.cidr))) : subnets[0];
    if (!s)
      throw new Conflict(
        `network ${spec.network} has no subnet${f?.ipAddress ? ` containing ${f.ipAddress}` : ''} to allocate from`,
        { code: 'no_subnet', field: f ? ['fixedIps', 0] : ['network'] },
      );
    return s;
  }

  protected async realize(
    id: string,
    spec: PortSpec,
    prior: PortResourceRecord | null,
  ): Promise<PortResourceRecord> {
    const rec =
      prior ??
      this.newRecord(id, spec, { allFixedIps: [], subnet: '', status: 'DOWN', firewall: 'idle' }, {});
    rec.spec = spec;
    await this.save(rec);
    const held = await this.ports.get(id);
    const formerGroups = held ? groupsOf(held) : [];
    const security = {
      ...(spec.securityGroups ? { securityGroups: spec.securityGroups } : {}),
      ...(spec.portSecurityEnabled === false ? { portSecurityEnabled: false } : {}),
      ...(spec.allowedAddressPairs.length ? { allowedAddressPairs: spec.allowedAddressPairs } : {}),
    };
    let p: PortRecord;
    if (held) {
      // Only the security settings change in place (the address and MAC replace the port).
      const { securityGroups: _g, portSecurityEnabled: _e, allowedAddressPairs: _a, ...rest } = held.spec;
      held.spec = { ...rest, ...security };
      await this.ports.put(held);
      p = held;
    } else {
      const subnet = await this.subnetFor(spec);
      const f = spec.fixedIps?.[0];
      p = await this.ports.allocate(
        {
          id,
          deviceOwner: 'port',
          deviceId: id,
          index: 0,
          subnet,
          portResource: id,
          ...(f?.ipAddress ? { fixedIp: f.ipAddress } : {}),
          ...(spec.macAddress ? { mac: spec.macAddress } : {}),
          ...security,
        },
        f?.ipAddress ? ['fixedIps', 0, 'ipAddress'] : spec.macAddress ? ['macAddress'] : ['network'],
      );
    }
    await this.firewalls.syncPorts([id], formerGroups);
    rec.status = await this.statusOf(rec, p);
    await this.save(rec);
    return rec;
  }

  private async statusOf(rec: PortResourceRecord, p: PortRecord | null): Promise<PortStatus> {
    if (!p) return { ...rec.status, status: 'DOWN', firewall: 'missing: its address was released' };
    const bound = p.spec.deviceOwner === 'compute';
    const fw = (await this.firewalls.states([p])).get(p.id) ?? 'idle';
    return {
      allFixedIps: [p.status.ip],
      subnet: p.spec.subnet,
      status: bound ? 'ACTIVE' : 'DOWN',
      ...(bound ? { deviceId: p.spec.deviceId } : {}),
      firewall: fw,
    };
  }

  protected override async live(rec: PortResourceRecord): Promise<PortStatus> {
    return this.statusOf(rec, await this.ports.get(rec.id));
  }

  protected async remove(id: string): Promise<void> {
    const p = await this.ports.get(id);
    if (p?.spec.deviceOwner === 'compute')
      throw new InUse(
        `port ${id} is used by server ${p.spec.deviceId}; delete the server or detach it first`,
      );
    if (!p) return;
    await this.ports.release(id);
    await this.firewalls.removePorts([p], groupsOf(p));
    await reconcileDhcp(this.ctx, this.ports, p.spec.network, 'hosts');
  }
}

/**
 * Binds `port` resource `portId` to NIC `index` of server `serverId` (or finds it bound so already).
 * Call under {@link netLock} of the port's network. @throws InvalidReference when there is no such port,
 * Conflict when another server uses it.
 */
export async function bindPort(
  ports: PortService,
  portId: string,
  binding: { serverId: string; index: number; hostname: string; tap: string },
  field: readonly (string | number)[],
): Promise<PortRecord> {
  const p = await ports.get(portId);
  if (!p || p.spec.portResource !== portId)
    throw new InvalidReference(`port ${portId} does not exist`, { field });
  if (p.spec.deviceOwner === 'compute' && p.spec.deviceId !== binding.serverId)
    throw new Conflict(`port ${portId} is used by server ${p.spec.deviceId}`, { code: 'port_in_use', field });
  const want = {
    ...p.spec,
    deviceOwner: 'compute' as const,
    deviceId: binding.serverId,
    index: binding.index,
    hostname: binding.hostname,
    tap: binding.tap,
  };
  if (JSON.stringify(want) !== JSON.stringify(p.spec)) {
    p.spec = want;
    await ports.put(p);
  }
  return p;
}

/** Gives a bound `port` resource back to itself (its server is deleted): the address stays. */
export async function unbindPort(ports: PortService, p: PortRecord): Promise<void> {
  const { tap: _t, hostname: _h, ...rest } = p.spec;
  p.spec = { ...rest, deviceOwner: 'port', deviceId: p.id, index: 0 };
  await ports.put(p);
}
