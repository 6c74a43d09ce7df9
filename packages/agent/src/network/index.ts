/**
 * The Linux-bridge network driver of stratus-agent: bridges, DHCP namespaces with dnsmasq, and IPv4 IPAM.
 */
export { deleteDhcp, dhcpStatus, ensureDhcp } from './dhcp.js';
export { LEASE_SECONDS } from './dnsmasq-config.js';
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
export {
  BRIDGE_ALIAS_PREFIX,
  bridgeExists,
  deleteBridge,
  ensureBridge,
  inspectBridge,
  listStratusBridges,
  plugIntoBridge,
  type StratusBridge,
} from './linuxbridge.js';
export type { DhcpHost, DhcpSpec, DhcpStatus, DhcpSubnet } from './types.js';
