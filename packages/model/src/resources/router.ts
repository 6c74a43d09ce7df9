import { Cidr4, Defaulted, Ipv4, Name, Ref } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/**
 * A router (Neutron router, legacy mode): a `qrouter-<id>` network namespace on the host that routes
 * between the subnets of its interfaces (`router_interface`) and, through its external gateway, to an
 * external network, with SNAT of its subnets to the gateway address and DNAT/SNAT per floating IP.
 */
export const router = defineResource({
  type: 'router',
  collection: 'routers',
  drift: (a) =>
    a.status === 'DOWN'
      ? `changed outside Stratus: ${a.statusReason ? String(a.statusReason) : 'its namespace, interfaces or nftables table'}`
      : undefined,
  description:
    'A router: a qrouter namespace joining its interfaces’ subnets, with an external gateway (SNAT) to an external network whose addresses floating IPs take.',
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      externalGateway: Type.Optional(
        Type.Object(
          {
            network: Ref('network', {
              refIncludes: 'subnet',
              description: 'The external network (`external: true`) the router’s gateway port is on.',
            }),
            enableSnat: Defaulted(
              Type.Boolean({
                default: true,
                description:
                  'Translate the source of traffic from the router’s subnets to the gateway address (Neutron’s enable_snat).',
              }),
            ),
            fixedIp: Type.Optional(
              Ipv4({
                description:
                  'The gateway port’s address on the external network; default: the lowest free one of its subnets’ pools.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
      ),
      routes: Defaulted(
        Type.Array(
          Type.Object(
            {
              destination: Cidr4({ description: 'Destination network, e.g. 10.50.0.0/24.' }),
              nexthop: Ipv4({ description: 'Next hop: an address on one of the router’s subnets.' }),
            },
            { additionalProperties: false },
          ),
          {
            default: [],
            updatableLive: true,
            description: 'Static routes of the router (Neutron’s extra routes).',
          },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    namespace: Type.String({ description: 'The router’s network namespace, `qrouter-<id>`.' }),
    externalGatewayIp: Type.Optional(
      Type.String({ description: 'The gateway port’s address on the external network.' }),
    ),
    status: Type.String({
      description:
        'ACTIVE when the namespace, interfaces and nftables table are as Stratus made them; else DOWN.',
    }),
    statusReason: Type.Optional(Type.String({ description: 'What is wrong, when DOWN.' })),
  }),
});
