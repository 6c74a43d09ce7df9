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
 * aggregate, not a broadcast domain. A /31 or /32 has no host address besides the gateway. A /30 has two
 * host addresses, taken by the gateway and the DHCP port: it parses (records of such subnets may exist)
 * but {@link checkSubnetRanges} refuses it, since no server fits; the smallest usable subnet is a /29.
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

/**
 * Addresses a subnet must have free in its pools: the DHCP port (the agent takes the first free one)
 * and at least one port for a server. The gateway is never in a pool.
 */
export const MIN_FREE_POOL_ADDRESSES = 2;

/** Number of distinct addresses in `ranges` (inclusive integer ranges, possibly overlapping). */
function countDistinct(ranges: [number, number][]): number {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  let n = 0;
  let upTo = -1;
  for (const [lo, hi] of sorted) {
    const from = Math.max(lo, upTo + 1);
    if (hi >= from) n += hi - from + 1;
    upTo = Math.max(upTo, hi);
  }
  return n;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Problems with a subnet's gateway and pools, each with the attribute path it concerns: a gateway or
 * pool outside the subnet, a pool that is reversed or holds the gateway, and a subnet (or pools) with no
 * room for the DHCP port plus one server beyond the gateway. Takes unvalidated values: what is not a
 * string where one belongs is the schema's to report and is skipped here.
 */
export function checkSubnetRanges(
  cidr: unknown,
  gatewayIp: unknown,
  pools: unknown,
): { path: (string | number)[]; message: string }[] {
  if (typeof cidr !== 'string') return [];
  let net: Ipv4Net;
  // Malformed text is the schema's to report; here only what the schema cannot see.
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1]!) || Number(m[2]) > 32) return [];
  const prefix = Number(m[2]);
  if (prefix > MAX_PREFIX)
    return [
      {
        path: ['cidr'],
        message: `a /${prefix} has ${prefix === 32 ? 'no host address' : 'no host addresses'} for the gateway, the DHCP port and a server; the smallest usable subnet is a /29`,
      },
    ];
  try {
    net = parseCidr(cidr);
  } catch (e) {
    return [{ path: ['cidr'], message: (e as Error).message }];
  }
  const out: { path: (string | number)[]; message: string }[] = [];
  const gw = str(gatewayIp);
  const gateway = gw !== undefined && isIpv4(gw) ? gw : undefined;
  if (gateway && !isHostOf(gateway, net))
    out.push({ path: ['gatewayIp'], message: `${gateway} is not a host address of ${cidr}` });
  const list = Array.isArray(pools) ? pools : undefined;
  const ranges: [number, number][] = [];
  let poolsUsable = list !== undefined;
  (list ?? []).forEach((p: unknown, i) => {
    const o = p !== null && typeof p === 'object' ? (p as Record<string, unknown>) : {};
    const start = str(o.start);
    const end = str(o.end);
    for (const [k, v] of [
      ['start', start],
      ['end', end],
    ] as const) {
      if (v !== undefined && isIpv4(v) && !isHostOf(v, net))
        out.push({ path: ['allocationPools', i, k], message: `${v} is outside the subnet ${cidr}` });
    }
    if (start === undefined || end === undefined || !isIpv4(start) || !isIpv4(end)) {
      poolsUsable = false;
      return;
    }
    const [lo, hi] = [ipToInt(start), ipToInt(end)];
    if (lo > hi) out.push({ path: ['allocationPools', i], message: `start ${start} is after end ${end}` });
    if (gateway) {
      const g = ipToInt(gateway);
      if (g >= lo && g <= hi)
        out.push({ path: ['allocationPools', i], message: `pool contains the gateway ${gateway}` });
    }
    ranges.push([Math.max(lo, net.firstHost), Math.min(hi, net.lastHost)]);
  });
  if (out.length > 0) return out;
  // Room: what the agent's IPAM will hand out, as it will (see the network service's allocate()).
  const g = gateway ?? firstHost(net);
  const free = poolsUsable
    ? countDistinct(ranges)
    : list === undefined
      ? countDistinct(defaultPools(net, g).map((p) => [ipToInt(p.start), ipToInt(p.end)]))
      : MIN_FREE_POOL_ADDRESSES;
  if (free < MIN_FREE_POOL_ADDRESSES) {
    const hosts = net.lastHost - net.firstHost + 1;
    out.push(
      list === undefined
        ? {
            path: ['cidr'],
            message: `${net.cidr} has ${hosts} host addresses: the gateway takes ${g} and the DHCP port ${intToIp(net.firstHost === ipToInt(g) ? net.firstHost + 1 : net.firstHost)}, leaving none for a server; use a /${Math.min(net.prefix - 1, 29)} or larger`,
          }
        : {
            path: ['allocationPools'],
            message: `the pools hold ${free} address${free === 1 ? '' : 'es'}; they need at least ${MIN_FREE_POOL_ADDRESSES}: one for the DHCP port and one for a server`,
          },
    );
  }
  return out;
}

/**
 * A subnet's allocation pools as inclusive integer ranges (the default pools when `pools` is undefined).
 * Undefined when the inputs are not all known, valid text (references, or what checkSubnetRanges
 * reports).
 */
export function subnetPoolRanges(
  cidr: unknown,
  gatewayIp: unknown,
  pools: unknown,
): [number, number][] | undefined {
  if (typeof cidr !== 'string' || checkSubnetRanges(cidr, gatewayIp, pools).length > 0) return undefined;
  let net: Ipv4Net;
  try {
    net = parseCidr(cidr);
  } catch {
    return undefined;
  }
  if (gatewayIp !== undefined && (typeof gatewayIp !== 'string' || !isIpv4(gatewayIp))) return undefined;
  if (pools === undefined)
    return defaultPools(net, gatewayIp ?? firstHost(net)).map((p) => [ipToInt(p.start), ipToInt(p.end)]);
  if (!Array.isArray(pools)) return undefined;
  const ranges: [number, number][] = [];
  for (const p of pools as unknown[]) {
    const o = p !== null && typeof p === 'object' ? (p as Record<string, unknown>) : {};
    const start = str(o.start);
    const end = str(o.end);
    if (!start || !end || !isIpv4(start) || !isIpv4(end)) return undefined;
    ranges.push([ipToInt(start), ipToInt(end)]);
  }
  return ranges;
}

/**
 * How many addresses of a subnet's pools are left for servers once the DHCP port took the first free
 * one (the lowest pool address, in a new subnet): the pools' distinct addresses less one. Undefined
 * when {@link subnetPoolRanges} is.
 */
export function serverAddressRoom(cidr: unknown, gatewayIp: unknown, pools: unknown): number | undefined {
  const ranges = subnetPoolRanges(cidr, gatewayIp, pools);
  return ranges && countDistinct(ranges) - 1;
}
