/**
 * The mapping of Heat resource types onto Stratus types: one entry per `OS::` type, saying which
 * Stratus type it becomes, how each Heat property maps onto that type's inputs, and how each Heat
 * attribute (for `get_attr`) maps onto the type's attributes. Property and attribute names on the
 * Heat side are Heat's (https://docs.openstack.org/heat/latest/template_guide/openstack.html); on the
 * Stratus side they are the registry's (packages/model/src/resources). An entry whose Stratus type is
 * not in the registry yet is reported as "not supported yet" at each use; when the type lands, its
 * entry here is all there is to add (a test lists which entries still wait for their type).
 *
 * The types Heat itself implements (OS::Heat::Value, RandomString, CloudConfig, SoftwareConfig,
 * MultipartMime, ResourceGroup, None) are no Stratus objects: the loader computes them (load.ts).
 */
import { isResourceType } from '@stratus/model';
import { Call, Ref, type Value } from '../../engine/expr.js';
import { blockDeviceMapping, blockDeviceMappingV2 } from './block-devices.js';
import { isPlainMap } from './common.js';

/** What a mapping may ask of the loader while it converts one resource's properties. */
export interface MapContext {
  /**
   * A reference to a resource of Stratus type `type`: a reference passes as it is (checkStack checks
   * its type); a string names a resource of the template by its name (its `name` property, else the
   * resource's own name), as OpenStack lets a template name an image, flavor, network or key pair.
   * Reports and returns undefined when there is none.
   */
  lookup(type: string, v: Value, path: (string | number)[]): Value | undefined;
  /** Reports an error at the Heat property `path` (relative to `properties`). */
  error(message: string, path: (string | number)[]): void;
  /** Reports a warning at the Heat property `path`. */
  warn(message: string, path: (string | number)[]): void;
  /** The Heat resource type being mapped, for messages. */
  heatType: string;
  /** The names of the template's networks by their (reference) values, for a server's `networks` attribute. */
  networkNames(): Value;
  /** The server whose first NIC is the port `port` (a {get_resource: PORT}), as a reference; else undefined. */
  serverOfPort(port: Value): Value | undefined;
  /** A reference to the resource being mapped (for a resource added beside it that names it). */
  self(): Value;
  /**
   * Adds a resource of Stratus type `type` beside the one being mapped, named after it
   * ({@link extraName}), with `inputs` (Stratus's names); its problems are reported at the Heat
   * property `path`. Returns a reference to it. Added only when the mapped resource is good.
   */
  addResource(type: string, suffix: string, inputs: Record<string, Value>, path: (string | number)[]): Value;
  /** The Stratus name a resource added with `suffix` gets: `<name>_<suffix>` (`grp_<suffix>[i]` in a group). */
  extraName(suffix: string): string;
}

/** How one Heat property maps. */
export interface PropertyRule {
  /** The Stratus input it sets (default: none; then `convert` or `ignore` says what happens). */
  to?: string;
  /**
   * The Stratus type may not have `to` yet (another change adds it): until it does, the property is
   * ignored with a warning. Without this, a `to` the type lacks is a mistake in this table (a test fails).
   */
  optional?: boolean;
  /**
   * Where inside the Heat property the value `to` gets is written (`scheduler_hints` -> `['group']`), so
   * diagnostics about `to` name and point at it; default: the property itself.
   */
  within?: string[];
  /** The value is a reference to a resource of this Stratus type (by reference, or by name). */
  lookup?: string;
  /** Converts the Heat value into the Stratus one (undefined: set nothing). */
  convert?: (v: Value, ctx: MapContext, path: (string | number)[]) => Value | undefined;
  /**
   * Accepted and not used, with why: a warning names the property, unless the value is one of
   * `quiet` (the values that change nothing in Stratus, such as `admin_state_up: true`).
   */
  ignore?: string;
  quiet?: readonly unknown[];
  /** Not supported: an error with this reason, unless the value is one of `quiet`. */
  unsupported?: string;
}

/** How one Heat attribute maps: a path in the Stratus resource's attributes, or a value made from it. */
export interface AttributeRule {
  path?: (string | number)[];
  derive?: (self: Ref, ctx: MapContext) => Value;
}

