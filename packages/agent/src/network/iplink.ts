/** Queries and small actions on links and network namespaces, through iproute2's JSON output. */
import { access, readlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { run } from '../host/exec.js';

/** The fields of `ip -j -d link show` that Stratus reads. */
export interface LinkInfo {
  ifname: string;
  mtu: number;
  flags: string[];
  address?: string;
  /** Name of the bridge this link is enslaved to. */
  master?: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

/** An IPv4 address configured on a link, as `a.b.c.d/prefix`. */
export type AddressWithPrefix = string;

const IFNAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/** Throws unless `name` is a plausible Linux interface name (it ends up in paths and argument lists). */
export function assertIfname(name: string): void {
  if (!IFNAME_RE.test(name)) throw new Error(`invalid interface name ${JSON.stringify(name)}`);
}

function nsArgs(ns: string | undefined): string[] {
  return ns === undefined ? [] : ['-n', ns];
}

/** Runs `ip` with the given arguments, inside namespace `ns` when given (`ip -n`). */
export async function ip(args: readonly string[], ns?: string): Promise<string> {
  return (await run('ip', [...nsArgs(ns), ...args])).stdout;
}

/** Lists every link of namespace `ns` (the root namespace when omitted), with details. */
export async function listLinks(ns?: string, type?: string): Promise<LinkInfo[]> {
  const out = await ip(['-j', '-d', 'link', 'show', ...(type ? ['type', type] : [])], ns);
  return out.trim() === '' ? [] : (JSON.parse(out) as LinkInfo[]);
}

/**
 * Returns the link `name` of the root namespace, or null when absent. Checks sysfs first so a missing link
 * is not an error to parse, and listing every tap of a busy host is avoided.
 */
export async function getRootLink(name: string): Promise<LinkInfo | null> {
  assertIfname(name);
  try {
    await access(`/sys/class/net/${name}`);
  } catch {
    return null;
  }
  const out = await ip(['-j', '-d', 'link', 'show', 'dev', name]);
  return (JSON.parse(out) as LinkInfo[])[0] ?? null;
}

/**
 * The bridge (or other master) root-namespace link `name` is enslaved to, from sysfs (the `master`
 * link the kernel keeps beside each interface): a string, `''` when the link has no master, or null
 * when the link does not exist. No process is started, so a refresh of many servers costs no `ip` each.
 */
export async function linkMaster(name: string): Promise<string | null> {
  assertIfname(name);
  try {
    return basename(await readlink(`/sys/class/net/${name}/master`));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  try {
    await access(`/sys/class/net/${name}`);
    return '';
  } catch {
    return null;
  }
}

/** True when the link is administratively up. */
export const isUp = (l: LinkInfo): boolean => l.flags.includes('UP');

/** The IPv4 addresses of link `name` in namespace `ns`. */
export async function ipv4Addresses(name: string, ns?: string): Promise<AddressWithPrefix[]> {
  const out = await ip(['-j', 'addr', 'show', 'dev', name], ns);
  const links = JSON.parse(out) as { addr_info?: { family: string; local: string; prefixlen: number }[] }[];
  return (links[0]?.addr_info ?? [])
    .filter((a) => a.family === 'inet')
    .map((a) => `${a.local}/${a.prefixlen}`);
}

/**
 * Turns IPv6 off on a root-namespace link. Bridges and the host ends of veths only switch frames; without
 * this each gets a link-local address, making the host reachable from every tenant network (Neutron does
 * the same). Silently skipped when the kernel has no IPv6.
 */
export async function disableIpv6(name: string): Promise<void> {
  assertIfname(name);
  try {
    await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Names of the network namespaces `ip netns` knows. */
export async function listNamespaces(): Promise<string[]> {
  const out = await ip(['netns', 'list']);
  // Lines look like `qdhcp-… (id: 3)` or just `qdhcp-…`.
  return out
    .split('\n')
    .map((l) => l.trim().split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** True when namespace `ns` exists. */
export async function namespaceExists(ns: string): Promise<boolean> {
  return (await listNamespaces()).includes(ns);
}

/** Pids of the processes living in namespace `ns`. */
export async function namespacePids(ns: string): Promise<number[]> {
  const out = await ip(['netns', 'pids', ns]);
  return out
    .split('\n')
    .map((l) => Number.parseInt(l.trim(), 10))
    .filter((n) => Number.isInteger(n) && n > 0);
}
