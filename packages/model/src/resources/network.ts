import { Defaulted, Name } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** The network drivers an agent offers (Neutron's mechanism drivers `linuxbridge` and `openvswitch`). */
export const NETWORK_DRIVERS = ['linuxbridge', 'ovs'] as const;

/** A layer-2 network (Neutron network): a Linux bridge or an Open vSwitch bridge on each host. */
export const network = defineResource({
  type: 'network',
  drift: (a) =>
    a.status === 'DOWN' ? `its bridge ${String(a.bridge)} was deleted outside Stratus` : undefined,
  collection: 'networks',
  description:
    'A layer-2 network, realized as a Linux bridge or an Open vSwitch bridge with a DHCP namespace per host.',
  inputs: Type.Object(
    {
      name: Type.Optional(Name({ description: 'Display name.', updatableLive: true })),
      driver: Type.Optional(
        Type.Union(
          NETWORK_DRIVERS.map((d) => Type.Literal(d)),
          {
            computed: true,
            requiresReplace: true,
            description:
              "How the network is realized on a host: `linuxbridge` (a Linux bridge) or `ovs` (an Open vSwitch bridge, on the kernel datapath where the openvswitch module is loaded, else the userspace one). Default: the agent's (`stratus-agent --network-driver`, linuxbridge unless set).",
          },
        ),
      ),
      external: Type.Optional(
        Type.Boolean({
          requiresReplace: true,
          description:
            'An external network (Neutron router:external): routers take their gateway port on it, and its subnets are the floating IP pools. Default false.',
        }),
      ),
      providerBridge: Type.Optional(
        Type.String({
          pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$',
          formatName: 'a Linux interface name (at most 15 characters)',
          requiresReplace: true,
          description:
            'An existing host bridge the operator names (a Linux bridge, or an Open vSwitch bridge for driver ovs) that this network is: Stratus plugs its ports into it and never creates, changes or deletes it (Neutron’s bridge_mappings).',
        }),
      ),
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
    bridge: Type.String({ description: 'Name of the host bridge (Linux or OVS).' }),
    status: Type.String({ description: 'ACTIVE when the bridge exists; DOWN when it went missing.' }),
  }),
});