/** One Heat resource type mapped onto a Stratus type. */
export interface HeatTypeMapping {
  /** The Stratus type (a registry name; may not be registered yet). */
  stratus: string;
  properties: Record<string, PropertyRule>;
  attributes: Record<string, AttributeRule>;
  /** Heat properties that must be given. */
  required?: string[];
  /** Runs after the property rules, with every Heat property and the Stratus inputs so far. */
  finish?: (heat: Record<string, Value>, out: Record<string, Value>, ctx: MapContext) => void;
}

/** Heat's names of a security group rule's keys (OS::Neutron::SecurityGroup `rules`) -> Stratus's. */
const RULE_KEYS: Record<string, string> = {
  direction: 'direction',
  ethertype: 'ethertype',
  protocol: 'protocol',
  port_range_min: 'portRangeMin',
  port_range_max: 'portRangeMax',
  remote_ip_prefix: 'remoteIpPrefix',
  remote_group_id: 'remoteGroup',
  description: '',
};

/**
 * OS::Neutron::SecurityGroup `rules` (a list of maps with Heat's keys) -> security_group `rules`:
 * `remote_group_id` names a group of the template (by reference or name); `remote_mode` is implied by
 * which remote is given. Unknown keys are errors at their path.
 */
function securityGroupRules(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!Array.isArray(v)) return v;
  return v.map((rule, i) => {
    if (!isPlainMap(rule)) return rule;
    // Heat's default direction is ingress; Stratus's rules say it.
    const out: Record<string, Value> = { direction: 'ingress' };
    for (const [k, x] of Object.entries(rule)) {
      if (k === 'remote_mode') continue;
      const to = RULE_KEYS[k];
      if (to === '') {
        ctx.warn(`ignored: Stratus keeps no ${k} on a rule`, [...path, i, k]);
        continue;
      }
      if (to === undefined) {
        ctx.error(`unknown security group rule key ${k} (known: ${Object.keys(RULE_KEYS).join(', ')})`, [
          ...path,
          i,
          k,
        ]);
        continue;
      }
      const value = k === 'remote_group_id' ? ctx.lookup('security_group', x, [...path, i, k]) : x;
      if (value !== undefined) out[to] = value;
    }
    return out;
  });
}

/**
 * Neutron gives a new security group rules admitting all egress, and Heat's OS::Neutron::SecurityGroup
 * deletes them only when its `rules` include an egress rule (heat/engine/resources/openstack/neutron/
 * security_group.py, `_create_rules`). So a group whose rules say nothing of egress (or that has no
 * rules) gets `{direction: egress}` (any IPv4 destination; Stratus has no IPv6). A rules list not known
 * before apply is left as it is.
 */
function defaultEgress(_heat: Record<string, Value>, out: Record<string, Value>): void {
  const rules = out.rules ?? [];
  if (!Array.isArray(rules)) return;
  const egress = rules.some((r) => !isPlainMap(r) || r.direction !== 'ingress');
  if (!egress) out.rules = [...rules, { direction: 'egress' }];
}

/**
 * A list of maps with Heat's keys -> the same list with Stratus's keys (`keys`: Heat key -> Stratus key),
 * the keys in `lookups` naming a resource of that Stratus type. Unknown keys are errors at their path.
 */
function renameKeys(
  keys: Record<string, string>,
  lookups: Record<string, string> = {},
): (v: Value, ctx: MapContext, path: (string | number)[]) => Value | undefined {
  return (v, ctx, path) => {
    if (!Array.isArray(v)) return v;
    return v.map((item, i) => {
      if (!isPlainMap(item)) return item;
      const out: Record<string, Value> = {};
      for (const [k, x] of Object.entries(item)) {
        if (x === null) continue;
        const to = keys[k];
        if (!to) {
          ctx.error(`unknown key ${k} (known: ${Object.keys(keys).join(', ')})`, [...path, i, k]);
          continue;
        }
        const type = lookups[k];
        const value = type ? ctx.lookup(type, x, [...path, i, k]) : x;
        if (value !== undefined) out[to] = value;
      }
      return out;
    });
  };
}

/**
 * OS::Neutron::Router `external_gateway_info` {network, enable_snat, external_fixed_ips} -> router
 * `externalGateway` {network, enableSnat, fixedIp}: Stratus's gateway port has one address, so at most
 * one external fixed IP, given by its ip_address.
 */
