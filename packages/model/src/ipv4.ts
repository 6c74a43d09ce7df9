/**
 * IPv4 parsing and arithmetic, the single source for validation (SDK) and IPAM (agent). Addresses are
 * unsigned 32-bit integers; text that is not IPv4 throws an {@link Ipv4Error} saying what is wrong.
 */
import { CodedError } from './errors.js';

/** Stable codes of {@link Ipv4Error}. */
export type Ipv4ErrorCode = 'invalid_ip' | 'invalid_cidr';

/** Text that is not an IPv4 address or not a CIDR Stratus accepts; the message says why. */
export class Ipv4Error extends CodedError<Ipv4ErrorCode> {}

/** A parsed IPv4 network. Addresses are unsigned 32-bit integers. */
export interface Ipv4Net {
  /** Canonical text form, e.g. `10.20.0.0/24`. */
  cidr: string;
  /** Network address. */
  network: number;
  /** Prefix length. */
  prefix: number;
  /** Dotted-quad netmask, e.g. `255.255.255.0` (what dnsmasq and cloud-init want). */
  netmask: string;
  /** Broadcast address. */
  broadcast: number;
  /** First host address (network + 1). */
  firstHost: number;
  /** Last host address (broadcast - 1). */
  lastHost: number;
}

/**
 * Smallest and largest prefix accepted by {@link parseCidr}. Below /8 a "subnet" would be a routing
 * aggregate, not a broadcast domain; above /30 there is no room for a gateway, a DHCP port and a guest.
 */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

// Leading zeros are refused: `010.0.0.1` means 8.0.0.1 to some parsers and 10.0.0.1 to others.
const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Whether `s` is a dotted-quad IPv4 address without leading zeros. */
export function isIpv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((o) => OCTET.test(o));
}

/** Converts a dotted-quad address to an unsigned integer; throws `invalid_ip`. */
export function ipToInt(ip: string): number {
  if (!isIpv4(ip)) throw new Ipv4Error('invalid_ip', `${JSON.stringify(ip)} is not an IPv4 address`);
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Converts an unsigned integer to a dotted-quad address; throws a RangeError for anything else. */
export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not an IPv4 address: ${n}`);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/len`; throws `invalid_cidr` saying what is wrong. The address must be the canonical
 * network address (`10.20.0.5/24` is refused rather than silently truncated, since it usually hides a
 * typo) and the prefix between {@link MIN_PREFIX} and {@link MAX_PREFIX}.
 */
export function parseCidr(cidr: string): Ipv4Net {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1]!))
    throw new Ipv4Error('invalid_cidr', `${JSON.stringify(cidr)} is not an IPv4 CIDR such as 10.0.0.0/24`);
  const prefix = Number(m[2]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX)
    throw new Ipv4Error('invalid_cidr', `prefix length /${prefix} is outside /${MIN_PREFIX}../${MAX_PREFIX}`);
  const addr = ipToInt(m[1]!);
  const mask = maskOf(prefix);
  const network = (addr & mask) >>> 0;
  if (network !== addr)
    throw new Ipv4Error(
      'invalid_cidr',
      `${cidr} has host bits set; the network address is ${intToIp(network)}/${prefix}`,
    );
  const broadcast = (network | ~mask) >>> 0;
  return {
    cidr: `${intToIp(network)}/${prefix}`,
    network,
    prefix,
    netmask: intToIp(mask),
    broadcast,
    firstHost: network + 1,
    lastHost: broadcast - 1,
  };
}

/** Netmask of a prefix length, dotted-quad. */
export function netmask(prefix: number): string {
  return intToIp(maskOf(prefix));
}

/** Whether `ip` lies in `net`, its network and broadcast addresses included. */
export function isInNet(ip: string, net: Ipv4Net): boolean {
  const n = ipToInt(ip);
  return n >= net.network && n <= net.broadcast;
}

/** Whether `ip` is a host address (not network or broadcast) of `net`. */
export function isHostOf(ip: string, net: Ipv4Net): boolean {
  const n = ipToInt(ip);
  return n >= net.firstHost && n <= net.lastHost;
}

/** The first host address: the default gateway (Neutron's convention). */
export function firstHost(net: Ipv4Net): string {
  return intToIp(net.firstHost);
}

/** An inclusive range of addresses. */
export interface Ipv4Pool {
  start: string;
  end: string;
}

/** All host addresses of `net` except `gateway`, as pools (Neutron's default). */
export function defaultPools(net: Ipv4Net, gateway: string | null): Ipv4Pool[] {
  const lo = net.firstHost;
  const hi = net.lastHost;
  const g = gateway ? ipToInt(gateway) : -1;
  const pools: Ipv4Pool[] = [];
  if (g < lo || g > hi) return [{ start: intToIp(lo), end: intToIp(hi) }];
  if (g > lo) pools.push({ start: intToIp(lo), end: intToIp(g - 1) });
  if (g < hi) pools.push({ start: intToIp(g + 1), end: intToIp(hi) });
  return pools;
}

/** Problems with a subnet's gateway and pools, each with the attribute path it concerns. */
export function checkSubnetRanges(
  cidr: string,
  gatewayIp: string | undefined,
  pools: Ipv4Pool[] | undefined,
): { path: (string | number)[]; message: string }[] {
  let net: Ipv4Net;
  // Malformed text is the schema's to report; here only what the schema cannot see.
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) return [];
  try {
    net = parseCidr(cidr);
  } catch (e) {
    return [{ path: ['cidr'], message: (e as Error).message }];
  }
  const out: { path: (string | number)[]; message: string }[] = [];
  if (gatewayIp && isIpv4(gatewayIp) && !isHostOf(gatewayIp, net))
    out.push({ path: ['gatewayIp'], message: `${gatewayIp} is not a host address of ${cidr}` });
  (pools ?? []).forEach((p, i) => {
    for (const k of ['start', 'end'] as const) {
      if (isIpv4(p[k]) && !isHostOf(p[k], net))
        out.push({ path: ['allocationPools', i, k], message: `${p[k]} is outside the subnet ${cidr}` });
    }
    if (isIpv4(p.start) && isIpv4(p.end) && ipToInt(p.start) > ipToInt(p.end))
      out.push({ path: ['allocationPools', i], message: `start ${p.start} is after end ${p.end}` });
    if (gatewayIp && isIpv4(gatewayIp) && isIpv4(p.start) && isIpv4(p.end)) {
      const g = ipToInt(gatewayIp);
      if (g >= ipToInt(p.start) && g <= ipToInt(p.end))
        out.push({ path: ['allocationPools', i], message: `pool contains the gateway ${gatewayIp}` });
    }
  });
  return out;
}
