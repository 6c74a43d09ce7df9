/**
 * Loads, updates and removes port firewalls with the `nft` command (nftables 1.0), and lists the port
 * tables that exist so drift and orphans can be found. Every call is one nft transaction.
 */
import { NftLedger, nft, nftSnapshot } from '../../host/nft.js';
import { ensureBridgeNetfilter } from './br-netfilter.js';
import { type PortFirewall, portTableName, renderMemberUpdate, renderPortFirewall } from './ruleset.js';

const PREFIX = 'stratus-port-';

/**
 * Runs the nft script `input` that loads the firewalls `loaded` or removes those of `removed` (port
 * ids), and applies it to the kept packet marks ({@link marks}); a script that failed may have done
 * part of its work, so the marks are read again next time.
 */
async function write(input: string, loaded: readonly PortFirewall[], removed: readonly string[] = []) {
  try {
    await nft(['-f', '-'], { input });
  } catch (e) {
    marks.forget();
    throw e;
  }
  marks.patch((m) => {
    const gone = new Set([...removed, ...loaded.map((p) => p.portId)]);
    for (const [mark, port] of m) if (gone.has(port)) m.delete(mark);
    for (const p of loaded) m.set(p.mark, p.portId);
  });
}

/** Creates or replaces a port's firewall (both tables) in one transaction. @throws ExecError from nft. */
export async function ensurePortFirewall(p: PortFirewall): Promise<void> {
  await write(renderPortFirewall(p), [p]);
}

/**
 * Replaces the members of a remote group's set in a port's table, leaving everything else as it is.
 * @throws ExecError from nft (e.g. when the port's table or the set does not exist).
 */
export async function updateRemoteGroupMembers(
  portId: string,
  groupId: string,
  members: readonly string[],
): Promise<void> {
  await nft(['-f', '-'], { input: renderMemberUpdate(portId, groupId, members) });
}

/**
 * Creates or replaces the firewalls of several ports in one transaction (all or none). @throws ExecError
 * from nft.
 */
export async function ensurePortFirewalls(ps: readonly PortFirewall[]): Promise<void> {
  await write(ps.map(renderPortFirewall).join(''), ps);
}

/** Several {@link updateRemoteGroupMembers} in one transaction (all or none). @throws ExecError from nft. */
export async function updateRemoteGroupMembersMany(
  updates: ReadonlyArray<{ portId: string; groupId: string; members: readonly string[] }>,
): Promise<void> {
  await nft(['-f', '-'], {
    input: updates.map((u) => renderMemberUpdate(u.portId, u.groupId, u.members)).join(''),
  });
}

/** Removes a port's firewall; succeeds when it is already gone. */
export async function deletePortFirewall(portId: string): Promise<void> {
  const table = portTableName(portId);
  // Adding first makes the delete succeed whether or not the table exists, in one transaction.
  const script = ['bridge', 'inet'].map((f) => `table ${f} ${table}\ndelete table ${f} ${table}`).join('\n');
  await write(`${script}\n`, [], [portId]);
}

/** The port firewall tables on this host, by port id: which families exist (both, when intact). */
export async function listPortFirewalls(): Promise<Map<string, Set<'bridge' | 'inet'>>> {
  const { stdout } = await nft(['-j', 'list', 'tables']);
  const out = new Map<string, Set<'bridge' | 'inet'>>();
  const doc = JSON.parse(stdout) as { nftables?: { table?: { family: string; name: string } }[] };
  for (const item of doc.nftables ?? []) {
    const t = item.table;
    if (!t?.name.startsWith(PREFIX) || (t.family !== 'bridge' && t.family !== 'inet')) continue;
    const id = t.name.slice(PREFIX.length);
    const fams = out.get(id) ?? new Set();
    fams.add(t.family);
    out.set(id, fams);
  }
  return out;
}

/** What is left of one port's firewall on the host. */
export interface PortFirewallFacts {
  /** The families whose table exists (both, when intact). */
  families: Set<'bridge' | 'inet'>;
  /** Chains (`family/chain`) that hold no rule: every chain Stratus makes holds some, so these were flushed. */
  emptyChains: string[];
}

/**
 * The port firewalls on this host, by port id, with what is missing from them: read in one
 * `nft -j list ruleset` (a flushed table keeps its chains but loses their rules, which shows here).
 */
export async function inspectPortFirewalls(): Promise<Map<string, PortFirewallFacts>> {
  const { stdout } = await nft(['-j', 'list', 'ruleset']);
  const doc = JSON.parse(stdout) as {
    nftables?: {
      table?: { family: string; name: string };
      chain?: { family: string; table: string; name: string };
      rule?: { family: string; table: string; chain: string };
    }[];
  };
  const out = new Map<string, PortFirewallFacts>();
  const ours = (family: string, table: string) =>
    (family === 'bridge' || family === 'inet') && table.startsWith(PREFIX);
  const ruled = new Set<string>();
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (r && ours(r.family, r.table)) ruled.add(`${r.table}/${r.family}/${r.chain}`);
  }
  for (const item of doc.nftables ?? []) {
    const t = item.table;
    if (t && ours(t.family, t.name)) {
      const id = t.name.slice(PREFIX.length);
      const facts = out.get(id) ?? { families: new Set(), emptyChains: [] };
      facts.families.add(t.family as 'bridge' | 'inet');
      out.set(id, facts);
    }
    const c = item.chain;
    if (c && ours(c.family, c.table) && !ruled.has(`${c.table}/${c.family}/${c.name}`)) {
      const id = c.table.slice(PREFIX.length);
      const facts = out.get(id) ?? { families: new Set(), emptyChains: [] };
      facts.emptyChains.push(`${c.family}/${c.name}`);
      out.set(id, facts);
    }
  }
  return out;
}

