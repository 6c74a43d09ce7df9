/**
 * The nftables table of one router, as a script for `nft -f` run inside the router's namespace. Pure: it
 * renders text; l3.ts loads it. One table per router, `ip stratus-router-<id>`, replaced atomically:
 * - prerouting (dstnat) and output: a floating IP's address is DNATed to its server's fixed address;
 * - postrouting (srcnat), only for packets leaving by the gateway device: a floating IP's server is
 *   SNATed to the floating address, and (with enableSnat) the router's subnets to the gateway address,
 *   as Neutron's l3 agent does with iptables (floating IP rules before the subnet SNAT).
 * Every rule carries a comment naming what it is for, so a flushed or edited table is found (drift).
 */

/** A floating IP as the router maps it. */
export interface FloatingMapping {
  /** The floating address (on the gateway device as a /32). */
  address: string;
  /** The server's fixed address it maps to. */
  fixedIp: string;
}

/** What the NAT table of a router is made from. */
export interface RouterNat {
  routerId: string;
  /** The gateway device in the namespace; NAT is only rendered with a gateway. */
  gatewayDevice?: string;
  /** The gateway port's address (SNAT source). */
  gatewayIp?: string;
  /** SNAT of `subnets` to the gateway address. */
  enableSnat: boolean;
  /** CIDRs of the router's interfaces' subnets. */
  subnets: string[];
  floating: FloatingMapping[];
}

/** The name of a router's table (family ip) in its namespace. */
export function natTableName(routerId: string): string {
  if (!/^[0-9a-f-]{36}$/.test(routerId)) throw new Error(`invalid router id ${JSON.stringify(routerId)}`);
  return `stratus-router-${routerId}`;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const CIDR = /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/;
const IFNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

function check(re: RegExp, v: string, what: string): string {
  if (!re.test(v)) throw new Error(`invalid ${what} ${JSON.stringify(v)} in a router's NAT table`);
  return v;
}

/** The rules of each chain, without the chain headers (what drift compares by count and comment). */
export function natRules(n: RouterNat): { prerouting: string[]; output: string[]; postrouting: string[] } {
  const out = { prerouting: [] as string[], output: [] as string[], postrouting: [] as string[] };
  if (!n.gatewayDevice || !n.gatewayIp) return out;
  const qg = check(IFNAME, n.gatewayDevice, 'device');
  for (const f of n.floating) {
    const a = check(IPV4, f.address, 'address');
    const x = check(IPV4, f.fixedIp, 'address');
    out.prerouting.push(`ip daddr ${a} dnat to ${x} comment "floating ${a}"`);
    out.output.push(`ip daddr ${a} dnat to ${x} comment "floating ${a}"`);
    out.postrouting.push(`oifname "${qg}" ip saddr ${x} snat to ${a} comment "floating ${a}"`);
  }
  if (n.enableSnat && n.subnets.length > 0) {
    const gw = check(IPV4, n.gatewayIp, 'address');
    const set = n.subnets.map((c) => check(CIDR, c, 'CIDR')).join(', ');
    out.postrouting.push(`oifname "${qg}" ip saddr { ${set} } snat to ${gw} comment "snat"`);
  }
  return out;
}

/** The number of rules {@link renderNat} puts in the table. */
export function natRuleCount(n: RouterNat): number {
  const r = natRules(n);
  return r.prerouting.length + r.output.length + r.postrouting.length;
}

/** The whole table as an `nft -f` script that replaces any earlier version in one transaction. */
export function renderNat(n: RouterNat): string {
  const t = natTableName(n.routerId);
  const r = natRules(n);
  const chain = (name: string, hook: string, prio: string, rules: string[]) =>
    [
      `  chain ${name} {`,
      `    type nat hook ${hook} priority ${prio}; policy accept;`,
      ...rules.map((x) => `    ${x}`),
      '  }',
    ].join('\n');
  return [
    `table ip ${t}`,
    `delete table ip ${t}`,
    `table ip ${t} {`,
    chain('prerouting', 'prerouting', 'dstnat', r.prerouting),
    chain('output', 'output', '-100', r.output),
    chain('postrouting', 'postrouting', 'srcnat', r.postrouting),
    '}',
    '',
  ].join('\n');
}
