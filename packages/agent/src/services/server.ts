import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type ApiRecord,
  answerFileSecretsProblem,
  type InputsOf,
  injectedPathProblem,
  isInNet,
  membersPerHost,
  parseCidr,
  resolveWait,
  type server,
} from '@stratus/model';
import type { DomainFacts, DomainState } from '../compute/types.js';
import { buildConfigDrive } from '../configdrive/index.js';
import { Conflict, InvalidReference, InvalidRequest, NotFound, WaitTimeout } from '../errors.js';
import { logger } from '../host/log.js';
import { domainName, serverTap } from '../host/names.js';
import { type ConsoleAt, pressBootPrompt, pressesBootPrompt, pressWindow } from '../unattend/boot-prompt.js';
import { fileSize, installCompleteSeen, writeAnswerMedium } from '../unattend/medium.js';
import { assertReference, type EnsureOptions, ServiceBase } from './base.js';
import { bootVolumeImage, serversBootingFrom } from './boot.js';
import { type AgentContext, paths } from './context.js';
import { type FirewallState, type Firewalls, groupsOf } from './firewall.js';
import type { FlavorRecord } from './flavor.js';
import { hardwareOf } from './hardware.js';
import { hostnameFor, instanceDocuments } from './instance-metadata.js';
import { driverOf, reconcileDhcp, segmentOf, subnetsOf } from './network.js';
import { netLock, type PortService } from './port.js';
import { bindPort, unbindPort } from './port-resource.js';
import type {
  Adopted,
  ImageRecord,
  NetworkRecord,
  PortRecord,
  ServerRecord,
  SubnetRecord,
  VolumeAttachmentRecord,
  VolumeRecord,
} from './records.js';
import { assertGroup } from './security-group.js';
import type { ServerGroupRecord } from './server-group.js';
import { attachmentsOf } from './volume.js';
import { attachedDisks, volumeAttachLock } from './volume-attachment.js';

const log = logger('server');

/** How long a shutoff (and a resize) waits for the guest's clean shutdown before a hard stop: Nova's 60 s. */
const STOP_TIMEOUT_MS = 60_000;

type ServerSpec = InputsOf<typeof server>;
type NicSpec = ServerSpec['networks'][number];
type ServerStatus = ServerRecord['status'];
type ServerInternal = ServerRecord['internal'];

export { hostnameFor } from './instance-metadata.js';

const STATUS: Record<DomainState, string> = {
  running: 'ACTIVE',
  paused: 'PAUSED',
  shutoff: 'SHUTOFF',
  crashed: 'ERROR',
  other: 'ERROR',
  absent: 'MISSING',
};

/**
 * Servers: a disk overlay (storage driver), a config drive and a domain (compute driver), with one port
 * per NIC from the port service. A create that fails gives back everything it took.
 */
export class ServerService extends ServiceBase<ServerSpec, ServerStatus, ServerInternal> {
  constructor(
    ctx: AgentContext,
    private readonly ports: PortService,
    private readonly firewalls: Firewalls,
  ) {
    super(ctx, 'server');
  }

  protected override async check(_id: string, spec: ServerSpec): Promise<void> {
    const image = spec.image ? await assertReference(this.ctx, 'images', spec.image, ['image']) : undefined;
    const media = spec.installMedia
      ? await assertReference(this.ctx, 'images', spec.installMedia, ['installMedia'])
      : undefined;
    const volume = spec.bootVolume
      ? ((await assertReference(this.ctx, 'volumes', spec.bootVolume, ['bootVolume'])) as VolumeRecord)
      : undefined;
    // Injected files at drive paths need a Windows guest (the plan checks this where it knows the image).
    const boots =
      ((image ?? media) as ImageRecord | undefined) ?? (volume && (await bootVolumeImage(this.ctx, volume)));
    if ((boots || volume) && spec.personality) {
      const osType = hardwareOf(spec, boots ?? null).osType;
      for (const path of Object.keys(spec.personality)) {
        const p = injectedPathProblem(path, osType, `osType ${osType} from the server or its image`);
        if (p)
          throw new InvalidRequest(`personality path ${JSON.stringify(path)} ${p}`, {
            field: ['personality', path],
          });
      }
    }
    if (spec.driverMedia) await assertReference(this.ctx, 'images', spec.driverMedia, ['driverMedia']);
    if (spec.keyPair) await assertReference(this.ctx, 'keypairs', spec.keyPair, ['keyPair']);
    if (spec.flavor) await assertReference(this.ctx, 'flavors', spec.flavor, ['flavor']);
    if (spec.serverGroup) await assertReference(this.ctx, 'server_groups', spec.serverGroup, ['serverGroup']);
    for (const [i, g] of (spec.securityGroups ?? []).entries())
      await assertGroup(this.ctx, g, ['securityGroups', i]);
  }

  /**
   * The server's size: its flavor's (vCPUs, memory, root disk in GiB, 0 for the image's size), or its own
   * vcpus and memoryMb (the model fills their defaults when there is no flavor).
   */
  private async sizeOf(spec: ServerSpec): Promise<{ vcpus: number; memoryMb: number; diskGb: number }> {
    if (!spec.flavor) return { vcpus: spec.vcpus!, memoryMb: spec.memoryMb!, diskGb: 0 };
    const f = (await assertReference(this.ctx, 'flavors', spec.flavor, ['flavor'])) as FlavorRecord;
    return { vcpus: f.spec.vcpus, memoryMb: f.spec.ramMb, diskGb: f.spec.diskGb };
  }

