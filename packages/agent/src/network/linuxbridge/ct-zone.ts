/**
 * A conntrack zone per Linux bridge network, as Neutron's iptables firewall gives each network one
 * (`-t raw … -j CT --zone`). Bridged IPv4 is tracked in the host's own conntrack table (br_netfilter
 * runs the IPv4 hooks for it), so without zones two networks using the same addresses (tenants reuse
 * 10.0.0.0/24) share entries: a packet on one network could match a connection of the other as
 * established and pass the port firewall's `ct state established` accept. Each network's table
 * `inet stratus-net-<id>` sets the zone of every packet entering by its bridge, before conntrack sees
 * it (priority raw). Zones are 1..65535, unique on the host: tried from a hash of the network id, the
 * next free one on a collision (several agents may share a host, so the host's tables are the record).
 */
import { createHash } from 'node:crypto';
import { ExecError } from '../../host/exec.js';
import { logger } from '../../host/log.js';
import { assertId } from '../../host/names.js';
import { nft } from '../../host/nft.js';
import { nextFree } from '../../host/numbers.js';
import { assertIfname } from '../iplink.js';
import { withLock } from '../lock.js';

const log = logger('network');

/** The nftables table (inet family) of network `networkId`'s conntrack zone. */
export function ctZoneTable(networkId: string): string {
  assertId(networkId);
  return `stratus-net-${networkId}`;
}

const COMMENT = 'stratus ct zone';

/** The seed of the zone network `networkId` tries first: a hash of its id. */
function zoneSeed(networkId: string): number {
  return createHash('sha256').update(networkId).digest().readUInt16BE(0);
}

/** The zone network `networkId` tries first: from a hash of its id, 1..65535. */
export function preferredZone(networkId: string): number {
  return nextFree(zoneSeed(networkId), [1, 65535], new Set())!;
}

/** Zone numbers in use by Stratus networks on this host, by table name. */
async function zonesInUse(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const doc = JSON.parse((await nft(['-j', 'list', 'ruleset', 'inet'])).stdout) as {
    nftables?: { rule?: { table: string; comment?: string; expr?: unknown[] } }[];
  };
  for (const item of doc.nftables ?? []) {
    const r = item.rule;
    if (!r?.table.startsWith('stratus-net-') || r.comment !== COMMENT) continue;
    for (const e of r.expr ?? []) {
      const set = (e as { mangle?: { key?: { ct?: { key?: string } }; value?: unknown } }).mangle;
      if (set?.key?.ct?.key === 'zone' && typeof set.value === 'number') out.set(r.table, set.value);
    }
  }
  return out;
}

/** The zone network `networkId`'s table sets, or null when the table is missing or has no such rule. */
export async function inspectCtZone(networkId: string): Promise<number | null> {
  return (await zonesInUse()).get(ctZoneTable(networkId)) ?? null;
}

/** The table's script: packets entering by `bridge` get conntrack zone `zone`. */
export function renderCtZone(networkId: string, bridge: string, zone: number): string {
  assertIfname(bridge);
  if (!Number.isInteger(zone) || zone < 1 || zone > 65535) throw new Error(`invalid conntrack zone ${zone}`);
  const table = ctZoneTable(networkId);
  return [
    `table inet ${table} {}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    '  chain zone {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    iifname "${bridge}" ct zone set ${zone} comment "${COMMENT}"`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/**
 * Gives network `networkId` (bridge `bridge`) its conntrack zone, keeping the one it has; returns it.
 * @throws ExecError from nft; Error when all 65535 zones are taken by other networks.
 */
export async function ensureCtZone(networkId: string, bridge: string): Promise<number> {
  return withLock('ct-zones', async () => {
    const table = ctZoneTable(networkId);
    const used = await zonesInUse();
    const mine = used.get(table);
    const taken = new Set([...used].filter(([t]) => t !== table).map(([, z]) => z));
    // From the zone it has (kept unless another network took it), else from its id's hash.
    const zone = nextFree(mine !== undefined ? mine - 1 : zoneSeed(networkId), [1, 65535], taken);
    if (zone === undefined)
      throw new Error('no free conntrack zone: 65535 Linux bridge networks on this host');
    if (mine === zone) {
      // Converge the bridge name (an adopted network keeps its own).
      const r = await nft(['-j', 'list', 'table', 'inet', table]);
      if (r.stdout.includes(`"${bridge}"`)) return zone;
    }
    await nft(['-f', '-'], { input: renderCtZone(networkId, bridge, zone) });
    log.info('conntrack zone set', { networkId, bridge, zone });
    return zone;
  });
}

/** Removes network `networkId`'s conntrack zone table; succeeds when it is already gone. */
export async function deleteCtZone(networkId: string): Promise<void> {
  try {
    await nft(['delete', 'table', 'inet', ctZoneTable(networkId)]);
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
  }
}
