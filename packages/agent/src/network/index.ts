/**
 * Networking of stratus-agent: the network driver seam (driver.ts) with its Linux bridge implementation,
 * DHCP (dhcp/), and IPv4 IPAM (ipam.ts).
 */
export { type DhcpDriver, type DhcpSpec, type DhcpUplink, DnsmasqDhcp } from './dhcp/index.js';
export type { NetworkDriver, NetworkSegment, NicBinding, SegmentFacts } from './driver.js';
export {
  type AllocationPool,
  allocateIp,
  type Cidr,
  defaultAllocationPools,
  defaultGateway,
  type IpamErrorCode,
  intToIp,
  ipamError,
  ipInCidr,
  ipToInt,
  isValidIpv4,
  MAX_PREFIX,
  MIN_PREFIX,
  parseCidr,
} from './ipam.js';
export { BRIDGE_ALIAS_PREFIX, listStratusBridges, type StratusBridge } from './linuxbridge/bridge.js';
export { LinuxBridgeDriver, linuxBridgeUplink } from './linuxbridge/driver.js';
