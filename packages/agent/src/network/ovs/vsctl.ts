/**
 * Open vSwitch bridges and ports through `ovs-vsctl` (Open vSwitch 3.1 on Debian 12). Every function is
 * idempotent (`--may-exist`, `--if-exists`), so the agent converges after a crash by calling it again.
 * Stratus marks what it makes with `external_ids` (the network id on bridges, the owner on ports), as
 * Neutron's OVS agent does, so orphans map back to their resources.
 */
import { access } from 'node:fs/promises';
import { ExecError, run } from '../../host/exec.js';
import { assertId } from '../../host/names.js';
import { assertIfname } from '../iplink.js';
import { withLock } from '../lock.js';

/** `external_ids` key carrying the network id on a Stratus OVS bridge. */
export const OVS_NETWORK_KEY = 'stratus-network-id';

/**
 * The datapath an OVS bridge runs on: `system` (the kernel module) or `netdev` (userspace, for hosts
 * without the openvswitch kernel module, e.g. this CI machine kind).
 */
export type OvsDatapath = 'system' | 'netdev';

/** `system` when the openvswitch kernel module is loaded (sysfs shows it), else `netdev`. */
export async function detectDatapath(): Promise<OvsDatapath> {
  try {
    await access('/sys/module/openvswitch');
    return 'system';
  } catch {
    return 'netdev';
  }
}

/** Runs ovs-vsctl with a timeout, so a dead ovsdb-server fails the call instead of hanging it. */
export async function vsctl(args: readonly string[]): Promise<string> {
  return (await run('ovs-vsctl', ['--timeout=30', ...args])).stdout;
}

/** Whether OVS bridge `name` exists (`br-exists` exits 2 when it does not). */
export async function ovsBridgeExists(name: string): Promise<boolean> {
  assertIfname(name);
  try {
    await vsctl(['br-exists', name]);
    return true;
  } catch (e) {
    if (e instanceof ExecError && e.exitCode === 2) return false;
    throw e;
  }
}

/**
 * Creates OVS bridge `name` for network `networkId` if missing and converges it: datapath, the network id
 * in external_ids, the MTU of its internal port, and fail_mode standalone (it switches like a learning
 * bridge without a controller).
 */
export async function ensureOvsBridge(
  networkId: string,
  name: string,
  mtu: number,
  datapath: OvsDatapath,
): Promise<void> {
  assertId(networkId);
  assertIfname(name);
  if (!Number.isInteger(mtu) || mtu <= 0) throw new Error(`invalid MTU ${mtu}: expected a positive integer`);
  await withLock(`bridge:${networkId}`, async () => {
    await vsctl([
      '--may-exist',
      'add-br',
      name,
      '--',
      'set',
      'bridge',
      name,
      `datapath_type=${datapath}`,
      'fail_mode=standalone',
      `external_ids:${OVS_NETWORK_KEY}=${networkId}`,
      '--',
      'set',
      'interface',
      name,
      `mtu_request=${mtu}`,
    ]);
  });
}

/** Deletes OVS bridge `name` (and so its ports); nothing happens when it is absent. */
export async function deleteOvsBridge(networkId: string, name: string): Promise<void> {
  assertIfname(name);
  await withLock(`bridge:${networkId}`, async () => {
    await vsctl(['--if-exists', 'del-br', name]);
  });
}

/** The MTU of an existing OVS bridge named `name` (made by anyone), or null when there is none. */
export async function inspectOvsBridge(name: string): Promise<{ mtu: number } | null> {
  if (!(await ovsBridgeExists(name))) return null;
  const mtu = Number((await vsctl(['get', 'interface', name, 'mtu'])).trim());
  return { mtu: Number.isInteger(mtu) && mtu > 0 ? mtu : 1500 };
}

/** The OVS bridge port `ifname` is on, or null when it is on none. */
export async function bridgeOfPort(ifname: string): Promise<string | null> {
  assertIfname(ifname);
  try {
    return (await vsctl(['port-to-br', ifname])).trim() || null;
  } catch (e) {
    if (e instanceof ExecError && e.exitCode === 1) return null;
    throw e;
  }
}

/**
 * Adds host interface `ifname` to OVS bridge `bridge` as a port (moving it when it is on another
 * bridge), tagged with `owner` in external_ids. `replace`: `ifname` is a new device, and a port row
 * of that name is an earlier device's (a veth deleted with its namespace): the row is deleted first,
 * in a transaction of its own. The userspace (netdev) datapath keeps reading the old device through
 * a row that outlived it, and a delete and add in one transaction keep it too (seen with a recreated
 * veth: no frame crossed until the row was deleted and added in two transactions).
 */
export async function addOvsPort(
  bridge: string,
  ifname: string,
  owner: string,
  replace = false,
): Promise<void> {
  assertIfname(bridge);
  assertIfname(ifname);
  let current = await bridgeOfPort(ifname);
  if (replace && current) {
    await vsctl(['--if-exists', 'del-port', current, ifname]);
    current = null;
  }
  if (current === bridge) return;
  await vsctl([
    ...(current ? ['--if-exists', 'del-port', current, ifname, '--'] : []),
    'add-port',
    bridge,
    ifname,
    '--',
    'set',
    'interface',
    ifname,
    `external_ids:stratus-owner=${owner}`,
  ]);
}

/** ovsdb-server's socket (Debian's openvswitch-switch; scripts/setup-host.sh starts it there). */
const OVSDB_SOCKET = '/var/run/openvswitch/db.sock';

/**
 * Deletes the OVS port row named `ifname`, on whatever bridge holds it. A veth deleted with its
 * namespace leaves its row behind, and on a bridge Stratus never deletes (an operator's provider
 * bridge, where a router's gateway veth is plugged) the row would stay for good. Idempotent; a host
 * where ovsdb-server does not run has no rows, so there is nothing to do.
 *
 * @throws when ovsdb-server runs but refuses the delete.
 */
export async function forgetOvsPort(ifname: string): Promise<void> {
  assertIfname(ifname);
  try {
    await access(OVSDB_SOCKET);
  } catch {
    return;
  }
  const bridge = await bridgeOfPort(ifname);
  if (bridge) await vsctl(['--if-exists', 'del-port', bridge, ifname]);
}

/** Every OVS bridge carrying a Stratus network id, for finding orphans. */
export async function listStratusOvsBridges(): Promise<{ name: string; networkId: string | null }[]> {
  const out = await vsctl(['--format=json', '--columns=name,external_ids', 'list', 'bridge']);
  const doc = JSON.parse(out) as { data: [string, ['map', [string, string][]]][] };
  const found: { name: string; networkId: string | null }[] = [];
  for (const [name, [, ids]] of doc.data) {
    const id = ids.find(([k]) => k === OVS_NETWORK_KEY)?.[1];
    if (id === undefined) continue;
    let networkId: string | null = id;
    try {
      assertId(id);
    } catch {
      networkId = null;
    }
    found.push({ name, networkId });
  }
  return found;
}
