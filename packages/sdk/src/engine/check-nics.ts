import {
  intToIp,
  ipToInt,
  isInNet,
  isIpv4,
  parseCidr,
  serverAddressRoom,
  subnetPoolRanges,
} from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { listNames } from '../diagnostics/limits.js';
import { fieldOf, type ResourceConfig, type StackConfig } from './config.js';
import { Ref, type Value } from './expr.js';
import { target } from './target.js';

/** Whether `ip` lies in the subnet's CIDR; undefined when the CIDR is not known text. */
function inSubnet(ip: string, subnet: ResourceConfig): boolean | undefined {
  const cidr = subnet.properties.cidr;
  if (typeof cidr !== 'string') return undefined;
  try {
    return isInNet(ip, parseCidr(cidr));
  } catch {
    return undefined;
  }
}

/**
 * Why the agent would refuse `ip` as a fixed address on `subnet` (outside its pools, the DHCP port's, or
 * another NIC's of this stack), or undefined. The DHCP port of a new subnet takes the lowest pool address.
 */
function fixedIpProblem(subnet: ResourceConfig, ip: string, fixed: Map<string, string>): string | undefined {
  const { cidr, gatewayIp, allocationPools } = subnet.properties;
  const ranges = subnetPoolRanges(cidr, gatewayIp, allocationPools);
  if (ranges) {
    const n = ipToInt(ip);
    if (!ranges.some(([lo, hi]) => n >= lo && n <= hi))
      return `${ip} is outside the allocation pools of subnet ${subnet.name} (${ranges.map(([lo, hi]) => `${intToIp(lo)}-${intToIp(hi)}`).join(', ')})`;
    if (n === Math.min(...ranges.map(([lo]) => lo)))
      return `${ip} is the address the DHCP port of subnet ${subnet.name} takes (the first of its pools); pick another`;
  }
  const other = fixed.get(`${subnet.name} ${ip}`);
  return other ? `${ip} is already the fixedIp of ${other} on subnet ${subnet.name}` : undefined;
}

/**
 * Subnets of one network of this stack whose CIDRs overlap, which the agent refuses: reported at the
 * later one's `cidr`.
 */
export function checkSubnetOverlaps(config: StackConfig, diags: Diagnostics): void {
  const seen = new Map<string, { name: string; cidr: string; lo: number; hi: number }[]>();
  for (const rc of config.resources.values()) {
    if (rc.type !== 'subnet') continue;
    const net = target(config, rc.properties.network, 'network');
    const cidr = rc.properties.cidr;
    if (!net || typeof cidr !== 'string') continue;
    let lo: number;
    let hi: number;
    try {
      const c = parseCidr(cidr);
      [lo, hi] = [c.network, c.broadcast];
    } catch {
      continue;
    }
    const list = seen.get(net.name) ?? [];
    const o = list.find((x) => lo <= x.hi && x.lo <= hi);
    if (o)
      diags.error(
        `${cidr} overlaps subnet ${o.name} (${o.cidr}) on the same network ${net.name}`,
        fieldOf(rc, ['properties', 'cidr']),
        rc.locate(['properties', 'cidr']),
      );
    list.push({ name: rc.name, cidr, lo, hi });
    seen.set(net.name, list);
  }
}

/**
 * What a server's NICs need from the subnets of this stack, which the agent would otherwise refuse only
 * at apply (issue 7, finding 1's kind): a NIC on a network of this stack needs a subnet of that network
 * to take its address from (one containing its `fixedIp` when it has one); a NIC naming a subnet and a
 * network needs the subnet to be on that network; a `fixedIp` must be in the subnet's pools, not the
 * DHCP port's address nor another NIC's; and a subnet cannot
 * hold more of this stack's NICs than its pools have addresses left beyond the DHCP port. Only what is
 * known at validate is checked: references to other stacks' objects (ids as text), CIDRs or pools that
 * are references, and the subnet a network NIC without `fixedIp` gets when its network has several
 * (the agent's choice) are left to apply. Each problem is reported at the NIC's entry in `networks`.
 */
