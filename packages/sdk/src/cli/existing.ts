/**
 * The existing objects a Heat template's names may resolve to (loaders/heat/existing.ts): the records
 * of the types asked for on the local host's agent (what `stratus list TYPE` shows), less the objects
 * of the stack being loaded, plus the agent's `default` security group (Neutron's per-project
 * default, which every template may name as `default`; the agent keeps it without a record).
 */
import {
  type ApiList,
  type ApiOwner,
  DEFAULT_SECURITY_GROUP,
  type ResourceType,
  schemas,
} from '@stratus/model';
import { type AgentPool, LOCAL_HOST } from '../client/pool.js';
import type { ExistingObject, ExistingObjects } from '../loaders/heat/existing.js';

/** Whether two owners name the same stack and state. */
const sameOwner = (a: ApiOwner | undefined, b: ApiOwner): boolean =>
  !!a && a.tool === b.tool && a.stack === b.stack && a.backend === b.backend && a.state === b.state;

/**
 * Lists the objects of `types` on the local agent (one call per collection), leaving out those `self`
 * (the stack being loaded) owns: they are its resources, found in the template by name already.
 * Errors of the agent (unreachable, refused) propagate: the caller says the lookup failed.
 */
export async function existingObjects(
  pool: AgentPool,
  types: readonly ResourceType[],
  self: ApiOwner,
): Promise<ExistingObjects> {
  const client = await pool.client(LOCAL_HOST);
  const out = new Map<ResourceType, ExistingObject[]>();
  await Promise.all(
    types.map(async (t) => {
      const list = await client.get<ApiList>(`/v1/${schemas[t].collection}`);
      const objs: ExistingObject[] = list.items
        .filter((r) => !sameOwner(r.owner, self))
        .map((r) => ({ id: r.id, ...(typeof r.spec.name === 'string' ? { name: r.spec.name } : {}) }));
      if (t === 'security_group') objs.push({ id: DEFAULT_SECURITY_GROUP, name: 'default' });
      out.set(t, objs);
    }),
  );
  return out;
}
