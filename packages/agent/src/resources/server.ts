import { createHash } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type ApiRecord,
  type AttributesOf,
  type InputsOf,
  isInNet,
  parseCidr,
  type server,
} from '@stratus/model';
import type { DomainFacts, DomainState } from '../compute/types.js';
import { buildConfigDrive, metaDataJson, networkDataJson } from '../configdrive/index.js';
import { Conflict, InvalidReference, InvalidRequest, NotFound } from '../errors.js';
import { bridgeName, domainName, serverTap } from '../host/names.js';
import { createOverlay, inspectImage } from '../storage/images.js';
import type { AgentRecordFile } from '../store/records.js';
import { specChanges } from './changes.js';
import { type AgentContext, newRecord, paths, publicRecord, type ResourceService } from './context.js';
import type { ImageRecord } from './image.js';
import {
  allocate,
  bridgeOf,
  type NetworkRecord,
  netLock,
  reconcileDhcp,
  type SubnetRecord,
  subnetsOf,
} from './network.js';

type ServerSpec = InputsOf<typeof server>;
type NicSpec = ServerSpec['networks'][number];
type Port = { network: string; subnet: string; ip: string; mac: string; tap: string };
/** An imported domain keeps its own disk, MACs and definition. */
type Adopted = { disk: string; macs: string[]; taps: (string | null)[]; domainName: string };
/** A server as the agent records it. */
export type ServerRecord = AgentRecordFile<
  ServerSpec,
  Partial<AttributesOf<typeof server>>,
  { ports: Port[]; adopted?: Adopted }
>;

