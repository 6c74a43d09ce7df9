/**
 * Security groups on the host: turns the records (ports, security groups, rules) into each port's
 * firewall (network/firewall), and keeps it so as they change.
 *
 * - A port's groups are its `securityGroups`, else the agent's default group, which the agent keeps
 *   itself (Neutron gives every port its project's `default` group; Stratus has one project per agent):
 *   ingress from its members only, egress anywhere. Its rules are fixed: ports that need others name
 *   their own groups.
 * - A port is firewalled when it is a server NIC (it has a tap) with port security on. The firewall is
 *   rendered from one {@link PortFirewall} by the backend of the port's switch: nftables on a Linux
 *   bridge network, OpenFlow flows with OVS conntrack on an Open vSwitch network (nftables' bridge
 *   rules do not see OVS's userspace datapath; Neutron's openvswitch firewall works the same way).
 * - A rule change reloads the firewalls of the group's ports (each in one nft transaction or OpenFlow
 *   bundle: a port is never without its rules); a membership change (a port joining or leaving a group)
 *   is a set update in the nft firewalls whose rules name the group as remote group, and a reload of
 *   the OpenFlow ones (their members are expanded into flows).
 * Every change runs under one lock (`firewall`), reading the records when it runs, so the last change
 * always renders the latest records. Port syncs that arrive while the lock is held run together as one
 * batch when it is free (servers created at once): one transaction loads their firewalls, one more
 * updates the member sets of the other ports.
 */
import { DEFAULT_SECURITY_GROUP } from '@stratus/model';
import { logger } from '../host/log.js';
import { nextFree } from '../host/numbers.js';
import type { NetworkDriverKind } from '../network/driver.js';
import { type FirewallBackend, type FirewallInspection, nftFirewall } from '../network/firewall/nft.js';
import { openflowFirewall } from '../network/firewall/ofctl.js';
import { type FirewallRule, OFPORT_MAX, OFPORT_MIN, type PortFirewall } from '../network/firewall/ruleset.js';
import type { AgentContext } from './context.js';
import { driverOf, segmentOf } from './network.js';
import type { PortService } from './port.js';
import type { NetworkRecord, PortRecord } from './records.js';
import type { SecurityGroupRecord, SecurityGroupRuleRecord } from './security-group.js';

const log = logger('firewall');
const LOCK = 'firewall';

/**
 * The id of the agent's default security group (a fixed UUID, so rules of other groups may name it
 * as `remoteGroup` and every agent agrees on it); defined with the model, which clients read too.
 */
export { DEFAULT_SECURITY_GROUP };

/** The default group's rules (Neutron's): ingress from members of the group, egress anywhere. */
const DEFAULT_RULES: FirewallRule[] = [
  { direction: 'ingress', protocol: 'any', remoteGroupId: DEFAULT_SECURITY_GROUP },
  { direction: 'egress', protocol: 'any' },
];

/** The groups a port is in (none with port security off). */
export function groupsOf(p: PortRecord): string[] {
  if (p.spec.portSecurityEnabled === false || p.spec.deviceOwner === 'dhcp') return [];
  return p.spec.securityGroups ?? [DEFAULT_SECURITY_GROUP];
}

/** What the firewall of a port is, as the `port` type's `firewall` attribute says it. */
export type FirewallState = 'enforced' | 'disabled' | 'idle' | `missing: ${string}`;

/** A {@link Firewalls.syncPorts} call waiting for its batch. */
interface PendingSync {
  ids: readonly string[];
  formerGroups: readonly string[];
  done: Deferred;
}

/**
 * Shares one run of `read` among callers that ask at the same time, without answering anyone with a
 * read that began before they asked: a caller finds no read running and asks for one, which starts at
 * the end of this turn of the event loop so that every caller of the same turn (a refresh reads all the
 * servers of a stack at once) shares it; a caller that finds one running waits for the next, which
 * starts when that one ends and serves everyone who asked meanwhile. A burst costs one read, or two
 * when callers keep coming while it runs.
 */
