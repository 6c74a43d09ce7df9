import { Name } from '../formats.js';
import { type AttributeProblem, defineResource } from '../resource.js';
import { Type } from '../typebox.generated.js';

/** Nova's server group policies (compute API 2.64 and later take one); Heat's default first. */
export const SERVER_GROUP_POLICIES = [
  'anti-affinity',
  'affinity',
  'soft-anti-affinity',
  'soft-affinity',
] as const;
export type ServerGroupPolicy = (typeof SERVER_GROUP_POLICIES)[number];

/**
 * How many members of a group one host may hold under its policy (Nova's ServerGroupAntiAffinityFilter
 * with the `max_server_per_host` rule, default 1); undefined when the policy sets no limit (affinity
 * keeps every member on one host; the soft policies are preferences the scheduler may break).
 */
export function membersPerHost(
  policy: unknown,
  rules: Readonly<Record<string, unknown>> | undefined,
): number | undefined {
  if (policy !== 'anti-affinity') return undefined;
  const max = rules?.maxServerPerHost;
  return typeof max === 'number' ? max : 1;
}

/**
 * A server group (Nova's): a placement policy its member servers are scheduled by. Servers join one at
 * boot (`serverGroup`, Nova's `scheduler_hints: {group}`) and never change group. Stratus places every
 * server on the host its `host` names (`local` today), so the policy is checked there, as Nova's
 * scheduler filters do: `affinity` always holds on one host; `anti-affinity` admits at most
 * `rules.maxServerPerHost` (default 1) members per host, and a server beyond that fails to boot with
 * Nova's "No valid host was found" (at plan, when the stack's own members already exceed it; at apply
 * otherwise); the soft policies are preferences, never a failure.
 */
export const server_group = defineResource({
  type: 'server_group',
  collection: 'server_groups',
  description:
    "A placement policy for its member servers (Nova's server group): affinity, anti-affinity, soft-affinity or soft-anti-affinity.",
  check(inputs) {
    const out: AttributeProblem[] = [];
    const rules = inputs.rules as Record<string, unknown> | undefined;
    if (rules?.maxServerPerHost !== undefined && inputs.policy !== 'anti-affinity')
      out.push({
        path: ['rules', 'maxServerPerHost'],
        message: "applies to policy anti-affinity only (Nova's rule)",
      });
    return out;
  },
  inputs: Type.Object(
    {
      name: Type.Optional(
        Name({ requiresReplace: true, description: 'Group name; defaults to the resource name.' }),
      ),
      policy: Type.Union(
        SERVER_GROUP_POLICIES.map((p) => Type.Literal(p)),
        {
          requiresReplace: true,
          description:
            'How members are placed: `affinity` (all on one host), `anti-affinity` (each on its own host: with one host, a second member finds no valid host, as in Nova), `soft-affinity` and `soft-anti-affinity` (preferences, never a failure).',
        },
      ),
      rules: Type.Optional(
        Type.Object(
          {
            maxServerPerHost: Type.Optional(
              Type.Integer({
                minimum: 1,
                maximum: 1000,
                description:
                  "With anti-affinity: members one host may hold (Nova's max_server_per_host; default 1).",
              }),
            ),
          },
          { additionalProperties: false, requiresReplace: true, description: 'Policy rules (Nova 2.64).' },
        ),
      ),
    },
    { additionalProperties: false },
  ),
  outputs: Type.Object({
    members: Type.Array(Type.String(), { description: 'Ids of the servers in the group, on this agent.' }),
  }),
});
