/** The shapes of the agent's records, by collection (types only, shared by the services). */
import type {
  AttributesOf,
  InputsOf,
  image,
  network,
  server,
  subnet,
  volume,
  volumeAttachment,
} from '@stratus/model';
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
    /**
     * A server with installMedia: `installing` until the console log has the guest's end-of-setup line
     * after `logOffset` (the log's size when the install began), then `installed` (media detached).
     */
    install?: { state: 'installing' | 'installed'; logOffset: number };
  }
>;

/**
 * Who a port belongs to (Neutron's device_owner): a server's NIC, a subnet's DHCP server, a router's
 * external gateway, a floating IP (its address on the external network), or nobody yet: a `port`
 * resource no server uses (`deviceId` is then the port resource's id).
 */
export type PortOwner = 'compute' | 'dhcp' | 'port' | 'router_gateway' | 'floatingip';

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
  /** The port's security groups; absent: the agent's default group (see firewall.ts). */
  securityGroups?: string[];
  /** False: no firewall at all (Neutron's port_security_enabled). Absent: true. */
  portSecurityEnabled?: boolean;
  /** Extra source addresses the port may send from (Neutron's allowed_address_pairs). */
  allowedAddressPairs?: { ipAddress: string; macAddress?: string }[];
  /** The `port` resource this record realizes (its id is the record's id), when it is one. */
  portResource?: string;
}

/** What a port was given. */
export interface PortStatus {
  ip: string;
  mac: string;
  /** The port's number among this host's firewalled ports (1..65535), tagging its packets' mark. */
  mark?: number;
}

/** A port: one address and MAC on a subnet, held by a server NIC or a DHCP server. Internal for now. */
export type PortRecord = AgentRecordFile<PortSpec, PortStatus, Empty>;

/** A volume as the agent records it; its attachments are volume_attachment records. */
export type VolumeRecord = AgentRecordFile<
  InputsOf<typeof volume>,
  Partial<AttributesOf<typeof volume>>,
  Empty
>;

/** A volume attachment as the agent records it: the guest device it got (`vdc`) is in `internal.target`. */
export type VolumeAttachmentRecord = AgentRecordFile<
  InputsOf<typeof volumeAttachment>,
  Partial<AttributesOf<typeof volumeAttachment>>,
  { target?: string }
>;