function externalGateway(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!isPlainMap(v)) return v;
  const out: Record<string, Value> = {};
  for (const [k, x] of Object.entries(v)) {
    if (x === null) continue;
    if (k === 'network') {
      const r = ctx.lookup('network', x, [...path, k]);
      if (r !== undefined) out.network = r;
    } else if (k === 'enable_snat') out.enableSnat = x;
    else if (k === 'external_fixed_ips') {
      if (!Array.isArray(x)) {
        out.fixedIp = x;
        continue;
      }
      if (x.length > 1) ctx.error('a Stratus router gateway has one external fixed IP', [...path, k]);
      const first = x[0];
      if (first === undefined) continue;
      if (!isPlainMap(first) || first.ip_address === undefined)
        ctx.error('Stratus takes the external fixed IP by its ip_address (subnet alone is not supported)', [
          ...path,
          k,
          0,
        ]);
      else out.fixedIp = first.ip_address;
    } else ctx.error('unknown key; expected network, enable_snat, external_fixed_ips', [...path, k]);
  }
  return out;
}

/** The message for a Heat type whose Stratus type is not in the registry yet. */
export const notYet = (heatType: string): string => `${heatType} is not supported yet`;

/** Whether a mapping's Stratus type exists in this build's registry. */
export const isAvailable = (m: HeatTypeMapping): boolean => isResourceType(m.stratus);

const NAME: PropertyRule = { to: 'name' };
const ignored = (why: string, quiet?: readonly unknown[]): PropertyRule => ({
  ignore: why,
  ...(quiet ? { quiet } : {}),
});
const TAGS = ignored('Stratus keeps no tags', [[]]);
const ADMIN_UP = ignored('Stratus objects are always administratively up', [true]);
const TENANT = ignored('Stratus has no projects');
const VALUE_SPECS = ignored('Stratus passes no value_specs', [{}]);

/** A Heat list of `{start, end}` pools. */
const pools = (v: Value): Value => v;

/** `networks: [{network|port|subnet|fixed_ip}]` of OS::Nova::Server onto Stratus NICs. */
function serverNetworks(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!Array.isArray(v)) {
    ctx.error('must be a list of {network, subnet, port, fixed_ip}', path);
    return undefined;
  }
  const out: Value[] = [];
  v.forEach((item, i) => {
    const at = [...path, i];
    if (!isPlainMap(item)) {
      ctx.error('must be a map with network, subnet, port or fixed_ip', at);
      return;
    }
    const nic: Record<string, Value> = {};
    for (const [k, x] of Object.entries(item)) {
      if (x === null) continue;
      switch (k) {
        case 'network':
        case 'uuid': {
          const r = ctx.lookup('network', x, [...at, k]);
          if (r !== undefined) nic.network = r;
          break;
        }
        case 'subnet': {
          const r = ctx.lookup('subnet', x, [...at, k]);
          if (r !== undefined) nic.subnet = r;
          break;
        }
        case 'fixed_ip':
          nic.fixedIp = x;
          break;
        case 'port': {
          const r = ctx.lookup('port', x, [...at, k]);
          if (r !== undefined) nic.port = r;
          break;
        }
        case 'floating_ip':
          ctx.error(
            'a floating IP on a NIC is not supported: give the floating IP (OS::Neutron::FloatingIP) the port as port_id',
            [...at, k],
          );
          break;
        case 'tag':
        case 'allocate_network':
        case 'port_extra_properties':
          ctx.warn(`ignored: Stratus has no ${k} on a NIC`, [...at, k]);
          break;
        default:
          ctx.error(`unknown key; expected network, subnet, port, fixed_ip`, [...at, k]);
      }
    }
    // A NIC on a subnet alone takes the subnet's network; on a network and subnet, the subnet decides.
    if (nic.network !== undefined && nic.subnet !== undefined) delete nic.network;
    if (Object.keys(nic).length) out.push(nic);
  });
  return out;
}