  protected async realize(id: string, spec: ServerSpec, prior: ServerRecord | null): Promise<ServerRecord> {
    // A record still in BUILD never finished its create (the agent stopped part-way): still a create.
    const creating = !prior || prior.status.status === 'BUILD';
    const rec = prior ?? this.newRecord(id, spec, { status: 'BUILD' }, {});
    rec.spec = spec;
    // Recorded before any host object exists, so a crash part-way leaves something to clean up by; a
    // new member of a server group is placed (and recorded) under the group's lock.
    if (!prior && spec.serverGroup) await this.placeInGroup(rec, spec.serverGroup);
    else await this.save(rec);
    try {
      return await this.build(rec, creating);
    } catch (e) {
      if (creating) await this.rollback(rec, e);
      throw e;
    }
  }

  /**
   * Places a new server in its server group on this host, as Nova's scheduler filters do
   * (ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter), then records it. This agent is the
   * server's only candidate host: `affinity` always holds; `anti-affinity` admits at most the group's
   * members per host (model `membersPerHost`), and a server beyond them fails with Nova's "No valid
   * host was found" (code `no_valid_host`), before anything is made; the soft policies are preferences
   * and never fail. Runs under the group's lock, so members booting at once are counted one by one.
   */
  private async placeInGroup(rec: ServerRecord, groupId: string): Promise<void> {
    await this.locked(`server_group:${groupId}`, async () => {
      const group = (await assertReference(this.ctx, 'server_groups', groupId, [
        'serverGroup',
      ])) as ServerGroupRecord;
      const limit = membersPerHost(group.spec.policy, group.spec.rules);
      if (limit !== undefined) {
        const members = (await this.ctx.store.list<ServerRecord>('servers'))
          .filter((s) => s.spec.serverGroup === groupId && s.id !== rec.id)
          .map((s) => s.id)
          .sort();
        if (members.length >= limit)
          throw new Conflict(
            `No valid host was found: server group ${groupId} (${group.spec.policy}, at most ${limit} member${limit === 1 ? '' : 's'} per host) already has ${members.join(', ')} on this host, the only one this server can be placed on`,
            { code: 'no_valid_host', field: ['serverGroup'] },
          );
      }
      await this.save(rec);
    });
  }

  protected async remove(id: string, rec: ServerRecord | null): Promise<void> {
    this.installWatches.get(id)?.abort();
    this.promptPresses.get(id)?.abort();
    await this.ctx.compute.deleteDomain(id);
    // Its volumes outlive it (Nova detaches them when it deletes an instance): only the attachments go.
    // A boot volume is a file of the storage pool, not of the instance directory removed below: it stays,
    // with its data (Nova's delete_on_termination false for an existing volume).
    for (const a of await this.ctx.store.list<VolumeAttachmentRecord>('volume_attachments'))
      if (a.spec.server === id) await this.ctx.store.delete('volume_attachments', a.id);
    // An adopted domain's disk lives where its maker put it; it goes with the server.
    if (rec?.internal.adopted) await this.ctx.storage.delete(rec.internal.adopted.disk);
    await this.releasePorts(id);
    await rm(paths.instance(this.ctx, id), { recursive: true, force: true });
  }

  protected override live(rec: ServerRecord): Promise<ServerStatus> {
    // After an agent restart, a refresh picks up the watch of an install still running.
    if (rec.internal.install?.state === 'installing') this.watchInstall(rec.id);
    return this.liveWith(rec, (id) => this.ports.ofDevice(id));
  }

  /**
   * The status a create or update answers with: the domain's state and the guest's lease as {@link live}
   * reads them, without the drift inspection (domain definition, NIC plugs, firewalls) that the build
   * has just made true; that inspection (a domain XML read and parse, the host's whole nftables ruleset)
   * was the longest part of a create's reply on a loaded host. A refresh reads the drift.
   */
  protected override converged(rec: ServerRecord): Promise<ServerStatus> {
    return this.liveWith(rec, (id) => this.ports.ofDevice(id), undefined, false);
  }

  /**
   * The statuses of several servers, reading the port records once for all of them and the host's
   * firewalls once for all their ports (a refresh reads a stack's servers in one call).
   */
  protected override async liveMany(recs: readonly ServerRecord[]): Promise<ServerStatus[]> {
    if (recs.length < 2) return Promise.all(recs.map((r) => this.live(r)));
    const byDevice = new Map<string, PortRecord[]>();
    for (const p of await this.ports.list())
      byDevice.set(p.spec.deviceId, [...(byDevice.get(p.spec.deviceId) ?? []), p]);
    const portsOf = async (id: string) =>
      (byDevice.get(id) ?? []).sort((a, b) => a.spec.index - b.spec.index);
    const guarded = recs.filter((r) => r.status.status !== 'BUILD').flatMap((r) => byDevice.get(r.id) ?? []);
    const states = this.firewalls.states(guarded);
    // Settled here too: when no server needs it, nobody else awaits it.
    states.catch(() => undefined);
    return Promise.all(recs.map((r) => this.liveWith(r, portsOf, () => states)));
  }

  /**
   * {@link live} with the server's ports from `portsOf` (its NICs in order) and, when given, the
   * firewall states of many servers' ports read at once. The domain's definition, its NICs' plugs and
   * firewalls are inspected at the same time (unless `inspectDrift` is false: see {@link converged}).
   */
  private async liveWith(
    rec: ServerRecord,
    portsOf: (id: string) => Promise<PortRecord[]>,
    firewallStates?: () => Promise<Map<string, FirewallState>>,
    inspectDrift = true,
  ): Promise<ServerStatus> {
    const [state, ports] = await Promise.all([this.ctx.compute.domainState(rec.id), portsOf(rec.id)]);
    const drift = !inspectDrift
      ? undefined
      : (
          await Promise.all([
            state === 'absent' ? undefined : this.definitionDrift(rec, ports),
            state === 'absent' ? undefined : this.plugDrift(rec, ports),
            this.firewallDrift(rec, ports, firewallStates),
          ])
        )
          .filter(Boolean)
          .join('; ') || undefined;
    const { drift: _old, guestStatus: _g, leaseAt: _l, ...status } = rec.status;
    const building = rec.status.status === 'BUILD';
    return {
      ...status,
      status: building ? 'BUILD' : STATUS[state],
      ...(building ? {} : await this.guest(rec, state, ports)),
      ...(drift ? { drift } : {}),
    };
  }

