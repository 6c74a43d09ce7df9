/**
 * Loads, replaces and removes port firewalls on Open vSwitch bridges as OpenFlow flows (see
 * openflow.ts for the pipeline), with `ovs-ofctl` (OpenFlow 1.4 bundles, so a port's flows change all
 * at once) and `ovs-vsctl`, and reads them back so drift shows.
 *
 * Two facts live on the switch itself, in `external_ids` as Neutron's agent keeps its own:
 * - a network's conntrack zone, on its bridge (`stratus-ct-zone`): chosen once, unique among the
 *   host's bridges (all `netdev` bridges share one datapath and so one connection tracker);
 * - the port a guest's OVS interface belongs to (`stratus-port-id`). Flows name ports by number, and a
 *   guest's OVS port only exists while its domain runs (libvirt adds it at start and deletes it at
 *   stop, getting a fresh number each time), so the firewall adds the port itself before the domain
 *   starts, with `ofport_request` set to the port's number; libvirt's `--may-exist add-port` keeps that
 *   row, so the guest's first frame already meets its flows.
 */
import { ExecError, run } from '../../host/exec.js';
import { nextFree } from '../../host/numbers.js';
import { assertIfname } from '../iplink.js';
import { ovsBridgeExists, vsctl } from '../ovs/vsctl.js';
import type { FirewallBackend, FirewallInspection } from './nft.js';
import { BASE_COOKIE, portCookie, renderBundle, TABLES } from './openflow.js';
import { checkId, DEVICE, type PortFirewall } from './ruleset.js';

/** `external_ids` key of a bridge's conntrack zone. */
export const OVS_ZONE_KEY = 'stratus-ct-zone';
/** `external_ids` key of the port id on a guarded guest's OVS interface. */
export const OVS_PORT_KEY = 'stratus-port-id';

const ofctl = (args: readonly string[], input?: string) =>
  run('ovs-ofctl', ['-O', 'OpenFlow14', ...args], input === undefined ? {} : { input });

/**
 * ovs-ofctl on `bridge`, which may vanish while it is used (another agent's, deleted between the bridge
 * list and this call, or during it: ovs-ofctl then says "is not a bridge or a socket", or "failed to
 * connect to socket (Connection reset by peer)"): its output, or null when the bridge is gone after a
 * failure. A failure on a bridge that still exists is thrown.
 */
async function ofctlIfBridge(bridge: string, args: readonly string[]): Promise<string | null> {
  try {
    return (await ofctl(args)).stdout;
  } catch (e) {
    if (e instanceof ExecError && !(await ovsBridgeExists(bridge))) return null;
    throw e;
  }
}

type OvsMap = ['map', [string, string][]];

/** The host's OVS bridges with their conntrack zones (undefined where none was chosen yet). */
async function bridgeZones(): Promise<Map<string, number | undefined>> {
  const out = await vsctl(['--format=json', '--columns=name,external_ids', 'list', 'bridge']);
  const doc = JSON.parse(out) as { data: [string, OvsMap][] };
  const zones = new Map<string, number | undefined>();
  for (const [name, [, ids]] of doc.data) {
    const z = Number(ids.find(([k]) => k === OVS_ZONE_KEY)?.[1]);
    zones.set(name, Number.isInteger(z) && z >= 1 && z <= 0xffff ? z : undefined);
  }
  return zones;
}

/**
 * The conntrack zone of `bridge`, choosing one (unused by the host's other bridges, searched from a
 * point derived from the name) when it has none. @throws Error when the bridge does not exist.
 */
async function zoneOf(bridge: string, zones: Map<string, number | undefined>): Promise<number> {
  if (!zones.has(bridge)) throw new Error(`Open vSwitch bridge ${bridge} does not exist`);
  const mine = zones.get(bridge);
  if (mine !== undefined) return mine;
  const used = new Set([...zones.values()].filter((z) => z !== undefined));
  const seed = [...bridge].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7);
  const z = nextFree(seed, [1, 0xffff], used);
  if (z === undefined) throw new Error('no free conntrack zone: 65535 guarded bridges on this host');
  await vsctl(['set', 'bridge', bridge, `external_ids:${OVS_ZONE_KEY}=${z}`]);
  zones.set(bridge, z);
  return z;
}

/**
 * Creates or replaces the firewalls of ports `ps` (each with its `bridge`): their OVS ports with the
 * requested numbers first, then one bundle per bridge with the bridge's own flows and each port's
 * (its old flows deleted by cookie, its new ones added), all or nothing per bridge.
 * @throws Error when a port has no bridge or the bridge is missing; ExecError from ovs-vsctl/ovs-ofctl.
 */
export async function ensurePortFlows(ps: readonly PortFirewall[]): Promise<void> {
  if (ps.length === 0) return;
  const byBridge = new Map<string, PortFirewall[]>();
  for (const p of ps) {
    if (p.bridge === undefined) throw new Error(`port ${p.portId} has no Open vSwitch bridge`);
    assertIfname(p.bridge);
    if (!DEVICE.test(p.device)) throw new Error(`invalid device name ${JSON.stringify(p.device)}`);
    byBridge.set(p.bridge, [...(byBridge.get(p.bridge) ?? []), p]);
  }
  const zones = await bridgeZones();
  for (const [bridge, ports] of byBridge) {
    const zone = await zoneOf(bridge, zones);
    // Render first: a port with an invalid value changes nothing on the switch.
    const bundle = renderBundle(
      zone,
      ports.map((p) => ({ p, at: { ofport: p.mark, zone } })),
    );
    // The guest's port, made ahead of its domain (or renumbered, when it exists with another number).
    // ovs-vsctl reports a port whose device does not exist yet, and exits 0: it is not an error here.
    await vsctl(
      ports.flatMap((p, i) => [
        ...(i ? ['--'] : []),
        '--may-exist',
        'add-port',
        bridge,
        p.device,
        '--',
        'set',
        'interface',
        p.device,
        `ofport_request=${p.mark}`,
        `external_ids:${OVS_PORT_KEY}=${checkId(p.portId)}`,
      ]),
    );
    await ofctl(['--bundle', 'add-flows', bridge, '-'], bundle);
  }
}

