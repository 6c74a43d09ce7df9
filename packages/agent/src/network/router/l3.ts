/**
 * The host side of a router (Neutron's l3 agent, legacy mode, without keepalived): namespace
 * `qrouter-<id>` with IPv4 forwarding on, one veth pair per interface (`qr-` in the namespace holding
 * the subnet's gateway address, its peer plugged into the subnet's network by the network driver) and
 * one for the external gateway (`qg-`, holding the gateway address and each floating address as a /32),
 * the default route through the external subnet's gateway, static routes, and the router's nftables
 * table (nat.ts). Every function is idempotent and keyed by the router id, so the agent converges after
 * a crash or drift by calling {@link ensureRouter} again. Gratuitous ARP announces floating addresses
 * that were added or moved (arping from iputils-arping, else busybox's arping).
 */
import { ExecError, run } from '../../host/exec.js';
import { logger } from '../../host/log.js';
import { assertId, routerNamespace } from '../../host/names.js';
import { terminate } from '../dhcp/proc.js';
import type { DhcpUplink } from '../dhcp/types.js';
import {
  assertIfname,
  disableIpv6,
  getRootLink,
  ip,
  ipv4Addresses,
  isUp,
  type LinkInfo,
  listLinks,
  namespaceExists,
  namespacePids,
} from '../iplink.js';
import { withLock } from '../lock.js';
import { forgetOvsPort } from '../ovs/vsctl.js';
import { natRuleCount, natTableName, type RouterNat, renderNat } from './nat.js';

const log = logger('router');

/** One veth pair of a router: the device in its namespace and its peer on a network's segment. */
export interface RouterPort {
  /** Device in the namespace (`qr-…`, `qg-…`). */
  device: string;
  /** Its peer in the root namespace, plugged into the network through `uplink`. */
  hostVeth: string;
  uplink: DhcpUplink;
  mtu: number;
  /** Addresses the device holds exactly, as `a.b.c.d/prefix`. */
  addresses: string[];
}

/** Everything a router is on the host. */
export interface RouterHostSpec {
  routerId: string;
  interfaces: RouterPort[];
  /** The external gateway port; `nexthop`: the external subnet's gateway (default route), if any. */
  gateway?: RouterPort & { nexthop: string | null };
  /** Static routes (Neutron's extra routes). */
  routes: { destination: string; nexthop: string }[];
  nat: RouterNat;
  /** Floating addresses to announce from the gateway device by gratuitous ARP (added or moved). */
  announce: string[];
}

const nsExec = (ns: string, cmd: string, args: string[], input?: string) =>
  run('ip', ['netns', 'exec', ns, cmd, ...args], input === undefined ? {} : { input });

/** Creates or converges a router on the host; see the module comment. @throws ExecError from ip/nft. */
export async function ensureRouter(spec: RouterHostSpec): Promise<void> {
  assertId(spec.routerId);
  const ns = routerNamespace(spec.routerId);
  await withLock(`l3:${spec.routerId}`, async () => {
    if (!(await namespaceExists(ns))) {
      log.info('creating router namespace', { routerId: spec.routerId, namespace: ns });
      await ip(['netns', 'add', ns]);
    }
    // IPv4 only, as Stratus networks are: no link-local IPv6 on the router's devices either.
    await nsExec(ns, 'sysctl', [
      '-q',
      '-w',
      'net.ipv4.ip_forward=1',
      'net.ipv6.conf.all.disable_ipv6=1',
      'net.ipv6.conf.default.disable_ipv6=1',
    ]);
    const ports = [...spec.interfaces, ...(spec.gateway ? [spec.gateway] : [])];
    const links = await listLinks(ns);
    const lo = links.find((l) => l.ifname === 'lo');
    if (lo && !isUp(lo)) await ip(['link', 'set', 'dev', 'lo', 'up'], ns);
    // Devices of interfaces or a gateway the router no longer has (deleting one end deletes its peer).
    for (const l of links)
      if (/^q[rg]-/.test(l.ifname) && !ports.some((p) => p.device === l.ifname)) {
        log.info('removing router device', { routerId: spec.routerId, device: l.ifname });
        await ip(['link', 'del', 'dev', l.ifname], ns);
      }
    for (const p of ports) await ensurePort(ns, p, links);
    await ensureRoutes(ns, spec);
    await nsExec(ns, 'nft', ['-f', '-'], renderNat(spec.nat));
    if (spec.gateway) for (const a of spec.announce) await announce(ns, spec.gateway.device, a);
  });
}

/** One veth pair: created whole (the peer made inside the namespace), plugged, sized, up, addressed. */
async function ensurePort(ns: string, p: RouterPort, links: LinkInfo[]): Promise<void> {
  assertIfname(p.device);
  assertIfname(p.hostVeth);
  let host = await getRootLink(p.hostVeth);
  let inner = links.find((l) => l.ifname === p.device);
  if (host && !inner) {
    await ip(['link', 'del', 'dev', p.hostVeth]);
    host = null;
  } else if (!host && inner) {
    await ip(['link', 'del', 'dev', p.device], ns);
    inner = undefined;
  }
  const created = !host;
  if (!host) {
    const m = String(p.mtu);
    log.info('creating router veth', { namespace: ns, device: p.device, host: p.hostVeth });
    await ip([
      'link',
      'add',
      p.hostVeth,
      'mtu',
      m,
      'type',
      'veth',
      'peer',
      'name',
      p.device,
      'netns',
      ns,
      'mtu',
      m,
    ]);
    if (p.uplink.softwareChecksums) await nsExec(ns, 'ethtool', ['-K', p.device, 'tx', 'off']);
    host = await getRootLink(p.hostVeth);
    inner = (await listLinks(ns)).find((l) => l.ifname === p.device);
  }
  if (!host || !inner) throw new Error(`router veth ${p.hostVeth}/${p.device} did not appear`);
  await disableIpv6(p.hostVeth);
  if (created || !(await p.uplink.isPlugged(host)) || host.mtu !== p.mtu || !isUp(host))
    await p.uplink.plug(p.hostVeth, p.mtu, created);
  if (inner.mtu !== p.mtu || !isUp(inner))
    await ip(['link', 'set', 'dev', p.device, 'mtu', String(p.mtu), 'up'], ns);
  const have = await ipv4Addresses(p.device, ns);
  for (const a of have) if (!p.addresses.includes(a)) await ip(['addr', 'del', a, 'dev', p.device], ns);
  for (const a of p.addresses)
    if (!have.includes(a))
      await ip(['addr', 'add', a, ...(a.endsWith('/32') ? [] : ['brd', '+']), 'dev', p.device], ns);
}

