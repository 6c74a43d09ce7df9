/**
 * Names of host objects, derived from Stratus resource ids so that every object can be traced back to the
 * resource that owns it and cleanup is exact. Linux interface names are at most 15 characters.
 */

const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Whether `id` is a lower-case UUID, the only form of resource id the agent accepts. */
export const isResourceId = (id: string): boolean => ID_RE.test(id);

/** Throws unless `id` is a lower-case UUID, the only form of resource id the agent accepts. */
export function assertId(id: string): void {
  if (!isResourceId(id))
    throw new Error(`invalid resource id ${JSON.stringify(id)}: expected a lower-case UUID`);
}

function short(id: string, n: number): string {
  assertId(id);
  return id.replace(/-/g, '').slice(0, n);
}

/** Linux bridge of a network: `brq` + 11 hex digits of the network id (Neutron's convention). */
export const bridgeName = (networkId: string): string => `brq${short(networkId, 11)}`;

/** Open vSwitch bridge of a network: `bro` + 11 hex digits of the network id. */
export const ovsBridgeName = (networkId: string): string => `bro${short(networkId, 11)}`;

/** Network namespace holding a network's DHCP server. */
export const dhcpNamespace = (networkId: string): string => `qdhcp-${networkId}`;

/** Host (bridge) end of the DHCP veth pair of a network. */
export const dhcpHostVeth = (networkId: string): string => `tdh${short(networkId, 11)}`;

/** Namespace end of the DHCP veth pair of a network. */
export const dhcpNsVeth = (networkId: string): string => `ns-${short(networkId, 11)}`;

/** Tap device of a server's NIC number `index` (0-based, < 10). */
export function serverTap(serverId: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 9) throw new Error(`NIC index ${index} out of range`);
  return `tap${short(serverId, 10)}${index}`;
}

/** libvirt domain name of a server. */
export const domainName = (serverId: string): string => `stratus-${serverId}`;

/** The XML namespace of Stratus' libvirt domain metadata. */
export const METADATA_NS = 'https://stratus.dev/xmlns/domain/1';

/** Network namespace of a router (Neutron's `qrouter-<id>`). */
export const routerNamespace = (routerId: string): string => `qrouter-${routerId}`;

/** A router's gateway device in its namespace: `qg-` + 11 hex digits of the router id. */
export const routerGatewayDevice = (routerId: string): string => `qg-${short(routerId, 11)}`;

/** Host (bridge) end of a router's gateway veth pair. */
export const routerGatewayHostVeth = (routerId: string): string => `tqg${short(routerId, 11)}`;

/** A router interface's device in the router's namespace: `qr-` + 11 hex digits of the interface id. */
export const routerInterfaceDevice = (interfaceId: string): string => `qr-${short(interfaceId, 11)}`;

/** Host (bridge) end of a router interface's veth pair. */
export const routerInterfaceHostVeth = (interfaceId: string): string => `tqr${short(interfaceId, 11)}`;
