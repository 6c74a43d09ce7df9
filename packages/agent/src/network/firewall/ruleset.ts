/**
 * The nftables ruleset of one port: anti-spoofing and security groups (Neutron's port security), as a
 * script for `nft -f`. Pure: it renders text, {@link ./nft.ts} loads it.
 *
 * Why two tables per port. Guests sit on Linux bridges. nftables' bridge family sees the port a frame
 * enters or leaves by, but has no connection tracking on this kernel kind (`ct` there needs
 * nf_conntrack_bridge); the inet family has connection tracking for bridged IPv4 (br_netfilter calls
 * the IPv4 hooks for bridged packets) but sees only the bridge, not the port. So, per port:
 * - `table bridge stratus-port-<id>` tags the packet mark with the port's number: bits 16-31 when the
 *   frame comes from the port (prerouting), bits 0-15 when it leaves by it (forward, before
 *   br_netfilter's IPv4 hook), and enforces anti-spoofing on what comes from the port: only the port's
 *   MAC with its fixed IPs (and allowed address pairs) may leave it, ARP likewise, DHCP discovery from
 *   0.0.0.0 is allowed, DHCP server replies (UDP source port 67) are dropped, other ethertypes than
 *   IPv4 and ARP are dropped (Stratus networks are IPv4 only).
 * - `table inet stratus-port-<id>` matches the mark in the forward hook and applies the security groups
 *   statefully: established and related accepted, invalid dropped, DHCP allowed, then the rules of the
 *   port's groups (ingress for packets to the port, egress for packets from it), else drop. Remote
 *   groups are named sets of member addresses, so a membership change is a set update.
 * Each port's tables stand alone: an accept in one port's base chain does not skip another's, so a
 * packet between two guests passes the sender's egress and the receiver's ingress. Removing a port is
 * deleting its two tables.
 *
 * Rule semantics follow Neutron's security group rules: `direction` ingress|egress, `protocol`
 * tcp|udp|icmp|any or an IP protocol number, `portRangeMin`/`portRangeMax` (for icmp: type and code),
 * `remoteIpPrefix` or `remoteGroupId` (at most one; neither means any address). With
 * `portSecurityEnabled: false` a port has no tables at all, as in Neutron.
 */

/** A security group rule as the firewall applies it (the union of a port's groups' rules). */
export interface FirewallRule {
  direction: 'ingress' | 'egress';
  /** `any`, a name, or an IP protocol number 0..255. */
  protocol: 'tcp' | 'udp' | 'icmp' | 'any' | number;
  /** First port (tcp/udp), or ICMP type (icmp). */
  portRangeMin?: number;
  /** Last port (tcp/udp; default portRangeMin), or ICMP code (icmp). */
  portRangeMax?: number;
  /** The peer's addresses, as an IPv4 CIDR (0.0.0.0/0 for any). */
  remoteIpPrefix?: string;
  /** The peer is any member of this security group (its addresses are in `remoteGroups`). */
  remoteGroupId?: string;
}

/** An address pair a port may also send from (Neutron's allowed_address_pairs). */
export interface AddressPair {
  /** An IPv4 address or CIDR. */
  ipAddress: string;
  /** Default: the port's own MAC. */
  macAddress?: string;
}

/** Everything the firewall of one port needs. */
export interface PortFirewall {
  /** The port's resource id (a lower-case UUID); names its tables. */
  portId: string;
  /** The host end of the port: the guest's tap device (or a veth), at most 15 characters. */
  device: string;
  /**
   * The port's number on this host, unique among its ports: on a Linux bridge the packet-mark tag
   * (1..65535); on Open vSwitch its OpenFlow port number (`ofport_request`, {@link OFPORT_MIN}..
   * {@link OFPORT_MAX}).
   */
  mark: number;
  /** The Open vSwitch bridge of the port's network, when it is on one (the OpenFlow firewall's). */
  bridge?: string;
  /** The port's MAC address, lower-case `aa:bb:cc:dd:ee:ff`. */
  macAddress: string;
  /** The port's fixed IPv4 addresses. */
  fixedIps: string[];
  allowedAddressPairs?: AddressPair[];
  /** The rules of every security group of the port. */
  rules: FirewallRule[];
  /** Member addresses of each group a rule names as `remoteGroupId`, by group id. */
  remoteGroups: Record<string, string[]>;
}

/**
 * The OpenFlow port numbers a guarded OVS port may get (`ofport_request`): the upper half of OVS's
 * range, which its own allocation for ports that request none (DHCP, router and uplink ports, counting
 * up from 1) does not reach on a bridge of one network.
 */
export const OFPORT_MIN = 0x8000;
/** The highest OpenFlow port number OVS gives a port (0xfeff; 0xff00 and up are reserved). */
export const OFPORT_MAX = 0xfeff;

/** The name of both nftables tables (bridge and inet family) of a port. */
export function portTableName(portId: string): string {
  return `stratus-port-${checkId(portId)}`;
}