/**
 * OS::Nova::Server `scheduler_hints` -> server `serverGroup`: the `group` hint names the server group
 * (Nova's ServerGroupAffinityFilter / AntiAffinityFilter read it). Stratus places servers on the host
 * they name, so the other hints (same_host, different_host, query...) have nothing to steer: warnings.
 */
function schedulerHints(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!isPlainMap(v)) {
    ctx.error('must be a map of scheduler hints such as {group: SERVER_GROUP}', path);
    return undefined;
  }
  for (const k of Object.keys(v))
    if (k !== 'group')
      ctx.warn(`ignored: Stratus places servers on the host they name (hint ${k})`, [...path, k]);
  const g = v.group;
  return g === undefined || g === null ? undefined : g;
}

/**
 * OS::Nova::ServerGroup `policies` (a list of one policy, as Nova before 2.64 took it) -> server_group
 * `policy`.
 */
function serverGroupPolicies(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!Array.isArray(v)) return v;
  if (v.length !== 1) {
    ctx.error(
      'Nova takes exactly one policy: affinity, anti-affinity, soft-affinity or soft-anti-affinity',
      path,
    );
    return undefined;
  }
  return v[0];
}

/** OS::Nova::ServerGroup `rules` {max_server_per_host} -> server_group `rules` {maxServerPerHost}. */
function serverGroupRules(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (!isPlainMap(v)) return v;
  const out: Record<string, Value> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'max_server_per_host') out.maxServerPerHost = x;
    else ctx.error('unknown rule; expected max_server_per_host', [...path, k]);
  }
  return out;
}

/**
 * user_data with user_data_format: RAW (as it is), SOFTWARE_CONFIG (the text of the config resource
 * it names, which get_resource of a config gives), HEAT_CFNTOOLS (Heat's default: Heat wraps the data
 * in a MIME message with its cfn-tools bootstrap; here it is passed as it is, as RAW).
 */
function serverUserData(heat: Record<string, Value>, out: Record<string, Value>, ctx: MapContext): void {
  const fmt = heat.user_data_format ?? 'HEAT_CFNTOOLS';
  if (fmt !== 'RAW' && fmt !== 'SOFTWARE_CONFIG' && fmt !== 'HEAT_CFNTOOLS') {
    ctx.error('must be RAW, SOFTWARE_CONFIG or HEAT_CFNTOOLS', ['user_data_format']);
    return;
  }
  const data = heat.user_data;
  if (data === undefined || data === null || data === '') return;
  out.userData = typeof data === 'string' || data instanceof Ref || data instanceof Call ? data : data;
}

/**
 * A server's block device mappings (block-devices.ts): one syntax per server, as Nova refuses both
 * ("Using different block_device_mapping syntaxes is not allowed").
 */
function serverBlockDevices(heat: Record<string, Value>, out: Record<string, Value>, ctx: MapContext): void {
  const given = (k: string) =>
    heat[k] !== undefined && heat[k] !== null && !(Array.isArray(heat[k]) && heat[k].length === 0);
  if (given('block_device_mapping_v2') && given('block_device_mapping')) {
    ctx.error(
      'conflicts with block_device_mapping_v2: give one block device mapping syntax, as Nova requires',
      ['block_device_mapping'],
    );
    return;
  }
  if (given('block_device_mapping_v2'))
    blockDeviceMappingV2(heat.block_device_mapping_v2!, out, ctx, ['block_device_mapping_v2']);
  else if (given('block_device_mapping'))
    blockDeviceMapping(heat.block_device_mapping!, out, ctx, ['block_device_mapping']);
}

/**
 * The Heat types with a Stratus counterpart, by Heat type name. Types whose Stratus type is not in the
 * registry yet are listed with the mapping they will have; the loader reports them as not supported
 * until it is.
 */