  /**
   * What the agent saw of the guest, from its first NIC's DHCP lease (read from dnsmasq's lease file, so
   * it shows as soon as the guest takes its address): LEASED with the lease's time, BOOTING while the
   * domain runs without a lease since it started, DOWN when it does not run.
   */
  private async guest(
    rec: ServerRecord,
    state: DomainState,
    ports: PortRecord[],
  ): Promise<Pick<ServerStatus, 'guestStatus' | 'leaseAt'>> {
    if (state !== 'running') return { guestStatus: 'DOWN' };
    const nic = this.firstNicOf(rec, ports);
    if (!nic) return { guestStatus: 'BOOTING' };
    const found = await this.ctx.dhcp.lease(nic.network, nic.query);
    if (!found) return { guestStatus: 'BOOTING' };
    return {
      guestStatus: 'LEASED',
      ...(found.grantedAt !== null ? { leaseAt: new Date(found.grantedAt).toISOString() } : {}),
    };
  }

  /** The first NIC's network and what its lease must be (its MAC and address, since the domain started). */
  private async firstNic(rec: ServerRecord) {
    return this.firstNicOf(rec, await this.ports.ofDevice(rec.id));
  }

  private firstNicOf(rec: ServerRecord, ports: PortRecord[]) {
    const p = ports[0];
    if (!p) return undefined;
    const since = rec.internal.startedAt;
    return {
      network: p.spec.network,
      query: { mac: p.status.mac, ip: p.status.ip, ...(since !== undefined ? { sinceMs: since } : {}) },
    };
  }

  /**
   * Creates or updates the server, then waits for what its `wait` asks (the guest's DHCP lease, then a
   * TCP port), outside the server's lock, bounded by `wait.timeout` and ended early when the caller goes.
   * A wait that times out throws {@link WaitTimeout}; the server stays as made (ACTIVE), so the same
   * request later just waits again.
   */
  override async ensure(id: string, body: Record<string, unknown>, opts: EnsureOptions = {}) {
    const before = await this.record(id);
    const priorWait = before && before.status.status !== 'BUILD' ? before.spec.wait : undefined;
    const view = await super.ensure(id, body, opts);
    const wait = resolveWait((body as ServerSpec).wait);
    if (wait.for.kind === 'none') return view;
    try {
      return await this.waitForGuest(id, body as ServerSpec, wait, view, opts.signal);
    } catch (e) {
      // The record says what was achieved: the wait asked for was not, so it keeps the one before and a
      // refresh shows the difference; the next apply then asks (and waits) again.
      await this.locked(this.lockKey(id), async () => {
        const rec = await this.record(id);
        if (!rec) return;
        if (priorWait === undefined) delete rec.spec.wait;
        else rec.spec.wait = priorWait;
        await this.save(rec);
      });
      throw e;
    }
  }

  private async waitForGuest(
    id: string,
    spec: ServerSpec,
    wait: ReturnType<typeof resolveWait>,
    view: ApiRecord,
    callerSignal: AbortSignal | undefined,
  ): Promise<ApiRecord> {
    const opts = { signal: callerSignal };
    const body = spec;
    const rec = await this.record(id);
    const nic = rec && (await this.firstNic(rec));
    if (!rec || !nic) return view;
    const timeout = AbortSignal.timeout(wait.timeoutMs);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    const name = rec.spec.name ?? id;
    const timeText = body.wait?.timeout ?? `${wait.timeoutMs / 1000}s`;
    const timedOut = (what: string) =>
      new WaitTimeout(
        `server ${name} (${id}) is ACTIVE, but ${what} within ${timeText}; its console log is ` +
          `${rec.status.consoleLog ?? 'not known'}. The next apply waits again`,
        { field: ['wait'] },
      );
    try {
      await this.ctx.dhcp.waitForLease(nic.network, nic.query, signal);
    } catch (e) {
      if (timeout.aborted)
        throw timedOut(`its guest took no DHCP lease for ${nic.query.ip} (MAC ${nic.query.mac})`);
      throw e;
    }
    if (wait.for.kind === 'tcp') {
      try {
        await this.ctx.dhcp.waitForTcp(nic.network, nic.query.ip, wait.for.port, signal);
      } catch (e) {
        if (timeout.aborted)
          throw timedOut(
            `its guest took its DHCP lease and nothing accepted TCP connections on ${nic.query.ip}:${wait.for.port}`,
          );
        throw e;
      }
    }
    log.info('server guest is ready', { id, waitedFor: body.wait?.for });
    return (await this.get(id)) ?? view;
  }

  /**
   * Undoes a failed create: the domain, disk and config drive, every port (address and MAC) it was given,
   * and the record, so that one bad server never blocks another. An adopted domain and its disk stay.
   */
  private async rollback(rec: ServerRecord, cause: unknown): Promise<void> {
    log.warn('server create failed; rolling back', { id: rec.id, error: (cause as Error).message });
    try {
      if (rec.internal.adopted) await this.releasePorts(rec.id);
      else await this.remove(rec.id, rec);
      await this.ctx.store.delete(this.collection, rec.id);
    } catch (e) {
      // The record stays, so a later delete finishes the job.
      log.error('rollback of a failed server create failed', { id: rec.id, error: (e as Error).message });
    }
  }

