import type { ResourceSchema } from '@stratus/model';
import type { Value } from '../engine/expr.js';
import type { PropertyProblem } from '../engine/normalize.js';
import type { Attributes, ResourceHandler } from './types.js';

/** A record as the agent's `/v1/{collection}/{id}` answers it. */
export interface AgentRecord {
  id: string;
  type: string;
  spec: Attributes;
  status: Attributes;
}

const flatten = (r: AgentRecord): Attributes => ({ ...r.spec, ...r.status });

/**
 * A handler that realizes a resource through the agent's idempotent CRUD API: PUT creates or updates
 * (by id, so a retried request never duplicates), GET reads, DELETE removes. `validate` adds the
 * type's own checks on top of the schema.
 */
export function agentHandler(
  schema: ResourceSchema,
  type: {
    /** The type's own checks on top of the schema (values not known yet are references). */
    validate?: (props: Record<string, Value>) => PropertyProblem[];
    /** See {@link ResourceHandler.drift}. */
    drift?: (attributes: Attributes) => string | undefined;
  } = {},
): ResourceHandler {
  const { validate = () => [], drift } = type;
  const path = (id: string) => `/v1/${schema.collection}/${id}`;
  return {
    type: schema.type,
    schema,
    validate: (req) => ({ problems: validate(req.properties) }),
    drift,
    async create(ctx, req) {
      const rec = await ctx.client.put<AgentRecord>(path(req.id), req.inputs);
      return { attributes: flatten(rec) };
    },
    async update(ctx, req) {
      const rec = await ctx.client.put<AgentRecord>(path(req.id), req.inputs);
      return { attributes: flatten(rec) };
    },
    async read(ctx, req) {
      const rec = await ctx.client.find<AgentRecord>(path(req.id));
      return { attributes: rec ? flatten(rec) : null };
    },
    async delete(ctx, req) {
      await ctx.client.delete(path(req.id));
    },
    async import(ctx, req) {
      const rec = await ctx.client.call<AgentRecord>('POST', `/v1/${schema.collection}/import`, {
        externalId: req.externalId,
      });
      return { id: rec.id, attributes: flatten(rec) };
    },
  };
}
