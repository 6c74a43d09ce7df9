import { Ref } from '../formats.js';
import { defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';
import { checkRule, ruleProperties } from './security-group.js';

/**
 * One rule of a security group as its own resource (Neutron's security_group_rule), beside the group's
 * inline `rules`: the way to reference the group itself as `remoteGroup` (ingress from its own members)
 * and to add rules from another stack part. Rules are immutable, as in Neutron: any change replaces it.
 */
export const security_group_rule = defineResource({
  type: 'security_group_rule',
  collection: 'security_group_rules',
  description:
    'One rule of a security group (any change replaces it): direction, protocol, ports and the peer (an IPv4 CIDR or the members of a group).',
  check: (inputs) => checkRule(inputs, []),
  inputs: Type.Object(
    {
      securityGroup: Ref('security_group', {
        requiresReplace: true,
        description: 'The group the rule belongs to.',
      }),
      ...ruleProperties({ requiresReplace: true }),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    ports: Type.Optional(
      Type.Integer({ description: "How many ports on this host the rule applies to (its group's members)." }),
    ),
  }),
});
