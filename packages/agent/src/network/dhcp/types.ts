import type { LinkInfo } from '../iplink.js';

/**
 * How the host end of a network's DHCP port joins the network's L2 segment. The network driver provides it
 * (a Linux bridge enslaves the interface; Open vSwitch adds it as a port), so DHCP needs no bridge.
 */
export interface DhcpUplink {
  /** The segment, for messages (`bridge brq0123456789a`). */
  readonly description: string;
  /** Whether the segment exists; DHCP is set up only on an existing one. */
  ready(): Promise<boolean>;
  /** Whether the host interface `link` is plugged into the segment. */
  isPlugged(link: LinkInfo): Promise<boolean>;
  /**
   * Plugs host interface `ifname` into the segment with `mtu` and brings it up. `created`: the
   * interface was just made, so a port of the segment still carrying its name belongs to an earlier
   * device of that name (its namespace was deleted) and is replaced.
   */
  plug(ifname: string, mtu: number, created?: boolean): Promise<void>;
  /**
   * True when the namespace end of the DHCP port must compute checksums itself (transmit checksum
   * offload off), because the segment is a userspace switch that loses offload metadata.
   */
  readonly softwareChecksums?: boolean;
}

/** What the DHCP server of a network needs to know about one of its subnets. */
export interface DhcpSubnet {
  subnetId: string;
  /** IPv4 CIDR, e.g. `10.20.0.0/24`. */
  cidr: string;
  /** Router option handed to guests; null sends none. */
  gatewayIp: string | null;
  /** Address of the DHCP port (namespace end of the veth) in this subnet; also where tests reach guests from. */
  dhcpServerIp: string;
  /** DNS servers handed to guests (dnsmasq's own DNS is disabled). */
  dnsNameservers: string[];
  /**
   * Routes handed to guests with DHCP options 121 (RFC 3442) and 249 (the same, for Windows), e.g. the
   * metadata address via the DHCP port on an isolated subnet (Neutron's `enable_isolated_metadata`).
   * A client that takes option 121 ignores the router option, so the default route via `gatewayIp` is
   * sent among them too.
   */
  hostRoutes?: DhcpRoute[];
}

/** A route a DHCP client installs: `destination` (CIDR) via `nexthop`. */
export interface DhcpRoute {
  destination: string;
  nexthop: string;
}

/** A static MAC -> IP lease. The DHCP server hands out nothing else (no dynamic pool). */
export interface DhcpHost {
  mac: string;
  ip: string;
  hostname: string;
}

/** Desired DHCP service of one network. */
export interface DhcpSpec {
  networkId: string;
  /** Where the DHCP port plugs into the network's L2 segment: given by the network driver. */
  uplink: DhcpUplink;
  mtu: number;
  subnets: DhcpSubnet[];
  hosts: DhcpHost[];
  /**
   * An address the DHCP port also holds (as /32) for a service guests reach through it: the metadata
   * address (169.254.169.254), served in the namespace by the agent's metadata service.
   */
  metadataAddress?: string;
}

/** Observed state of a network's DHCP service. */
export interface DhcpStatus {
  namespace: boolean;
  dnsmasqPid: number | null;
}