export const HEAT_TYPES: Readonly<Record<string, HeatTypeMapping>> = {
  'OS::Nova::Server': {
    stratus: 'server',
    properties: {
      name: NAME,
      image: { to: 'image', lookup: 'image' },
      flavor: { to: 'flavor', lookup: 'flavor' },
      key_name: { to: 'keyPair', lookup: 'keypair' },
      admin_pass: { to: 'adminPass' },
      networks: { to: 'networks', convert: serverNetworks },
      user_data: {},
      user_data_format: {},
      // false: the guest reads its documents from the metadata service only, as in Nova.
      config_drive: { to: 'configDrive' },
      metadata: { to: 'metadata', optional: true },
      security_groups: { to: 'securityGroups', lookup: 'security_group' },
      // Mapped by serverBlockDevices (block-devices.ts): the boot volume and volume attachments.
      block_device_mapping_v2: {},
      block_device_mapping: {},
      availability_zone: ignored('Stratus places servers on its one host'),
      scheduler_hints: {
        to: 'serverGroup',
        within: ['group'],
        lookup: 'server_group',
        convert: schedulerHints,
      },
      software_config_transport: ignored('Heat software deployments are not supported', ['POLL_SERVER_CFN']),
      user_data_update_policy: ignored('changing user_data always replaces a Stratus server'),
      flavor_update_policy: ignored('changing the flavor always replaces a Stratus server'),
      image_update_policy: ignored('changing the image always replaces a Stratus server'),
      diskConfig: ignored('Stratus grows the root disk to the flavor'),
      reservation_id: ignored('Stratus has no reservations'),
      // Nova's injected files: {absolute guest path: contents}, on the config drive and metadata service.
      personality: { to: 'personality' },
      tags: TAGS,
      deployment_swift_data: ignored('Heat software deployments are not supported'),
    },
    required: ['flavor'],
    attributes: {
      first_address: { path: ['accessIpV4'] },
      accessIPv4: { path: ['accessIpV4'] },
      name: { path: ['name'] },
      instance_name: { path: ['domain'] },
      networks: {
        derive: (self, ctx) =>
          new Call(
            'heat:networks',
            [new Ref(self.resource, ['addresses'], `${self.text}.addresses`), ctx.networkNames()],
            `{get_attr: [${self.resource}, networks]}`,
          ),
      },
      addresses: {
        derive: (self, ctx) =>
          new Call(
            'heat:addresses',
            [new Ref(self.resource, ['addresses'], `${self.text}.addresses`), ctx.networkNames()],
            `{get_attr: [${self.resource}, addresses]}`,
          ),
      },
      status: { path: ['status'] },
    },
    finish: (heat, out, ctx) => {
      serverUserData(heat, out, ctx);
      serverBlockDevices(heat, out, ctx);
    },
  },
  'OS::Nova::KeyPair': {
    stratus: 'keypair',
    properties: {
      name: NAME,
      public_key: { to: 'publicKey' },
      save_private_key: ignored('a generated private key is always a sensitive attribute (private_key)'),
      type: { unsupported: 'only ssh key pairs exist in Stratus', quiet: ['ssh'] },
      user: TENANT,
    },
    required: ['name'],
    attributes: {
      public_key: { path: ['publicKey'] },
      private_key: { path: ['privateKey'] },
      name: { path: ['name'] },
    },
  },
  'OS::Nova::Flavor': {
    stratus: 'flavor',
    properties: {
      name: NAME,
      vcpus: { to: 'vcpus' },
      ram: { to: 'ramMb' },
      disk: { to: 'diskGb' },
      extra_specs: { to: 'extraSpecs' },
      is_public: ignored('every Stratus flavor is public', [true]),
      swap: { unsupported: 'Stratus flavors have no swap disk', quiet: [0] },
      ephemeral: { unsupported: 'Stratus flavors have no ephemeral disk', quiet: [0] },
      rxtx_factor: ignored('Stratus does not shape traffic by flavor', [1, 1.0]),
      flavorid: ignored('Stratus makes the flavor id'),
      tenants: TENANT,
    },
    required: ['ram', 'vcpus'],
    attributes: { name: { path: ['name'] } },
  },
  'OS::Nova::ServerGroup': {
    stratus: 'server_group',
    properties: {
      name: NAME,
      policies: { to: 'policy', convert: serverGroupPolicies },
      rules: { to: 'rules', convert: serverGroupRules },
    },
    attributes: {},
    // Heat's default policies: [anti-affinity].
    finish: (_heat, out) => {
      out.policy ??= 'anti-affinity';
    },
  },
  'OS::Neutron::Net': {
    stratus: 'network',
    properties: {
      name: NAME,
      admin_state_up: ADMIN_UP,
      shared: ignored('Stratus has no projects', [false]),
      tenant_id: TENANT,
      value_specs: VALUE_SPECS,
      port_security_enabled: { to: 'portSecurityEnabled', optional: true },
      dns_domain: ignored('Stratus serves no DNS domain'),
      tags: TAGS,
      mtu: { to: 'mtu' },
    },
    attributes: {
      name: { path: ['name'] },
      status: { path: ['status'] },
      mtu: { path: ['mtu'] },
    },
  },
  // A provider network is a Stratus network on a host bridge the operator made: Stratus has no
  // bridge_mappings, so Heat's physical_network label is the bridge's name (providerBridge).
  'OS::Neutron::ProviderNet': {
    stratus: 'network',
    properties: {
      name: NAME,
      network_type: {
        unsupported:
          'Stratus provider networks are flat (an existing host bridge); VLAN, VXLAN and GRE segments are not supported',
        quiet: ['flat'],
      },
      physical_network: { to: 'providerBridge' },
      segmentation_id: { unsupported: 'Stratus provider networks are flat: there are no segments' },
      router_external: { to: 'external' },
      port_security_enabled: { to: 'portSecurityEnabled', optional: true },
      shared: ignored('Stratus has no projects', [false]),
      admin_state_up: ADMIN_UP,
      dns_domain: ignored('Stratus serves no DNS domain'),
      tenant_id: TENANT,
      tags: TAGS,
    },
    required: ['network_type', 'physical_network'],
    attributes: { name: { path: ['name'] }, status: { path: ['status'] }, mtu: { path: ['mtu'] } },
  },
  'OS::Neutron::Subnet': {
    stratus: 'subnet',
    properties: {
      name: NAME,
      network: { to: 'network', lookup: 'network' },
      network_id: { to: 'network', lookup: 'network' },
      cidr: { to: 'cidr' },
      // null, ~ or '' is a subnet without a gateway, as in Heat (noGateway: set by finish below).
      gateway_ip: { to: 'gatewayIp', convert: (v) => (v === null || v === '' ? undefined : v) },
      allocation_pools: { to: 'allocationPools', convert: pools },
      dns_nameservers: { to: 'dnsNameservers' },
      ip_version: { unsupported: 'Stratus subnets are IPv4 only', quiet: [4, '4'] },
      enable_dhcp: { to: 'enableDhcp' },
      host_routes: {
        to: 'hostRoutes',
        convert: renameKeys({ destination: 'destination', nexthop: 'nexthop' }),
      },
      ipv6_address_mode: ignored('Stratus subnets are IPv4 only', [null]),
      ipv6_ra_mode: ignored('Stratus subnets are IPv4 only', [null]),
      subnetpool: { unsupported: 'subnet pools are not supported; give cidr' },
      prefixlen: { unsupported: 'subnet pools are not supported; give cidr' },
      tenant_id: TENANT,
      value_specs: VALUE_SPECS,
      tags: TAGS,
    },
    finish: (heat, out) => {
      if ('gateway_ip' in heat && (heat.gateway_ip === null || heat.gateway_ip === '')) out.noGateway = true;
    },
    required: ['network|network_id', 'cidr'],
    attributes: {
      name: { path: ['name'] },
      cidr: { path: ['cidr'] },
      gateway_ip: { path: ['gatewayIp'] },
      network_id: { path: ['network'] },
      allocation_pools: { path: ['allocationPools'] },
      dns_nameservers: { path: ['dnsNameservers'] },
      enable_dhcp: { path: ['enableDhcp'] },
      host_routes: { path: ['hostRoutes'] },
    },
  },
  'OS::Neutron::Port': {
    stratus: 'port',
    properties: {
      name: NAME,
      network: { to: 'network', lookup: 'network' },
      network_id: { to: 'network', lookup: 'network' },
      fixed_ips: {
        to: 'fixedIps',
        convert: renameKeys(
          { subnet: 'subnet', subnet_id: 'subnet', ip_address: 'ipAddress' },
          { subnet: 'subnet', subnet_id: 'subnet' },
        ),
      },
      mac_address: { to: 'macAddress' },
      security_groups: { to: 'securityGroups', lookup: 'security_group' },
      port_security_enabled: { to: 'portSecurityEnabled' },
      allowed_address_pairs: {
        to: 'allowedAddressPairs',
        convert: renameKeys({ ip_address: 'ipAddress', mac_address: 'macAddress' }),
      },
      admin_state_up: ADMIN_UP,
      value_specs: VALUE_SPECS,
      tags: TAGS,
    },
    required: ['network|network_id'],
    attributes: {
      fixed_ips: { path: ['fixedIps'] },
      mac_address: { path: ['macAddress'] },
      name: { path: ['name'] },
    },
  },
  'OS::Neutron::SecurityGroup': {
    stratus: 'security_group',
    properties: {
      name: NAME,
      description: { to: 'description' },
      rules: { to: 'rules', convert: securityGroupRules },
    },
    attributes: { name: { path: ['name'] } },
    finish: defaultEgress,
  },
  'OS::Neutron::SecurityGroupRule': {
    stratus: 'security_group_rule',
    properties: {
      security_group: { to: 'securityGroup', lookup: 'security_group' },
      direction: { to: 'direction' },
      ethertype: { to: 'ethertype' },
      protocol: { to: 'protocol' },
      port_range_min: { to: 'portRangeMin' },
      port_range_max: { to: 'portRangeMax' },
      remote_ip_prefix: { to: 'remoteIpPrefix' },
      remote_group: { to: 'remoteGroup', lookup: 'security_group' },
      remote_mode: ignored('implied by which remote is given', ['remote_ip_prefix', 'remote_group_id']),
      description: ignored('Stratus keeps no rule descriptions'),
    },
    required: ['security_group'],
    attributes: {},
    // Heat's default direction is ingress; Stratus's rules say it.
    finish: (heat, out) => {
      if (heat.direction === undefined || heat.direction === null) out.direction = 'ingress';
    },
  },
  'OS::Neutron::Router': {
    stratus: 'router',
    properties: {
      name: NAME,
      external_gateway_info: { to: 'externalGateway', convert: externalGateway },
      admin_state_up: ADMIN_UP,
      value_specs: VALUE_SPECS,
      tags: TAGS,
    },
    attributes: { name: { path: ['name'] }, external_gateway_info: { path: ['externalGateway'] } },
  },
  'OS::Neutron::RouterInterface': {
    stratus: 'router_interface',
    properties: {
      router: { to: 'router', lookup: 'router' },
      subnet: { to: 'subnet', lookup: 'subnet' },
      port: { unsupported: 'a router interface on a port is not supported; give the subnet' },
    },
    required: ['router', 'subnet'],
    attributes: {},
  },
  'OS::Neutron::FloatingIP': {
    stratus: 'floating_ip',
    properties: {
      floating_network: { to: 'network', lookup: 'network' },
      port_id: {},
      fixed_ip_address: {
        unsupported:
          "a Stratus floating IP maps to its server's first fixed address; leave fixed_ip_address out",
      },
      floating_ip_address: { to: 'floatingIpAddress' },
      value_specs: VALUE_SPECS,
    },
    required: ['floating_network'],
    attributes: {
      floating_ip_address: { path: ['floatingIpAddress'] },
      fixed_ip_address: { path: ['fixedIpAddress'] },
      router_id: { path: ['router'] },
    },
    finish: floatingIpPort,
  },
  'OS::Cinder::Volume': {
    stratus: 'volume',
    properties: {
      name: NAME,
      size: { to: 'sizeGb' },
      image: { to: 'image', lookup: 'image' },
      source_volid: { to: 'volume', lookup: 'volume' },
      multiattach: { to: 'multiattach' },
      description: ignored('Stratus keeps no volume descriptions'),
      volume_type: ignored('Stratus has one volume type'),
      availability_zone: ignored('Stratus places volumes on its one host'),
      metadata: ignored('Stratus keeps no volume metadata', [{}]),
    },
    required: ['size'],
    attributes: { size: { path: ['sizeGb'] }, status: { path: ['status'] } },
  },
  'OS::Cinder::VolumeAttachment': {
    stratus: 'volume_attachment',
    properties: {
      instance_uuid: { to: 'server', lookup: 'server' },
      volume_id: { to: 'volume', lookup: 'volume' },
      mountpoint: { to: 'device' },
    },
    attributes: {},
  },
  'OS::Glance::WebImage': {
    stratus: 'image',
    properties: {
      name: NAME,
      location: { to: 'source', convert: imageLocation },
      disk_format: ignored('qemu-img detects the format', ['qcow2', 'raw']),
      container_format: ignored('Stratus images are bare disks', ['bare']),
      min_disk: ignored('Stratus does not check image minimums'),
      min_ram: ignored('Stratus does not check image minimums'),
      protected: ignored('Stratus images are not protected', [false]),
      visibility: ignored('Stratus has no projects'),
      os_distro: ignored('Stratus keeps no image properties'),
      architecture: ignored('Stratus guests are x86_64'),
      os_version: ignored('Stratus keeps no image properties'),
      id: ignored('Stratus makes the image id'),
      tags: TAGS,
      extra_properties: ignored('Stratus keeps no image properties', [{}]),
    },
    required: ['location'],
    attributes: { name: { path: ['name'] }, status: { path: ['status'] }, size: { path: ['sizeBytes'] } },
  },
};
// OS::Glance::Image takes the same properties (its `location` is the image's URL or path).
(HEAT_TYPES as Record<string, HeatTypeMapping>)['OS::Glance::Image'] = {
  ...HEAT_TYPES['OS::Glance::WebImage']!,
  properties: {
    ...HEAT_TYPES['OS::Glance::WebImage']!.properties,
    is_public: ignored('Stratus has no projects'),
    kernel_id: ignored('Stratus boots images whole'),
    ramdisk_id: ignored('Stratus boots images whole'),
  },
};