export function checkServerNics(config: StackConfig, diags: Diagnostics): void {
  const subnetsOf = new Map<string, ResourceConfig[]>();
  for (const rc of config.resources.values()) {
    if (rc.type !== 'subnet') continue;
    const net = target(config, rc.properties.network, 'network');
    if (net) subnetsOf.set(net.name, [...(subnetsOf.get(net.name) ?? []), rc]);
  }
  /** `subnet address` -> the NIC (`server networks[i]`) that has it as its fixedIp. */
  const fixed = new Map<string, string>();
  /** Subnet name -> the NICs (server, index) taking an allocated address from it, in stack order. */
  const allocated = new Map<string, { server: ResourceConfig; i: number }[]>();

  for (const rc of config.resources.values()) {
    if (rc.type !== 'server' || !Array.isArray(rc.properties.networks)) continue;
    rc.properties.networks.forEach((entry, i) => {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry) || entry instanceof Ref) return;
      const nic = entry as Record<string, Value>;
      const at = (field?: string) => {
        const path = field ? ['networks', i, field] : ['networks', i];
        return {
          field: fieldOf(rc, ['properties', ...path]),
          where: rc.locate(['properties', ...path]),
        };
      };
      const error = (message: string, field?: string) => {
        const a = at(field);
        diags.error(message, a.field, a.where);
      };
      const net = target(config, nic.network, 'network');
      const sub = target(config, nic.subnet, 'subnet');
      const fixedIp = typeof nic.fixedIp === 'string' && isIpv4(nic.fixedIp) ? nic.fixedIp : undefined;
      let from: ResourceConfig | undefined;
      if (sub) {
        const subNet = target(config, sub.properties.network, 'network');
        if (net && subNet && subNet !== net) {
          error(`subnet ${sub.name} is on network ${subNet.name}, not on ${net.name}`, 'subnet');
          return;
        }
        if (fixedIp && inSubnet(fixedIp, sub) === false) {
          error(`${fixedIp} is not in subnet ${sub.name} (${String(sub.properties.cidr)})`, 'fixedIp');
          return;
        }
        from = sub;
      } else if (net && nic.subnet === undefined) {
        const subs = subnetsOf.get(net.name) ?? [];
        if (subs.length === 0) {
          error(
            `network ${net.name} has no subnet in this stack, so the server cannot take an address on it: add a subnet with network: \${${net.name}}, or name one in subnet`,
            'network',
          );
          return;
        }
        if (fixedIp) {
          const fits = subs.map((s) => inSubnet(fixedIp, s));
          if (fits.every((f) => f === false)) {
            error(
              `${fixedIp} is in none of the subnets of network ${net.name} (${listNames(subs.map((s) => `${s.name} ${String(s.properties.cidr)}`))})`,
              'fixedIp',
            );
            return;
          }
          // The agent takes the subnet that holds the address.
          if (fits.filter((f) => f === true).length === 1) from = subs[fits.indexOf(true)];
        } else if (subs.length === 1) from = subs[0];
      }
      if (from && fixedIp) {
        const p = fixedIpProblem(from, fixedIp, fixed);
        if (p) error(p, 'fixedIp');
        else fixed.set(`${from.name} ${fixedIp}`, `${rc.name} networks[${i}]`);
      }
      // A fixed address is the user's to pick; only allocated ones are counted against the room.
      if (from && !fixedIp)
        allocated.set(from.name, [...(allocated.get(from.name) ?? []), { server: rc, i }]);
    });
  }

  for (const [name, nics] of allocated) {
    const s = config.resources.get(name)!;
    const room = serverAddressRoom(s.properties.cidr, s.properties.gatewayIp, s.properties.allocationPools);
    if (room === undefined || nics.length <= room) continue;
    for (const { server, i } of nics.slice(room))
      diags.error(
        `subnet ${name} (${String(s.properties.cidr)}) has room for ${room} server address${room === 1 ? '' : 'es'} beyond its gateway and DHCP port, and ${nics.length} NICs of this stack take one from it (${listNames(new Set(nics.map((n) => n.server.name)))}): use a larger subnet or pools`,
        fieldOf(server, ['properties', 'networks', i]),
        server.locate(['properties', 'networks', i]),
      );
  }
}
