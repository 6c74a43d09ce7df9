/**
 * Loads, updates and removes port firewalls with the `nft` command (nftables 1.0), and lists the port
 * tables that exist so drift and orphans can be found. Every call is one nft transaction.
 */
import { run } from '../../host/exec.js';
import { type PortFirewall, portTableName, renderMemberUpdate, renderPortFirewall } from './ruleset.js';

const NFT = 'nft';
const PREFIX = 'stratus-port-';

/** Creates or replaces a port's firewall (both tables) in one transaction. @throws ExecError from nft. */
export async function ensurePortFirewall(p: PortFirewall): Promise<void> {
  await run(NFT, ['-f', '-'], { input: renderPortFirewall(p) });
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
  await run(NFT, ['-f', '-'], { input: renderMemberUpdate(portId, groupId, members) });
}

/** Removes a port's firewall; succeeds when it is already gone. */
export async function deletePortFirewall(portId: string): Promise<void> {
  const table = portTableName(portId);
  // Adding first makes the delete succeed whether or not the table exists, in one transaction.
  const script = ['bridge', 'inet'].map((f) => `table ${f} ${table}\ndelete table ${f} ${table}`).join('\n');
  await run(NFT, ['-f', '-'], { input: `${script}\n` });
}

/** The port firewall tables on this host, by port id: which families exist (both, when intact). */
export async function listPortFirewalls(): Promise<Map<string, Set<'bridge' | 'inet'>>> {
  const { stdout } = await run(NFT, ['-j', 'list', 'tables']);
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
