/**
 * What dnsmasq is told, as pure functions of a {@link DhcpSpec}: validation, command line, hosts and
 * options files, and lease-file pruning. Kept free of I/O so every byte handed to dnsmasq is unit-tested.
 */
import { join } from 'node:path';
import { isGuestHostname, isHostOf } from '@stratus/model';
import { assertId, dhcpNsVeth } from '../../host/names.js';
import { type Cidr, intToIp, ipToInt, isValidIpv4, parseCidr } from '../ipam.js';
import type { DhcpHost, DhcpSpec, DhcpSubnet } from './types.js';

/**
 * Lease time handed to guests. Short enough that changed options (router, DNS, MTU) reach guests at
 * their next renewal (half of it), long enough that a dnsmasq restart or a slow supervisor is harmless.
 */
export const LEASE_SECONDS = 3600;

/** Files of one network's DHCP server, all inside `dir`. */
export interface DhcpPaths {
  dir: string;
  pidFile: string;
  hostsFile: string;
  optsFile: string;
  leaseFile: string;
  logFile: string;
  /** Which pid loaded which hosts/opts content; lets a crash between write and SIGHUP heal itself. */
  appliedFile: string;
}

/** Where the DHCP state of `networkId` lives under the agent's state directory. */
export function dhcpPaths(stateDir: string, networkId: string): DhcpPaths {
  assertId(networkId);
  const dir = join(stateDir, 'dhcp', networkId);
  return {
    dir,
    pidFile: join(dir, 'dnsmasq.pid'),
    hostsFile: join(dir, 'hosts'),
    optsFile: join(dir, 'opts'),
    leaseFile: join(dir, 'leases'),
    logFile: join(dir, 'dnsmasq.log'),
    appliedFile: join(dir, 'applied'),
  };
}

/** dnsmasq tag of a subnet, set by its dhcp-range and selecting its options. */
export const subnetTag = (subnetId: string): string => `subnet-${subnetId}`;

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function isId(id: string): boolean {
  try {
    assertId(id);
    return true;
  } catch {
    return false;
  }
}

/** A route destination: `a.b.c.d/len` with len 0-32 and no host bits set (`169.254.169.254/32`, `0.0.0.0/0`). */
function isRouteDestination(cidr: string): boolean {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m || !isValidIpv4(m[1]!) || Number(m[2]) > 32) return false;
  const prefix = Number(m[2]);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (ipToInt(m[1]!) & ~mask) >>> 0 === 0;
}

/** Throws an Error listing every problem of `spec` at once (the agent built it, so any problem is a bug). */
export function validateDhcpSpec(spec: DhcpSpec): void {
  const problems: string[] = [];
  const check = (ok: boolean, msg: string): void => {
    if (!ok) problems.push(msg);
  };
  check(isId(spec.networkId), `networkId: ${JSON.stringify(spec.networkId)} is not a lower-case UUID`);
  check(
    // Its range is the network schema's; here only what would make a malformed option.
    Number.isInteger(spec.mtu) && spec.mtu > 0,
    `mtu: ${spec.mtu} is not a positive integer`,
  );
  check(spec.subnets.length > 0, 'subnets: empty; a network without subnets needs no DHCP (use deleteDhcp)');

  const parsed: { s: DhcpSubnet; c: Cidr }[] = [];
  const ids = new Set<string>();
  spec.subnets.forEach((s, i) => {
    const at = `subnets[${i}]`;
    check(isId(s.subnetId) && !ids.has(s.subnetId), `${at}.subnetId: not a unique lower-case UUID`);
    ids.add(s.subnetId);
    let c: Cidr;
    try {
      c = parseCidr(s.cidr);
    } catch (e) {
      problems.push(`${at}.cidr: ${(e as Error).message}`);
      return;
    }
    const isHost = (ip: string): boolean => isValidIpv4(ip) && isHostOf(ip, c);
    check(isHost(s.dhcpServerIp), `${at}.dhcpServerIp: ${s.dhcpServerIp} is not a host address of ${s.cidr}`);
    check(s.gatewayIp === null || isValidIpv4(s.gatewayIp), `${at}.gatewayIp: ${s.gatewayIp} is not IPv4`);
    check(s.gatewayIp !== s.dhcpServerIp, `${at}.gatewayIp: equals dhcpServerIp`);
    s.dnsNameservers.forEach((d, j) => {
      check(isValidIpv4(d), `${at}.dnsNameservers[${j}]: ${d} is not IPv4`);
    });
    (s.hostRoutes ?? []).forEach((r, j) => {
      check(
        isRouteDestination(r.destination),
        `${at}.hostRoutes[${j}].destination: ${r.destination} is not a network in CIDR form`,
      );
      check(
        isHost(r.nexthop),
        `${at}.hostRoutes[${j}].nexthop: ${r.nexthop} is not a host address of ${s.cidr}`,
      );
    });
    for (const o of parsed) {
      check(c.broadcast < o.c.network || c.network > o.c.broadcast, `${at}.cidr: overlaps ${o.s.cidr}`);
    }
    parsed.push({ s, c });
  });

  check(
    spec.metadataAddress === undefined || isValidIpv4(spec.metadataAddress),
    `metadataAddress: ${spec.metadataAddress} is not IPv4`,
  );

  const macs = new Set<string>();
  const ips = new Set<string>(spec.subnets.map((s) => s.dhcpServerIp));
  spec.hosts.forEach((h, i) => {
    const at = `hosts[${i}]`;
    const mac = h.mac.toLowerCase();
    check(MAC_RE.test(mac), `${at}.mac: ${JSON.stringify(h.mac)} is not a MAC address`);
    check(
      MAC_RE.test(mac) && (Number.parseInt(mac.slice(0, 2), 16) & 1) === 0,
      `${at}.mac: ${h.mac} is multicast`,
    );
    check(!macs.has(mac), `${at}.mac: ${h.mac} appears twice`);
    macs.add(mac);
    const home = isValidIpv4(h.ip) ? parsed.find(({ c }) => isHostOf(h.ip, c)) : undefined;
    check(home !== undefined, `${at}.ip: ${JSON.stringify(h.ip)} is not a host address of any subnet`);
    check(!ips.has(h.ip), `${at}.ip: ${h.ip} is already used by another host or the DHCP port`);
    ips.add(h.ip);
    check(
      // The model's rule, which the schema enforces at validate: one label dnsmasq cannot misread.
      h.hostname === '' || isGuestHostname(h.hostname),
      `${at}.hostname: ${JSON.stringify(h.hostname)} is not a valid single-label host name`,
    );
  });
  if (problems.length > 0) throw new Error(`invalid DHCP spec:\n  ${problems.join('\n  ')}`);
}

