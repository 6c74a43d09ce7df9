/** The shapes of the agent's records, by collection (types only, shared by the services). */
import type { AttributesOf, InputsOf, image, network, server, subnet } from '@stratus/model';
import type { AgentRecordFile } from './store.js';

type Empty = Record<string, never>;

/** An image as the agent records it. */
export type ImageRecord = AgentRecordFile<InputsOf<typeof image>, Partial<AttributesOf<typeof image>>, Empty>;

/** A network as the agent records it. */
export type NetworkRecord = AgentRecordFile<
  InputsOf<typeof network>,
  Partial<AttributesOf<typeof network>>,
  Empty
>;

/** A subnet as the agent records it; its addresses are held by port records. */
export type SubnetRecord = AgentRecordFile<
  InputsOf<typeof subnet>,
  Partial<AttributesOf<typeof subnet>>,
  Empty
>;

/** An imported domain keeps its own disk, MACs, taps and definition. */
export interface Adopted {
  disk: string;
  macs: string[];
  taps: (string | null)[];
  domainName: string;
}

/** A server as the agent records it; its NICs are port records owned by it. */
export type ServerRecord = AgentRecordFile<
  InputsOf<typeof server>,
  Partial<AttributesOf<typeof server>>,
  {
    adopted?: Adopted;
    /**
     * When the agent last (re)started the domain, epoch ms: a DHCP lease from before it is an earlier
     * boot's. Absent for records from before it was kept (then any lease counts).
     */
    startedAt?: number;
  }
>;

/**
 * Who a port belongs to (Neutron's device_owner): a server's NIC, a subnet's DHCP server, a router's
 * external gateway, or a floating IP (its address on the external network).
 */
export type PortOwner = 'compute' | 'dhcp' | 'router_gateway' | 'floatingip';

/** What a port was asked for. */
export interface PortSpec {
  network: string;
  subnet: string;
  deviceOwner: PortOwner;
  /** The server (or, for `dhcp`, the subnet) the port belongs to. */
  deviceId: string;
  /** The NIC's position on its device (0 for DHCP ports). */
  index: number;
  /** An address the owner asked for; otherwise the lowest free one of the subnet's pools. */
  fixedIp?: string;
  /** A MAC the owner brings (an adopted domain's); otherwise one is allocated. */
  mac?: string;
  /** Host name handed out with the DHCP lease. */
  hostname?: string;
  /** The host tap of a server NIC. */
  tap?: string;
}

/** What a port was given. */
export interface PortStatus {
  ip: string;
  mac: string;
}

/** A port: one address and MAC on a subnet, held by a server NIC or a DHCP server. Internal for now. */
export type PortRecord = AgentRecordFile<PortSpec, PortStatus, Empty>;