/**
 * OS::Neutron::FloatingIP `port_id` -> floating_ip `server`: a Stratus floating IP maps to a server's
 * first port, so the port must be the first NIC of a server of the stack (then that server is meant).
 */
function floatingIpPort(heat: Record<string, Value>, out: Record<string, Value>, ctx: MapContext): void {
  const port = heat.port_id;
  if (port === undefined || port === null) return;
  const server = ctx.serverOfPort(port);
  if (server === undefined)
    ctx.error(
      'Stratus maps a floating IP to a server: port_id must be {get_resource: PORT} of a port that is the first NIC of a server of the stack',
      ['port_id'],
    );
  else out.server = server;
}

/**
 * An image's `location`: a local path (relative to the template) or a `file://` URL. Images from
 * http(s) URLs need the agent to download them, which Stratus does not do yet.
 */
function imageLocation(v: Value, ctx: MapContext, path: (string | number)[]): Value | undefined {
  if (typeof v !== 'string') return v;
  if (v.startsWith('file://')) return decodeURIComponent(v.slice('file://'.length));
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
    ctx.error(
      'images from URLs are not supported yet: give a local path (relative to the template) or a file:// URL',
      path,
    );
    return undefined;
  }
  return v;
}

/**
 * Heat types the loader recognises but Stratus does not do, with the feature named, so a template
 * using one gets an error naming it rather than "unknown type".
 */
