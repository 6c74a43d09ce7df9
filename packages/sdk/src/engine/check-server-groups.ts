import { membersPerHost } from '@stratus/model';
import type { Diagnostics } from '../diagnostics/index.js';
import { fieldOf, type StackConfig } from './config.js';
import { Ref } from './expr.js';

/**
 * Server groups whose members the stack itself places beyond their policy, reported at plan as Nova's
 * scheduler reports them at boot ("No valid host was found"): under `anti-affinity` a host holds at
 * most the group's members per host (`rules.maxServerPerHost`, default 1), and every server is placed
 * on the host it names (`local`, the only one today). The members past the limit, in stack order, are
 * each an error at their `serverGroup`. Members made by other stacks are counted by the agent at apply.
 */
export function checkServerGroups(config: StackConfig, diags: Diagnostics): void {
  const placed = new Map<string, string[]>();
  for (const rc of config.resources.values()) {
    if (rc.type !== 'server') continue;
    const g = rc.properties.serverGroup;
    if (!(g instanceof Ref) || g.path.length > 1 || (g.path.length === 1 && g.path[0] !== 'id')) continue;
    const group = config.resources.get(g.resource);
    if (group?.type !== 'server_group') continue;
    const rules = group.properties.rules;
    const limit = membersPerHost(
      group.properties.policy,
      rules && typeof rules === 'object' && !Array.isArray(rules)
        ? (rules as Record<string, unknown>)
        : undefined,
    );
    if (limit === undefined) continue;
    const key = `${group.name}\u0000${rc.host ?? 'local'}`;
    const members = placed.get(key) ?? [];
    placed.set(key, [...members, rc.name]);
    if (members.length < limit) continue;
    diags.error(
      `no valid host for this server (Nova's "No valid host was found"): server group ${group.name} is ${String(group.properties.policy)} with at most ${limit} member${limit === 1 ? '' : 's'} per host, and ${listed(members)} already ${members.length === 1 ? 'is' : 'are'} on host ${rc.host ?? 'local'}, the only host it can use; use soft-anti-affinity to allow it`,
      fieldOf(rc, ['properties', 'serverGroup']),
      rc.locate(['properties', 'serverGroup']),
    );
  }
}

const listed = (names: string[]): string =>
  names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