function freshShared<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let queued: Promise<T> | undefined;
  const start = (): Promise<T> => {
    const p = read();
    running = p;
    const done = () => {
      if (running === p) running = undefined;
    };
    p.then(done, done);
    return p;
  };
  // The next read, begun after every caller that shares it asked: on the next turn, or after the
  // running one. Until it begins, new callers join it.
  const next = (after: Promise<unknown>): Promise<T> => {
    const q = after
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        queued = undefined;
        return start();
      });
    queued = q;
    return q;
  };
  return () => queued ?? next(running ?? new Promise((r) => setImmediate(r)));
}

/** A promise with its settle functions (Node 20 has no Promise.withResolvers). */
interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((ok, fail) => {
    resolve = ok;
    reject = fail;
  });
  return { promise, resolve, reject };
}

/** Everything the rendering reads, loaded once per change. */
interface Snapshot {
  ports: PortRecord[];
  groups: Map<string, SecurityGroupRecord>;
  rules: SecurityGroupRuleRecord[];
  networks: Map<string, NetworkRecord>;
}

/** Keeps every port's firewall as the records say. */
export class Firewalls {
  constructor(
    private readonly ctx: AgentContext,
    private readonly ports: PortService,
  ) {
    const nft = ctx.firewall ?? nftFirewall;
    // A context giving one backend (a unit test's fake) gets it for both kinds of switch.
    this.backends = { linuxbridge: nft, ovs: ctx.ovsFirewall ?? (ctx.firewall ? nft : openflowFirewall) };
    this.sharedInspect = {
      linuxbridge: freshShared(() => this.backends.linuxbridge.inspect()),
      ovs: freshShared(() => this.backends.ovs.inspect()),
    };
  }

  /** The firewall backend of each kind of switch (network driver). */
  private readonly backends: Record<NetworkDriverKind, FirewallBackend>;

  private async snapshot(): Promise<Snapshot> {
    const [ports, groups, rules, networks] = await Promise.all([
      this.ports.list(),
      this.ctx.store.list<SecurityGroupRecord>('security_groups'),
      this.ctx.store.list<SecurityGroupRuleRecord>('security_group_rules'),
      this.ctx.store.list<NetworkRecord>('networks'),
    ]);
    return {
      ports,
      groups: new Map(groups.map((g) => [g.id, g])),
      rules,
      networks: new Map(networks.map((n) => [n.id, n])),
    };
  }

  /** The kind of switch port `p` is on (its network's driver; Linux bridge when the network is gone). */
  private kindOf(p: PortRecord, s: Snapshot): NetworkDriverKind {
    return s.networks.get(p.spec.network)?.spec.driver ?? 'linuxbridge';
  }

  private backendOf(p: PortRecord, s: Snapshot): FirewallBackend {
    return this.backends[this.kindOf(p, s)];
  }

  /** Why port `p` has no firewall, or null when it must have one. */
  private unguarded(p: PortRecord): FirewallState | null {
    if (p.spec.deviceOwner === 'dhcp') return 'disabled';
    if (p.spec.portSecurityEnabled === false) return 'disabled';
    if (p.spec.deviceOwner !== 'compute' || !p.spec.tap) return 'idle';
    return null;
  }

  /** The rules of group `g` (inline and standalone), as the firewall takes them. */
  private rulesOf(g: string, s: Snapshot): FirewallRule[] {
    if (g === DEFAULT_SECURITY_GROUP) return DEFAULT_RULES;
    const rec = s.groups.get(g);
    const inline = rec?.spec.rules ?? [];
    const standalone = s.rules.filter((r) => r.spec.securityGroup === g).map((r) => r.spec);
    return [...inline, ...standalone].map((r) => ({
      direction: r.direction,
      protocol: r.protocol ?? 'any',
      ...(r.portRangeMin !== undefined ? { portRangeMin: r.portRangeMin } : {}),
      ...(r.portRangeMax !== undefined ? { portRangeMax: r.portRangeMax } : {}),
      ...(r.remoteIpPrefix !== undefined ? { remoteIpPrefix: r.remoteIpPrefix } : {}),
      ...(r.remoteGroup !== undefined ? { remoteGroupId: r.remoteGroup } : {}),
    }));
  }

