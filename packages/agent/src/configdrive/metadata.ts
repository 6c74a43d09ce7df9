/**
 * The documents of an OpenStack config drive, built as pure values with Nova's field names, so that
 * cloud-init (its ConfigDrive datasource) and simpler guest scripts read them as they would Nova's.
 */
import { netmask } from '@stratus/model';
import { ipInCidr, isValidIpv4, parseCidr } from '../network/ipam.js';

/** Input of {@link metaDataJson}. */
export interface MetaDataInput {
  /** Server id. */
  uuid: string;
  /** Server name as the user gave it. */
  name: string;
  /** Host name the guest should set. */
  hostname: string;
  /** SSH public keys by key pair name. */
  publicKeys: Record<string, string>;
  /** Default `nova`, Nova's default zone name, which guest tooling may expect. */
  availabilityZone?: string;
  projectId?: string;
  /** Index of the server among those launched together (default 0). */
  launchIndex?: number;
  /** User-supplied key/value metadata (Nova's `meta`). */
  meta?: Record<string, string>;
  /** Base64 entropy for the guest's RNG (Nova's `random_seed`); omitted when not given. */
  randomSeed?: string;
  /** Initial administrator password (Nova's `admin_pass`; cloudbase-init sets it on Windows). */
  adminPass?: string;
  /**
   * Guest paths of injected files (Nova's personality), in order: the Nth is listed in `files` with
   * `content_path` `/content/<N as 4 digits>`, its contents at `openstack/content/<N>` ({@link ConfigDriveContent.content}).
   */
  files?: string[];
}

/** An entry of `meta_data.json` `files`: where the guest puts the file, and where its contents are. */
export interface NovaFile {
  path: string;
  /** Relative to `openstack/`: `/content/0000`. */
  content_path: string;
}

/** The `content_path` (and the name under `openstack/content/`) of the `index`th injected file. */
export const contentName = (index: number): string => String(index).padStart(4, '0');

/** `openstack/latest/meta_data.json`, as Nova writes it. */
export interface NovaMetaData {
  uuid: string;
  name: string;
  hostname: string;
  launch_index: number;
  availability_zone: string;
  project_id?: string;
  public_keys: Record<string, string>;
  keys: { name: string; type: 'ssh'; data: string }[];
  meta: Record<string, string>;
  devices: never[];
  random_seed?: string;
  admin_pass?: string;
  /** Only when files were injected (Nova leaves the key out otherwise). */
  files?: NovaFile[];
}

/** One NIC of a server, input of {@link networkDataJson}. */
export interface NetworkDataNic {
  mac: string;
  /** Fixed IPv4 address of the port. */
  ip: string;
  /** CIDR of the subnet the address is in, e.g. `10.20.0.0/24`. */
  cidr: string;
  gateway: string | null;
  dnsNameservers: string[];
  networkId: string;
  mtu: number;
  /** Port id (Nova's `vif_id`), when the caller has one. */
  portId?: string;
  /** Link id (Nova uses the tap name); default `interface<N>`. */
  linkId?: string;
  /** Tell the guest to use DHCP instead of the static address (both yield the same address). */
  dhcp?: boolean;
  /** The subnet's host routes (Neutron host_routes), listed with the static address as Nova does. */
  routes?: { destination: string; nexthop: string }[];
}

/** A link of `network_data.json`. */
export interface NovaLink {
  id: string;
  vif_id?: string;
  type: 'vif';
  ethernet_mac_address: string;
  mtu: number;
}

/** A route of a network of `network_data.json`. */
export interface NovaRoute {
  network: string;
  netmask: string;
  gateway: string;
}

/** A DNS service of `network_data.json`. */
export interface NovaService {
  type: 'dns';
  address: string;
}

/** A network of `network_data.json`: DHCP, or a static IPv4 address with routes and DNS servers. */
export type NovaNetwork =
  | { id: string; link: string; type: 'ipv4_dhcp'; network_id: string }
  | {
      id: string;
      link: string;
      type: 'ipv4';
      network_id: string;
      ip_address: string;
      netmask: string;
      routes: NovaRoute[];
      services: NovaService[];
    };

/** `openstack/latest/network_data.json`, as Nova writes it. */
export interface NovaNetworkData {
  links: NovaLink[];
  networks: NovaNetwork[];
  services: NovaService[];
}