/**
 * Removes a port's firewall: its flows on every guarded bridge, and the OVS port made for it ahead of
 * a domain that never took it (one with a device, a running guest's, stays). Succeeds when it is gone.
 */
export async function deletePortFlows(portId: string): Promise<void> {
  const cookie = portCookie(portId);
  for (const [bridge, zone] of await bridgeZones())
    if (zone !== undefined) await ofctlIfBridge(bridge, ['del-flows', bridge, `cookie=${cookie}/-1`]);
  for (const i of await interfaces())
    if (i.portId === portId && i.ofport < 1) await vsctl(['--if-exists', 'del-port', i.name]);
}

interface IfaceFacts {
  name: string;
  /** -1 or 0 while its device does not exist. */
  ofport: number;
  portId?: string;
}

async function interfaces(): Promise<IfaceFacts[]> {
  const out = await vsctl(['--format=json', '--columns=name,ofport,external_ids', 'list', 'interface']);
  const doc = JSON.parse(out) as { data: [string, number | ['set', number[]], OvsMap][] };
  return doc.data.map(([name, ofport, [, ids]]) => {
    const portId = ids.find(([k]) => k === OVS_PORT_KEY)?.[1];
    return { name, ofport: typeof ofport === 'number' ? ofport : -1, ...(portId ? { portId } : {}) };
  });
}

/** The tables in which every guarded port has flows. */
const PORT_TABLES = [
  TABLES.classify,
  TABLES.egressBase,
  TABLES.egressRules,
  TABLES.forward,
  TABLES.ingressBase,
  TABLES.ingressRules,
];
const BASE_TABLES = [TABLES.classify, TABLES.forward];

/** One bridge's flows as inspection needs them: tables by cookie, and each port's `in_port`. */
interface BridgeFlows {
  tables: Map<string, Set<number>>;
  inPort: Map<string, number>;
}

/** Parses `ovs-ofctl dump-flows` output. */
export function parseDump(text: string): BridgeFlows {
  const tables = new Map<string, Set<number>>();
  const inPort = new Map<string, number>();
  for (const line of text.split('\n')) {
    const cookie = /cookie=(0x[0-9a-f]+)/.exec(line)?.[1];
    const table = /table=(\d+)/.exec(line)?.[1];
    if (!cookie || table === undefined) continue;
    const c = `0x${cookie.slice(2).padStart(16, '0')}`;
    const set = tables.get(c) ?? new Set<number>();
    set.add(Number(table));
    tables.set(c, set);
    const ip = /in_port=(\d+)/.exec(line)?.[1];
    if (ip && Number(table) === TABLES.classify) inPort.set(c, Number(ip));
  }
  return { tables, inPort };
}

/**
 * Reads every guarded bridge's flows and the OVS interfaces once, and answers for any port id what is
 * missing from its firewall: flows gone or flushed (from some tables, or the bridge's own), or its
 * guest's OVS port numbered otherwise than its flows say.
 */
export async function inspectPortFlows(): Promise<FirewallInspection> {
  const dumps = new Map<string, BridgeFlows>();
  for (const [bridge, zone] of await bridgeZones()) {
    const text = zone === undefined ? null : await ofctlIfBridge(bridge, ['dump-flows', bridge]);
    if (text !== null) dumps.set(bridge, parseDump(text));
  }
  const ifaces = await interfaces();
  return {
    problem(portId: string): string | null {
      const cookie = portCookie(portId);
      const found = [...dumps].find(([, d]) => d.tables.has(cookie));
      if (!found) return 'its OpenFlow flows were flushed or deleted (none on any bridge)';
      const [bridge, d] = found;
      const have = d.tables.get(cookie)!;
      const missing = PORT_TABLES.filter((t) => !have.has(t));
      if (missing.length)
        return `its OpenFlow flows in table(s) ${missing.join(', ')} of ${bridge} were flushed`;
      const base = d.tables.get(BASE_COOKIE);
      const baseMissing = BASE_TABLES.filter((t) => !base?.has(t));
      if (baseMissing.length)
        return `the base flows of ${bridge} in table(s) ${baseMissing.join(', ')} were flushed`;
      const want = d.inPort.get(cookie);
      const iface = ifaces.find((i) => i.portId === portId);
      if (iface && iface.ofport > 0 && iface.ofport !== want)
        return `its OVS port ${iface.name} is OpenFlow port ${iface.ofport}, its flows are for ${want}`;
      return null;
    },
  };
}

/** The port firewalls on Open vSwitch bridges, in OpenFlow. */
export const openflowFirewall: FirewallBackend = {
  // Conntrack is part of OVS (userspace or kernel datapath): nothing to turn on.
  prepare: async () => {},
  ensure: (p) => ensurePortFlows([p]),
  ensureMany: ensurePortFlows,
  delete: deletePortFlows,
  inspect: inspectPortFlows,
};