  /** The addresses of group `g`'s members: their fixed IPs and allowed address pairs (as Neutron's ipsets). */
  private membersOf(g: string, s: Snapshot): string[] {
    const out = new Set<string>();
    for (const p of s.ports)
      if (groupsOf(p).includes(g)) {
        out.add(p.status.ip);
        for (const a of p.spec.allowedAddressPairs ?? []) out.add(a.ipAddress);
      }
    return [...out].sort();
  }

  /**
   * The firewall of port `p`, giving it a number (`mark`) when it has none or one its switch cannot
   * use: on a Linux bridge a packet mark no other port's table on the host uses (another agent's:
   * agents with their own state dirs may share a host); on Open vSwitch an OpenFlow port number in
   * OFPORT_MIN..OFPORT_MAX. A new number is searched from a point derived from the port id, so two
   * agents rarely probe the same numbers; numbers stay unique among the host's ports either way.
   */
  private async firewallOf(p: PortRecord, s: Snapshot, marks?: Map<number, string>): Promise<PortFirewall> {
    const kind = this.kindOf(p, s);
    const [lo, hi] = kind === 'ovs' ? [OFPORT_MIN, OFPORT_MAX] : [1, 0xffff];
    const backend = this.backends[kind];
    const live =
      kind === 'ovs' ? new Map<number, string>() : (marks ?? (await backend.usedMarks?.()) ?? new Map());
    const mine = p.status.mark;
    if (mine === undefined || mine < lo || mine > hi || (live.has(mine) && live.get(mine) !== p.id)) {
      const used = new Set<number>([...live.keys()]);
      for (const x of s.ports) if (x.id !== p.id && x.status.mark !== undefined) used.add(x.status.mark);
      const m = nextFree(Number.parseInt(p.id.slice(0, 8), 16), [lo, hi], used);
      if (m === undefined)
        throw new Error(`no free port number in ${lo}..${hi}: every one is used by a firewalled port`);
      p.status = { ...p.status, mark: m };
      await this.ports.put(p);
      live.set(m, p.id);
    }
    const rules = groupsOf(p).flatMap((g) => this.rulesOf(g, s));
    const remoteGroups: Record<string, string[]> = {};
    for (const r of rules)
      if (r.remoteGroupId !== undefined) remoteGroups[r.remoteGroupId] ??= this.membersOf(r.remoteGroupId, s);
    const net = s.networks.get(p.spec.network);
    return {
      portId: p.id,
      device: p.spec.tap!,
      mark: p.status.mark!,
      ...(kind === 'ovs' && net ? { bridge: driverOf(this.ctx, net).segmentName(segmentOf(net)) } : {}),
      macAddress: p.status.mac,
      fixedIps: [p.status.ip],
      allowedAddressPairs: p.spec.allowedAddressPairs ?? [],
      rules,
      remoteGroups,
    };
  }

  /** Makes port `p`'s firewall what the snapshot says (or removes it when the port needs none). */
  private async converge(p: PortRecord, s: Snapshot): Promise<void> {
    const why = this.unguarded(p);
    const backend = this.backendOf(p, s);
    if (why === null) {
      await backend.prepare();
      await backend.ensure(await this.firewallOf(p, s));
      return;
    }
    await backend.delete(p.id);
  }

  /**
   * Converges the firewalls of ports `ids` (a server's NICs before its domain starts; a port whose
   * groups or addresses changed), then updates the member sets of every group they are in, in the
   * firewalls of other ports whose rules name those groups. `formerGroups`: groups the ports were in
   * before the change (they may have left them).
   */
  async syncPorts(ids: readonly string[], formerGroups: readonly string[] = []): Promise<void> {
    if (ids.length === 0 && formerGroups.length === 0) return;
    // Syncs asked for while another runs wait for it together and then run as one batch: one snapshot,
    // one read of the host's marks, the new firewalls in one transaction per backend and the member
    // updates of every other port in one more. Ten servers created at once cost a few host commands,
    // not one per port and member (which, serialized under the lock, grew with the square of the ports).
    const waiting: PendingSync = { ids, formerGroups, done: deferred() };
    this.pending.push(waiting);
    if (this.pending.length === 1)
      void this.ctx.locks
        .run(LOCK, async () => {
          const batch = this.pending.splice(0);
          await this.syncBatch(batch).catch((e: unknown) => {
            for (const b of batch) b.done.reject(e);
          });
        })
        .catch(() => {});
    return waiting.done.promise;
  }

