/**
 * The port service: owns IPAM and MAC allocation. A port is one address and MAC on a subnet, held by a
 * server NIC (`compute`) or a subnet's DHCP server (`dhcp`), recorded under collection `ports` (internal:
 * not a public resource type yet). Servers ask it for ports for their NICs and give them back on delete;
 * networks read ports to serve DHCP leases and to plug taps back in, so neither needs the other's service.
 *
 * Allocation changes a network's addresses: callers hold {@link netLock} of the port's network, for the
 * allocation only (it reads and writes records; no host command runs under it).
 */
import { createHash } from 'node:crypto';
import { AgentError, Conflict } from '../errors.js';
import { allocateIp } from '../network/ipam.js';
import type { AgentContext } from './context.js';
import type { PortOwner, PortRecord, PortSpec, SubnetRecord } from './records.js';

const COLLECTION = 'ports';

/** Lock key of everything that changes a network's DHCP service or its subnets' addresses. */
export const netLock = (networkId: string) => `network:${networkId}`;

/** A UUID-shaped id derived from `seed`, so a retried allocation finds the port it made before. */
function derivedId(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** The id of a device's port number `index`. */
export const portId = (owner: PortOwner, deviceId: string, index: number): string =>
  derivedId(`port:${owner}:${deviceId}:${index}`);

/** A MAC in OpenStack's fa:16:3e range derived from `seed`: stable across retries. */
export function macFrom(seed: string): string {
  const h = createHash('sha256').update(seed).digest();
  return ['fa', '16', '3e', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** What a caller asks a port for. */
export interface PortRequest extends Omit<PortSpec, 'subnet' | 'network'> {
  subnet: SubnetRecord;
  /** The record's id when it is not derived from the device (a `port` resource's own id). */
  id?: string;
}

/** The attributes of a port a repeated request may change without a new address. */
const MUTABLE = ['hostname', 'tap', 'securityGroups', 'portSecurityEnabled', 'allowedAddressPairs'] as const;

/** Ports: IPAM (addresses from a subnet's pools) and MACs (unique per network). */
export class PortService {
  constructor(private readonly ctx: AgentContext) {}

  /** Every port, oldest first. */
  list(): Promise<PortRecord[]> {
    return this.ctx.store.list<PortRecord>(COLLECTION);
  }

  /** The ports of a device, in NIC order. */
  async ofDevice(deviceId: string): Promise<PortRecord[]> {
    return (await this.list())
      .filter((p) => p.spec.deviceId === deviceId)
      .sort((a, b) => a.spec.index - b.spec.index);
  }

  /** The ports on a network. */
  async onNetwork(networkId: string): Promise<PortRecord[]> {
    return (await this.list()).filter((p) => p.spec.network === networkId);
  }

  /** The ports on a subnet. */
  async onSubnet(subnetId: string): Promise<PortRecord[]> {
    return (await this.list()).filter((p) => p.spec.subnet === subnetId);
  }

  /**
   * Gives a device its port number `req.index` on `req.subnet`: the one it already holds when that still
   * matches the request, else a new address (`fixedIp`, or the lowest free one) and a MAC no other port of
   * the network has. Errors are blamed on `field` (the request's attribute). Call under {@link netLock}.
   */
  async allocate(req: PortRequest, field: readonly (string | number)[]): Promise<PortRecord> {
    const s = req.subnet;
    const id = req.id ?? portId(req.deviceOwner, req.deviceId, req.index);
    const onNet = await this.onNetwork(s.spec.network);
    const held = onNet.find((p) => p.id === id);
    if (held && held.spec.subnet === s.id && (!req.fixedIp || req.fixedIp === held.status.ip)) {
      // A retried or repeated request: the record is written again only when something in it changed.
      const changed = MUTABLE.filter((k) => JSON.stringify(held.spec[k]) !== JSON.stringify(req[k]));
      if (changed.length) {
        const spec: PortSpec = { ...held.spec };
        for (const k of MUTABLE) {
          if (req[k] === undefined) delete spec[k];
          else (spec as unknown as Record<string, unknown>)[k] = req[k];
        }
        held.spec = spec;
        await this.save(held);
      }
      return held;
    }
    const used = new Set(onNet.filter((p) => p.spec.subnet === s.id && p.id !== id).map((p) => p.status.ip));
    if (s.status.gatewayIp) used.add(s.status.gatewayIp);
    let ip: string;
    try {
      ip = allocateIp(
        (s.status.allocationPools ?? []) as { start: string; end: string }[],
        used,
        req.fixedIp,
      );
    } catch (e) {
      throw AgentError.isInstance(e) ? e.at(field) : e;
    }
    const macs = new Set(onNet.filter((p) => p.id !== id).map((p) => p.status.mac));
    let mac = req.mac ?? held?.status.mac ?? macFrom(`${req.deviceId}:${req.index}`);
    if (macs.has(mac)) {
      if (req.mac) throw new Conflict(`MAC ${mac} is already used on network ${s.spec.network}`, { field });
      for (let n = 1; macs.has(mac); n++) mac = macFrom(`${req.deviceId}:${req.index}:${n}`);
    }
    const { subnet: _s, id: _id, ...rest } = req;
    const now = new Date().toISOString();
    const rec: PortRecord = {
      id,
      type: 'port',
      spec: { ...rest, network: s.spec.network, subnet: s.id },
      status: { ip, mac, ...(held?.status.mark !== undefined ? { mark: held.status.mark } : {}) },
      internal: {},
      createdAt: held?.createdAt ?? now,
      updatedAt: now,
    };
    await this.save(rec);
    return rec;
  }

  /** The port record `id`, or null. */
  get(id: string): Promise<PortRecord | null> {
    return this.ctx.store.get<PortRecord>(COLLECTION, id);
  }

  /** Writes a port record (callers changing a binding hold {@link netLock} of its network). */
  put(rec: PortRecord): Promise<void> {
    return this.save(rec);
  }

  /** Gives back one port (its address and MAC); succeeds when it is gone already. Call under {@link netLock}. */
  async release(id: string): Promise<void> {
    await this.ctx.store.delete(COLLECTION, id);
  }

  private async save(rec: PortRecord): Promise<void> {
    rec.updatedAt = new Date().toISOString();
    await this.ctx.store.put(COLLECTION, rec);
  }
}