export const UNSUPPORTED_FEATURES: Readonly<Record<string, string>> = {
  'OS::Heat::SoftwareDeployment':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::SoftwareDeployments':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::SoftwareDeploymentGroup':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::StructuredDeployment':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::StructuredDeployments':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::StructuredDeploymentGroup':
    'Heat software deployments (signalling a config to a server) are not supported',
  'OS::Heat::StructuredConfig': 'structured configs (for software deployments) are not supported',
  'OS::Heat::WaitCondition': 'wait conditions (signals from guests) are not supported; use a server `wait`',
  'OS::Heat::WaitConditionHandle':
    'wait conditions (signals from guests) are not supported; use a server `wait`',
  'OS::Heat::SwiftSignal': 'wait conditions (signals from guests) are not supported',
  'OS::Heat::SwiftSignalHandle': 'wait conditions (signals from guests) are not supported',
  'OS::Heat::AutoScalingGroup': 'autoscaling is not supported; use OS::Heat::ResourceGroup',
  'OS::Heat::ScalingPolicy': 'autoscaling is not supported',
  'OS::Heat::Stack': 'remote stacks are not supported',
  'OS::Heat::DeployedServer': 'deployed servers are not supported',
  'OS::Heat::TestResource': 'Heat test resources are not supported',
};