  /** The snapshot and host inspections that concurrent {@link states} calls share. */
  private readonly sharedSnapshot = freshShared(() => this.snapshot());
  private readonly sharedInspect: Record<NetworkDriverKind, () => Promise<FirewallInspection>>;

  /** Syncs that wait for the firewall lock, to run as one batch (see {@link syncPorts}). */
  private readonly pending: PendingSync[] = [];

  /** Runs the waiting syncs `batch` as one (under the lock); settles each. */
  private async syncBatch(batch: PendingSync[]): Promise<void> {
    const s = await this.snapshot();
    const ids = new Set(batch.flatMap((b) => b.ids));
    const targets = s.ports.filter((p) => ids.has(p.id));
    const failed = new Map<string, unknown>();
    const load = new Map<NetworkDriverKind, PortFirewall[]>();
    let marks: Map<number, string> | undefined;
    for (const p of targets) {
      try {
        const why = this.unguarded(p);
        const kind = this.kindOf(p, s);
        if (why === null) {
          if (kind !== 'ovs') marks ??= (await this.backends[kind].usedMarks?.()) ?? new Map();
          load.set(kind, [...(load.get(kind) ?? []), await this.firewallOf(p, s, marks)]);
        } else await this.backends[kind].delete(p.id);
      } catch (e) {
        failed.set(p.id, e);
      }
    }
    for (const [kind, fws] of load) {
      try {
        await this.backends[kind].prepare();
        await this.ensureAll(this.backends[kind], fws, failed);
      } catch (e) {
        for (const f of fws) failed.set(f.portId, e);
      }
    }
    const groups = new Set([...batch.flatMap((b) => b.formerGroups), ...targets.flatMap((p) => groupsOf(p))]);
    let membersError: unknown;
    await this.updateMembers(groups, s, ids).catch((e: unknown) => {
      membersError = e;
    });
    for (const b of batch) {
      const e = b.ids.map((id) => failed.get(id)).find((x) => x !== undefined) ?? membersError;
      if (e !== undefined) b.done.reject(e);
      else b.done.resolve();
    }
  }

  /** Loads the firewalls `load` in one transaction; on failure one by one, noting who failed. */
  private async ensureAll(
    backend: FirewallBackend,
    load: PortFirewall[],
    failed: Map<string, unknown>,
  ): Promise<void> {
    if (load.length > 1 && backend.ensureMany) {
      try {
        await backend.ensureMany(load);
        return;
      } catch {
        // One bad port spoils the transaction: load them one by one, so only that one fails.
      }
    }
    for (const f of load) await backend.ensure(f).catch((e: unknown) => failed.set(f.portId, e));
  }

  /**
   * Removes the firewalls of ports that are gone (`ports`: their last records, which may be deleted
   * already), and updates the groups they were in.
   */
  async removePorts(ports: readonly PortRecord[], formerGroups: readonly string[]): Promise<void> {
    await this.ctx.locks.run(LOCK, async () => {
      const s = await this.snapshot();
      for (const p of ports) await this.backendOf(p, s).delete(p.id);
      await this.updateMembers(new Set(formerGroups), s, new Set(ports.map((p) => p.id)));
    });
  }

  /** Reloads the firewalls of every port in one of `groups` (their rules changed). */
  async syncGroups(groups: readonly string[]): Promise<void> {
    await this.ctx.locks.run(LOCK, async () => {
      const s = await this.snapshot();
      for (const p of s.ports) if (groupsOf(p).some((g) => groups.includes(g))) await this.converge(p, s);
    });
  }

  /**
   * Converges every port's firewall (agent start: after a host reboot the tables and flows are gone).
   * Firewalls of ports without a record are left alone: they may be another agent's on the same host.
   */
  async syncAll(): Promise<void> {
    await this.ctx.locks.run(LOCK, async () => {
      const s = await this.snapshot();
      for (const p of s.ports)
        if (p.spec.deviceOwner !== 'dhcp')
          await this.converge(p, s).catch((e) =>
            log.error('could not load a port firewall', { port: p.id, error: (e as Error).message }),
          );
    });
  }