/** A stable MAC for NIC `index` of a server, in OpenStack's fa:16:3e range: retries reuse it. */
export function macFor(serverId: string, index: number): string {
  const h = createHash('sha256').update(`${serverId}:${index}`).digest();
  return ['fa', '16', '3e', ...[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** A DNS-safe hostname from a display name. */
export function hostnameFor(spec: ServerSpec, id: string): string {
  if (spec.hostname) return spec.hostname;
  const h = (spec.name ?? '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return h || `server-${id.slice(0, 8)}`;
}

const STATUS: Record<DomainState, string> = {
  running: 'ACTIVE',
  paused: 'PAUSED',
  shutoff: 'SHUTOFF',
  crashed: 'ERROR',
  other: 'ERROR',
  absent: 'MISSING',
};

/** Servers: a qcow2 overlay, a config drive and a libvirt domain, with addresses from subnet IPAM. */
export function serverService(ctx: AgentContext): ResourceService {
  const dir = (id: string) => paths.instance(ctx, id);

  /**
   * How the domain's definition differs from the server's spec (changed with virsh, say), in words, or
   * undefined. Adopted domains keep their own definition, so they are not compared.
   */
  const definitionDrift = async (rec: ServerRecord): Promise<string | undefined> => {
    if (rec.internal.adopted || rec.status.status === 'BUILD') return undefined;
    let facts: DomainFacts;
    try {
      facts = await ctx.compute.inspectDomain(rec.id);
    } catch (e) {
      if (NotFound.isInstance(e)) return undefined;
      throw e;
    }
    const found: string[] = [];
    if (facts.vcpus !== rec.spec.vcpus) found.push(`vcpus ${facts.vcpus}, want ${rec.spec.vcpus}`);
    if (facts.memoryMiB !== rec.spec.memoryMb)
      found.push(`memory ${facts.memoryMiB} MiB, want ${rec.spec.memoryMb}`);
    const macs = new Set(facts.nics.map((n) => n.mac));
    for (const p of rec.internal.ports) if (!macs.has(p.mac)) found.push(`NIC ${p.mac} is missing`);
    return found.length ? found.join('; ') : undefined;
  };

  const withLive = async (rec: ServerRecord): Promise<ApiRecord> => {
    const state = await ctx.compute.domainState(rec.id);
    const drift = state === 'absent' ? undefined : await definitionDrift(rec);
    const { drift: _old, ...status } = rec.status;
    return publicRecord({
      ...rec,
      status: {
        ...status,
        status: rec.status.status === 'BUILD' ? 'BUILD' : STATUS[state],
        ...(drift ? { drift } : {}),
      },
    });
  };

  /** Finds the subnet each NIC takes its address from. */
  const resolveNic = async (nic: NicSpec, i: number): Promise<SubnetRecord> => {
    const field = ['networks', i];
    if (nic.subnet) {
      const s = await ctx.store.get<SubnetRecord>('subnets', nic.subnet);
      if (!s)
        throw new InvalidReference(`subnet ${nic.subnet} does not exist`, { field: [...field, 'subnet'] });
      if (nic.network && nic.network !== s.spec.network)
        throw new InvalidRequest(`subnet ${nic.subnet} is not on network ${nic.network}`, { field });
      return s;
    }
    const netId = nic.network!;
    if (!(await ctx.store.get('networks', netId)))
      throw new InvalidReference(`network ${netId} does not exist`, { field: [...field, 'network'] });
    const subnets = await subnetsOf(ctx, netId);
    const s = nic.fixedIp ? subnets.find((x) => isInNet(nic.fixedIp!, parseCidr(x.spec.cidr))) : subnets[0];
    if (!s)
      throw new Conflict(
        `network ${netId} has no subnet${nic.fixedIp ? ` containing ${nic.fixedIp}` : ''} to allocate from`,
        { code: 'no_subnet', field: [...field, 'network'] },
      );
    return s;
  };

  /** Allocates (or re-finds) each NIC's address and publishes it to the network's DHCP server. */
  const plugPorts = async (
    id: string,
    spec: ServerSpec,
    hostname: string,
    adopted?: Adopted,
  ): Promise<Port[]> => {
    const ports: Port[] = [];
    for (const [i, nic] of spec.networks.entries()) {
      const s0 = await resolveNic(nic, i);
      const port = await ctx.locks.run(netLock(s0.spec.network), async () => {
        const s = (await ctx.store.get<SubnetRecord>('subnets', s0.id))!;
        const mac = adopted?.macs[i] ?? macFor(id, i);
        const ip = allocate(
          s,
          { owner: `server:${id}:${i}`, mac, hostname },
          nic.fixedIp,
          `networks[${i}].fixedIp`,
        );
        await ctx.store.put('subnets', s);
        const net = (await ctx.store.get<NetworkRecord>('networks', s.spec.network))!;
        await reconcileDhcp(ctx, net);
        return { network: s.spec.network, subnet: s.id, ip, mac, tap: adopted?.taps[i] ?? serverTap(id, i) };
      });
      ports.push(port);
    }
    return ports;
  };

  /** Gives back every address held by the server. */
  const unplugPorts = async (id: string): Promise<void> => {
    const owner = `server:${id}:`;
    for (const s0 of await ctx.store.list<SubnetRecord>('subnets')) {
      if (!Object.values(s0.internal.allocations).some((a) => a.owner.startsWith(owner))) continue;
      await ctx.locks.run(netLock(s0.spec.network), async () => {
        const s = await ctx.store.get<SubnetRecord>('subnets', s0.id);
        if (!s) return;
        for (const [ip, a] of Object.entries(s.internal.allocations))
          if (a.owner.startsWith(owner)) delete s.internal.allocations[ip];
        await ctx.store.put('subnets', s);
        const net = await ctx.store.get<NetworkRecord>('networks', s.spec.network);
        if (net) await reconcileDhcp(ctx, net);
      });
    }
  };

  /** Creates or repairs every host object of a recorded server; the record says what it should be. */
  const realize = async (rec: ServerRecord): Promise<ApiRecord> => {
    const { id, spec } = rec;
    const adopted = rec.internal.adopted;
    const image = await ctx.store.get<ImageRecord>('images', spec.image);
    if (!image) throw new InvalidReference(`image ${spec.image} does not exist`, { field: ['image'] });
    const hostname = hostnameFor(spec, id);
    rec.internal.ports = await plugPorts(id, spec, hostname, adopted);
    await ctx.store.put('servers', rec);

    const d = dir(id);
    await mkdir(paths.instances(ctx), { recursive: true, mode: 0o711 });
    await mkdir(d, { recursive: true, mode: 0o711 });
    const disk = adopted?.disk ?? join(d, 'disk.qcow2');
    const configDrive = join(d, 'config.iso');
    const consoleLog = join(d, 'console.log');
    if (!adopted) {
      await createOverlay(paths.image(ctx, spec.image), image.status.format!, disk);
      await buildConfigDrive(configDrive, await configDriveContent(rec, hostname));
    }
    const bridges = new Map<string, string>();
    for (const p of rec.internal.ports) {
      const net = await ctx.store.get<NetworkRecord>('networks', p.network);
      bridges.set(p.network, net ? bridgeOf(net) : bridgeName(p.network));
    }
    await ctx.compute.ensureDomain({
      serverId: id,
      name: spec.name ?? id,
      vcpus: spec.vcpus,
      memoryMiB: spec.memoryMb,
      virtType: ctx.virtType,
      // The guest profile decides the machine (UEFI Linux guests run on q35).
      osType: 'linux',
      machine: spec.machine,
      firmware: spec.firmware,
      rootDisk: disk,
      configDrive: adopted ? null : configDrive,
      nics: rec.internal.ports.map((p) => ({
        mac: p.mac,
        bridge: bridges.get(p.network)!,
        tap: p.tap,
        model: 'virtio' as const,
      })),
      consoleLog,
      nvram: spec.firmware === 'uefi' ? join(d, 'OVMF_VARS.fd') : undefined,
      adopted: adopted !== undefined,
      // A definition changed outside Stratus is put back, which restarts the domain.
      redefine: (await definitionDrift(rec)) !== undefined,
    });
    rec.status = {
      status: 'ACTIVE',
      accessIpV4: rec.internal.ports[0]?.ip ?? '',
      addresses: rec.internal.ports.map((p) => ({
        network: p.network,
        subnet: p.subnet,
        ip: p.ip,
        mac: p.mac,
      })),
      hypervisor: ctx.virtType,
      domain: adopted?.domainName ?? domainName(id),
      consoleLog,
    };
    rec.updatedAt = new Date().toISOString();
    await ctx.store.put('servers', rec);
    return withLive(rec);
  };

  /** The config drive's documents (OpenStack config-2 layout). */
  const configDriveContent = async (rec: ServerRecord, hostname: string) => {
    const { id, spec } = rec;
    const nics = [];
    for (const p of rec.internal.ports) {
      const s = (await ctx.store.get<SubnetRecord>('subnets', p.subnet))!;
      const n = await ctx.store.get<NetworkRecord>('networks', p.network);
      nics.push({
        mac: p.mac,
        ip: p.ip,
        cidr: s.spec.cidr,
        gateway: s.status.gatewayIp ?? null,
        dnsNameservers: s.spec.dnsNameservers,
        networkId: p.network,
        mtu: n?.spec.mtu ?? 1500,
      });
    }
    return {
      metaData: metaDataJson({
        uuid: id,
        name: spec.name ?? id,
        hostname,
        publicKeys: spec.publicKeys,
        adminPass: spec.adminPass,
      }),
      userData: spec.userData,
      networkData: networkDataJson(nics),
    };
  };

  return {
    async ensure(id, body) {
      const spec = body as ServerSpec;
      return ctx.locks.run(id, async () => {
        let rec = await ctx.store.get<ServerRecord>('servers', id);
        if (rec) specChanges('server', rec.spec, spec);
        if (!(await ctx.store.get<ImageRecord>('images', spec.image)))
          throw new InvalidReference(`image ${spec.image} does not exist`, { field: ['image'] });
        if (!rec) {
          rec = newRecord(id, 'server', spec, { status: 'BUILD' }, { ports: [] });
          // Recorded before any host object exists, so a crash part-way leaves something to clean up by.
          await ctx.store.put('servers', rec);
        }
        rec.spec = spec;
        return realize(rec);
      });
    },
    async import(ref) {
      let facts: DomainFacts;
      try {
        facts = await ctx.compute.inspectDomain(ref);
      } catch (e) {
        if (NotFound.isInstance(e)) throw new NotFound(`libvirt domain ${ref} not found`, { cause: e });
        throw e;
      }
      if (facts.stratusId)
        throw new Conflict(`domain ${ref} is Stratus server ${facts.stratusId}`, { code: 'already_managed' });
      const id = facts.uuid;
      return ctx.locks.run(id, async () => {
        if (await ctx.store.get('servers', id))
          throw new Conflict(`domain ${ref} was imported already as ${id}`, { code: 'already_managed' });
        const root = facts.disks.find((d) => d.device === 'disk' && !d.readonly);
        if (!root) throw new Conflict(`domain ${ref} has no writable disk`, { code: 'not_importable' });
        const backing = (await inspectImage(root.path)).backingFile;
        const image = (await ctx.store.list<ImageRecord>('images')).find(
          (i) => backing && resolve(dirname(root.path), backing) === paths.image(ctx, i.id),
        );
        if (!image)
          throw new Conflict(
            `the root disk ${root.path} of ${ref} is not an overlay of an image this agent holds`,
            {
              code: 'not_importable',
            },
          );
        const networks: NicSpec[] = [];
        for (const nic of facts.nics) {
          const net = (await ctx.store.list<NetworkRecord>('networks')).find(
            (n) => bridgeOf(n) === nic.bridge,
          );
          if (!net)
            throw new Conflict(
              `NIC ${nic.mac} of ${ref} is on ${nic.bridge ?? 'no bridge'}, not a Stratus network`,
              {
                code: 'not_importable',
              },
            );
          networks.push({ network: net.id });
        }
        const spec: ServerSpec = {
          name: facts.name,
          image: image.id,
          vcpus: facts.vcpus,
          memoryMb: facts.memoryMiB,
          firmware: facts.firmware,
          machine: facts.machine,
          networks,
          publicKeys: {},
        };
        const adopted: Adopted = {
          disk: root.path,
          macs: facts.nics.map((n) => n.mac),
          taps: facts.nics.map((n) => n.tap),
          domainName: facts.name,
        };
        const rec: ServerRecord = newRecord(id, 'server', spec, { status: 'BUILD' }, { ports: [], adopted });
        await ctx.store.put('servers', rec);
        return realize(rec);
      });
    },
    async get(id) {
      const rec = await ctx.store.get<ServerRecord>('servers', id);
      return rec ? withLive(rec) : null;
    },
    async list() {
      return Promise.all((await ctx.store.list<ServerRecord>('servers')).map(withLive));
    },
    async delete(id) {
      await ctx.locks.run(id, async () => {
        const rec = await ctx.store.get<ServerRecord>('servers', id);
        await ctx.compute.deleteDomain(id);
        // An adopted domain's disk lives where its maker put it; it goes with the server.
        if (rec?.internal.adopted) await rm(rec.internal.adopted.disk, { force: true });
        await unplugPorts(id);
        await rm(dir(id), { recursive: true, force: true });
        await ctx.store.delete('servers', id);
      });
    },
  };
}
