/**
 * The network driver seam: how a network's layer-2 segment is made on a host and how a guest NIC joins it.
 * Linux bridges (linuxbridge/) and Open vSwitch (ovs/) implement it: NIC bindings carry an optional
 * virtualport, and DHCP plugs in through the driver's {@link DhcpUplink}.
 */
import type { NETWORK_DRIVERS } from '@stratus/model';
import type { DhcpUplink } from './dhcp/types.js';

/** The name of a network driver, as a network's `driver` attribute gives it. */
export type NetworkDriverKind = (typeof NETWORK_DRIVERS)[number];

/** A network's segment as the driver needs to know it. */
export interface NetworkSegment {
  networkId: string;
  mtu: number;
  /** The host object's name when the network adopted an existing one (import); else derived from the id. */
  name?: string;
}

/**
 * How a guest NIC is bound to a segment, as libvirt's `<interface type="bridge">` takes it: the bridge,
 * and `virtualport: 'openvswitch'` when that bridge is an Open vSwitch bridge.
 */
export interface NicBinding {
  bridge: string;
  virtualport?: 'openvswitch';
  /**
   * True when the segment forwards frames through a userspace switch that does not carry checksum
   * offload metadata (Open vSwitch's netdev datapath over AF_PACKET): the guest NIC must then fill in
   * its own checksums (libvirt `<driver><host csum='off' .../><guest csum='off' .../></driver>`), or
   * its TCP and UDP packets arrive with partial checksums and are dropped.
   */
  softwareChecksums?: boolean;
}

/** What a driver observes of a segment. */
export interface SegmentFacts {
  /** The host object name (the bridge). */
  name: string;
  exists: boolean;
}

/** A network driver: idempotent operations keyed by network id. */
export interface NetworkDriver {
  /** The driver's name. */
  readonly kind: NetworkDriverKind;
  /** The host object name of a segment (its adopted name, or one derived from the network id). */
  segmentName(seg: NetworkSegment): string;
  /** Creates the segment if missing and converges it (MTU, tags). */
  ensureSegment(seg: NetworkSegment): Promise<void>;
  /** Removes the segment; succeeds when it is already gone. */
  deleteSegment(seg: NetworkSegment): Promise<void>;
  /** Whether the segment exists, and its name. */
  inspectSegment(seg: NetworkSegment): Promise<SegmentFacts>;
  /** An existing host object named `name` (made by anyone) that could be adopted as a network, or null. */
  inspectExternal(name: string): Promise<{ mtu: number } | null>;
  /** How a guest NIC joins the segment (for the domain definition). */
  bindNic(seg: NetworkSegment): NicBinding;
  /**
   * Plugs a running guest's existing tap into the segment (after the segment was recreated); false when
   * there is no such tap (the guest is not running: libvirt plugs it when it starts).
   */
  plugNic(seg: NetworkSegment, tap: string): Promise<boolean>;
  /**
   * Whether a guest's tap is plugged into the segment (false: it exists but was unplugged, e.g. its OVS
   * port deleted or its bridge master unset outside Stratus), or null when there is no such tap.
   */
  nicPlugged(seg: NetworkSegment, tap: string): Promise<boolean | null>;
  /** Where the network's DHCP port plugs in (its `softwareChecksums` as for guest NICs). */
  dhcpUplink(seg: NetworkSegment): DhcpUplink;
  /**
   * Where another veth of the agent's plugs in (a router's qr-/qg- port), like {@link dhcpUplink};
   * `owner` (`router:<id>`) tags it where the switch keeps tags (OVS external_ids).
   */
  portUplink(seg: NetworkSegment, owner: string): DhcpUplink;
}
