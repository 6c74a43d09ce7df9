/**
 * Security groups on the host: turns the records (ports, security groups, rules) into each port's
 * nftables firewall (network/firewall), and keeps it so as they change.
 *
 * - A port's groups are its `securityGroups`, else the agent's default group, which the agent keeps
 *   itself (Neutron gives every port its project's `default` group; Stratus has one project per agent):
 *   ingress from its members only, egress anywhere. Its rules are fixed: ports that need others name
 *   their own groups.
 * - A port is firewalled when it is a server NIC (it has a tap) on a Linux bridge network with port
 *   security on. On an Open vSwitch network nftables' bridge rules do not see the userspace datapath,
 *   and the OpenFlow firewall is not written yet: such a port is left unguarded, the agent logs a
 *   warning for it, and the port's `firewall` attribute says so.
 * - A rule change reloads the firewalls of the group's ports (each in one nft transaction: a port is
 *   never without its rules); a membership change (a port joining or leaving a group) is a set update
 *   in the firewalls whose rules name the group as remote group.
 * Every change runs under one lock (`firewall`), reading the records when it runs, so the last change
 * always renders the latest records. Port syncs that arrive while the lock is held run together as one
 * batch when it is free (servers created at once): one transaction loads their firewalls, one more
 * updates the member sets of the other ports.
 */
import { DEFAULT_SECURITY_GROUP } from '@stratus/model';
import { logger } from '../host/log.js';
import { type FirewallBackend, nftFirewall, type PortFirewallFacts } from '../network/firewall/nft.js';
import type { FirewallRule, PortFirewall } from '../network/firewall/ruleset.js';
import type { AgentContext } from './context.js';
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
export type FirewallState =
  | 'enforced'
  | 'disabled'
  | 'idle'
  | `not enforced: ${string}`
  | `missing: ${string}`;

/** A {@link Firewalls.syncPorts} call waiting for its batch. */
interface PendingSync {
  ids: readonly string[];
  formerGroups: readonly string[];
  done: Deferred;
}

