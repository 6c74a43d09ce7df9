/**
 * The OpenFlow flows of one port's firewall on an Open vSwitch bridge: anti-spoofing and security
 * groups from the same {@link PortFirewall} the nftables ruleset renders, for `ovs-ofctl --bundle
 * add-flows`. Pure: it renders text, {@link ./ofctl.ts} loads it.
 *
 * Why OpenFlow. On the userspace (`netdev`) datapath frames never cross the kernel's bridge hooks, so
 * nftables cannot see them; OVS has its own connection tracker (`ct()`), which is what Neutron's
 * openvswitch firewall driver builds on. This pipeline follows that driver's design (its tables 71-73
 * and 81-82, a conntrack zone per network, a register naming the port an ingress packet is for):
 *
 * - table 0: a packet from a guarded port (`in_port`) goes to its egress pipeline (71); any other
 *   packet (DHCP, router, uplink, unguarded ports) to table 73.
 * - table 71, egress base (anti-spoofing): ARP only with the port's MAC and an allowed address (or the
 *   0.0.0.0 of a probe, RFC 5227), DHCP discovery from 0.0.0.0 (RFC 2131), no DHCP server replies
 *   (UDP source port 67), IPv4 only from the port's MAC with its fixed IPs or allowed address pairs, into
 *   conntrack (table 72); everything else dropped.
 * - table 72, egress rules: invalid dropped; established and related accepted; DHCP requests accepted;
 *   a new connection accepted when an egress rule matches; else dropped. Accepted goes to table 73.
 * - table 73, forward: a packet for a guarded port's MAC goes to that port's ingress (81) with the port
 *   in reg5; a new connection a guest's egress accepted for anywhere else is committed; the rest is
 *   switched by NORMAL. A connection between two guests is committed by the receiver's ingress only,
 *   so both sides' rules must accept its first packet (as in Neutron).
 * - table 81, ingress base: ARP and DHCP replies (UDP 67 to 68) delivered, IPv4 into conntrack (82),
 *   the rest dropped.
 * - table 82, ingress rules: invalid dropped; established and related delivered; a new connection
 *   matching an ingress rule committed and delivered; else dropped.
 *
 * Every flow of a port carries its cookie ({@link portCookie}), so its flows are replaced in one bundle
 * (delete by cookie, add) and removed exactly on delete; the bridge's own flows carry
 * {@link BASE_COOKIE}. Remote groups are expanded: one flow per rule and member address, so a
 * membership change reloads the ports whose rules name the group (one bundle each). Broadcast and
 * multicast frames are switched by NORMAL without ingress rules (ARP and DHCP need them), as in
 * Neutron; a guest's own broadcasts pass its egress rules first.
 */
import {
  checkId,
  checkIp,
  checkIpOrCidr,
  checkPort,
  type FirewallRule,
  MAC,
  OFPORT_MAX,
  OFPORT_MIN,
  type PortFirewall,
} from './ruleset.js';

/** The tables of the pipeline (Neutron's numbers). */
export const TABLES = {
  classify: 0,
  egressBase: 71,
  egressRules: 72,
  forward: 73,
  ingressBase: 81,
  ingressRules: 82,
} as const;

/**
 * The cookie of a bridge's own flows (table-miss and forwarding). Its 13th hex digit is 0, where a
 * port's cookie (from a version-4 UUID) has 4, so the two never meet.
 */
export const BASE_COOKIE = '0x5354524154530000';

/** Where a port's flows go: its OpenFlow port number and its network's conntrack zone. */
export interface FlowPlacement {
  /** The port's OpenFlow port number on the bridge. */
  ofport: number;
  /** The conntrack zone of the port's network, 1..65535. */
  zone: number;
}

/** The cookie of a port's flows: the first 64 bits of its id, `0x` + 16 hex digits. */
export function portCookie(portId: string): string {
  return `0x${checkId(portId).replace(/-/g, '').slice(0, 16)}`;
}

function checkZone(zone: number): number {
  if (!Number.isInteger(zone) || zone < 1 || zone > 0xffff)
    throw new Error(`conntrack zone ${zone} is outside 1..65535`);
  return zone;
}

/** The flows of a bridge whose ports conntrack zone `zone` guards (without the `add` keyword). */
export function baseFlows(zone: number): string[] {
  const z = checkZone(zone);
  const c = `cookie=${BASE_COOKIE}`;
  const t = TABLES;
  return [
    `table=${t.classify},priority=0,${c} actions=resubmit(,${t.forward})`,
    `table=${t.forward},priority=90,${c},ip,ct_state=+new+trk actions=ct(commit,zone=${z}),NORMAL`,
    `table=${t.forward},priority=0,${c} actions=NORMAL`,
    ...[t.egressBase, t.egressRules, t.ingressBase, t.ingressRules].map(
      (n) => `table=${n},priority=0,${c} actions=drop`,
    ),
  ];
}

