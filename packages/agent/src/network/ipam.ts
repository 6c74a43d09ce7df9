/**
 * IPv4 address management as pure functions: parsing, membership, default gateway and pools, allocation.
 * No I/O: the agent persists what these functions decide, so they are trivially testable and replayable.
 */

/** Stable codes of {@link IpamError}, meant to be mapped one-to-one onto API error codes. */
export type IpamErrorCode =
  | 'invalid_ip'
  | 'invalid_cidr'
  | 'invalid_pool'
  | 'ip_in_use'
  | 'ip_outside_pool'
  | 'pool_exhausted';

const IPAM_ERROR = Symbol.for('stratus.agent.IpamError');

/** An IPAM failure caused by the caller's input or by the pool's state, with a stable `code`. */
export class IpamError extends Error {
  override readonly name = 'IpamError';
  readonly [IPAM_ERROR] = true;
  constructor(
    readonly code: IpamErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** True for an IpamError, also one created by another copy of this module (a brand, not `instanceof`). */
  static isInstance(e: unknown): e is IpamError {
    return typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[IPAM_ERROR] === true;
  }
}

/** A parsed IPv4 CIDR. Addresses are unsigned 32-bit integers. */
export interface Cidr {
  /** Canonical text form, e.g. `10.20.0.0/24`. */
  cidr: string;
  /** Network address. */
  network: number;
  /** Prefix length. */
  prefix: number;
  /** Dotted-quad netmask, e.g. `255.255.255.0` (what dnsmasq wants). */
  netmask: string;
  /** Broadcast address. */
  broadcast: number;
  /** First usable host address (network + 1). */
  firstHost: number;
  /** Last usable host address (broadcast - 1). */
  lastHost: number;
}

/** An inclusive range of addresses handed out by {@link allocateIp}. */
export interface AllocationPool {
  start: string;
  end: string;
}

/**
 * Smallest and largest prefix accepted by {@link parseCidr}. Below /8 a "subnet" would be a routing
 * aggregate, not a broadcast domain; above /30 there is no room for a gateway, a DHCP port and a guest.
 */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 30;

// Leading zeros are refused: `010.0.0.1` means 8.0.0.1 to some parsers and 10.0.0.1 to others.
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/** True when `ip` is a dotted-quad IPv4 address without leading zeros. */
export function isValidIpv4(ip: string): boolean {
  return IPV4_RE.test(ip);
}

/** Converts a dotted-quad IPv4 address to an unsigned 32-bit integer; throws `invalid_ip`. */
export function ipToInt(ip: string): number {
  if (!isValidIpv4(ip)) throw new IpamError('invalid_ip', `invalid IPv4 address ${JSON.stringify(ip)}`);
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Converts an unsigned 32-bit integer to a dotted-quad IPv4 address. */
export function intToIp(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`not an IPv4 address: ${n}`);
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses an IPv4 CIDR such as `10.20.0.0/24`. The address must be the canonical network address
 * (`10.20.0.5/24` is refused rather than silently truncated, since it usually hides a typo) and the
 * prefix must be between {@link MIN_PREFIX} and {@link MAX_PREFIX}. Throws `invalid_cidr`.
 */
export function parseCidr(cidr: string): Cidr {
  const bad = (why: string): IpamError =>
    new IpamError('invalid_cidr', `invalid CIDR ${JSON.stringify(cidr)}: ${why}`);
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(cidr);
  if (!m) throw bad('expected a.b.c.d/prefix');
  const [, addr, prefixText] = m as unknown as [string, string, string];
  if (!isValidIpv4(addr)) throw bad(`${addr} is not an IPv4 address`);
  const prefix = Number(prefixText);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX)
    throw bad(`prefix must be /${MIN_PREFIX} to /${MAX_PREFIX}`);
  const mask = maskOf(prefix);
  const ip = ipToInt(addr);
  const network = (ip & mask) >>> 0;
  if (network !== ip) throw bad(`host bits set; the network address is ${intToIp(network)}/${prefix}`);
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

/** True when `ip` lies inside `cidr` (network and broadcast addresses included). Throws on invalid input. */
export function ipInCidr(ip: string, cidr: string): boolean {
  const c = parseCidr(cidr);
  const n = ipToInt(ip);
  return n >= c.network && n <= c.broadcast;
}

/** The conventional gateway of a subnet: its first host address (Neutron's default). */
export function defaultGateway(cidr: string): string {
  return intToIp(parseCidr(cidr).firstHost);
}

/**
 * Neutron's default allocation pools: every host address of the subnet except the gateway, so one or
 * two ranges. A gateway outside the subnet (or null) excludes nothing.
 */
export function defaultAllocationPools(cidr: string, gatewayIp: string | null): AllocationPool[] {
  const c = parseCidr(cidr);
  const gw = gatewayIp === null ? null : ipToInt(gatewayIp);
  const ranges: [number, number][] =
    gw === null || gw < c.firstHost || gw > c.lastHost
      ? [[c.firstHost, c.lastHost]]
      : [
          [c.firstHost, gw - 1],
          [gw + 1, c.lastHost],
        ];
  return ranges.filter(([s, e]) => s <= e).map(([s, e]) => ({ start: intToIp(s), end: intToIp(e) }));
}

function poolRange(p: AllocationPool): [number, number] {
  const s = ipToInt(p.start);
  const e = ipToInt(p.end);
  if (s > e) throw new IpamError('invalid_pool', `allocation pool ${p.start}-${p.end} ends before it starts`);
  return [s, e];
}

/**
 * Picks an address from `pools` that is not in `used`. With `requested`, returns exactly that address or
 * throws `ip_outside_pool` / `ip_in_use`; otherwise returns the lowest free address (deterministic, so
 * replays agree) or throws `pool_exhausted`. Cost grows with `used`, not with the pool size.
 */
export function allocateIp(
  pools: readonly AllocationPool[],
  used: ReadonlySet<string>,
  requested?: string,
): string {
  const ranges = pools.map(poolRange);
  if (requested !== undefined) {
    const n = ipToInt(requested);
    if (!ranges.some(([s, e]) => n >= s && n <= e)) {
      throw new IpamError('ip_outside_pool', `${requested} is outside the allocation pools`);
    }
    if (used.has(requested)) throw new IpamError('ip_in_use', `${requested} is already allocated`);
    return requested;
  }
  for (const [s, e] of ranges) {
    // Every address skipped is in `used`, so a pool's scan is bounded by used.size + 1 steps.
    for (let n = s; n <= e; n++) {
      const ip = intToIp(n);
      if (!used.has(ip)) return ip;
    }
  }
  throw new IpamError('pool_exhausted', 'no free address left in the allocation pools');
}
