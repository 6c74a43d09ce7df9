import { Cidr4, Defaulted, Ipv4, Name, Ref } from '../formats.js';
import { checkSubnetRanges } from '../ipv4.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** An IPv4 subnet of a network (Neutron subnet), with static DHCP leases handed out by the agent's IPAM. */
export const subnet = defineResource({
  type: 'subnet',
  check(inputs) {
    if (typeof inputs.cidr !== 'string') return [];
    // Only pools whose ends are known: UNKNOWN ones are checked once they are.
    const pools = Array.isArray(inputs.allocationPools)
      ? (inputs.allocationPools as { start: unknown; end: unknown }[]).filter(
          (p): p is { start: string; end: string } =>
            typeof p === 'object' && p !== null && typeof p.start === 'string' && typeof p.end === 'string',
        )
      : undefined;
    return checkSubnetRanges(
      inputs.cidr,
      typeof inputs.gatewayIp === 'string' ? inputs.gatewayIp : undefined,
      pools,
    );
  },
  collection: 'subnets',
  description:
    'An IPv4 range on a network; the agent allocates addresses from its pools and serves them by DHCP.',
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      network: Ref('network', { requiresReplace: true, description: 'The network this subnet belongs to.' }),
      cidr: Cidr4({ requiresReplace: true, description: 'The subnet, e.g. 10.20.0.0/24.' }),
      gatewayIp: Type.Optional(
        Ipv4({
          computed: true,
          updatableLive: true,
          description: 'Router address handed to guests; defaults to the first host address.',
        }),
      ),
      allocationPools: Type.Optional(
        Type.Array(
          Type.Object(
            {
              start: Ipv4({ description: 'First address of the pool.' }),
              end: Ipv4({ description: 'Last address of the pool.' }),
            },
            { additionalProperties: false },
          ),
          {
            minItems: 1,
            computed: true,
            requiresReplace: true,
            description: 'Ranges addresses are allocated from; default: all hosts but the gateway.',
          },
        ),
      ),
      dnsNameservers: Defaulted(
        Type.Array(Ipv4({ description: 'A DNS server address.' }), {
          default: [],
          updatableLive: true,
          description: 'DNS servers handed to guests by DHCP.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    dhcpIp: Type.String({ description: "Address of the network's DHCP port in this subnet." }),
  }),
});