  /**
   * The volume server `id` boots from, checked as Nova and Cinder check a boot volume when it is
   * attached: it exists and is made (not `creating`), and unless it has multiattach no other server boots
   * from it or has it attached (code `volume_attached`, at `bootVolume`). Decided under the volume's
   * attach lock, so a boot and an attachment of one volume are decided one after the other; a server
   * already built (an update, a repair) keeps its volume without the check.
   */
  private async claimBootVolume(id: string, volumeId: string, creating: boolean): Promise<VolumeRecord> {
    return this.locked(volumeAttachLock(volumeId), async () => {
      const vol = (await assertReference(this.ctx, 'volumes', volumeId, ['bootVolume'])) as VolumeRecord;
      if (vol.status.status === 'creating')
        throw new Conflict(`volume ${volumeId} is still being created`, {
          code: 'volume_not_ready',
          field: ['bootVolume'],
        });
      if (!creating || vol.spec.multiattach) return vol;
      const others = [
        ...(await serversBootingFrom(this.ctx, volumeId)).filter((s) => s.id !== id).map((s) => s.id),
        ...(await attachmentsOf(this.ctx, volumeId)).map((a) => a.spec.server),
      ];
      if (others.length)
        throw new Conflict(
          `volume ${volumeId} is in use by server ${others[0]} already and has no multiattach: a server boots from a volume no other server uses, unless it sets multiattach: true`,
          { code: 'volume_attached', field: ['bootVolume'] },
        );
      return vol;
    });
  }

  /**
   * How the domain's definition differs from the server's spec (changed with virsh, say), in words, or
   * undefined. Adopted domains keep their own definition, so they are not compared.
   */
  private async definitionDrift(rec: ServerRecord, ports?: PortRecord[]): Promise<string | undefined> {
    if (rec.internal.adopted || rec.status.status === 'BUILD') return undefined;
    let facts: DomainFacts;
    try {
      facts = await this.ctx.compute.inspectDomain(rec.id);
    } catch (e) {
      if (NotFound.isInstance(e)) return undefined;
      throw e;
    }
    const found: string[] = [];
    const size = await this.sizeOf(rec.spec);
    if (facts.vcpus !== size.vcpus) found.push(`vcpus ${facts.vcpus}, want ${size.vcpus}`);
    if (facts.memoryMiB !== size.memoryMb) found.push(`memory ${facts.memoryMiB} MiB, want ${size.memoryMb}`);
    const macs = new Set(facts.nics.map((n) => n.mac));
    for (const p of ports ?? (await this.ports.ofDevice(rec.id)))
      if (!macs.has(p.status.mac)) found.push(`NIC ${p.status.mac} is missing`);
    return found.length ? found.join('; ') : undefined;
  }

  /**
   * Which NICs' taps exist but are not plugged into their network's segment (an OVS port deleted, a
   * bridge port released outside Stratus), in words, or undefined: drift that an apply repairs by
   * plugging them back (see {@link replugNics}) without touching the domain.
   */
  private async plugDrift(rec: ServerRecord, ports: PortRecord[]): Promise<string | undefined> {
    if (rec.status.status === 'BUILD') return undefined;
    const found: string[] = [];
    for (const p of ports) {
      const net = p.spec.tap && (await this.ctx.store.get<NetworkRecord>('networks', p.spec.network));
      if (!net) continue;
      const seg = segmentOf(net);
      const driver = driverOf(this.ctx, net);
      // A missing segment is the network's drift; the network's repair plugs its taps back.
      if (!(await driver.inspectSegment(seg)).exists) continue;
      if ((await driver.nicPlugged(seg, p.spec.tap!)) === false)
        found.push(`NIC ${p.status.mac} (${p.spec.tap}) is not plugged into ${driver.segmentName(seg)}`);
    }
    return found.length ? found.join('; ') : undefined;
  }

  /** Plugs the server's existing taps that are not in their segment back in (a running guest's). */
  private async replugNics(ports: PortRecord[]): Promise<void> {
    for (const p of ports) {
      const net = p.spec.tap && (await this.ctx.store.get<NetworkRecord>('networks', p.spec.network));
      if (!net) continue;
      const seg = segmentOf(net);
      const driver = driverOf(this.ctx, net);
      if ((await driver.nicPlugged(seg, p.spec.tap!)) === false) {
        log.info('plugging NIC back into its segment', { port: p.id, tap: p.spec.tap });
        await driver.plugNic(seg, p.spec.tap!);
      }
    }
  }

  /**
   * Which NICs' firewalls were deleted or flushed outside Stratus, in words, or undefined: drift that an
   * apply repairs (it reloads them) without touching the domain.
   */
  private async firewallDrift(
    rec: ServerRecord,
    ports: PortRecord[],
    shared?: () => Promise<Map<string, FirewallState>>,
  ): Promise<string | undefined> {
    if (rec.status.status === 'BUILD') return undefined;
    const states = shared ? await shared() : await this.firewalls.states(ports);
    const found = ports.flatMap((p) => {
      const st = states.get(p.id) ?? '';
      return st.startsWith('missing') ? [`the firewall of NIC ${p.status.mac} is ${st}`] : [];
    });
    return found.length ? found.join('; ') : undefined;
  }

  /** Finds the subnet each NIC takes its address from. */
  private async resolveNic(nic: NicSpec, i: number): Promise<SubnetRecord> {
    const field = ['networks', i];
    if (nic.subnet) {
      const s = (await assertReference(this.ctx, 'subnets', nic.subnet, [
        ...field,
        'subnet',
      ])) as SubnetRecord;
      if (nic.network && nic.network !== s.spec.network)
        throw new InvalidRequest(`subnet ${nic.subnet} is not on network ${nic.network}`, { field });
      return s;
    }
    const netId = nic.network!;
    await assertReference(this.ctx, 'networks', netId, [...field, 'network']);
    const subnets = await subnetsOf(this.ctx, netId);
    const s = nic.fixedIp ? subnets.find((x) => isInNet(nic.fixedIp!, parseCidr(x.spec.cidr))) : subnets[0];
    if (!s)
      throw new Conflict(
        `network ${netId} has no subnet${nic.fixedIp ? ` containing ${nic.fixedIp}` : ''} to allocate from`,
        { code: 'no_subnet', field: [...field, 'network'] },
      );
    return s;
  }