/**
 * Shares one run of `read` among callers that ask at the same time, without answering anyone with a
 * read that began before they asked: a caller finds no read running and starts one, or finds one
 * running and waits for the next, which starts when that one ends and serves everyone who asked
 * meanwhile. A burst of N callers costs two reads at most.
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
  return () => {
    if (queued) return queued;
    if (!running) return start();
    const q = running
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
    this.nft = ctx.firewall ?? nftFirewall;
  }

  private readonly nft: FirewallBackend;

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

  /** Why port `p` has no firewall, or null when it must have one. */
  private unguarded(p: PortRecord, s: Snapshot): FirewallState | null {
    if (p.spec.deviceOwner === 'dhcp') return 'disabled';
    if (p.spec.portSecurityEnabled === false) return 'disabled';
    const net = s.networks.get(p.spec.network);
    if ((net?.spec.driver ?? 'linuxbridge') === 'ovs')
      return 'not enforced: Open vSwitch network (its OpenFlow firewall is not implemented yet)';
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
   * The firewall of port `p`, giving it a mark when it has none, or when another port's table on the
   * host uses its mark (another agent's: agents with their own state dirs may share a host). A new mark
   * is searched from a point derived from the port id, so two agents rarely probe the same numbers.
   */
  private async firewallOf(p: PortRecord, s: Snapshot, marks?: Map<number, string>): Promise<PortFirewall> {
    const live = marks ?? (await this.nft.usedMarks());
    const mine = p.status.mark;
    if (mine === undefined || (live.has(mine) && live.get(mine) !== p.id)) {
      const used = new Set<number>([...live.keys()]);
      for (const x of s.ports) if (x.id !== p.id && x.status.mark !== undefined) used.add(x.status.mark);
      if (used.size >= 0xffff) throw new Error('no free port mark: 65535 firewalled ports on this host');
      let m = (Number.parseInt(p.id.slice(0, 8), 16) % 0xffff) + 1;
      while (used.has(m)) m = (m % 0xffff) + 1;
      p.status = { ...p.status, mark: m };
      await this.ports.put(p);
      live.set(m, p.id);
    }
    const rules = groupsOf(p).flatMap((g) => this.rulesOf(g, s));
    const remoteGroups: Record<string, string[]> = {};
    for (const r of rules)
      if (r.remoteGroupId !== undefined) remoteGroups[r.remoteGroupId] ??= this.membersOf(r.remoteGroupId, s);
    return {
      portId: p.id,
      device: p.spec.tap!,
      mark: p.status.mark!,
      macAddress: p.status.mac,
      fixedIps: [p.status.ip],
      allowedAddressPairs: p.spec.allowedAddressPairs ?? [],
      rules,
      remoteGroups,
    };
  }

  /** Makes port `p`'s firewall what the snapshot says (or removes it when the port needs none). */
  private async converge(p: PortRecord, s: Snapshot): Promise<void> {
    const why = this.unguarded(p, s);
    if (why === null) {
      await this.nft.prepare();
      await this.nft.ensure(await this.firewallOf(p, s));
      return;
    }
    if (why.startsWith('not enforced'))
      log.warn('security groups are NOT enforced on this port', { port: p.id, reason: why });
    await this.nft.delete(p.id);
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
    // one read of the host's marks, the new firewalls in one nft transaction and the member-set updates
    // of every other port in one more. Ten servers created at once cost a few nft runs, not one per
    // port and member (which, serialized under the lock, grew with the square of the ports).
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

  /** The snapshot and host inspection that concurrent {@link states} calls share. */
  private readonly sharedSnapshot = freshShared(() => this.snapshot());
  private readonly sharedInspect = freshShared(() => this.nft.inspect());

  /** Syncs that wait for the firewall lock, to run as one batch (see {@link syncPorts}). */
  private readonly pending: PendingSync[] = [];

  /** Runs the waiting syncs `batch` as one (under the lock); settles each. */
  private async syncBatch(batch: PendingSync[]): Promise<void> {
    const s = await this.snapshot();
    const ids = new Set(batch.flatMap((b) => b.ids));
    const targets = s.ports.filter((p) => ids.has(p.id));
    const failed = new Map<string, unknown>();
    const load: PortFirewall[] = [];
    let marks: Map<number, string> | undefined;
    for (const p of targets) {
      try {
        const why = this.unguarded(p, s);
        if (why === null) {
          marks ??= await this.nft.usedMarks();
          load.push(await this.firewallOf(p, s, marks));
        } else {
          if (why.startsWith('not enforced'))
            log.warn('security groups are NOT enforced on this port', { port: p.id, reason: why });
          await this.nft.delete(p.id);
        }
      } catch (e) {
        failed.set(p.id, e);
      }
    }
    if (load.length) {
      await this.nft.prepare();
      await this.ensureAll(load, failed);
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

  /** Loads the firewalls `load` in one nft transaction; on failure one by one, noting who failed. */
  private async ensureAll(load: PortFirewall[], failed: Map<string, unknown>): Promise<void> {
    if (load.length > 1 && this.nft.ensureMany) {
      try {
        await this.nft.ensureMany(load);
        return;
      } catch {
        // One bad port spoils the transaction: load them one by one, so only that one fails.
      }
    }
    for (const f of load) await this.nft.ensure(f).catch((e: unknown) => failed.set(f.portId, e));
  }

  /** Removes the firewalls of ports that are gone (records already deleted), and updates the groups they were in. */
  async removePorts(ids: readonly string[], formerGroups: readonly string[]): Promise<void> {
    await this.ctx.locks.run(LOCK, async () => {
      for (const id of ids) await this.nft.delete(id);
      await this.updateMembers(new Set(formerGroups), await this.snapshot(), new Set(ids));
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
   * Converges every port's firewall (agent start: after a host reboot the tables are gone). Tables of
   * ports without a record are left alone: they may be another agent's on the same host.
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

  /** Set updates: the members of `groups` in every firewall (other than `skip`'s) whose rules name them. */
  private async updateMembers(groups: Set<string>, s: Snapshot, skip: Set<string>): Promise<void> {
    if (groups.size === 0) return;
    const updates: Array<{ port: PortRecord; groupId: string; members: string[] }> = [];
    const members = new Map<string, string[]>();
    for (const p of s.ports) {
      // A port without a mark never had its firewall loaded: its own sync (coming) loads the members.
      if (skip.has(p.id) || p.status.mark === undefined || this.unguarded(p, s) !== null) continue;
      const named = new Set(
        groupsOf(p)
          .flatMap((g) => this.rulesOf(g, s))
          .flatMap((r) =>
            r.remoteGroupId !== undefined && groups.has(r.remoteGroupId) ? [r.remoteGroupId] : [],
          ),
      );
      for (const g of named) {
        if (!members.has(g)) members.set(g, this.membersOf(g, s));
        updates.push({ port: p, groupId: g, members: members.get(g)! });
      }
    }
    if (updates.length === 0) return;
    if (updates.length > 1 && this.nft.updateMembersMany) {
      try {
        await this.nft.updateMembersMany(
          updates.map((u) => ({ portId: u.port.id, groupId: u.groupId, members: u.members })),
        );
        return;
      } catch {
        // A port's table or set is gone: one transaction fails for all; redo them one by one below.
      }
    }
    for (const u of updates)
      await this.nft.updateMembers(u.port.id, u.groupId, u.members).catch(async (e) => {
        // The table or its set is gone (flushed, deleted): reload the whole firewall instead.
        log.warn('member update failed; reloading the port firewall', {
          port: u.port.id,
          error: (e as Error).message,
        });
        await this.converge(u.port, s);
      });
  }

  /**
   * What each port's firewall is on the host: why it has none, `enforced`, or `missing: ...` when
   * its tables were deleted or flushed outside Stratus (drift; an apply reloads it).
   */
  async states(ports: readonly PortRecord[]): Promise<Map<string, FirewallState>> {
    const out = new Map<string, FirewallState>();
    if (ports.length === 0) return out;
    // Reads at the same time (a refresh reads every server of a stack at once) share one snapshot of
    // the records and one `nft list ruleset`, each begun after its callers asked (see freshShared).
    const s = await this.sharedSnapshot();
    let live: Map<string, PortFirewallFacts> | undefined;
    for (const p of ports) {
      const why = this.unguarded(p, s);
      if (why !== null) {
        out.set(p.id, why);
        continue;
      }
      live ??= await this.sharedInspect();
      const f = live.get(p.id);
      const missing = (['bridge', 'inet'] as const).filter((fam) => !f?.families.has(fam));
      if (missing.length)
        out.set(
          p.id,
          `missing: its nftables table(s) ${missing.join(' and ')} stratus-port-${p.id} are gone`,
        );
      else if (f?.emptyChains.length)
        out.set(p.id, `missing: chain(s) ${f.emptyChains.join(', ')} of stratus-port-${p.id} were flushed`);
      else out.set(p.id, 'enforced');
    }
    return out;
  }
}
