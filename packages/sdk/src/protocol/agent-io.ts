import type { ApiRecord, ResourceSchema } from '@stratus/model';
import type { AgentPool } from '../client/pool.js';
import type { ResourceIO } from './io.js';
import type { Values } from './types.js';

const flatten = (r: ApiRecord): Values => ({ ...r.spec, ...r.status });

/**
 * A type's host half through the agent of the resource's host, over the agent's idempotent API: PUT
 * creates or updates (by id, so a retried request never duplicates), GET reads, DELETE removes,
 * POST import adopts. Every request carries the call's signal, so a timeout or an interrupt cancels it.
 */
export function agentResourceIO(schema: ResourceSchema, pool: AgentPool): ResourceIO {
  const path = (id: string) => `/v1/${schema.collection}/${id}`;
  return {
    async create(ctx, id, inputs) {
      const c = await pool.client(ctx.host);
      return flatten(await c.put<ApiRecord>(path(id), inputs, { signal: ctx.signal }));
    },
    async update(ctx, id, inputs) {
      const c = await pool.client(ctx.host);
      return flatten(await c.put<ApiRecord>(path(id), inputs, { signal: ctx.signal }));
    },
    async read(ctx, id) {
      const c = await pool.client(ctx.host);
      const rec = await c.find<ApiRecord>(path(id), { signal: ctx.signal });
      return rec ? flatten(rec) : null;
    },
    async delete(ctx, id) {
      const c = await pool.client(ctx.host);
      await c.delete(path(id), { signal: ctx.signal });
    },
    async import(ctx, externalId) {
      const c = await pool.client(ctx.host);
      const rec = await c.call<ApiRecord>(
        'POST',
        `/v1/${schema.collection}/import`,
        { externalId },
        { signal: ctx.signal },
      );
      return { id: rec.id, attributes: flatten(rec) };
    },
  };
}