/** Builds Nova's `meta_data.json` document. */
export function metaDataJson(input: MetaDataInput): NovaMetaData {
  const keys = Object.entries(input.publicKeys).map(([name, data]) => ({ name, type: 'ssh' as const, data }));
  return {
    uuid: input.uuid,
    name: input.name,
    hostname: input.hostname,
    launch_index: input.launchIndex ?? 0,
    availability_zone: input.availabilityZone ?? 'nova',
    ...(input.projectId !== undefined ? { project_id: input.projectId } : {}),
    public_keys: { ...input.publicKeys },
    keys,
    meta: { ...(input.meta ?? {}) },
    devices: [],
    ...(input.randomSeed !== undefined ? { random_seed: input.randomSeed } : {}),
    ...(input.adminPass !== undefined ? { admin_pass: input.adminPass } : {}),
    ...(input.files?.length
      ? { files: input.files.map((path, i) => ({ path, content_path: `/content/${contentName(i)}` })) }
      : {}),
  };
}

/**
 * Builds Nova's `network_data.json` document: one link per NIC (matched by the guest on its MAC), one
 * network per NIC, and every DNS server once in `services`. Only the first NIC with a gateway gets the
 * default route, so a multi-NIC guest does not end up with competing default routes.
 */
export function networkDataJson(nics: NetworkDataNic[]): NovaNetworkData {
  const links: NovaLink[] = [];
  const networks: NovaNetwork[] = [];
  const dns: string[] = [];
  let defaultRouteTaken = false;
  nics.forEach((nic, i) => {
    if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(nic.mac)) throw new Error(`nics[${i}].mac is not a MAC`);
    if (!isValidIpv4(nic.ip) || !ipInCidr(nic.ip, nic.cidr))
      throw new Error(`nics[${i}].ip is not in ${nic.cidr}`);
    if (nic.gateway !== null && !isValidIpv4(nic.gateway))
      throw new Error(`nics[${i}].gateway is not an IPv4`);
    if (!Number.isInteger(nic.mtu) || nic.mtu < 68)
      throw new Error(`nics[${i}].mtu must be an integer >= 68`);
    const linkId = nic.linkId ?? `interface${i}`;
    links.push({
      id: linkId,
      ...(nic.portId !== undefined ? { vif_id: nic.portId } : {}),
      type: 'vif',
      ethernet_mac_address: nic.mac.toLowerCase(),
      mtu: nic.mtu,
    });
    const services = nic.dnsNameservers.map((address) => {
      if (!isValidIpv4(address)) throw new Error(`nics[${i}].dnsNameservers has ${address}, not an IPv4`);
      if (!dns.includes(address)) dns.push(address);
      return { type: 'dns' as const, address };
    });
    if (nic.dhcp === true) {
      networks.push({ id: `network${i}`, link: linkId, type: 'ipv4_dhcp', network_id: nic.networkId });
      return;
    }
    const routes: NovaRoute[] = (nic.routes ?? []).map((r) => {
      const [network = '', prefix = ''] = r.destination.split('/');
      if (
        !isValidIpv4(network) ||
        !/^\d{1,2}$/.test(prefix) ||
        Number(prefix) > 32 ||
        !isValidIpv4(r.nexthop)
      )
        throw new Error(`nics[${i}].routes has ${r.destination} via ${r.nexthop}, not an IPv4 route`);
      return { network, netmask: netmask(Number(prefix)), gateway: r.nexthop };
    });
    if (nic.gateway !== null && !defaultRouteTaken && !routes.some((r) => r.netmask === '0.0.0.0')) {
      routes.push({ network: '0.0.0.0', netmask: '0.0.0.0', gateway: nic.gateway });
      defaultRouteTaken = true;
    }
    networks.push({
      id: `network${i}`,
      link: linkId,
      type: 'ipv4',
      network_id: nic.networkId,
      ip_address: nic.ip,
      netmask: parseCidr(nic.cidr).netmask,
      routes,
      services,
    });
  });
  return { links, networks, services: dns.map((address) => ({ type: 'dns', address })) };
}

/**
 * Builds `ec2/latest/meta-data.json` from a Nova `meta_data.json` document, with the EC2 names Nova uses
 * (`instance-id`, `local-hostname`, `public-keys` keyed by index with `openssh-key`, ...).
 */
export function ec2MetaDataJson(metaData: object): Record<string, unknown> {
  const meta = metaData as Record<string, unknown>;
  const str = (k: string) => (typeof meta[k] === 'string' ? (meta[k] as string) : undefined);
  const keys = (
    typeof meta.public_keys === 'object' && meta.public_keys !== null ? meta.public_keys : {}
  ) as Record<string, unknown>;
  const publicKeys: Record<string, { _name: string; 'openssh-key': string }> = {};
  Object.entries(keys).forEach(([name, data], i) => {
    if (typeof data === 'string') publicKeys[String(i)] = { _name: `${i}=${name}`, 'openssh-key': data };
  });
  return {
    'instance-id': str('uuid'),
    hostname: str('hostname'),
    'local-hostname': str('hostname'),
    'ami-launch-index': typeof meta.launch_index === 'number' ? meta.launch_index : 0,
    placement: { 'availability-zone': str('availability_zone') },
    'public-keys': publicKeys,
  };
}
