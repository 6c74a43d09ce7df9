import { Ref } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/**
 * A router's interface on a subnet (Neutron's `router interface add`): a `qr-` veth in the router's
 * namespace, plugged into the subnet's network, holding the subnet's gateway address. A subnet is on at
 * most one router.
 */
export const router_interface = defineResource({
  type: 'router_interface',
  collection: 'router_interfaces',
  drift: (a) =>
    a.status === 'DOWN' ? `its device ${String(a.device)} was removed outside Stratus` : undefined,
  description:
    'A router’s interface on a subnet: the subnet’s gateway address on a qr- device in the router’s namespace.',
  inputs: Type.Object(
    {
      router: Ref('router', { requiresReplace: true, description: 'The router.' }),
      subnet: Ref('subnet', {
        requiresReplace: true,
        description: 'The subnet; its gateway address goes on the interface.',
      }),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    ipAddress: Type.String({ description: 'The interface’s address: the subnet’s gateway IP.' }),
    device: Type.String({ description: 'The qr- device in the router’s namespace.' }),
    status: Type.String({ description: 'ACTIVE when the device exists in the namespace; else DOWN.' }),
  }),
});
