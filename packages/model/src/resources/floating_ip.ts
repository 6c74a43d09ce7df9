import { Ipv4, Ref } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/**
 * A floating IP (Neutron floatingip): an address from an external network's subnet pools that the router
 * joining that network to a server's subnet maps to the server's first fixed address (DNAT inbound, SNAT
 * outbound). The association (`server`) changes in place: moving the address to another server, or
 * dropping it, never replaces the floating IP, so the address stays the same.
 */
export const floating_ip = defineResource({
  type: 'floating_ip',
  collection: 'floating_ips',
  description:
    'An address from an external network that a router maps to a server (DNAT + SNAT); moving it to another server keeps the address.',
  inputs: Type.Object(
    {
      network: Ref('network', {
        requiresReplace: true,
        refIncludes: 'subnet',
        description: 'The external network (`external: true`) whose subnet pools the address comes from.',
      }),
      floatingIpAddress: Type.Optional(
        Ipv4({
          computed: true,
          requiresReplace: true,
          description: 'The address; default: the lowest free one of the network’s subnet pools.',
        }),
      ),
      server: Type.Optional(
        Ref('server', {
          updatableLive: true,
          description:
            'The server the address maps to (its first port); a router must join that port’s subnet to the network. Leave out for an unassociated address.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    fixedIpAddress: Type.Optional(
      Type.String({ description: 'The server address the floating IP maps to.' }),
    ),
    router: Type.Optional(Type.String({ description: 'The id of the router doing the mapping.' })),
    status: Type.String({ description: 'ACTIVE when associated with a server, DOWN when not.' }),
  }),
});