const bySubnetId = (a: DhcpSubnet, b: DhcpSubnet): number => (a.subnetId < b.subnetId ? -1 : 1);

/**
 * dnsmasq's command line. Everything here needs a restart to change; everything that can change by
 * SIGHUP lives in the hosts and options files instead. Sorted, so equal specs give equal command lines,
 * which is how a running dnsmasq is recognised as up to date.
 */
export function dnsmasqArgs(spec: DhcpSpec, paths: DhcpPaths): string[] {
  const subnets = [...spec.subnets].sort(bySubnetId);
  let leaseMax = 0;
  const ranges = subnets.map((s) => {
    const c = parseCidr(s.cidr);
    leaseMax += c.lastHost - c.firstHost + 1;
    // `static`: addresses only for hosts listed in the hosts file, never from a dynamic pool.
    return `--dhcp-range=set:${subnetTag(s.subnetId)},${intToIp(c.network)},static,${c.netmask},${LEASE_SECONDS}s`;
  });
  return [
    // Nothing from the host's own configuration (/etc/dnsmasq.conf, /etc/hosts, resolv.conf) leaks in.
    '--conf-file=/dev/null',
    '--no-hosts',
    '--no-resolv',
    // DHCP only: guests get the network's DNS servers from the options file.
    '--port=0',
    '--bind-interfaces',
    `--interface=${dhcpNsVeth(spec.networkId)}`,
    '--except-interface=lo',
    `--pid-file=${paths.pidFile}`,
    `--dhcp-hostsfile=${paths.hostsFile}`,
    `--dhcp-optsfile=${paths.optsFile}`,
    `--dhcp-leasefile=${paths.leaseFile}`,
    // Routine DHCP transactions are not logged, so the log (reopened on SIGUSR2) holds only what matters.
    `--log-facility=${paths.logFile}`,
    '--quiet-dhcp',
    // We are the only DHCP server of this segment: answer unknown leases (e.g. after a restart) at once.
    '--dhcp-authoritative',
    `--dhcp-lease-max=${leaseMax}`,
    ...ranges,
  ];
}

/** The `--dhcp-hostsfile`: one `mac,ip[,hostname]` line per host, sorted by address. */
export function hostsFileText(hosts: readonly DhcpHost[]): string {
  return [...hosts]
    .sort((a, b) => ipToInt(a.ip) - ipToInt(b.ip))
    .map((h) => [h.mac.toLowerCase(), h.ip, ...(h.hostname === '' ? [] : [h.hostname])].join(',') + '\n')
    .join('');
}

/**
 * The `--dhcp-optsfile`: router, DNS servers, MTU and host routes per subnet tag. Host routes go out as
 * option 121 and as option 249 (Microsoft's number for the same, which Windows asks for), as Neutron's
 * DHCP agent sends them, with the default route via the gateway among them: RFC 3442 tells a client
 * that takes option 121 to ignore option 3.
 */
