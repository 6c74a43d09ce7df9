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
  /** The network's bridge when not the one named after its id (an adopted bridge). */
  bridge?: string;
  mtu: number;
  subnets: DhcpSubnet[];
  hosts: DhcpHost[];
}

/** Observed state of a network's DHCP service. */
export interface DhcpStatus {
  namespace: boolean;
  dnsmasqPid: number | null;
}
