import { Cidr4, Defaulted, Ipv4, Name, Ref } from '../formats.js';
import { checkSubnetRanges, intToIp, ipToInt, isHostOf, isIpv4, parseCidr } from '../ipv4.js';
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
    const out = checkSubnetRanges(
      inputs.cidr,
      typeof inputs.gatewayIp === 'string' ? inputs.gatewayIp : undefined,
      pools,
    );
    if (inputs.noGateway === true && inputs.gatewayIp !== undefined)
      out.push({
        path: ['noGateway'],
        message: 'conflicts with gatewayIp: a subnet has a gateway address or none; set one of them',
      });
    out.push(...checkHostRoutes(inputs.cidr, inputs.hostRoutes));
    return out;
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
          description:
            'Router address handed to guests; defaults to the first host address (none with noGateway).',
        }),
      ),
      noGateway: Type.Optional(
        Type.Boolean({
          requiresReplace: true,
          description:
            "A subnet without a gateway (Neutron's gateway_ip null): guests get no router and no default route, the first host address is allocatable, and no router interface can take it. Default false.",
        }),
      ),
      enableDhcp: Defaulted(
        Type.Boolean({
          default: true,
          updatableLive: true,
          description:
            "Whether the network's DHCP server serves this subnet (Neutron's enable_dhcp). With false, guests configure their address statically from the config drive's network_data.json, as on a Neutron network without DHCP; the DHCP port's address stays reserved.",
        }),
      ),
      hostRoutes: Defaulted(
        Type.Array(
          Type.Object(
            {
              destination: Cidr4({ description: 'The destination network, e.g. 10.50.0.0/16.' }),
              nexthop: Ipv4({ description: 'The next hop: a host address of this subnet.' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            maxItems: 20,
            updatableLive: true,
            description:
              'Routes handed to guests (DHCP option 121, and network_data.json), as Neutron host_routes.',
          },
        ),
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

/**
 * Problems of a subnet's `hostRoutes`: a destination with host bits set, a next hop that is not a host
 * address of the subnet (Neutron accepts any address, but a guest can only route via a neighbour, and the
 * DHCP server refuses such a route), a destination given twice.
 */
function checkHostRoutes(cidr: unknown, routes: unknown): { path: (string | number)[]; message: string }[] {
  if (typeof cidr !== 'string' || !Array.isArray(routes)) return [];
  let net: ReturnType<typeof parseCidr>;
  try {
    net = parseCidr(cidr);
  } catch {
    return [];
  }
  const out: { path: (string | number)[]; message: string }[] = [];
  const seen = new Set<string>();
  routes.forEach((r: unknown, i) => {
    const o = r !== null && typeof r === 'object' ? (r as Record<string, unknown>) : {};
    if (typeof o.destination === 'string') {
      const m = /^([^/]+)\/(\d{1,2})$/.exec(o.destination);
      if (m && isIpv4(m[1]!) && Number(m[2]) <= 32) {
        const prefix = Number(m[2]);
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        const network = (ipToInt(m[1]!) & mask) >>> 0;
        if (network !== ipToInt(m[1]!))
          out.push({
            path: ['hostRoutes', i, 'destination'],
            message: `${o.destination} has host bits set; the network is ${intToIp(network)}/${prefix}`,
          });
      }
      if (seen.has(o.destination))
        out.push({ path: ['hostRoutes', i, 'destination'], message: `${o.destination} is given twice` });
      seen.add(o.destination);
    }
    if (typeof o.nexthop === 'string' && isIpv4(o.nexthop) && !isHostOf(o.nexthop, net))
      out.push({
        path: ['hostRoutes', i, 'nexthop'],
        message: `${o.nexthop} is not a host address of ${cidr}: a guest routes only via a neighbour`,
      });
  });
  return out;
}