/**
 * A port range as OpenFlow value/mask matches (OpenFlow has no ranges): the fewest aligned power-of-two
 * blocks that cover `lo..hi`, e.g. 80..83 is `0x50/0xfffc`; the whole range is no match at all.
 */
export function portMasks(lo: number, hi: number): string[] {
  if (lo === 0 && hi === 0xffff) return [];
  const out: string[] = [];
  let v = lo;
  while (v <= hi) {
    let size = 1;
    while (size < 0x10000 && v % (size * 2) === 0 && v + size * 2 - 1 <= hi) size *= 2;
    out.push(size === 1 ? String(v) : `0x${v.toString(16)}/0x${(0xffff & ~(size - 1)).toString(16)}`);
    v += size;
  }
  return out;
}

/** The matches (one or more alternatives) of a rule's protocol and ports, without the peer. */
function protocolMatches(r: FirewallRule): string[] {
  const min = checkPort(r.portRangeMin, r.protocol === 'icmp' ? 255 : 65535, 'portRangeMin');
  const max = checkPort(r.portRangeMax, r.protocol === 'icmp' ? 255 : 65535, 'portRangeMax');
  switch (r.protocol) {
    case 'any':
      return ['ip'];
    case 'icmp':
      return [
        ['icmp', min !== undefined && `icmp_type=${min}`, max !== undefined && `icmp_code=${max}`]
          .filter(Boolean)
          .join(','),
      ];
    case 'tcp':
    case 'udp': {
      if (min === undefined) return [r.protocol];
      const hi = max ?? min;
      if (hi < min) throw new Error(`portRangeMin ${min} is greater than portRangeMax ${hi}`);
      const masks = portMasks(min, hi);
      return masks.length ? masks.map((m) => `${r.protocol},tp_dst=${m}`) : [r.protocol];
    }
    default: {
      if (!Number.isInteger(r.protocol) || r.protocol < 0 || r.protocol > 255)
        throw new Error(`protocol ${JSON.stringify(r.protocol)} is not tcp, udp, icmp, any or 0..255`);
      return [`ip,nw_proto=${r.protocol}`];
    }
  }
}

/** The peer matches of a rule: none for any address, one per member address of a remote group. */
function peerMatches(r: FirewallRule, groups: Record<string, string[]>): string[] | null {
  if (r.remoteIpPrefix !== undefined && r.remoteGroupId !== undefined)
    throw new Error('a rule takes remoteIpPrefix or remoteGroupId, not both');
  const field = r.direction === 'ingress' ? 'nw_src' : 'nw_dst';
  if (r.remoteGroupId !== undefined) {
    if (!Object.hasOwn(groups, r.remoteGroupId))
      throw new Error(`remote group ${r.remoteGroupId} has no member list`);
    const members = [
      ...new Set(groups[r.remoteGroupId]!.map((a) => checkIpOrCidr(a, 'remote group member'))),
    ];
    return members.map((a) => `${field}=${a}`);
  }
  if (r.remoteIpPrefix !== undefined && r.remoteIpPrefix !== '0.0.0.0/0')
    return [`${field}=${checkIpOrCidr(r.remoteIpPrefix, 'remoteIpPrefix')}`];
  return null;
}

/**
 * Renders the flows of port `p` (without the `add` keyword), every one with the port's cookie.
 * @throws Error when any value is not what ovs-ofctl may be given (ids, MACs, addresses, ports,
 *   protocol, port number, zone): nothing but validated values reaches a flow.
 */