  /**
   * Asks the port service for (or re-finds) each NIC's port: records only, no host command. The network's
   * lock is held for the allocation alone, so creates on one network allocate one after the other but do
   * their DHCP and host work in parallel. {@link publishPorts} puts the ports on their DHCP servers.
   */
  private async allocatePorts(rec: ServerRecord, hostname: string): Promise<PortRecord[]> {
    const { id, spec } = rec;
    const adopted = rec.internal.adopted;
    const out: PortRecord[] = [];
    for (const [i, nic] of spec.networks.entries()) {
      if (nic.port) {
        const ref = nic.port;
        const resource = await this.ports.get(ref);
        if (!resource || resource.spec.portResource !== ref)
          throw new InvalidReference(`port ${ref} does not exist`, { field: ['networks', i, 'port'] });
        const bound = await this.locked(netLock(resource.spec.network), () =>
          bindPort(
            this.ports,
            ref,
            { serverId: id, index: i, hostname, tap: adopted?.taps[i] ?? serverTap(id, i) },
            ['networks', i, 'port'],
          ),
        );
        out.push(bound);
        continue;
      }
      const s0 = await this.resolveNic(nic, i);
      const port = await this.locked(netLock(s0.spec.network), async () => {
        const subnet = await this.ctx.store.get<SubnetRecord>('subnets', s0.id);
        if (!subnet) throw new InvalidReference(`subnet ${s0.id} does not exist`, { field: ['networks', i] });
        return this.ports.allocate(
          {
            deviceOwner: 'compute',
            deviceId: id,
            index: i,
            subnet,
            hostname,
            tap: adopted?.taps[i] ?? serverTap(id, i),
            ...(nic.fixedIp ? { fixedIp: nic.fixedIp } : {}),
            ...(adopted?.macs[i] ? { mac: adopted.macs[i] } : {}),
            ...(spec.securityGroups ? { securityGroups: spec.securityGroups } : {}),
          },
          nic.fixedIp ? ['networks', i, 'fixedIp'] : ['networks', i],
        );
      });
      out.push(port);
    }
    return out;
  }

  /** Publishes the ports to their networks' DHCP servers (hosts file and SIGHUP; stale leases released). */
  private async publishPorts(ports: PortRecord[]): Promise<void> {
    const networks = new Set(ports.map((p) => p.spec.network));
    await Promise.all([...networks].map((n) => reconcileDhcp(this.ctx, this.ports, n, 'hosts')));
  }

  /**
   * Gives back every port of the server (a `port` resource it used is only unbound: it keeps its
   * address), takes their leases off the DHCP servers and removes their firewalls.
   */
  private async releasePorts(id: string): Promise<void> {
    const byNetwork = new Map<string, PortRecord[]>();
    const all = await this.ports.ofDevice(id);
    for (const p of all) byNetwork.set(p.spec.network, [...(byNetwork.get(p.spec.network) ?? []), p]);
    await Promise.all(
      [...byNetwork].map(async ([networkId, ports]) => {
        await this.locked(netLock(networkId), async () => {
          for (const p of ports) {
            if (p.spec.portResource === p.id) await unbindPort(this.ports, p);
            else await this.ports.release(p.id);
          }
        });
        await reconcileDhcp(this.ctx, this.ports, networkId, 'hosts');
      }),
    );
    await this.firewalls.removePorts(
      all,
      all.flatMap((p) => groupsOf(p)),
    );
  }