  /**
   * The members of `groups` in every firewall (other than `skip`'s) whose rules name them: set updates
   * where the backend has them, else the port's whole firewall again (one transaction per backend).
   */
  private async updateMembers(groups: Set<string>, s: Snapshot, skip: Set<string>): Promise<void> {
    if (groups.size === 0) return;
    const updates: Array<{ port: PortRecord; groupId: string; members: string[] }> = [];
    const reload = new Map<NetworkDriverKind, PortRecord[]>();
    const members = new Map<string, string[]>();
    for (const p of s.ports) {
      // A port without a mark never had its firewall loaded: its own sync (coming) loads the members.
      if (skip.has(p.id) || p.status.mark === undefined || this.unguarded(p) !== null) continue;
      const named = new Set(
        groupsOf(p)
          .flatMap((g) => this.rulesOf(g, s))
          .flatMap((r) =>
            r.remoteGroupId !== undefined && groups.has(r.remoteGroupId) ? [r.remoteGroupId] : [],
          ),
      );
      if (named.size === 0) continue;
      const kind = this.kindOf(p, s);
      if (!this.backends[kind].updateMembers) {
        reload.set(kind, [...(reload.get(kind) ?? []), p]);
        continue;
      }
      for (const g of named) {
        if (!members.has(g)) members.set(g, this.membersOf(g, s));
        updates.push({ port: p, groupId: g, members: members.get(g)! });
      }
    }
    for (const [kind, ps] of reload) {
      const failed = new Map<string, unknown>();
      await this.ensureAll(
        this.backends[kind],
        await Promise.all(ps.map((p) => this.firewallOf(p, s))),
        failed,
      );
      const first = [...failed.values()][0];
      if (first !== undefined) throw first;
    }
    // Set updates: one transaction for all of them where the backend can, else one by one.
    const byKind = new Map<NetworkDriverKind, typeof updates>();
    for (const u of updates) {
      const kind = this.kindOf(u.port, s);
      byKind.set(kind, [...(byKind.get(kind) ?? []), u]);
    }
    for (const [kind, us] of byKind) {
      const backend = this.backends[kind];
      if (us.length > 1 && backend.updateMembersMany) {
        try {
          await backend.updateMembersMany(
            us.map((u) => ({ portId: u.port.id, groupId: u.groupId, members: u.members })),
          );
          continue;
        } catch {
          // A port's table or set is gone: one transaction fails for all; redo them one by one below.
        }
      }
      for (const u of us)
        await backend.updateMembers!(u.port.id, u.groupId, u.members).catch(async (e) => {
          // The table or its set is gone (flushed, deleted): reload the whole firewall instead.
          log.warn('member update failed; reloading the port firewall', {
            port: u.port.id,
            error: (e as Error).message,
          });
          await this.converge(u.port, s);
        });
    }
  }

  /**
   * What each port's firewall is on the host: why it has none, `enforced`, or `missing: ...` when
   * its nftables tables or OpenFlow flows were deleted or flushed outside Stratus (drift; an apply
   * reloads it).
   */
  async states(ports: readonly PortRecord[]): Promise<Map<string, FirewallState>> {
    const out = new Map<string, FirewallState>();
    if (ports.length === 0) return out;
    // Reads at the same time (a refresh reads every server of a stack at once) share one snapshot of
    // the records and one read of each backend's host state, each begun after its callers asked (see
    // freshShared).
    const s = await this.sharedSnapshot();
    const live = new Map<NetworkDriverKind, FirewallInspection>();
    for (const p of ports) {
      const why = this.unguarded(p);
      if (why !== null) {
        out.set(p.id, why);
        continue;
      }
      const kind = this.kindOf(p, s);
      if (!live.has(kind)) live.set(kind, await this.sharedInspect[kind]());
      const problem = live.get(kind)!.problem(p.id);
      out.set(p.id, problem === null ? 'enforced' : `missing: ${problem}`);
    }
    return out;
  }
}