/** The named set holding the member addresses of remote group `groupId` inside a port's inet table. */
export function remoteGroupSet(groupId: string): string {
  return `rg-${checkId(groupId)}`;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A host interface name as nft and ovs-vsctl may be given it (at most 15 characters). */
export const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;
/** A lower-case MAC address. */
export const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4 = new RegExp(`^${OCTET}(\\.${OCTET}){3}$`);

/** `id` when it is a lower-case UUID. @throws Error otherwise. */
export function checkId(id: string): string {
  if (!ID.test(id)) throw new Error(`invalid resource id ${JSON.stringify(id)}: expected a lower-case UUID`);
  return id;
}

/** `ip` when it is an IPv4 address. @throws Error naming `what` otherwise. */
export function checkIp(ip: string, what: string): string {
  if (!IPV4.test(ip)) throw new Error(`${what}: ${JSON.stringify(ip)} is not an IPv4 address`);
  return ip;
}

/** An IPv4 address or CIDR, as nft takes it (a CIDR must have no host bits set, as nft requires). */
export function checkIpOrCidr(v: string, what: string): string {
  const [ip, len, ...rest] = v.split('/');
  checkIp(ip ?? '', what);
  if (len === undefined) return v;
  const n = Number(len);
  if (rest.length || !/^\d{1,2}$/.test(len) || n > 32)
    throw new Error(`${what}: ${JSON.stringify(v)} is not an IPv4 CIDR`);
  const addr = (ip ?? '').split('.').reduce((a, o) => a * 256 + Number(o), 0);
  const hostBits = n === 32 ? 0 : addr % 2 ** (32 - n);
  if (hostBits !== 0) throw new Error(`${what}: ${v} has host bits set`);
  return v;
}

/** `n` when it is absent or an integer in 0..max. @throws Error naming `what` otherwise. */
export function checkPort(n: number | undefined, max: number, what: string): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`${what}: ${n} is outside 0..${max}`);
  return n;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(8, '0')}`;

/** The nft match for a rule's protocol and ports, without the peer. */
function protocolMatch(r: FirewallRule): string {
  const min = checkPort(r.portRangeMin, r.protocol === 'icmp' ? 255 : 65535, 'portRangeMin');
  const max = checkPort(r.portRangeMax, r.protocol === 'icmp' ? 255 : 65535, 'portRangeMax');
  switch (r.protocol) {
    case 'any':
      return 'meta nfproto ipv4';
    case 'icmp':
      return [
        'meta l4proto icmp',
        min !== undefined && `icmp type ${min}`,
        max !== undefined && `icmp code ${max}`,
      ]
        .filter(Boolean)
        .join(' ');
    case 'tcp':
    case 'udp': {
      if (min === undefined) return `meta l4proto ${r.protocol}`;
      const hi = max ?? min;
      if (hi < min) throw new Error(`portRangeMin ${min} is greater than portRangeMax ${hi}`);
      return `${r.protocol} dport ${hi === min ? min : `${min}-${hi}`}`;
    }
    default: {
      if (!Number.isInteger(r.protocol) || r.protocol < 0 || r.protocol > 255)
        throw new Error(`protocol ${JSON.stringify(r.protocol)} is not tcp, udp, icmp, any or 0..255`);
      return `meta l4proto ${r.protocol}`;
    }
  }
}

/** One rule as an nft statement inside the port's to_port (ingress) or from_port (egress) chain. */
function ruleStatement(r: FirewallRule, groups: Record<string, string[]>): string {
  if (r.remoteIpPrefix !== undefined && r.remoteGroupId !== undefined)
    throw new Error('a rule takes remoteIpPrefix or remoteGroupId, not both');
  const field = r.direction === 'ingress' ? 'ip saddr' : 'ip daddr';
  let peer = '';
  if (r.remoteGroupId !== undefined) {
    if (!Object.hasOwn(groups, r.remoteGroupId))
      throw new Error(`remote group ${r.remoteGroupId} has no member list`);
    peer = `${field} @${remoteGroupSet(r.remoteGroupId)} `;
  } else if (r.remoteIpPrefix !== undefined && r.remoteIpPrefix !== '0.0.0.0/0')
    peer = `${field} ${checkIpOrCidr(r.remoteIpPrefix, 'remoteIpPrefix')} `;
  return `${peer}${protocolMatch(r)} accept`;
}

/** nft's set-element list for addresses (empty sets have no `elements` line). */
function elements(addrs: readonly string[], what: string): string {
  return [...new Set(addrs.map((a) => checkIpOrCidr(a, what)))].join(', ');
}

/**
 * Renders the `nft -f` script that replaces both tables of a port atomically (the script first makes
 * sure each table exists, deletes it, then defines it, all in one transaction).
 * @throws Error when any value is not what nft may be given (ids, device name, MAC, addresses, ports,
 *   protocol): nothing but validated values ever reaches the script.
 */
export function renderPortFirewall(p: PortFirewall): string {
  const table = portTableName(p.portId);
  if (!DEVICE.test(p.device)) throw new Error(`invalid device name ${JSON.stringify(p.device)}`);
  if (!Number.isInteger(p.mark) || p.mark < 1 || p.mark > 0xffff)
    throw new Error(`port mark ${p.mark} is outside 1..65535`);
  if (!MAC.test(p.macAddress)) throw new Error(`invalid MAC address ${JSON.stringify(p.macAddress)}`);
  const pairs: string[] = [];
  for (const ip of p.fixedIps) pairs.push(`${p.macAddress} . ${checkIp(ip, 'fixed IP')}`);
  for (const a of p.allowedAddressPairs ?? []) {
    const mac = a.macAddress ?? p.macAddress;
    if (!MAC.test(mac)) throw new Error(`invalid MAC address ${JSON.stringify(mac)}`);
    pairs.push(`${mac} . ${checkIpOrCidr(a.ipAddress, 'allowed address pair')}`);
  }
  const macs = [
    ...new Set([p.macAddress, ...(p.allowedAddressPairs ?? []).map((a) => a.macAddress ?? p.macAddress)]),
  ];
  const fromTag = hex(p.mark * 0x10000);
  const toTag = hex(p.mark);
  // A port with no address may still send DHCP discovery and ARP probes, nothing else over IP.
  const ipCheck = pairs.length
    ? `ether saddr . ip saddr != { ${[...new Set(pairs)].join(', ')} } drop`
    : 'ether type ip drop';
  const arpCheck = pairs.length
    ? `arp saddr ether . arp saddr ip != { ${[...new Set(pairs)].join(', ')} } drop`
    : 'ether type arp drop';

  const groupIds = [
    ...new Set(p.rules.flatMap((r) => (r.remoteGroupId === undefined ? [] : [r.remoteGroupId]))),
  ];
  const sets = groupIds.map((g) => {
    const members = elements(p.remoteGroups[g] ?? [], 'remote group member');
    return [
      `  set ${remoteGroupSet(g)} {`,
      '    type ipv4_addr; flags interval; auto-merge;',
      ...(members ? [`    elements = { ${members} }`] : []),
      '  }',
    ];
  });
  const ingress = p.rules
    .filter((r) => r.direction === 'ingress')
    .map((r) => ruleStatement(r, p.remoteGroups));
  const egress = p.rules.filter((r) => r.direction === 'egress').map((r) => ruleStatement(r, p.remoteGroups));
  for (const r of p.rules)
    if (r.direction !== 'ingress' && r.direction !== 'egress')
      throw new Error(`rule direction ${JSON.stringify(r.direction)} is not ingress or egress`);

  const lines = [
    `table bridge ${table}`,
    `delete table bridge ${table}`,
    `table bridge ${table} {`,
    '  chain prerouting {',
    '    type filter hook prerouting priority -300; policy accept;',
    `    iifname "${p.device}" jump from_port`,
    '  }',
    '  chain from_port {',
    `    meta mark set meta mark & 0x0000ffff | ${fromTag}`,
    `    ether saddr != { ${macs.join(', ')} } drop`,
    '    ether type != { ip, arp } drop',
    // DHCP discovery/request before the guest has an address (RFC 2131), and ARP probes (RFC 5227).
    '    ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 accept',
    '    arp saddr ip 0.0.0.0 accept',
    // A guest must not answer another guest's DHCP (Neutron drops DHCP server replies from ports).
    '    udp sport 67 drop',
    `    ${ipCheck}`,
    `    ${arpCheck}`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority -10; policy accept;',
    `    oifname "${p.device}" meta mark set meta mark & 0xffff0000 | ${toTag}`,
    '  }',
    '}',
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...sets.flat(),
    '  chain forward {',
    '    type filter hook forward priority 0; policy accept;',
    `    meta mark & 0x0000ffff == ${toTag} jump to_port`,
    `    meta mark & 0xffff0000 == ${fromTag} jump from_port`,
    '  }',
    '  chain to_port {',
    '    ct state established,related accept',
    '    ct state invalid drop',
    '    udp sport 67 udp dport 68 accept',
    ...ingress.map((s) => `    ${s}`),
    '    drop',
    '  }',
    '  chain from_port {',
    '    ct state established,related accept',
    '    ct state invalid drop',
    '    udp sport 68 udp dport 67 accept',
    ...egress.map((s) => `    ${s}`),
    '    drop',
    '  }',
    '}',
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Renders the `nft -f` script that replaces the members of remote group `groupId` in a port's table
 * (one transaction: flush, then add), for when a group's membership changes and the port's rules do not.
 * @throws Error on an invalid id or address.
 */
export function renderMemberUpdate(portId: string, groupId: string, members: readonly string[]): string {
  const table = portTableName(portId);
  const set = remoteGroupSet(groupId);
  const els = elements(members, 'remote group member');
  return [`flush set inet ${table} ${set}`, ...(els ? [`add element inet ${table} ${set} { ${els} }`] : [])]
    .join('\n')
    .concat('\n');
}