  /** Creates or repairs every host object of a recorded server; the record says what it should be. */
  private async build(rec: ServerRecord, creating = false): Promise<ServerRecord> {
    const { id, spec } = rec;
    const adopted = rec.internal.adopted;
    // A server booting from a volume has the volume as its root disk, and the volume's source image
    // (if any) where others have their image; one installing from an ISO has the installer there.
    const bootVolume = spec.bootVolume
      ? await this.claimBootVolume(id, spec.bootVolume, creating)
      : undefined;
    const imageId = bootVolume ? undefined : (spec.image ?? spec.installMedia!);
    const imageField = spec.image ? 'image' : 'installMedia';
    const image = bootVolume
      ? await bootVolumeImage(this.ctx, bootVolume)
      : await this.ctx.store.get<ImageRecord>('images', imageId!);
    if (!image && !bootVolume)
      throw new InvalidReference(`image ${imageId} does not exist`, { field: [imageField] });
    const hostname = hostnameFor(spec, id, hardwareOf(spec, image).osType);
    // The groups the NICs were in before this change (an update may change them): they lose members.
    const formerGroups = (await this.ports.ofDevice(id)).flatMap((p) => groupsOf(p));
    const d = paths.instance(this.ctx, id);
    await mkdir(paths.instances(this.ctx), { recursive: true, mode: 0o711 });
    await mkdir(d, { recursive: true, mode: 0o711 });
    const disk =
      adopted?.disk ?? (bootVolume ? paths.volume(this.ctx, bootVolume.id) : join(d, 'disk.qcow2'));
    const configDrive = join(d, 'config.iso');
    // Records from before `configDrive` existed had a drive.
    const withDrive = spec.configDrive !== false;
    const consoleLog = join(d, 'console.log');
    const size = await this.sizeOf(spec);
    // The root disk is grown to the flavor's size, as Nova does; a flavor disk smaller than the image is
    // refused. A boot volume keeps its own size: Nova ignores the flavor's root_gb for a volume-backed
    // server (its image's minDiskGb was the volume's to meet when it was made).
    const iso = !bootVolume && image!.status.format === 'iso';
    const minDiskGb = bootVolume ? 0 : (image!.spec.minDiskGb ?? 0);
    const diskBytes = bootVolume ? 0 : (size.diskGb || (iso ? minDiskGb : 0)) * 1024 ** 3;
    if (!adopted && !iso && diskBytes > 0 && diskBytes < (image!.status.virtualSize ?? 0))
      throw new InvalidRequest(
        `the flavor's disk (${size.diskGb} GiB) is smaller than the image (${image!.status.virtualSize} bytes)`,
        { field: ['flavor'] },
      );
    // Glance's min_disk and min_ram, as Nova checks them (FlavorDiskSmallerThanMinDisk, FlavorMemoryTooSmall).
    if (!adopted && size.diskGb > 0 && size.diskGb < minDiskGb)
      throw new InvalidRequest(
        `the flavor's disk (${size.diskGb} GiB) is smaller than the image's minDiskGb ${minDiskGb}`,
        {
          field: ['flavor'],
        },
      );
    if (!adopted && image?.spec.minRamMb !== undefined && size.memoryMb < image.spec.minRamMb)
      throw new InvalidRequest(
        `the server's memory (${size.memoryMb} MiB) is less than the ${bootVolume ? "boot volume's source image's" : "image's"} minRamMb ${image.spec.minRamMb}`,
        { field: [spec.flavor ? 'flavor' : 'memoryMb'] },
      );
    // Four host jobs run at once, and the domain is defined when all have settled: the overlay (it needs
    // nothing of the ports); the ports' DHCP publication; the config drive, which carries the ports'
    // addresses (allocated first: records only, milliseconds); and each NIC's firewall, so every NIC is
    // guarded before the guest can send a frame. Phase lines (debug) time a create from the agent's log:
    // bench/apply.ts reads them. A boot volume is the root disk itself: no overlay.
    const phase = <T>(name: string, p: Promise<T>): Promise<T> =>
      p.then((v) => {
        log.debug('server phase done', { id, phase: name });
        return v;
      });
    const overlay =
      adopted || bootVolume
        ? Promise.resolve()
        : phase(
            'overlay',
            this.ctx.storage.createOverlay({
              imageId: imageId!,
              format: image!.status.format!,
              path: disk,
              ...(diskBytes > 0 ? { virtualSize: diskBytes } : {}),
            }),
          );
    const allocated = this.allocatePorts(rec, hostname);
    const published = phase(
      'ports',
      allocated.then((ports) => this.publishPorts(ports)),
    );
    // Without a drive the guest reads the same documents from the metadata service.
    const drive =
      adopted || !withDrive
        ? allocated
        : phase(
            'config drive',
            allocated.then(async (ports) =>
              buildConfigDrive(configDrive, await instanceDocuments(this.ctx, rec, ports, hostname)),
            ),
          );
    const guarded = phase(
      'firewall',
      allocated.then(async (ports) => {
        // A running guest's tap unplugged outside Stratus goes back in before its firewall is synced (an
        // OVS port comes back with a new OpenFlow port number).
        await this.replugNics(ports);
        await this.firewalls.syncPorts(
          ports.map((p) => p.id),
          formerGroups,
        );
      }),
    );
    // All settle before anything is undone: a rollback never races a qemu-img still writing.
    const settled = await Promise.allSettled([overlay, allocated, published, drive, guarded]);
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
    const ports = await allocated;
    const nics = [];
    for (const p of ports) {
      const net = (await this.ctx.store.get<NetworkRecord>('networks', p.spec.network))!;
      nics.push({ mac: p.status.mac, tap: p.spec.tap!, ...driverOf(this.ctx, net).bindNic(segmentOf(net)) });
    }
    const powerState = spec.powerState ?? 'running';
    // A new size (flavor change) is a cold resize in place, as Nova's resize to the same host: a clean
    // shutdown, the root disk grown (never shrunk), the domain redefined with the new size under the
    // same UUID, and booted again (unless it is to stay off).
    const resizing = !creating && !adopted && (await this.needsResize(rec, disk, size, diskBytes));
    if (resizing) {
      const how = await this.ctx.compute.stopDomain(id, STOP_TIMEOUT_MS);
      log.info('server resizing', {
        id,
        vcpus: size.vcpus,
        memoryMb: size.memoryMb,
        diskGb: size.diskGb,
        stop: how,
      });
      const current = (await this.ctx.storage.inspect(disk)).virtualSize;
      if (diskBytes > current) await this.ctx.storage.growDisk(disk, diskBytes);
    }
    const hw = hardwareOf(spec, image);
    const install = adopted ? undefined : await this.installStep(rec, hw.firmware, consoleLog);
    // Read before the start: whether Setup wrote the disk decides the boot prompt (see boot-prompt.ts).
    const diskHasData =
      install?.installing && hw.firmware === 'uefi' ? await this.ctx.storage.hasData(disk) : true;
    // Where this start's console output begins (the firmware's boot line is looked for after it).
    const consoleOffset = await fileSize(consoleLog);
    const starting = Date.now();
    const { action } = await this.ctx.compute.ensureDomain({
      serverId: id,
      name: spec.name ?? id,
      vcpus: size.vcpus,
      memoryMiB: size.memoryMb,
      virtType: this.ctx.virtType,
      ...hw,
      rootDisk: disk,
      configDrive: adopted || !withDrive ? null : configDrive,
      nics,
      consoleLog,
      // An install's media are attached until setup has signalled its end.
      ...(iso && (!install || install.installing) ? { cdrom: this.ctx.storage.imagePath(image!.id) } : {}),
      ...(install?.installing ? { extraCdroms: install.extraCdroms } : {}),
      vnc: !adopted,
      adopted: adopted !== undefined,
      // A definition changed outside Stratus is put back, which restarts the domain.
      redefine: !resizing && (await this.definitionDrift(rec)) !== undefined,
      powerState,
      stopTimeoutMs: STOP_TIMEOUT_MS,
      volumes: await attachedDisks(this.ctx, id),
    });
    if (action === 'stopped') log.info('server shut off', { id });
    // A new boot ends the presses of the one before (they belong to its prompt), then maybe starts its own.
    if (action === 'created' || action === 'started') this.promptPresses.get(id)?.abort();
    if (
      pressesBootPrompt({
        installing: install?.installing ?? false,
        firmware: hw.firmware,
        action,
        diskHasData,
      })
    )
      this.pressBootPrompt(id, { path: consoleLog, offset: consoleOffset }, disk);
    // A (re)started guest boots again and takes its lease anew; a lease from before belongs to the last boot.
    if (action === 'created' || action === 'started') rec.internal.startedAt = starting;
    rec.status = {
      // The size as realized (from the flavor when it has one): computed inputs the plan showed as unknown.
      vcpus: size.vcpus,
      memoryMb: size.memoryMb,
      // The hardware as chosen from the server's fields, its image's properties and the guest profile.
      osType: hw.osType,
      firmware: hw.firmware,
      machine: hw.machine,
      secureBoot: hw.secureBoot,
      tpm: hw.tpm,
      status: powerState === 'shutoff' ? 'SHUTOFF' : powerState === 'paused' ? 'PAUSED' : 'ACTIVE',
      accessIpV4: ports[0]?.status.ip ?? '',
      addresses: ports.map((p) => ({
        network: p.spec.network,
        subnet: p.spec.subnet,
        ip: p.status.ip,
        mac: p.status.mac,
      })),
      hypervisor: this.ctx.virtType,
      domain: adopted?.domainName ?? domainName(id),
      consoleLog,
      ...(install ? { installStatus: install.installing ? 'INSTALLING' : 'INSTALLED' } : {}),
    };
    await this.save(rec);
    if (install?.installing) this.watchInstall(id);
    return rec;
  }

