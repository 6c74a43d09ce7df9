/**
 * DHCP for tenant networks: a namespace per network with dnsmasq serving static leases only. It serves on
 * the interface its {@link DhcpUplink} plugs into the network's segment, whatever the network driver.
 */
import { deleteDhcp, dhcpStatus, ensureDhcp } from './dhcp.js';
import type { DhcpSpec, DhcpStatus } from './types.js';

export { LEASE_SECONDS, validateDhcpSpec } from './dnsmasq-config.js';
export type { DhcpHost, DhcpSpec, DhcpStatus, DhcpSubnet, DhcpUplink } from './types.js';

/** The DHCP service of networks, as the agent's services use it. */
export interface DhcpDriver {
  /** Converges the DHCP service of `spec.networkId` to `spec` (also revives a dead server). */
  ensure(spec: DhcpSpec): Promise<void>;
  /** Removes the DHCP service of a network; succeeds when there is none. */
  delete(networkId: string): Promise<void>;
  /** Observed state of a network's DHCP service. */
  status(networkId: string): Promise<DhcpStatus>;
}

/** {@link DhcpDriver} with dnsmasq, its files under `<stateDir>/dhcp/<network id>/`. */
export class DnsmasqDhcp implements DhcpDriver {
  constructor(private readonly stateDir: string) {}

  ensure(spec: DhcpSpec): Promise<void> {
    return ensureDhcp(spec, this.stateDir);
  }

  delete(networkId: string): Promise<void> {
    return deleteDhcp(networkId, this.stateDir);
  }

  status(networkId: string): Promise<DhcpStatus> {
    return dhcpStatus(networkId, this.stateDir);
  }
}
