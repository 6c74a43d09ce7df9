/**
 * The Linux bridge of a network: the L2 segment its guests' taps and its DHCP port plug into.
 * Every function is idempotent, so the agent can converge after a crash by simply calling it again.
 */
import { access } from 'node:fs/promises';
import { logger } from '../../host/log.js';
import { assertId, bridgeName } from '../../host/names.js';
import { assertIfname, disableIpv6, getRootLink, ip, isUp, listLinks } from '../iplink.js';
import { withLock } from '../lock.js';

const log = logger('network');

/**
 * Prefix of the alias (`ip link … alias`, the kernel's ifalias) Stratus writes on its bridges. The name
 * keeps only 11 hex digits of the id; the alias carries the whole id so orphans map back to networks.
 */
export const BRIDGE_ALIAS_PREFIX = 'stratus:network:';

/** Refuses a non-integer MTU (a bug); the range allowed is the network schema's, checked at the API. */
function assertMtu(mtu: number): void {
  if (!Number.isInteger(mtu) || mtu <= 0) throw new Error(`invalid MTU ${mtu}: expected a positive integer`);
}

/**
 * Creates the bridge of `networkId` if missing and converges it: the given MTU, forwarding delay 0 (a
 * guest's port forwards at once instead of after 15 s, so its first DHCP discover is not lost), the
 * Stratus alias, IPv6 off (the host must not be reachable from tenant networks) and up.
 */
export async function ensureBridge(
  networkId: string,
  mtu: number,
  name = bridgeName(networkId),
): Promise<void> {
  assertId(networkId);
  assertMtu(mtu);
  assertIfname(name);
  await withLock(`bridge:${networkId}`, async () => {
    let link = await getRootLink(name);
    if (link && link.linkinfo?.info_kind !== 'bridge') {
      throw new Error(`${name} exists but is a ${link.linkinfo?.info_kind ?? 'plain'} link, not a bridge`);
    }
    if (!link) {
      log.info('creating bridge', { networkId, bridge: name });
      await ip([
        'link',
        'add',
        name,
        'mtu',
        String(mtu),
        'type',
        'bridge',
        'stp_state',
        '0',
        'forward_delay',
        '0',
      ]);
      link = await getRootLink(name);
      if (!link) throw new Error(`bridge ${name} vanished right after creation`);
    }
    await disableIpv6(name);
    if (link.linkinfo?.info_data?.forward_delay !== 0) {
      await ip(['link', 'set', 'dev', name, 'type', 'bridge', 'forward_delay', '0']);
    }
    const alias = BRIDGE_ALIAS_PREFIX + networkId;
    if (link.ifalias !== alias) await ip(['link', 'set', 'dev', name, 'alias', alias]);
    if (link.mtu !== mtu || !isUp(link)) await ip(['link', 'set', 'dev', name, 'mtu', String(mtu), 'up']);
  });
}

/**
 * True when the bridge of `networkId` (named `name` when it was adopted) exists. Read from sysfs (a
 * bridge's `/sys/class/net/<name>/bridge` directory), so a network's refresh spawns no `ip`.
 */
export async function bridgeExists(networkId: string, name = bridgeName(networkId)): Promise<boolean> {
  assertIfname(name);
  try {
    await access(`/sys/class/net/${name}/bridge`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Deletes the bridge of `networkId`; nothing happens when it is absent. Ports still attached (taps, the
 * DHCP veth) are detached by the kernel, not deleted: remove servers and DHCP first.
 */
export async function deleteBridge(networkId: string, name = bridgeName(networkId)): Promise<void> {
  await withLock(`bridge:${networkId}`, async () => {
    const link = await getRootLink(name);
    if (!link) return;
    if (link.linkinfo?.info_kind !== 'bridge')
      throw new Error(`${name} is not a bridge; refusing to delete it`);
    log.info('deleting bridge', { networkId, bridge: name });
    await ip(['link', 'del', 'dev', name]);
  });
}

/** A bridge carrying the Stratus alias; `networkId` is null when the alias does not hold a valid id. */
export interface StratusBridge {
  name: string;
  networkId: string | null;
}

/** Every bridge on this host whose alias marks it as Stratus', for finding orphans. */
export async function listStratusBridges(): Promise<StratusBridge[]> {
  const bridges = await listLinks(undefined, 'bridge');
  return bridges
    .filter((l) => l.ifalias?.startsWith(BRIDGE_ALIAS_PREFIX))
    .map((l) => {
      const id = l.ifalias!.slice(BRIDGE_ALIAS_PREFIX.length);
      try {
        assertId(id);
        return { name: l.ifname, networkId: id };
      } catch {
        return { name: l.ifname, networkId: null };
      }
    });
}

/**
 * Plugs an existing host interface (a running guest's tap) into a bridge and brings it up; returns false
 * when there is no such interface (its domain is not running: libvirt plugs the tap when it starts).
 */
export async function plugIntoBridge(ifname: string, bridge: string): Promise<boolean> {
  assertIfname(ifname);
  assertIfname(bridge);
  if (!(await getRootLink(ifname))) return false;
  await ip(['link', 'set', 'dev', ifname, 'master', bridge, 'up']);
  return true;
}

/** The MTU of an existing Linux bridge named `name` (made by anyone), or null when there is no such bridge. */
export async function inspectBridge(name: string): Promise<{ mtu: number } | null> {
  const link = await getRootLink(name).catch(() => null);
  return link?.linkinfo?.info_kind === 'bridge' ? { mtu: link.mtu } : null;
}