  /** Key presses through an install boot's prompt running, by server id. */
  private readonly promptPresses = new Map<string, AbortController>();

  /** Presses through the install media's boot prompt in the background (see boot-prompt.ts). */
  private pressBootPrompt(id: string, serial: ConsoleAt, disk: string): void {
    this.promptPresses.get(id)?.abort();
    const ctl = new AbortController();
    this.promptPresses.set(id, ctl);
    log.info('server install boot: pressing through the boot prompt', { id });
    void pressBootPrompt(
      this.ctx.compute,
      id,
      serial,
      pressWindow(this.ctx.virtType),
      () => this.ctx.storage.hasData(disk),
      ctl.signal,
    ).finally(() => {
      if (this.promptPresses.get(id) === ctl) this.promptPresses.delete(id);
    });
  }

  /** Install watches running, by server id. */
  private readonly installWatches = new Map<string, AbortController>();

  /**
   * The install step of a build, for a server with installMedia: checks the media are ISO images, and
   * while setup has not signalled its end, writes the answer medium and answers the CD-ROMs to attach
   * after the installer (driver media, answer medium). Once the console log has the guest's
   * end-of-setup line (after where it ended when the install began), the install is over for good: the
   * guest is stopped if it still runs (it powers itself off after the line), the answer medium removed,
   * and the domain is redefined without the media, booting from its disk.
   */
  private async installStep(
    rec: ServerRecord,
    firmware: 'bios' | 'uefi',
    consoleLog: string,
  ): Promise<{ installing: boolean; extraCdroms: string[] } | undefined> {
    const { id, spec } = rec;
    if (!spec.installMedia) return undefined;
    const answerIso = join(paths.instance(this.ctx, id), 'answer.iso');
    rec.internal.install ??= { state: 'installing', logOffset: await fileSize(consoleLog) };
    const state = rec.internal.install;
    if (state.state === 'installing' && (await installCompleteSeen(consoleLog, state.logOffset))) {
      const how = await this.ctx.compute.stopDomain(id, STOP_TIMEOUT_MS);
      state.state = 'installed';
      await rm(answerIso, { force: true });
      // Saved before the redefinition: a crash after it must not attach the media again.
      await this.save(rec);
      log.info('server install complete; install media detached', { id, stop: how });
    }
    if (state.state === 'installed') return { installing: false, extraCdroms: [] };
    const extraCdroms: string[] = [];
    for (const field of ['installMedia', 'driverMedia'] as const) {
      const ref = spec[field];
      if (!ref) continue;
      const img = await this.ctx.store.get<ImageRecord>('images', ref);
      if (!img) throw new InvalidReference(`image ${ref} does not exist`, { field: [field] });
      if (img.status.format !== 'iso')
        throw new InvalidRequest(
          `image ${img.spec.name ?? ref} is not an iso image (its format is ${img.status.format ?? 'unknown'}); ${field} must be an ISO`,
          { field: [field] },
        );
      if (field === 'driverMedia') extraCdroms.push(this.ctx.storage.imagePath(img.id));
    }
    const answerFile = spec.answerFile;
    if (!answerFile || !spec.adminPass)
      throw new InvalidRequest('a server with installMedia needs adminPass and answerFile', {
        field: ['installMedia'],
      });
    // The plan chose the partition layout by the server's firmware; the image may have changed it.
    const gpt = answerFile.includes('<Type>EFI</Type>');
    if (gpt !== (firmware === 'uefi') && answerFile.includes('<DiskConfiguration>'))
      throw new InvalidRequest(
        `the answer file has a ${gpt ? 'GPT (UEFI)' : 'MBR (BIOS)'} disk layout, but the server boots with ${firmware} firmware (from its install image's hw_firmware_type); set firmware: ${firmware} on the server`,
        { field: ['firmware'] },
      );
    const secrets = {
      adminPass: spec.adminPass,
      ...(spec.productKey !== undefined ? { productKey: spec.productKey } : {}),
    };
    const misfit = answerFileSecretsProblem(answerFile, secrets);
    if (misfit)
      throw new InvalidRequest(misfit, {
        field: [spec.productKey !== undefined ? 'productKey' : 'answerFile'],
      });
    await writeAnswerMedium(answerIso, answerFile, secrets);
    extraCdroms.push(answerIso);
    return { installing: true, extraCdroms };
  }

