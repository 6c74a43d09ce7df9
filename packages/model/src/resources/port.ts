import { Defaulted, Ipv4, Name, Ref } from '../formats.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';
import { isUnknown } from '../unknown.js';

const MAC = '^[0-9a-f]{2}(:[0-9a-f]{2}){5}$';
const IPV4_OR_CIDR =
  '^(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}(/(3[0-2]|[12]?\\d))?$';

/** A MAC address as Stratus writes it: lower-case, colon-separated. */
const Mac = (description: string, requiresReplace = false) =>
  Type.String({
    pattern: MAC,
    formatName: 'a lower-case MAC address such as fa:16:3e:12:34:56',
    description,
    ...(requiresReplace ? { requiresReplace } : {}),
  });

/**
 * A port (Neutron's): an address and MAC on a network, with the security groups and anti-spoofing that
 * guard it, made before any server uses it, so its address is known first and outlives the server. A
 * server takes it with `networks: [{port: ...}]`; deleting the server leaves the port, unbound.
 */
export const port = defineResource({
  type: 'port',
  collection: 'ports',
  description:
    'A network port: a fixed IP and MAC on a network with security groups, anti-spoofing and allowed address pairs; a server uses it with networks: [{port: ...}].',
  check(inputs) {
    const out: AttributeProblem[] = [];
    const fixed = Array.isArray(inputs.fixedIps) ? inputs.fixedIps : [];
    fixed.forEach((f, i) => {
      if (f && typeof f === 'object' && !isUnknown(f) && !('subnet' in f) && !('ipAddress' in f))
        out.push({ path: ['fixedIps', i], message: 'needs `subnet` or `ipAddress`' });
    });
    if (inputs.portSecurityEnabled === false) {
      const groups = inputs.securityGroups;
      if (groups !== undefined && !(Array.isArray(groups) && groups.length === 0))
        out.push({
          path: ['portSecurityEnabled'],
          message:
            'false conflicts with securityGroups: a port without port security has no firewall to apply groups in',
        });
      const pairs = inputs.allowedAddressPairs;
      if (pairs !== undefined && !(Array.isArray(pairs) && pairs.length === 0))
        out.push({
          path: ['portSecurityEnabled'],
          message:
            'false conflicts with allowedAddressPairs: without port security every address may leave the port anyway',
        });
    }
    return out;
  },
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ description: 'Display name; defaults to the resource name.', updatableLive: true }),
      ),
      network: Ref('network', {
        requiresReplace: true,
        refIncludes: 'subnet',
        description: 'The network the port is on (its address comes from its subnets).',
      }),
      fixedIps: Type.Optional(
        Type.Array(
          Type.Object(
            {
              subnet: Type.Optional(
                Ref('subnet', { description: 'The subnet to take the address from (of the network).' }),
              ),
              ipAddress: Type.Optional(
                Ipv4({ description: 'The address; default: the lowest free one of the subnet.' }),
              ),
            },
            { additionalProperties: false, minProperties: 1 },
          ),
          {
            minItems: 1,
            maxItems: 1,
            requiresReplace: true,
            description:
              "The port's fixed IP: [{subnet, ipAddress}] (one per port today); default: the lowest free address of the network's first subnet.",
          },
        ),
      ),
      macAddress: Type.Optional(Mac('MAC address; default: one the agent allocates (fa:16:3e:...).', true)),
      securityGroups: Type.Optional(
        Type.Array(Ref('security_group', { description: 'A security group.' }), {
          maxItems: 20,
          updatableLive: true,
          description:
            "Security groups whose rules apply to the port; default: the agent's `default` group (ingress from its members only, egress anywhere). `[]`: no group, so nothing passes but replies, DHCP and ARP.",
        }),
      ),
      portSecurityEnabled: Defaulted(
        Type.Boolean({
          default: true,
          updatableLive: true,
          description:
            'Whether the port is guarded (security groups and anti-spoofing); false: no firewall at all, as in Neutron.',
        }),
      ),
      allowedAddressPairs: Defaulted(
        Type.Array(
          Type.Object(
            {
              ipAddress: Type.String({
                pattern: IPV4_OR_CIDR,
                formatName: 'an IPv4 address or CIDR',
                description: 'An address (or CIDR) the port may also send from, e.g. a shared virtual IP.',
              }),
              macAddress: Type.Optional(Mac("The MAC it is sent with; default: the port's.")),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            maxItems: 10,
            updatableLive: true,
            description:
              "Extra source addresses the port may send from, besides its fixed IP (Neutron's allowed_address_pairs).",
          },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    allFixedIps: Type.Array(Type.String(), { description: "The port's fixed IPv4 addresses." }),
    subnet: Type.String({ description: 'The subnet its address is from.' }),
    status: Type.String({ description: 'ACTIVE while a running server uses it, else DOWN.' }),
    deviceId: Type.Optional(Type.String({ description: 'The server using the port, if any.' })),
    firewall: Type.String({
      description:
        'How the port is guarded on its host: `enforced` (nftables on a Linux bridge network, OpenFlow flows with OVS conntrack on an Open vSwitch one), `disabled` (portSecurityEnabled false), `idle` (no server uses it), or `missing: ...` (its rules were removed outside Stratus; apply reloads them).',
    }),
  }),
});