export function renderPortFlows(p: PortFirewall, at: FlowPlacement): string[] {
  const c = `cookie=${portCookie(p.portId)}`;
  const n = at.ofport;
  if (!Number.isInteger(n) || n < OFPORT_MIN || n > OFPORT_MAX)
    throw new Error(`OpenFlow port ${n} is outside ${OFPORT_MIN}..${OFPORT_MAX}`);
  const z = checkZone(at.zone);
  if (!MAC.test(p.macAddress)) throw new Error(`invalid MAC address ${JSON.stringify(p.macAddress)}`);
  const pairs: Array<[mac: string, ip: string]> = [];
  for (const ip of p.fixedIps) pairs.push([p.macAddress, checkIp(ip, 'fixed IP')]);
  for (const a of p.allowedAddressPairs ?? []) {
    const mac = a.macAddress ?? p.macAddress;
    if (!MAC.test(mac)) throw new Error(`invalid MAC address ${JSON.stringify(mac)}`);
    pairs.push([mac, checkIpOrCidr(a.ipAddress, 'allowed address pair')]);
  }
  const macs = [...new Set([p.macAddress, ...pairs.map(([m]) => m)])];
  const uniquePairs = [...new Map(pairs.map(([m, ip]) => [`${m} ${ip}`, [m, ip] as const])).values()];
  for (const r of p.rules)
    if (r.direction !== 'ingress' && r.direction !== 'egress')
      throw new Error(`rule direction ${JSON.stringify(r.direction)} is not ingress or egress`);

  const t = TABLES;
  const from = `${c},in_port=${n}`;
  const to = `${c},reg5=${n}`;
  const forward = `resubmit(,${t.forward})`;
  const deliver = `output:${n}`;
  const flows: string[] = [`table=${t.classify},priority=100,${from} actions=resubmit(,${t.egressBase})`];

  // Egress base: what may leave the port at all.
  for (const [mac, ip] of uniquePairs)
    flows.push(
      `table=${t.egressBase},priority=100,${from},dl_src=${mac},arp,arp_sha=${mac},arp_spa=${ip} actions=${forward}`,
    );
  for (const mac of macs) {
    flows.push(
      `table=${t.egressBase},priority=95,${from},dl_src=${mac},arp,arp_sha=${mac},arp_spa=0.0.0.0 actions=${forward}`,
      `table=${t.egressBase},priority=90,${from},dl_src=${mac},udp,nw_src=0.0.0.0,nw_dst=255.255.255.255,tp_src=68,tp_dst=67 actions=${forward}`,
    );
  }
  // A guest must not answer another guest's DHCP (Neutron drops DHCP server replies from ports).
  flows.push(`table=${t.egressBase},priority=80,${from},udp,tp_src=67 actions=drop`);
  for (const [mac, ip] of uniquePairs)
    flows.push(
      `table=${t.egressBase},priority=70,${from},dl_src=${mac},ip,nw_src=${ip} actions=ct(table=${t.egressRules},zone=${z})`,
    );
  flows.push(`table=${t.egressBase},priority=10,${from} actions=drop`);

  // Egress rules, on tracked packets.
  flows.push(
    `table=${t.egressRules},priority=100,${from},ct_state=+inv+trk actions=drop`,
    `table=${t.egressRules},priority=90,${from},ct_state=+est-inv+trk actions=${forward}`,
    `table=${t.egressRules},priority=90,${from},ct_state=+rel-inv+trk actions=${forward}`,
    `table=${t.egressRules},priority=60,${from},udp,tp_src=68,tp_dst=67 actions=${forward}`,
  );
  const ruleFlows = (r: FirewallRule, base: string, table: number, actions: string) => {
    const peers = peerMatches(r, p.remoteGroups);
    // A remote group with no members admits no one.
    if (peers !== null && peers.length === 0) return;
    for (const proto of protocolMatches(r))
      for (const peer of peers ?? [''])
        flows.push(
          `table=${table},priority=50,${base},ct_state=+new-est+trk,${proto}${peer ? `,${peer}` : ''} actions=${actions}`,
        );
  };
  for (const r of p.rules) if (r.direction === 'egress') ruleFlows(r, from, t.egressRules, forward);
  flows.push(`table=${t.egressRules},priority=10,${from} actions=drop`);

  // Forward: frames for the port's MACs go to its ingress.
  for (const mac of macs)
    flows.push(
      `table=${t.forward},priority=100,${c},dl_dst=${mac} actions=load:${n}->NXM_NX_REG5[],resubmit(,${t.ingressBase})`,
    );

  // Ingress base and rules.
  flows.push(
    `table=${t.ingressBase},priority=100,${to},arp actions=${deliver}`,
    `table=${t.ingressBase},priority=95,${to},udp,tp_src=67,tp_dst=68 actions=${deliver}`,
    `table=${t.ingressBase},priority=90,${to},ip actions=ct(table=${t.ingressRules},zone=${z})`,
    `table=${t.ingressBase},priority=10,${to} actions=drop`,
    `table=${t.ingressRules},priority=100,${to},ct_state=+inv+trk actions=drop`,
    `table=${t.ingressRules},priority=90,${to},ct_state=+est-inv+trk actions=${deliver}`,
    `table=${t.ingressRules},priority=90,${to},ct_state=+rel-inv+trk actions=${deliver}`,
  );
  for (const r of p.rules)
    if (r.direction === 'ingress') ruleFlows(r, to, t.ingressRules, `ct(commit,zone=${z}),${deliver}`);
  flows.push(`table=${t.ingressRules},priority=10,${to} actions=drop`);
  return flows;
}

/**
 * The `ovs-ofctl --bundle add-flows` input that replaces the flows of ports `ps` on one bridge (and
 * makes sure the bridge's own flows are there), applied all or nothing.
 */
export function renderBundle(
  zone: number,
  ps: ReadonlyArray<{ p: PortFirewall; at: FlowPlacement }>,
): string {
  const lines = baseFlows(zone).map((f) => `add ${f}`);
  for (const { p, at } of ps) {
    lines.push(`delete cookie=${portCookie(p.portId)}/-1`);
    for (const f of renderPortFlows(p, at)) lines.push(`add ${f}`);
  }
  return `${lines.join('\n')}\n`;
}
