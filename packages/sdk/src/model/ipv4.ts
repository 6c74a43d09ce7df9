/** IPv4 arithmetic shared by validation (SDK) and IPAM (agent). */

/** A parsed IPv4 network. */
export interface Ipv4Net {
  /** Network address as an unsigned 32-bit integer. */
  network: number;
  prefix: number;
  broadcast: number;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Whether `s` is a dotted-quad IPv4 address. */
export function isIpv4(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((o) => OCTET.test(o));
}

/** Converts a dotted-quad address to an unsigned integer. */
export function ipToInt(ip: string): number {
  if (!isIpv4(ip)) throw new Error(`${JSON.stringify(ip)} is not an IPv4 address`);
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

/** Converts an unsigned integer to a dotted-quad address. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Parses `a.b.c.d/len`; throws an Error saying what is wrong. Requires the canonical network address. */
export function parseCidr(cidr: string): Ipv4Net {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isIpv4(m[1]!))
    throw new Error(`${JSON.stringify(cidr)} is not an IPv4 CIDR such as 10.0.0.0/24`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new Error(`prefix length /${prefix} is outside /8../30`);
  const addr = ipToInt(m[1]!);
  const size = 2 ** (32 - prefix);
  const network = addr - (addr % size);
  if (network !== addr)
    throw new Error(`${cidr} has host bits set; the network is ${intToIp(network)}/${prefix}`);
  return { network, prefix, broadcast: network + size - 1 };
}

/** Netmask of a prefix length, dotted-quad. */
export function netmask(prefix: number): string {
  return intToIp(prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);
}

/** Whether `ip` is a host address (not network or broadcast) of `net`. */
export function isHostOf(ip: string, net: Ipv4Net): boolean {
  const n = ipToInt(ip);
  return n > net.network && n < net.broadcast;
}

/** The first host address: the default gateway. */
export function firstHost(net: Ipv4Net): string {
  return intToIp(net.network + 1);
}

/** An inclusive range of addresses. */
export interface Ipv4Pool {
  start: string;
  end: string;
}

/** All host addresses of `net` except `gateway`, as pools (Neutron's default). */
export function defaultPools(net: Ipv4Net, gateway: string | null): Ipv4Pool[] {
  const lo = net.network + 1;
  const hi = net.broadcast - 1;
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
