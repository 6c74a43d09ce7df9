/**
 * DHCP for tenant networks: a namespace per network with dnsmasq serving static leases only. It serves on
 * the interface its {@link DhcpUplink} plugs into the network's segment, whatever the network driver.
 */
import { readIfExists } from '@stratus/util';
import { deleteDhcp, dhcpStatus, ensureDhcp, reloadDhcpHosts } from './dhcp.js';
import { dhcpPaths, LEASE_SECONDS } from './dnsmasq-config.js';
import { type DhcpLease, findLease, type LeaseQuery, waitForLease } from './leases.js';
import { waitForTcp } from './probe.js';
import type { DhcpSpec, DhcpStatus } from './types.js';

export { LEASE_SECONDS, validateDhcpSpec } from './dnsmasq-config.js';
export type { DhcpLease, LeaseQuery } from './leases.js';
export type { DhcpHost, DhcpRoute, DhcpSpec, DhcpStatus, DhcpSubnet, DhcpUplink } from './types.js';

/** The DHCP service of networks, as the agent's services use it. */
export interface DhcpDriver {
  /** Converges the DHCP service of `spec.networkId` to `spec` (also revives a dead server). */
  ensure(spec: DhcpSpec): Promise<void>;
  /**
   * Serves the static leases of `spec` (a port came or went): a running dnsmasq is only signalled, with
   * no restart and no namespace checks; anything amiss falls back to {@link ensure}.
   */
  reloadHosts(spec: DhcpSpec): Promise<void>;
  /** Removes the DHCP service of a network; succeeds when there is none. */
  delete(networkId: string): Promise<void>;
  /** Observed state of a network's DHCP service. */
  status(networkId: string): Promise<DhcpStatus>;
  /**
   * The lease of network `networkId` matching `q` (MAC, address, granted since), with its grant time in
   * epoch ms (null for an infinite lease), or null when the guest has not taken one.
   */
  lease(networkId: string, q: LeaseQuery): Promise<{ lease: DhcpLease; grantedAt: number | null } | null>;
  /** Like {@link lease}, but waits until there is one; rejects with `signal`'s reason when it aborts. */
  waitForLease(
    networkId: string,
    q: LeaseQuery,
    signal: AbortSignal,
  ): Promise<{ lease: DhcpLease; grantedAt: number | null }>;
  /**
   * Resolves once `ip:port` accepts a TCP connection made from the network's DHCP namespace (retried
   * every second); rejects with `signal`'s reason when it aborts.
   */
  waitForTcp(networkId: string, ip: string, port: number, signal: AbortSignal): Promise<void>;
}

/** {@link DhcpDriver} with dnsmasq, its files under `<stateDir>/dhcp/<network id>/`. */
export class DnsmasqDhcp implements DhcpDriver {
  constructor(private readonly stateDir: string) {}

  ensure(spec: DhcpSpec): Promise<void> {
    return ensureDhcp(spec, this.stateDir);
  }

  reloadHosts(spec: DhcpSpec): Promise<void> {
    return reloadDhcpHosts(spec, this.stateDir);
  }

  delete(networkId: string): Promise<void> {
    return deleteDhcp(networkId, this.stateDir);
  }

  status(networkId: string): Promise<DhcpStatus> {
    return dhcpStatus(networkId, this.stateDir);
  }

  async lease(networkId: string, q: LeaseQuery) {
    const text = await readIfExists(dhcpPaths(this.stateDir, networkId).leaseFile);
    return text === null ? null : findLease(text, q, LEASE_SECONDS);
  }

  waitForLease(networkId: string, q: LeaseQuery, signal: AbortSignal) {
    return waitForLease(dhcpPaths(this.stateDir, networkId).leaseFile, q, LEASE_SECONDS, signal);
  }

  waitForTcp(networkId: string, ip: string, port: number, signal: AbortSignal): Promise<void> {
    return waitForTcp(networkId, ip, port, signal);
  }
}