  /**
   * Watches the console log of an installing server for the guest's end-of-setup line; once it is there
   * and the guest has powered off (or 10 minutes after the line, when it has not), rebuilds the server
   * under its lock, which detaches the media and boots it from its disk. One watch per server; it ends
   * with the install, the server's deletion, or the agent.
   */
  private watchInstall(id: string): void {
    if (this.installWatches.has(id)) return;
    const ctl = new AbortController();
    this.installWatches.set(id, ctl);
    const sleep = (ms: number) =>
      new Promise<void>((r) => {
        const done = () => {
          clearTimeout(t);
          ctl.signal.removeEventListener('abort', done);
          r();
        };
        const t = setTimeout(done, ms);
        t.unref();
        ctl.signal.addEventListener('abort', done, { once: true });
      });
    const loop = async () => {
      let seenAt: number | undefined;
      while (!ctl.signal.aborted) {
        await sleep(2000);
        if (ctl.signal.aborted) return;
        const rec = await this.record(id);
        const st = rec?.internal.install;
        if (!rec || st?.state !== 'installing') return;
        const log = rec.status.consoleLog;
        if (seenAt === undefined && log && (await installCompleteSeen(log, st.logOffset)))
          seenAt = Date.now();
        if (seenAt === undefined) continue;
        const dom = await this.ctx.compute.domainState(id);
        if (dom === 'running' && Date.now() - seenAt < 600_000) continue;
        await this.locked(this.lockKey(id), async () => {
          const now = await this.record(id);
          if (now?.internal.install?.state === 'installing') await this.build(now);
        });
        return;
      }
    };
    loop()
      .catch((e) => log.error('install watch failed', { id, error: (e as Error).message }))
      .finally(() => {
        if (this.installWatches.get(id) === ctl) this.installWatches.delete(id);
      });
  }

  /**
   * Whether the domain's size differs from `size` (its vCPUs or memory), or its root disk is smaller than
   * the flavor's: what a cold resize changes.
   */
  private async needsResize(
    rec: ServerRecord,
    disk: string,
    size: { vcpus: number; memoryMb: number },
    diskBytes: number,
  ): Promise<boolean> {
    let facts: DomainFacts;
    try {
      facts = await this.ctx.compute.inspectDomain(rec.id);
    } catch (e) {
      if (NotFound.isInstance(e)) return false;
      throw e;
    }
    if (facts.vcpus !== size.vcpus || facts.memoryMiB !== size.memoryMb) return true;
    return diskBytes > 0 && (await this.ctx.storage.inspect(disk)).virtualSize < diskBytes;
  }

  /** Adopts a libvirt domain (by name or UUID) whose disk is an overlay of an image this agent holds. */
  async import(ref: string): Promise<ApiRecord> {
    let facts: DomainFacts;
    try {
      facts = await this.ctx.compute.inspectDomain(ref);
    } catch (e) {
      if (NotFound.isInstance(e)) throw new NotFound(`libvirt domain ${ref} not found`, { cause: e });
      throw e;
    }
    if (facts.stratusId)
      throw new Conflict(`domain ${ref} is Stratus server ${facts.stratusId}`, { code: 'already_managed' });
    const id = facts.uuid;
    return this.locked(id, async () => {
      if (await this.record(id))
        throw new Conflict(`domain ${ref} was imported already as ${id}`, { code: 'already_managed' });
      const root = facts.disks.find((d) => d.device === 'disk' && !d.readonly);
      if (!root) throw new Conflict(`domain ${ref} has no writable disk`, { code: 'not_importable' });
      const backing = (await this.ctx.storage.inspect(root.path)).backingFile;
      const imageId = backing ? this.ctx.storage.imageIdOf(resolve(dirname(root.path), backing)) : null;
      const image = imageId ? await this.ctx.store.get<ImageRecord>('images', imageId) : null;
      if (!image)
        throw new Conflict(
          `the root disk ${root.path} of ${ref} is not an overlay of an image this agent holds`,
          {
            code: 'not_importable',
          },
        );
      const networks: NicSpec[] = [];
      const nets = await this.ctx.store.list<NetworkRecord>('networks');
      for (const nic of facts.nics) {
        const net = nets.find((n) => driverOf(this.ctx, n).bindNic(segmentOf(n)).bridge === nic.bridge);
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
        // The default, so a stack that leaves it out plans no change; an adopted domain keeps its own
        // disks and gets no drive either way (see build), and the metadata service serves it.
        configDrive: true,
        powerState: 'running',
        metadata: {},
      };
      const adopted: Adopted = {
        disk: root.path,
        macs: facts.nics.map((n) => n.mac),
        taps: facts.nics.map((n) => n.tap),
        domainName: facts.name,
      };
      const rec = this.newRecord(id, spec, { status: 'BUILD' }, { adopted });
      await this.save(rec);
      try {
        return this.view(await this.build(rec));
      } catch (e) {
        await this.rollback(rec, e);
        throw e;
      }
    });
  }
}