/**
 * The packet-mark numbers the port firewalls on this host use (any agent's: several agents with their
 * own state dirs may share a host), by number, with the port id using each: a reading of the ruleset
 * kept while only this agent changes it (its own loads and removals are applied to it), so a create
 * reads no ruleset while no other process wrote one.
 */
export async function usedPortMarks(): Promise<Map<number, string>> {
  return new Map(await marks.get());
}

/** {@link usedPortMarks}' reading, kept between this agent's writes. */
const marks = new NftLedger(readPortMarks);

/** The packet marks in the host's ruleset, read now (`nft list ruleset`). */
async function readPortMarks(): Promise<Map<number, string>> {
  const { stdout } = await nft(['list', 'ruleset']);
  const out = new Map<number, string>();
  let table: string | undefined;
  for (const line of stdout.split('\n')) {
    const t = /^table inet (\S+) \{/.exec(line);
    if (t) table = t[1]!.startsWith(PREFIX) ? t[1]!.slice(PREFIX.length) : undefined;
    const m = /meta mark & 0x0000ffff == 0x([0-9a-f]{8}) jump to_port/.exec(line);
    if (m && table) out.set(Number.parseInt(m[1]!, 16), table);
  }
  return out;
}

/** What a backend found of the port firewalls on its host, read at once (see `inspect`). */
export interface FirewallInspection {
  /** Why port `portId`'s firewall is not intact on the host (drift), in words; null when it is. */
  problem(portId: string): string | null;
}

/** The nftables answer of {@link FirewallInspection.problem} from {@link inspectPortFirewalls}' facts. */
export function nftProblem(portId: string, f: PortFirewallFacts | undefined): string | null {
  const missing = (['bridge', 'inet'] as const).filter((fam) => !f?.families.has(fam));
  if (missing.length) return `its nftables table(s) ${missing.join(' and ')} stratus-port-${portId} are gone`;
  if (f?.emptyChains.length)
    return `chain(s) ${f.emptyChains.join(', ')} of stratus-port-${portId} were flushed`;
  return null;
}

/**
 * What the services need of a host's port firewalls, per kind of switch: nftables for Linux bridges
 * (this file), OpenFlow for Open vSwitch bridges (ofctl.ts), a fake in unit tests. Every backend
 * renders the same {@link PortFirewall}.
 */
export interface FirewallBackend {
  /** Makes sure the host can enforce firewalls (e.g. hands bridged IPv4 to the IP hooks, br-netfilter.ts). */
  prepare(): Promise<void>;
  ensure(p: PortFirewall): Promise<void>;
  /** Several {@link ensure}s in one transaction (all or none); callers loop over `ensure` without it. */
  ensureMany?(ps: readonly PortFirewall[]): Promise<void>;
  /**
   * Replaces the members of a remote group in a port's firewall, leaving the rest. Backends without it
   * (members expanded into rules) get the port's whole firewall again through {@link ensure}.
   */
  updateMembers?(portId: string, groupId: string, members: readonly string[]): Promise<void>;
  /** Several {@link updateMembers} in one transaction (all or none); optional as `ensureMany`. */
  updateMembersMany?(
    updates: ReadonlyArray<{ portId: string; groupId: string; members: readonly string[] }>,
  ): Promise<void>;
  delete(portId: string): Promise<void>;
  /** Reads the host's port firewalls once, to answer for each port what is missing (drift). */
  inspect(): Promise<FirewallInspection>;
  /**
   * Port numbers (packet marks) in use on this host by any agent's firewalls, with the port using
   * each; only for backends whose numbers are host-wide (nftables marks).
   */
  usedMarks?(): Promise<Map<number, string>>;
}

/** The port firewalls of this host, in nftables. */
export const nftFirewall: FirewallBackend = {
  prepare: ensureBridgeNetfilter,
  ensure: ensurePortFirewall,
  ensureMany: ensurePortFirewalls,
  updateMembers: updateRemoteGroupMembers,
  updateMembersMany: updateRemoteGroupMembersMany,
  delete: deletePortFirewall,
  inspect: async () => {
    // Kept while the host's ruleset is unchanged: a refresh of a settled stack reads no ruleset.
    const facts = await nftSnapshot('port-firewalls', inspectPortFirewalls);
    return { problem: (id) => nftProblem(id, facts.get(id)) };
  },
  usedMarks: usedPortMarks,
};
