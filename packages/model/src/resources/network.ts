import { Type } from '@sinclair/typebox';
import { Defaulted, Name } from '../formats.js';
import { defineResource } from '../resource.js';

/** A layer-2 network (Neutron network): a Linux bridge on each host. */
export const network = defineResource({
  type: 'network',
  drift: (a) =>
    a.status === 'DOWN' ? `its bridge ${String(a.bridge)} was deleted outside Stratus` : undefined,
  collection: 'networks',
  description: 'A layer-2 network, realized as a Linux bridge with a DHCP namespace per host.',
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      mtu: Defaulted(
        Type.Integer({
          minimum: 576,
          maximum: 9000,
          default: 1500,
          requiresReplace: true,
          description: 'MTU of the network; handed to guests by DHCP.',
        }),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    bridge: Type.String({ description: 'Name of the host bridge.' }),
    status: Type.String({ description: 'ACTIVE when the bridge exists; DOWN when it went missing.' }),
  }),
});