export function optsFileText(spec: DhcpSpec): string {
  const lines: string[] = [];
  for (const s of [...spec.subnets].sort(bySubnetId)) {
    const tag = `tag:${subnetTag(s.subnetId)}`;
    // An empty router option, so clients without one do not fall back to using the DHCP server as router.
    lines.push(s.gatewayIp === null ? `${tag},option:router` : `${tag},option:router,${s.gatewayIp}`);
    if (s.dnsNameservers.length > 0) lines.push(`${tag},option:dns-server,${s.dnsNameservers.join(',')}`);
    lines.push(`${tag},option:mtu,${spec.mtu}`);
    const routes = s.hostRoutes ?? [];
    if (routes.length > 0) {
      const all = [
        ...routes.map((r) => `${r.destination},${r.nexthop}`),
        // A host route of its own for 0.0.0.0/0 replaces the one via the gateway (Neutron's rule).
        ...(s.gatewayIp === null || routes.some((r) => r.destination === '0.0.0.0/0')
          ? []
          : [`0.0.0.0/0,${s.gatewayIp}`]),
      ].join(',');
      lines.push(`${tag},option:classless-static-route,${all}`);
      lines.push(`${tag},249,${all}`);
    }
  }
  return lines.map((l) => l + '\n').join('');
}

/** One line of dnsmasq's lease file (IPv4 form: `expiry mac ip hostname client-id`). */
interface Lease {
  line: string;
  mac: string;
  ip: string;
}

function parseLeases(text: string): Lease[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      const [, mac = '', ip = ''] = line.split(' ');
      return { line, mac: mac.toLowerCase(), ip };
    });
}

/**
 * Lease lines that would block a host: the address is now configured for a different MAC, and dnsmasq
 * refuses to hand out an address leased to someone else until that lease expires ("not using configured
 * address ... because it is leased to ..."). Such leases must be dropped: released with
 * {@link releaseArgs} while dnsmasq runs, or pruned from the file before it starts.
 */
export function blockingLeases(leaseText: string, hosts: readonly DhcpHost[]): string[] {
  const macOf = new Map(hosts.map((h) => [h.ip, h.mac.toLowerCase()]));
  return parseLeases(leaseText)
    .filter((l) => macOf.has(l.ip) && macOf.get(l.ip) !== l.mac)
    .map((l) => l.line);
}

/**
 * Lease lines of no configured host: the address and MAC pair is not in `hosts` (its port was deleted, or
 * the address went to another MAC: every {@link blockingLeases} line is one of them). Neutron's DHCP
 * agent releases these on each reload (`_release_unused_leases`), so an address given back is free
 * again at once, and the create that reuses it finds nothing to release.
 */
export function unusedLeases(leaseText: string, hosts: readonly DhcpHost[]): string[] {
  const configured = new Set(hosts.map((h) => leaseKey(h.ip, h.mac)));
  return parseLeases(leaseText)
    .filter((l) => MAC_RE.test(l.mac) && isValidIpv4(l.ip) && !configured.has(leaseKey(l.ip, l.mac)))
    .map((l) => l.line);
}

/**
 * The address and MAC of an IPv4 lease line, as one string (`ip mac`, the MAC lower-case); what stays
 * the same when dnsmasq renews the lease (the expiry changes). Other lines (`duid ...`) give `ip ''`.
 */
export function leaseLineKey(line: string): string {
  const [, mac = '', ip = ''] = line.trim().split(' ');
  return leaseKey(ip, mac);
}

function leaseKey(ip: string, mac: string): string {
  return `${ip} ${mac.toLowerCase()}`;
}

const CLIENT_ID_RE = /^[0-9a-f]{2}(:[0-9a-f]{2})*$/i;

/**
 * The arguments of `dhcp_release` (dnsmasq-utils) that make the dnsmasq of `networkId` drop lease line
 * `line`: its interface, address, MAC and, when the lease has one, client id (dnsmasq matches a release
 * by client id first, so a lease taken with one is released only with it). Neutron's DHCP agent releases
 * stale leases the same way instead of restarting dnsmasq. Null for a line that is not an IPv4 lease.
 */
export function releaseArgs(networkId: string, line: string): string[] | null {
  const [, mac = '', ip = '', , clientId = '*'] = line.trim().split(' ');
  if (!MAC_RE.test(mac.toLowerCase()) || !isValidIpv4(ip)) return null;
  return [
    dhcpNsVeth(networkId),
    ip,
    mac.toLowerCase(),
    ...(clientId !== '*' && CLIENT_ID_RE.test(clientId) ? [clientId.toLowerCase()] : []),
  ];
}

/** The lease file without its {@link blockingLeases}. */
export function pruneLeases(leaseText: string, hosts: readonly DhcpHost[]): string {
  const drop = new Set(blockingLeases(leaseText, hosts));
  return parseLeases(leaseText)
    .filter((l) => !drop.has(l.line))
    .map((l) => l.line + '\n')
    .join('');
}