/** The main table's non-kernel routes: exactly the default route and the static routes asked for. */
async function ensureRoutes(ns: string, spec: RouterHostSpec): Promise<void> {
  const want = new Map<string, string>();
  if (spec.gateway?.nexthop) want.set('default', spec.gateway.nexthop);
  for (const r of spec.routes) want.set(r.destination, r.nexthop);
  const out = await ip(['-j', 'route', 'show'], ns);
  const have = (out.trim() ? JSON.parse(out) : []) as { dst: string; gateway?: string; protocol?: string }[];
  for (const r of have) {
    if (r.protocol === 'kernel') continue;
    const dst = r.dst;
    if (want.get(dst) !== r.gateway)
      await ip(['route', 'del', dst, ...(r.gateway ? ['via', r.gateway] : [])], ns);
    else want.delete(dst);
  }
  for (const [dst, via] of want) await ip(['route', 'replace', dst, 'via', via], ns);
}

/**
 * Sends one gratuitous ARP (an unsolicited request) for `address` from `device`: iputils' arping, or
 * busybox's where iputils-arping is not installed. Best effort, as in Neutron: a failure is logged, and
 * neighbours learn the address on their next ARP request anyway.
 */
async function announce(ns: string, device: string, address: string): Promise<void> {
  try {
    await nsExec(ns, 'arping', ['-U', '-c', '1', '-w', '1', '-I', device, address]);
    return;
  } catch (e) {
    // Exit 1: no reply, which an unsolicited request never gets; the packet went out.
    if (e instanceof ExecError && e.exitCode === 1) return;
    if (!(e instanceof ExecError) || e.exitCode !== null)
      log.warn('arping failed; trying busybox', { address, error: (e as Error).message });
  }
  try {
    await nsExec(ns, 'busybox', ['arping', '-U', '-c', '1', '-w', '1', '-I', device, '-s', address, address]);
  } catch (e) {
    if (e instanceof ExecError && e.exitCode === 1) return;
    log.warn('gratuitous ARP not sent', { address, error: (e as Error).message });
  }
}

/** What is wrong with a router on the host, compared with `spec`, or undefined when nothing is. */
export async function inspectRouter(spec: RouterHostSpec): Promise<string | undefined> {
  assertId(spec.routerId);
  const ns = routerNamespace(spec.routerId);
  if (!(await namespaceExists(ns))) return `namespace ${ns} is missing`;
  const links = await listLinks(ns);
  for (const p of [...spec.interfaces, ...(spec.gateway ? [spec.gateway] : [])]) {
    if (!links.some((l) => l.ifname === p.device)) return `device ${p.device} is missing`;
    const host = await getRootLink(p.hostVeth);
    if (!host) return `veth ${p.hostVeth} is missing`;
    // Unplugged outside Stratus (e.g. an OVS port deleted): the router is cut off from that network.
    if (!(await p.uplink.isPlugged(host)))
      return `veth ${p.hostVeth} is not plugged into ${p.uplink.description}`;
  }
  const table = natTableName(spec.routerId);
  let doc: { nftables?: Record<string, unknown>[] };
  try {
    doc = JSON.parse((await nsExec(ns, 'nft', ['-j', 'list', 'table', 'ip', table])).stdout);
  } catch {
    return `nftables table ${table} is missing`;
  }
  const items = doc.nftables ?? [];
  const chains = items.filter((i) => 'chain' in i).length;
  const rules = items.filter((i) => 'rule' in i).length;
  if (chains !== 3 || rules !== natRuleCount(spec.nat))
    return `nftables table ${table} has ${rules} rules in ${chains} chains, not ${natRuleCount(spec.nat)} in 3`;
  return undefined;
}

/**
 * Removes a router from the host: any process in its namespace, the namespace (and with it the devices
 * and the nftables table inside), and the named host veths should one outlive it. Idempotent.
 */
export async function deleteRouter(routerId: string, hostVeths: readonly string[]): Promise<void> {
  assertId(routerId);
  const ns = routerNamespace(routerId);
  await withLock(`l3:${routerId}`, async () => {
    if (await namespaceExists(ns)) {
      await terminate(await namespacePids(ns));
      log.info('deleting router namespace', { routerId, namespace: ns });
      await ip(['netns', 'del', ns]);
    }
    for (const v of hostVeths) await deleteLink(v);
  });
}

/**
 * Deletes root-namespace link `name` if it is there, and its OVS port row if one is left (see
 * {@link forgetOvsPort}). The kernel removes a veth whose peer's namespace went away a moment later,
 * so "no such device" while doing so means it is gone: success.
 */
export async function deleteLink(name: string): Promise<void> {
  try {
    if (await getRootLink(name)) await ip(['link', 'del', 'dev', name]);
  } catch (e) {
    if (await getRootLink(name).catch(() => null)) throw e;
  }
  await forgetOvsPort(name);
}
